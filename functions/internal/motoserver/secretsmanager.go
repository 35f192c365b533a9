package motoserver

import (
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// SecretsManager returns a Secrets Manager client for the moto server, with
// no retries so failure cases stay quick.
func SecretsManager(t testing.TB) *secretsmanager.Client {
	t.Helper()
	return secretsmanager.New(secretsmanager.Options{Region: Region, Credentials: creds(),
		BaseEndpoint: aws.String(URL(t)), RetryMaxAttempts: 1})
}

// Name returns a resource name unique to this run: prefix, a dash, 12 hex
// digits. The server is shared by every test of the process; names keep
// them apart.
func Name(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}
