// Package settings is the one table of environment variables that the
// Lambda functions and the local server read: their names, defaults,
// bounds and parsing. It imports nothing but the standard library, so a
// function that needs one setting links no SDK for it.
//
//	variable                 read by                           value
//	TABLE_NAME               list, generate, revoke, authorizer the table (required); local server: -table
//	DYNAMODB_ENDPOINT        same, and the local server          http(s) URL (DynamoDB Local)
//	MAX_ACTIVE_KEYS          list, generate, revoke, authorizer, local server   1..100000, default 50
//	LOG_LEVEL                every function, the local server   DEBUG, INFO (default), WARN, ERROR
//	PEPPER_SECRET_ARN        generate, authorizer                secret name or ARN (required)
//	PEPPER_REFRESH           generate, authorizer, rotation      Go duration > 0, default 5m
//	PEPPER_GRACE             generate, authorizer, rotation      Go duration > 0, default 1h
//	SECRETSMANAGER_ENDPOINT  generate, authorizer                http(s) URL (tests, moto)
//	APIGATEWAY_ENDPOINT      revoke                              http(s) URL (tests)
//	API_ID, STAGE_NAME       revoke                              both or neither: the stage whose authorizer cache a revoke resets
//	AUTHORIZER_RESPONSE      authorizer                          "policy" (default) or "simple" (HTTP API simple responses)
//	AWS_SAM_LOCAL            set to "true" by the SAM CLI        enables LOCAL_PEPPER and LOCAL_JWT_* (package samlocal)
//	LOCAL_PEPPER             generate, authorizer under sam local  the pepper secret's JSON
//	LOCAL_JWT_PUBLIC_KEY, LOCAL_JWT_ISSUER, LOCAL_JWT_AUDIENCE   list, generate, revoke under sam local (package samlocal)
//	CLAIM_SUBJECT, CLAIM_FIRM_ID, CLAIM_ROLE, CLAIM_TIER, ADMIN_ROLE, PREMIER_TIER   management functions, local server (package identity)
//	EVENT_BUS_NAME           publisher                           event bus name or ARN; "" or "default": the default bus
//	EVENTBRIDGE_ENDPOINT     publisher                           http(s) URL (tests, moto)
//	EXPIRY_WARNING_DAYS      expiry, local server                1..365, default 7
//	KST_ADDR, KST_DATA, KST_PEPPER, AWS_REGION   the local server only
package settings

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Variable names.
const (
	EnvTableName              = "TABLE_NAME"
	EnvDynamoDBEndpoint       = "DYNAMODB_ENDPOINT"
	EnvMaxActiveKeys          = "MAX_ACTIVE_KEYS"
	EnvLogLevel               = "LOG_LEVEL"
	EnvPepperSecretID         = "PEPPER_SECRET_ARN"
	EnvPepperRefresh          = "PEPPER_REFRESH"
	EnvPepperGrace            = "PEPPER_GRACE"
	EnvSecretsManagerEndpoint = "SECRETSMANAGER_ENDPOINT"
	EnvAPIGatewayEndpoint     = "APIGATEWAY_ENDPOINT"
	EnvAPIID                  = "API_ID"
	EnvStageName              = "STAGE_NAME"
	EnvAuthorizerResponse     = "AUTHORIZER_RESPONSE"
	EnvSAMLocal               = "AWS_SAM_LOCAL"
	EnvLocalPepper            = "LOCAL_PEPPER"
	EnvLocalJWTPublicKey      = "LOCAL_JWT_PUBLIC_KEY"
	EnvLocalJWTIssuer         = "LOCAL_JWT_ISSUER"
	EnvLocalJWTAudience       = "LOCAL_JWT_AUDIENCE"
	EnvAWSRegion              = "AWS_REGION"
	EnvEventBusName           = "EVENT_BUS_NAME"
	EnvEventBridgeEndpoint    = "EVENTBRIDGE_ENDPOINT"
	EnvExpiryWarningDays      = "EXPIRY_WARNING_DAYS"
)

// Bounds and defaults.
const (
	DefaultMaxActiveKeys = 50
	MinMaxActiveKeys     = 1
	MaxMaxActiveKeys     = 100000
	DefaultPepperRefresh = 5 * time.Minute
	DefaultPepperGrace   = time.Hour
)

// Values of AUTHORIZER_RESPONSE.
const (
	AuthorizerPolicy = "policy"
	AuthorizerSimple = "simple"
)

// MaxActiveKeys parses MAX_ACTIVE_KEYS: "" is the default, anything else a
// whole number in [MinMaxActiveKeys, MaxMaxActiveKeys].
func MaxActiveKeys(v string) (int, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return DefaultMaxActiveKeys, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < MinMaxActiveKeys || n > MaxMaxActiveKeys {
		return 0, fmt.Errorf("%s=%q is not a whole number between %d and %d", EnvMaxActiveKeys, v, MinMaxActiveKeys, MaxMaxActiveKeys)
	}
	return n, nil
}

// LogLevel parses LOG_LEVEL, in any letter case: "" is INFO.
func LogLevel(v string) (slog.Level, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return slog.LevelInfo, nil
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(v)); err != nil {
		return slog.LevelInfo, fmt.Errorf("%s=%q is not one of DEBUG, INFO, WARN, ERROR", EnvLogLevel, v)
	}
	return l, nil
}

// Endpoint checks an optional endpoint variable: "" or an http(s) URL.
func Endpoint(name, v string) (string, error) {
	v = strings.TrimSpace(v)
	if v != "" && !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") {
		return "", fmt.Errorf("%s=%q is not an http(s) URL", name, v)
	}
	return v, nil
}

// Duration parses an optional positive Go duration ("5m"); "" is def.
func Duration(name, v string, def time.Duration) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q is not a positive duration such as 5m", name, v)
	}
	return d, nil
}

// AuthorizerResponse parses AUTHORIZER_RESPONSE: "" is AuthorizerPolicy.
func AuthorizerResponse(v string) (string, error) {
	switch v = strings.ToLower(strings.TrimSpace(v)); v {
	case "":
		return AuthorizerPolicy, nil
	case AuthorizerPolicy, AuthorizerSimple:
		return v, nil
	}
	return "", fmt.Errorf("%s=%q is not %q or %q", EnvAuthorizerResponse, v, AuthorizerPolicy, AuthorizerSimple)
}

// NewLogger returns the JSON logger of the functions and the local server,
// writing to w (stdout in Lambda, where the template's LoggingConfig keeps
// the lines as JSON).
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// Pepper is where generate and the authorizer get the pepper: the Secrets
// Manager secret, or under sam local the LOCAL_PEPPER value.
type Pepper struct {
	SecretID string
	Refresh  time.Duration
	Grace    time.Duration
	Endpoint string // SECRETSMANAGER_ENDPOINT
	// Local is LOCAL_PEPPER when AWS_SAM_LOCAL=true (the secret's JSON
	// format); then SecretID is not needed.
	Local string
}

// Store is what a function that uses the table reads.
type Store struct {
	TableName        string
	DynamoDBEndpoint string
	MaxActiveKeys    int
	LogLevel         slog.Level
	SAMLocal         bool
}

// ReadStore reads the store settings, reporting every problem at once.
func ReadStore(getenv func(string) string) (Store, error) {
	var errs []error
	s := Store{TableName: strings.TrimSpace(getenv(EnvTableName)), SAMLocal: getenv(EnvSAMLocal) == "true"}
	if s.TableName == "" {
		errs = append(errs, fmt.Errorf("%s is not set", EnvTableName))
	}
	var err error
	if s.DynamoDBEndpoint, err = Endpoint(EnvDynamoDBEndpoint, getenv(EnvDynamoDBEndpoint)); err != nil {
		errs = append(errs, err)
	}
	if s.MaxActiveKeys, err = MaxActiveKeys(getenv(EnvMaxActiveKeys)); err != nil {
		errs = append(errs, err)
	}
	if s.LogLevel, err = LogLevel(getenv(EnvLogLevel)); err != nil {
		errs = append(errs, err)
	}
	return s, wrap(errs)
}

// ReadPepper reads the pepper settings of generate and the authorizer.
func ReadPepper(getenv func(string) string) (Pepper, error) {
	var errs []error
	var p Pepper
	var err error
	if p.Endpoint, err = Endpoint(EnvSecretsManagerEndpoint, getenv(EnvSecretsManagerEndpoint)); err != nil {
		errs = append(errs, err)
	}
	if getenv(EnvSAMLocal) == "true" && getenv(EnvLocalPepper) != "" {
		p.Local = getenv(EnvLocalPepper)
		return p, wrap(errs)
	}
	if p.SecretID = strings.TrimSpace(getenv(EnvPepperSecretID)); p.SecretID == "" {
		errs = append(errs, fmt.Errorf("%s is not set", EnvPepperSecretID))
	}
	if p.Refresh, err = Duration(EnvPepperRefresh, getenv(EnvPepperRefresh), DefaultPepperRefresh); err != nil {
		errs = append(errs, err)
	}
	if p.Grace, err = Duration(EnvPepperGrace, getenv(EnvPepperGrace), DefaultPepperGrace); err != nil {
		errs = append(errs, err)
	}
	return p, wrap(errs)
}

// CacheReset names the HTTP API stage whose authorizer cache revoke resets.
type CacheReset struct {
	Endpoint  string // APIGATEWAY_ENDPOINT
	APIID     string // with StageName, or neither: the request's own stage
	StageName string
}

// ReadCacheReset reads the settings of revoke's cache reset.
func ReadCacheReset(getenv func(string) string) (CacheReset, error) {
	var errs []error
	c := CacheReset{APIID: strings.TrimSpace(getenv(EnvAPIID)), StageName: strings.TrimSpace(getenv(EnvStageName))}
	var err error
	if c.Endpoint, err = Endpoint(EnvAPIGatewayEndpoint, getenv(EnvAPIGatewayEndpoint)); err != nil {
		errs = append(errs, err)
	}
	if (c.APIID == "") != (c.StageName == "") {
		errs = append(errs, fmt.Errorf("set both %s and %s, or neither", EnvAPIID, EnvStageName))
	}
	return c, wrap(errs)
}

// Events is where the publisher puts lifecycle events.
type Events struct {
	Bus      string // EVENT_BUS_NAME; "" is the default bus
	Endpoint string // EVENTBRIDGE_ENDPOINT
}

// ReadEvents reads the publisher's settings.
func ReadEvents(getenv func(string) string) (Events, error) {
	e := Events{Bus: strings.TrimSpace(getenv(EnvEventBusName))}
	var err error
	e.Endpoint, err = Endpoint(EnvEventBridgeEndpoint, getenv(EnvEventBridgeEndpoint))
	if err != nil {
		return e, wrap([]error{err})
	}
	return e, nil
}

// Bounds of EXPIRY_WARNING_DAYS.
const (
	DefaultExpiryWarningDays = 7
	MaxExpiryWarningDays     = 365
)

// ExpiryWarningDays parses EXPIRY_WARNING_DAYS: how many days before a
// key's expiry the expiry check warns; "" is the default.
func ExpiryWarningDays(v string) (int, error) {
	if strings.TrimSpace(v) == "" {
		return DefaultExpiryWarningDays, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 1 || n > MaxExpiryWarningDays {
		return 0, fmt.Errorf("%s=%q is not a whole number of days from 1 to %d", EnvExpiryWarningDays, v, MaxExpiryWarningDays)
	}
	return n, nil
}

func wrap(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("settings: %w", errors.Join(errs...))
}
