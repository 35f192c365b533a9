// Package awsenv builds the AWS SDK configuration of a Lambda function from
// the variables the Lambda execution environment sets, without the SDK's
// shared-configuration loader (package config). That loader also links the
// STS, SSO, SSO OIDC, sign-in and IMDS clients for profiles, SSO and EC2,
// none of which a function can use, and they nearly double each bootstrap's
// size and add their package initialisation to every cold start.
//
// Sources: "Defined runtime environment variables" in the AWS Lambda
// Developer Guide (AWS_REGION and the execution role's AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), and "Container credential
// provider" in the AWS SDKs and Tools Reference Guide
// (AWS_CONTAINER_CREDENTIALS_FULL_URI with AWS_CONTAINER_AUTHORIZATION_TOKEN,
// which Lambda sets instead where it serves credentials over HTTP). sam local
// passes the caller's credentials in the same variables.
package awsenv

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
)

// The environment variables read, as the Lambda and SDK references name them.
const (
	EnvRegion             = "AWS_REGION"
	EnvDefaultRegion      = "AWS_DEFAULT_REGION"
	EnvAccessKeyID        = "AWS_ACCESS_KEY_ID"
	EnvSecretAccessKey    = "AWS_SECRET_ACCESS_KEY"
	EnvSessionToken       = "AWS_SESSION_TOKEN"
	EnvContainerFullURI   = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
	EnvContainerAuthToken = "AWS_CONTAINER_AUTHORIZATION_TOKEN"
)

// ErrNoRegion and ErrNoCredentials say which part of the environment is
// missing; Config wraps them.
var (
	ErrNoRegion      = errors.New("awsenv: no region: set " + EnvRegion)
	ErrNoCredentials = errors.New("awsenv: no credentials: set " + EnvAccessKeyID + " and " + EnvSecretAccessKey + " (Lambda sets them from the execution role), or " + EnvContainerFullURI)
)

// Config returns the SDK configuration for getenv (os.Getenv in a main):
// the region from AWS_REGION (else AWS_DEFAULT_REGION), and credentials
// from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, or,
// when those are absent, from the container credential endpoint at
// AWS_CONTAINER_CREDENTIALS_FULL_URI (cached, refreshed 5 minutes before
// they expire, as the SDK's loader does). Retries, the HTTP client and
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
	cfg := aws.Config{Region: region}
	id, secret := getenv(EnvAccessKeyID), getenv(EnvSecretAccessKey)
	switch uri := getenv(EnvContainerFullURI); {
	case id != "" && secret != "":
		cfg.Credentials = credentials.NewStaticCredentialsProvider(id, secret, getenv(EnvSessionToken))
	case uri != "":
		if err := checkContainerURI(uri); err != nil {
			return aws.Config{}, err
		}
		token := getenv(EnvContainerAuthToken)
		cfg.Credentials = aws.NewCredentialsCache(endpointcreds.New(uri, func(o *endpointcreds.Options) {
			o.AuthorizationToken = token
		}), func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = 5 * time.Minute })
	default:
		return aws.Config{}, ErrNoCredentials
	}
	return cfg, nil
}

// checkContainerURI applies the SDK reference's rule: the authorization
// token goes only to HTTPS, or to plain HTTP on a loopback or link-local
// address (Lambda, ECS and EKS serve credentials there).
func checkContainerURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("awsenv: %s is not an absolute URL", EnvContainerFullURI)
	}
	if u.Scheme == "https" {
		return nil
	}
	ip := net.ParseIP(u.Hostname())
	if u.Scheme == "http" && (u.Hostname() == "localhost" || ip != nil && (ip.IsLoopback() || ip.IsLinkLocalUnicast())) {
		return nil
	}
	return fmt.Errorf("awsenv: %s must be https, or http on a loopback or link-local address", EnvContainerFullURI)
}
