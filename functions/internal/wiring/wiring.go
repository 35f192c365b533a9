// Package wiring builds, once per cold start, what the Lambda functions
// that use the table share: the AWS configuration, the DynamoDB store, the
// pepper source and the key service. It never exits or panics; the mains
// decide what a failure means. whoami needs none of it and does not link
// it; the sam local admin path (package samlocal) is the management mains'
// own, so the authorizer does not link it either.
package wiring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
	"github.com/kudurrustone/apikeys/functions/internal/ddbstore"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
	"github.com/kudurrustone/apikeys/functions/internal/pepper"
	"github.com/kudurrustone/apikeys/functions/internal/settings"
)

// Deps are the dependencies built once per cold start.
type Deps struct {
	AWS     aws.Config
	Store   *ddbstore.Store
	Service *keyservice.Service
	// Peppers is the Secrets Manager source, nil for list and revoke and
	// under sam local's LOCAL_PEPPER.
	Peppers *pepper.SecretsManager
}

// Options say what a function needs besides the store.
type Options struct {
	// Pepper is set for generate and the authorizer; list and revoke never
	// hash a key, so they neither read nor may read the pepper secret.
	Pepper *settings.Pepper
	// WarmUp opens the DynamoDB connection during init (one GetItem of a
	// digest no key has), concurrently with the pepper fetch, so the first
	// authorization pays for neither.
	WarmUp bool
}

// InitTimeout bounds the pepper fetch and the warm-up during init, well
// inside Lambda's 10-second init phase.
const InitTimeout = 5 * time.Second

// New builds the SDK clients, the store, the pepper source and the
// service. A pepper that cannot be loaded now is logged, not fatal: the
// source retries on the next request, and every request that needs it
// fails until it succeeds.
func New(ctx context.Context, st settings.Store, opts Options, log *slog.Logger) (*Deps, error) {
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("wiring: load AWS configuration: %w", err)
	}
	db := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		if st.DynamoDBEndpoint != "" {
			o.BaseEndpoint = aws.String(st.DynamoDBEndpoint)
		}
	})
	d := &Deps{AWS: awsCfg, Store: ddbstore.New(db, st.TableName)}
	var peppers keyservice.PepperSource = noPepper{}
	if p := opts.Pepper; p != nil {
		if p.Local != "" {
			set, err := pepper.Parse(p.Local)
			if err != nil {
				return nil, fmt.Errorf("wiring: %s: %w", settings.EnvLocalPepper, err)
			}
			log.WarnContext(ctx, "using "+settings.EnvLocalPepper+": sam local only")
			peppers = pepper.Static(set)
		} else {
			d.Peppers, err = pepper.NewSecretsManager(pepper.NewClient(awsCfg, p.Endpoint), pepper.SecretsManagerConfig{
				SecretID: p.SecretID, Refresh: p.Refresh, Grace: p.Grace, Logger: log,
			})
			if err != nil {
				return nil, fmt.Errorf("wiring: %w", err)
			}
			peppers = d.Peppers
		}
	}
	d.Service = keyservice.New(d.Store, peppers, keyservice.Config{MaxActiveKeys: st.MaxActiveKeys, Logger: log})

	initCtx, cancel := context.WithTimeout(ctx, InitTimeout)
	defer cancel()
	var wg sync.WaitGroup
	if d.Peppers != nil {
		wg.Go(func() {
			if err := d.Peppers.Load(initCtx); err != nil {
				log.WarnContext(ctx, "pepper not loaded during init; it is retried on the next request", "error", err)
			}
		})
	}
	if opts.WarmUp {
		wg.Go(func() {
			if _, err := d.Store.FindCredential(initCtx, apikey.Digest{}); err != nil && !errors.Is(err, keyservice.ErrNotFound) {
				log.WarnContext(ctx, "DynamoDB warm-up failed; the first request opens the connection", "error", err)
			}
		})
	}
	wg.Wait()
	return d, nil
}

// errNoPepper is what list's and revoke's service gets if it ever asks for
// the pepper.
var errNoPepper = errors.New("wiring: this function is not configured with the pepper")

type noPepper struct{}

func (noPepper) Peppers(context.Context) (apikey.PepperSet, error) {
	return apikey.PepperSet{}, errNoPepper
}
