package localserver

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/identity"
	"github.com/kudurrustone/apikeys/functions/internal/settings"
)

// Defaults of Config.
const (
	DefaultAddr    = "127.0.0.1:8080"
	DefaultDataDir = ".data"
	DefaultTable   = "kudurrustone-api-keys-local"
	DefaultRegion  = "us-east-1"
	// DefaultExpiryCheckInterval: the local server checks for expiring keys
	// every minute (the deployed ExpiryFunction, every hour).
	DefaultExpiryCheckInterval = time.Minute
)

// Environment variables read by ParseConfig. The DynamoDB, table, limit and
// claim variables are the ones the Lambda functions read.
const (
	EnvAddr             = "KST_ADDR"
	EnvDataDir          = "KST_DATA"
	EnvAllowRemote      = "KST_ALLOW_REMOTE"
	EnvDynamoDBEndpoint = settings.EnvDynamoDBEndpoint
	EnvTable            = settings.EnvTableName
	EnvMaxActiveKeys    = settings.EnvMaxActiveKeys
	EnvLogLevel         = settings.EnvLogLevel
	EnvRegion           = settings.EnvAWSRegion
)

// Config is the local server's configuration.
type Config struct {
	// Addr is the listen address (default 127.0.0.1:8080). New refuses a
	// non-loopback address unless AllowRemote is set, and then serves no
	// /dev/token (it mints admin tokens for anyone who can reach it).
	Addr string
	// AllowRemote permits a non-loopback Addr (flag -allow-remote, env
	// KST_ALLOW_REMOTE=true); tokens must then come from elsewhere.
	AllowRemote bool
	// DataDir holds the embedded store (keys.db), the pepper file
	// (pepper.json) and the token signing key (jwt-signing-key.pem).
	DataDir string
	// DynamoDBEndpoint, when set, replaces the embedded store by the table
	// Table at that endpoint (DynamoDB Local), created if missing.
	DynamoDBEndpoint string
	Table            string
	Region           string
	MaxActiveKeys    int
	Identity         identity.Config
	// Getenv is used for the pepper variable (KST_PEPPER) and AWS settings;
	// default os.Getenv.
	Getenv func(string) string
	// ExpiryWarningDays and ExpiryCheckInterval drive the expiry-warning
	// check the server runs on a timer (defaults 7 days, every minute).
	ExpiryWarningDays   int
	ExpiryCheckInterval time.Duration
	// Logger receives the JSON logs; default slog.Default().
	Logger *slog.Logger
}

// ErrHelp is returned by ParseConfig for -h or -help.
var ErrHelp = flag.ErrHelp

// ParseConfig reads the configuration from args (flags) over the
// environment (getenv) over the defaults. Usage and flag errors go to
// stderr.
func ParseConfig(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	maxKeys, err := settings.MaxActiveKeys(getenv(EnvMaxActiveKeys))
	if err != nil {
		return Config{}, fmt.Errorf("localserver: %w", err)
	}
	cfg := Config{Identity: identity.ConfigFromEnv(getenv), Getenv: getenv}
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Addr, "addr", env(EnvAddr, DefaultAddr), "listen address (env "+EnvAddr+")")
	fs.BoolVar(&cfg.AllowRemote, "allow-remote", getenv(EnvAllowRemote) == "true", "allow a non-loopback -addr; /dev/token is then not served (env "+EnvAllowRemote+"=true)")
	fs.StringVar(&cfg.DataDir, "data", env(EnvDataDir, DefaultDataDir), "data folder: embedded store, pepper, token signing key (env "+EnvDataDir+")")
	fs.StringVar(&cfg.DynamoDBEndpoint, "dynamodb-endpoint", env(EnvDynamoDBEndpoint, ""), "use DynamoDB at this endpoint (e.g. http://127.0.0.1:8000 for DynamoDB Local) instead of the embedded store (env "+EnvDynamoDBEndpoint+")")
	fs.StringVar(&cfg.Table, "table", env(EnvTable, DefaultTable), "DynamoDB table, created if missing (env "+EnvTable+")")
	fs.StringVar(&cfg.Region, "region", env(EnvRegion, DefaultRegion), "AWS region for DynamoDB (env "+EnvRegion+")")
	fs.IntVar(&cfg.MaxActiveKeys, "max-active-keys", maxKeys, "active keys allowed per firm (env "+EnvMaxActiveKeys+")")
	warnDays, err := settings.ExpiryWarningDays(getenv(settings.EnvExpiryWarningDays))
	if err != nil {
		return Config{}, fmt.Errorf("localserver: %w", err)
	}
	fs.IntVar(&cfg.ExpiryWarningDays, "expiry-warning-days", warnDays, "warn (API Key Expiring) this many days before a key expires (env "+settings.EnvExpiryWarningDays+")")
	fs.DurationVar(&cfg.ExpiryCheckInterval, "expiry-check-interval", DefaultExpiryCheckInterval, "how often the expiry-warning check runs")
	logLevel := fs.String("log-level", env(EnvLogLevel, "info"), "debug, info, warn or error (env "+EnvLogLevel+")")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: go run ./functions/local [flags]\n\n"+
			"Runs every route of the KudurruStone API Keys locally, behind an emulated API Gateway,\n"+
			"with the admin console at / and POST /dev/token for admin tokens.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("localserver: unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if _, err := settings.MaxActiveKeys(strconv.Itoa(cfg.MaxActiveKeys)); err != nil {
		return Config{}, fmt.Errorf("localserver: -max-active-keys: %w", err)
	}
	if _, err := settings.ExpiryWarningDays(strconv.Itoa(cfg.ExpiryWarningDays)); err != nil {
		return Config{}, fmt.Errorf("localserver: -expiry-warning-days: %w", err)
	}
	if cfg.ExpiryCheckInterval <= 0 {
		return Config{}, fmt.Errorf("localserver: -expiry-check-interval must be positive")
	}
	level, err := settings.LogLevel(*logLevel)
	if err != nil {
		return Config{}, fmt.Errorf("localserver: -log-level: %w", err)
	}
	cfg.Logger = settings.NewLogger(stderr, level)
	return cfg, nil
}
