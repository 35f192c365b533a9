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
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
	"github.com/kudurrustone/apikeys/functions/internal/awsenv"
	"github.com/kudurrustone/apikeys/functions/internal/ddbstore"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
	"github.com/kudurrustone/apikeys/functions/internal/settings"
)

// Deps are the dependencies built once per cold start.
type Deps struct {
	AWS     aws.Config
	Store   *ddbstore.Store
	Service *keyservice.Service
}

// Options say what a function needs besides the store.
type Options struct {
	// Peppers builds the pepper source from the AWS configuration
	// (pepper.FromSettings) for generate, roll and the authorizer. It is nil
	// for the functions that never hash a key: they neither link the
	// Secrets Manager client nor may read the pepper secret.
	Peppers func(aws.Config) (keyservice.PepperSource, error)
	// WarmUp opens the DynamoDB connection during init (one GetItem of a
	// digest no key has), concurrently with the pepper fetch, so the first
	// authorization pays for neither.
	WarmUp bool
}

// InitTimeout bounds the pepper fetch and the warm-up during init, well
// inside Lambda's 10-second init phase.
const InitTimeout = 5 * time.Second

// loader is a pepper source that can be loaded ahead of the first request
// (*pepper.SecretsManager).
type loader interface {
	Load(ctx context.Context) error
}

// New builds the SDK clients from the Lambda environment (package awsenv),
// the store, the pepper source and the service. A pepper that cannot be
// loaded now is logged, not fatal: the source retries on the next request,
// and every request that needs it fails until it succeeds.
func New(ctx context.Context, st settings.Store, opts Options, log *slog.Logger) (*Deps, error) {
	awsCfg, err := awsenv.Config(os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("wiring: %w", err)
	}
	db := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		if st.DynamoDBEndpoint != "" {
			o.BaseEndpoint = aws.String(st.DynamoDBEndpoint)
		}
	})
	d := &Deps{AWS: awsCfg, Store: ddbstore.New(db, st.TableName)}
	var peppers keyservice.PepperSource = noPepper{}
	if opts.Peppers != nil {
		if peppers, err = opts.Peppers(awsCfg); err != nil {
			return nil, fmt.Errorf("wiring: %w", err)
		}
	}
	d.Service = keyservice.New(d.Store, peppers, keyservice.Config{MaxActiveKeys: st.MaxActiveKeys, Logger: log})

	initCtx, cancel := context.WithTimeout(ctx, InitTimeout)
	defer cancel()
	// Each round trip's duration is logged once per cold start, for the
	// on-call and for make bench's account of the cold start.
	var wg sync.WaitGroup
	var pepperMs, warmUpMs float64
	start := time.Now()
	l, loads := peppers.(loader)
	if loads {
		wg.Go(func() {
			if err := l.Load(initCtx); err != nil {
				log.WarnContext(ctx, "pepper not loaded during init; it is retried on the next request", "error", err)
			}
			pepperMs = msSince(start)
		})
	}
	if opts.WarmUp {
		wg.Go(func() {
			if _, err := d.Store.FindCredential(initCtx, apikey.Digest{}); err != nil && !errors.Is(err, keyservice.ErrNotFound) {
				log.WarnContext(ctx, "DynamoDB warm-up failed; the first request opens the connection", "error", err)
			}
			warmUpMs = msSince(start)
		})
	}
	wg.Wait()
	// Only the round trips made: generate and roll load the pepper but make
	// no warm-up, and a 0 would read as one that took no time.
	var took []any
	if loads {
		took = append(took, "pepperLoadMs", pepperMs)
	}
	if opts.WarmUp {
		took = append(took, "dynamodbWarmUpMs", warmUpMs)
	}
	if len(took) > 0 {
		log.InfoContext(ctx, "init round trips done", took...)
	}
	return d, nil
}

// msSince is the time since t in milliseconds, to 0.01 ms.
func msSince(t time.Time) float64 {
	return float64(time.Since(t).Microseconds()/10) / 100
}

// errNoPepper is what list's and revoke's service gets if it ever asks for
// the pepper.
var errNoPepper = errors.New("wiring: this function is not configured with the pepper")

type noPepper struct{}

func (noPepper) Peppers(context.Context) (apikey.PepperSet, error) {
	return apikey.PepperSet{}, errNoPepper
}
