// Package awsenv builds the AWS SDK configuration of a Lambda function from
// the variables the Lambda execution environment sets, without the SDK's
// shared-configuration loader (package config). That loader also links the
// STS, SSO, SSO OIDC, sign-in and IMDS clients and the container and
// process credential providers, none of which a Go function on Lambda
// uses; they took about 1.9 MiB (a fifth) of each bootstrap and added
// their package initialisation to every cold start.
//
// Source: "Defined runtime environment variables" in the AWS Lambda
// Developer Guide: AWS_REGION, and the execution role's credentials in
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN. sam local
// passes the caller's credentials in the same variables.
package awsenv

import (
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// The environment variables read, as the Lambda Developer Guide names them.
const (
	EnvRegion          = "AWS_REGION"
	EnvDefaultRegion   = "AWS_DEFAULT_REGION"
	EnvAccessKeyID     = "AWS_ACCESS_KEY_ID"
	EnvSecretAccessKey = "AWS_SECRET_ACCESS_KEY"
	EnvSessionToken    = "AWS_SESSION_TOKEN"
)

// ErrNoRegion and ErrNoCredentials say which part of the environment is
// missing; Config returns them as they are.
var (
	ErrNoRegion      = errors.New("awsenv: no region: set " + EnvRegion)
	ErrNoCredentials = errors.New("awsenv: no credentials: set " + EnvAccessKeyID + " and " + EnvSecretAccessKey + " (Lambda sets them from the execution role)")
)

// Config returns the SDK configuration for getenv (os.Getenv in a main):
// the region from AWS_REGION (else AWS_DEFAULT_REGION), and credentials
// from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, read
// once, as the SDK's default chain reads them. Retries, the HTTP client and
// endpoints keep the service clients' defaults. It reads no file and makes
// no request.
func Config(getenv func(string) string) (aws.Config, error) {
	region := getenv(EnvRegion)
	if region == "" {
		region = getenv(EnvDefaultRegion)
	}
	if region == "" {
		return aws.Config{}, ErrNoRegion
	}
	id, secret := getenv(EnvAccessKeyID), getenv(EnvSecretAccessKey)
	if id == "" || secret == "" {
		return aws.Config{}, ErrNoCredentials
	}
	return aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider(id, secret, getenv(EnvSessionToken)),
	}, nil
}
