package localserver

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/admintoken"
	"github.com/kudurrustone/apikeys/functions/internal/secretfile"
)

// The local admin tokens are RS256 JWTs (package admintoken signs and
// verifies them): API Gateway's JWT authorizer only accepts RSA signatures,
// so the local server accepts exactly what a real deployment would, and a
// token that works here has the shape a real identity provider must
// produce.
const (
	// SigningKeyFile is the local signing key under the data folder: a PKCS
	// #8 RSA private key in PEM, created on first run with mode 0600.
	SigningKeyFile = "jwt-signing-key.pem"
	// DefaultIssuer and DefaultAudience are what the local JWT authorizer
	// requires in iss and aud, like the Issuer and Audience of an API
	// Gateway JWT authorizer.
	DefaultIssuer   = admintoken.DefaultIssuer
	DefaultAudience = admintoken.DefaultAudience
	// TokenLifetime is how long a /dev/token token is valid.
	TokenLifetime = time.Hour

	rsaBits = 2048
)

// loadOrCreateSigningKey reads the local signing key from path, creating it
// (directory 0700, file 0600) on first run. A key file readable by group or
// others is refused: it would let any local user mint admin tokens.
func loadOrCreateSigningKey(path string) (*rsa.PrivateKey, bool, error) {
	created, err := secretfile.Create(path, func() ([]byte, error) {
		key, err := rsa.GenerateKey(rand.Reader, rsaBits)
		if err != nil {
			return nil, fmt.Errorf("generate signing key: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("encode signing key: %w", err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("localserver: signing key: %w", err)
	}
	body, err := secretfile.Read(path, maxSigningKeySize)
	if err != nil {
		return nil, false, fmt.Errorf("localserver: signing key: %w", err)
	}
	block, _ := pem.Decode(body)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, false, fmt.Errorf("localserver: signing key %s is not a PEM private key; delete it to create a new one", path)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, false, fmt.Errorf("localserver: signing key %s: %w", path, err)
	}
	key, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, false, fmt.Errorf("localserver: signing key %s is not an RSA key; delete it to create a new one", path)
	}
	return key, created, nil
}

// maxSigningKeySize bounds what is read from the key file (a 2048-bit PKCS#8
// PEM key is under 2 KiB).
const maxSigningKeySize = 64 << 10
