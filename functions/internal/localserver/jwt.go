package localserver

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/kudurrustone/apikeys/functions/internal/identity"
	"github.com/kudurrustone/apikeys/functions/internal/secretfile"
)

// The local admin tokens are RS256 JWTs: API Gateway's JWT authorizer only
// accepts RSA signatures, so the local server accepts exactly what a real
// deployment would, and a token that works here has the shape a real
// identity provider must produce.
const (
	// SigningKeyFile is the local signing key under the data folder: a PKCS
	// #8 RSA private key in PEM, created on first run with mode 0600.
	SigningKeyFile = "jwt-signing-key.pem"
	// DefaultIssuer and DefaultAudience are what the local JWT authorizer
	// requires in iss and aud, like the Issuer and Audience of an API
	// Gateway JWT authorizer.
	DefaultIssuer   = "kudurrustone-local"
	DefaultAudience = "kudurrustone-api-keys"
	// TokenLifetime is how long a /dev/token token is valid.
	TokenLifetime = time.Hour

	signingAlg = "RS256"
	rsaBits    = 2048
)

// tokenAuthority signs local admin tokens and verifies presented ones the
// way API Gateway's JWT authorizer does: known key (kid), RS256 signature,
// issuer, audience, exp (required), nbf and iat.
type tokenAuthority struct {
	key      *rsa.PrivateKey
	kid      string
	issuer   string
	audience string
	now      func() time.Time
	parser   *jwt.Parser
}

func newTokenAuthority(key *rsa.PrivateKey, issuer, audience string, now func() time.Time) (*tokenAuthority, error) {
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("localserver: encode signing key: %w", err)
	}
	sum := sha256.Sum256(der)
	return &tokenAuthority{
		key:      key,
		kid:      hex.EncodeToString(sum[:8]),
		issuer:   issuer,
		audience: audience,
		now:      now,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{signingAlg}),
			jwt.WithIssuer(issuer),
			jwt.WithAudience(audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithTimeFunc(now),
			jwt.WithJSONNumber(),
		),
	}, nil
}

// mint signs claims, adding iss, aud, iat, nbf and exp.
func (a *tokenAuthority) mint(claims map[string]any) (string, time.Time, error) {
	now := a.now().UTC().Truncate(time.Second)
	exp := now.Add(TokenLifetime)
	c := jwt.MapClaims{}
	for k, v := range claims {
		c[k] = v
	}
	c["iss"] = a.issuer
	c["aud"] = a.audience
	c["iat"] = now.Unix()
	c["nbf"] = now.Unix()
	c["exp"] = exp.Unix()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header["kid"] = a.kid
	s, err := tok.SignedString(a.key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("localserver: sign token: %w", err)
	}
	return s, exp, nil
}

// errNoToken is a request without a token: API Gateway answers it without
// even looking for a key.
var errNoToken = errors.New("no token")

// verify checks a presented token and returns its claims flattened to
// strings, as API Gateway passes them to the integration. The error text is
// safe to show: it says what is wrong with the token, never more.
func (a *tokenAuthority) verify(raw string) (map[string]string, error) {
	if raw == "" {
		return nil, errNoToken
	}
	claims := jwt.MapClaims{}
	_, err := a.parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		// API Gateway picks the key by kid from the issuer's JWKS; an
		// unknown or missing kid finds no key.
		if kid, _ := t.Header["kid"].(string); kid != a.kid {
			return nil, errors.New("unknown signing key (kid)")
		}
		return &a.key.PublicKey, nil
	})
	if err != nil {
		return nil, tokenError(err)
	}
	return flattenClaims(claims), nil
}

// tokenError turns a parser error into a short description of the problem.
func tokenError(err error) error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return errors.New("the token is malformed")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return errors.New("the token signature is invalid")
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return errors.New("the token cannot be verified (unknown key or algorithm)")
	case errors.Is(err, jwt.ErrTokenExpired):
		return errors.New("the token has expired")
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return errors.New("the token is not valid yet")
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return errors.New("the token has the wrong issuer")
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return errors.New("the token has the wrong audience")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return errors.New("the token lacks a required claim (exp)")
	default:
		return errors.New("the token is invalid")
	}
}

// flattenClaims renders every claim as API Gateway HTTP APIs do in
// requestContext.authorizer.jwt.claims: strings as they are, numbers and
// booleans as their JSON text, arrays as "[a b c]", objects as JSON.
func flattenClaims(c jwt.MapClaims) map[string]string {
	out := make(map[string]string, len(c))
	for k, v := range c {
		out[k] = identity.FlattenClaim(v)
	}
	return out
}

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
