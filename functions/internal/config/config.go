// Package config is the wiring the Lambda mains share: it reads and
// validates the environment, and builds the logger, the AWS SDK clients, the
// DynamoDB store, the pepper source and the key service once per cold start.
// It never exits or panics; the mains decide what a failure means.
package config

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
	"github.com/kudurrustone/apikeys/functions/internal/ddbstore"
	"github.com/kudurrustone/apikeys/functions/internal/identity"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
	"github.com/kudurrustone/apikeys/functions/internal/pepper"
	"github.com/kudurrustone/apikeys/functions/internal/samlocal"
)

// Environment variables read here (the pepper and claim variables are
// named by packages pepper and identity).
const (
	EnvTableName          = "TABLE_NAME"
	EnvDynamoDBEndpoint   = "DYNAMODB_ENDPOINT"   // optional: DynamoDB Local
	EnvMaxActiveKeys      = "MAX_ACTIVE_KEYS"     // optional, default 50
	EnvLogLevel           = "LOG_LEVEL"           // optional: DEBUG, INFO (default), WARN, ERROR
	EnvAPIGatewayEndpoint = "APIGATEWAY_ENDPOINT" // optional: tests
	EnvAPIID              = "API_ID"              // optional: cache reset target
	EnvStageName          = "STAGE_NAME"          // optional: cache reset target
	// EnvSAMLocal is set to "true" by the SAM CLI in `sam local` containers.
	EnvSAMLocal = "AWS_SAM_LOCAL"
	// EnvLocalPepper holds a pepper set in the secret's JSON format. It is
	// read only under `sam local` (AWS_SAM_LOCAL=true), where no Secrets
	// Manager exists; in AWS the pepper always comes from the secret.
	EnvLocalPepper = "LOCAL_PEPPER"
)

// maxMaxActiveKeys is a sanity bound on MAX_ACTIVE_KEYS.
const maxMaxActiveKeys = 100000

// Config is what the functions read from the environment.
type Config struct {
	TableName          string
	DynamoDBEndpoint   string
	SecretsManagerURL  string
	APIGatewayEndpoint string
	Pepper             pepper.SecretsManagerConfig
	MaxActiveKeys      int
	LogLevel           slog.Level
	Identity           identity.Config
	// APIID and StageName, when both set, name the HTTP API stage whose
	// authorizer cache a revoke resets; otherwise the request's own gateway
	// context names it.
	APIID     string
	StageName string
	SAMLocal  bool
	// LocalPepper replaces the secret under `sam local` (see EnvLocalPepper).
	LocalPepper *apikey.PepperSet
}

// Needs says what a function uses besides the store.
type Needs int

const (
	// StoreOnly: list and revoke never hash a key, so they neither read
	// nor may read the pepper secret.
	StoreOnly Needs = iota
	// StoreAndPepper: generate and the authorizer.
	StoreAndPepper
)

// FromEnv reads the configuration of a function that uses the store (and
// the pepper, if it needs it). It reports every problem at once.
func FromEnv(getenv func(string) string, needs Needs) (Config, error) {
	var errs []error
	c := Config{
		TableName:          strings.TrimSpace(getenv(EnvTableName)),
		DynamoDBEndpoint:   strings.TrimSpace(getenv(EnvDynamoDBEndpoint)),
		SecretsManagerURL:  strings.TrimSpace(getenv(pepper.EnvEndpoint)),
		APIGatewayEndpoint: strings.TrimSpace(getenv(EnvAPIGatewayEndpoint)),
		MaxActiveKeys:      keyservice.DefaultMaxActiveKeys,
		Identity:           identity.ConfigFromEnv(getenv),
		APIID:              strings.TrimSpace(getenv(EnvAPIID)),
		StageName:          strings.TrimSpace(getenv(EnvStageName)),
		SAMLocal:           getenv(EnvSAMLocal) == "true",
	}
	if c.TableName == "" {
		errs = append(errs, fmt.Errorf("%s is not set", EnvTableName))
	}
	var err error
	if c.LogLevel, err = LogLevelFromEnv(getenv); err != nil {
		errs = append(errs, err)
	}
	if v := strings.TrimSpace(getenv(EnvMaxActiveKeys)); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxMaxActiveKeys {
			errs = append(errs, fmt.Errorf("%s=%q is not a whole number between 1 and %d", EnvMaxActiveKeys, v, maxMaxActiveKeys))
		} else {
			c.MaxActiveKeys = n
		}
	}
	switch {
	case needs == StoreAndPepper && c.SAMLocal && getenv(EnvLocalPepper) != "":
		set, err := pepper.Parse(getenv(EnvLocalPepper))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", EnvLocalPepper, err))
		}
		c.LocalPepper = &set
	case needs == StoreAndPepper:
		if c.Pepper, err = pepper.ConfigFromEnv(getenv); err != nil {
			errs = append(errs, err)
		}
	}
	for _, ep := range []struct{ name, v string }{
		{EnvDynamoDBEndpoint, c.DynamoDBEndpoint},
		{pepper.EnvEndpoint, c.SecretsManagerURL},
		{EnvAPIGatewayEndpoint, c.APIGatewayEndpoint},
	} {
		if ep.v != "" && !strings.HasPrefix(ep.v, "http://") && !strings.HasPrefix(ep.v, "https://") {
			errs = append(errs, fmt.Errorf("%s=%q is not an http(s) URL", ep.name, ep.v))
		}
	}
	if (c.APIID == "") != (c.StageName == "") {
		errs = append(errs, fmt.Errorf("set both %s and %s, or neither", EnvAPIID, EnvStageName))
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("config: %w", errors.Join(errs...))
	}
	return c, nil
}

// LogLevelFromEnv reads LOG_LEVEL (default INFO).
func LogLevelFromEnv(getenv func(string) string) (slog.Level, error) {
	v := strings.TrimSpace(getenv(EnvLogLevel))
	if v == "" {
		return slog.LevelInfo, nil
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(v)); err != nil {
		return slog.LevelInfo, fmt.Errorf("%s=%q is not one of DEBUG, INFO, WARN, ERROR", EnvLogLevel, v)
	}
	return l, nil
}

// NewLogger returns the functions' JSON logger, writing to w (stdout in
// Lambda, where the template's LoggingConfig keeps the lines as JSON).
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// Deps are the dependencies built once per cold start.
type Deps struct {
	Config   Config
	Log      *slog.Logger
	AWS      aws.Config
	DynamoDB *dynamodb.Client
	Store    *ddbstore.Store
	Peppers  *pepper.SecretsManager // nil for StoreOnly
	Service  *keyservice.Service
	// LocalAdmin verifies admin tokens under `sam local start-api` only
	// (package samlocal); nil, and a no-op, everywhere else.
	LocalAdmin *samlocal.Verifier
}

// errNoPepper is what a StoreOnly function's service gets if it ever asks
// for the pepper: it denies, as any pepper failure does.
var errNoPepper = errors.New("config: this function is not configured with the pepper")

type noPepper struct{}

func (noPepper) Peppers(context.Context) (apikey.PepperSet, error) {
	return apikey.PepperSet{}, errNoPepper
}

// InitTimeout bounds the pepper fetch during init, well inside Lambda's
// 10-second init phase.
const InitTimeout = 5 * time.Second

// Build creates the SDK clients, the store, the pepper source (when
// cfg.Pepper names a secret) and the service, and loads the pepper so the
// first request does not pay for it. A pepper that cannot be loaded now is
// logged, not fatal: the source retries on the next request and every
// request that needs it fails (the authorizer denies) until it succeeds.
func Build(ctx context.Context, cfg Config, log *slog.Logger) (*Deps, error) {
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("config: load AWS configuration: %w", err)
	}
	db := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		if cfg.DynamoDBEndpoint != "" {
			o.BaseEndpoint = aws.String(cfg.DynamoDBEndpoint)
		}
	})
	d := &Deps{Config: cfg, Log: log, AWS: awsCfg, DynamoDB: db, Store: ddbstore.New(db, cfg.TableName)}
	var peppers keyservice.PepperSource = noPepper{}
	switch {
	case cfg.LocalPepper != nil:
		log.WarnContext(ctx, "using LOCAL_PEPPER: sam local only")
		peppers = pepper.Static(*cfg.LocalPepper)
	case cfg.Pepper.SecretID != "":
		pcfg := cfg.Pepper
		pcfg.Logger = log
		d.Peppers, err = pepper.NewSecretsManager(pepper.NewClient(awsCfg, cfg.SecretsManagerURL), pcfg)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		loadCtx, cancel := context.WithTimeout(ctx, InitTimeout)
		defer cancel()
		if err := d.Peppers.Load(loadCtx); err != nil {
			log.WarnContext(ctx, "pepper not loaded during init; it is retried on the next request", "error", err)
		}
		peppers = d.Peppers
	}
	d.Service = keyservice.New(d.Store, peppers, keyservice.Config{MaxActiveKeys: cfg.MaxActiveKeys, Logger: log})
	return d, nil
}

// Setup is what a main calls: FromEnv, a JSON logger on w, then Build.
func Setup(ctx context.Context, getenv func(string) string, w io.Writer, needs Needs) (*Deps, error) {
	cfg, err := FromEnv(getenv, needs)
	if err != nil {
		return nil, err
	}
	log := NewLogger(w, cfg.LogLevel)
	local, err := samlocal.FromEnv(getenv, log)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	d, err := Build(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	d.LocalAdmin = local
	return d, nil
}
