package pepper

import (
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Environment variables read by ConfigFromEnv and used by the functions.
const (
	EnvSecretID = "PEPPER_SECRET_ARN"       // required: secret name or ARN
	EnvRefresh  = "PEPPER_REFRESH"          // optional Go duration, default 5m
	EnvGrace    = "PEPPER_GRACE"            // optional Go duration, default 1h
	EnvEndpoint = "SECRETSMANAGER_ENDPOINT" // optional endpoint URL (local, tests)
)

// ConfigFromEnv reads the SecretsManager settings of a Lambda function.
// Logger and Now are left for the caller.
func ConfigFromEnv(getenv func(string) string) (SecretsManagerConfig, error) {
	cfg := SecretsManagerConfig{SecretID: getenv(EnvSecretID)}
	if cfg.SecretID == "" {
		return cfg, fmt.Errorf("pepper: %s is not set", EnvSecretID)
	}
	var err error
	if cfg.Refresh, err = envDuration(getenv, EnvRefresh); err != nil {
		return cfg, err
	}
	if cfg.Grace, err = envDuration(getenv, EnvGrace); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func envDuration(getenv func(string) string, name string) (time.Duration, error) {
	v := getenv(name)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("pepper: %s=%q is not a positive duration such as 5m", name, v)
	}
	return d, nil
}

// NewClient builds the Secrets Manager client from the shared AWS config,
// pointed at endpoint when it is not empty (SECRETSMANAGER_ENDPOINT).
func NewClient(cfg aws.Config, endpoint string) *secretsmanager.Client {
	return secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
}
