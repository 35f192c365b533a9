// Package admintoken signs and verifies administrator tokens for the two
// places that stand in for API Gateway's JWT authorizer: the local server
// (`make run`, which also issues tokens from POST /dev/token) and the sam
// local path (package samlocal). Both verify through one Verifier, so a
// token either accepts is one a deployed JWT authorizer would accept:
// RS256 only, the configured issuer and audience, exp required, nbf and
// iat not in the future.
//
// In AWS the gateway verifies tokens and no function links this package.
package admintoken

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kudurrustone/apikeys/functions/internal/identity"
)

// Defaults for iss and aud: what the local server puts in its tokens and
// what the sam local path requires unless configured otherwise, so a token
// from one works against the other.
const (
	DefaultIssuer   = "kudurrustone-local"
	DefaultAudience = "kudurrustone-api-keys"
)

// Algorithm is the only signing algorithm accepted: API Gateway's JWT
// authorizer verifies RSA signatures only.
const Algorithm = "RS256"

// ErrNoToken is returned by Verify for an empty token: API Gateway answers
// such a request without looking for a key.
var ErrNoToken = errors.New("admintoken: no token")

// Verifier checks presented admin tokens. It is safe for concurrent use.
type Verifier struct {
	key    *rsa.PublicKey
	kid    string
	parser *jwt.Parser
}

// NewVerifier returns a Verifier accepting RS256 tokens signed by key, with
// iss equal to issuer and aud containing audience, checked against the
// clock now. kid is the key id a token's header must name, as API Gateway
// picks the key from the issuer's JWKS by kid; "" accepts any kid, for a
// single key configured without a JWKS (sam local's LOCAL_JWT_PUBLIC_KEY).
func NewVerifier(key *rsa.PublicKey, kid, issuer, audience string, now func() time.Time) *Verifier {
	return &Verifier{
		key: key,
		kid: kid,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{Algorithm}),
			jwt.WithIssuer(issuer),
			jwt.WithAudience(audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithTimeFunc(now),
			jwt.WithJSONNumber(),
		),
	}
}

// Verify checks raw (the compact JWT, without "Bearer ") and returns its
// claims flattened to strings as API Gateway passes them to an HTTP API
// integration (identity.FlattenClaim). It returns ErrNoToken for "", and
// otherwise an error whose text says what is wrong with the token and
// nothing more, so it is safe to show the caller.
func (v *Verifier) Verify(raw string) (map[string]string, error) {
	if raw == "" {
		return nil, ErrNoToken
	}
	claims := jwt.MapClaims{}
	_, err := v.parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		if v.kid == "" {
			return v.key, nil
		}
		// An unknown or missing kid finds no key in the JWKS.
		if kid, _ := t.Header["kid"].(string); kid != v.kid {
			return nil, errors.New("unknown signing key (kid)")
		}
		return v.key, nil
	})
	if err != nil {
		return nil, describe(err)
	}
	out := make(map[string]string, len(claims))
	for k, c := range claims {
		out[k] = identity.FlattenClaim(c)
	}
	return out, nil
}

// describe turns a parser error into a short description of the problem.
func describe(err error) error {
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
		return errors.New("the token lacks a required claim (exp, iss or aud)")
	default:
		return errors.New("the token is invalid")
	}
}

// KeyID returns the kid of key: the hex of the first 8 bytes of the SHA-256
// of its PKIX DER encoding (16 characters).
func KeyID(key *rsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		return "", fmt.Errorf("admintoken: encode public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:8]), nil
}

// Signer issues admin tokens that its Verifier accepts.
type Signer struct {
	key      *rsa.PrivateKey
	kid      string
	issuer   string
	audience string
	lifetime time.Duration
	now      func() time.Time
	verifier *Verifier
}

// NewSigner returns a Signer whose tokens carry key's KeyID in the header,
// issuer in iss, audience in aud and are valid for lifetime from now().
func NewSigner(key *rsa.PrivateKey, issuer, audience string, lifetime time.Duration, now func() time.Time) (*Signer, error) {
	kid, err := KeyID(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	return &Signer{
		key:      key,
		kid:      kid,
		issuer:   issuer,
		audience: audience,
		lifetime: lifetime,
		now:      now,
		verifier: NewVerifier(&key.PublicKey, kid, issuer, audience, now),
	}, nil
}

// KeyID returns the kid the Signer puts in its tokens.
func (s *Signer) KeyID() string { return s.kid }

// Verifier returns the Verifier for the Signer's tokens: its key, its kid
// required, its issuer and audience.
func (s *Signer) Verifier() *Verifier { return s.verifier }

// Sign returns a compact RS256 JWT of claims plus iss, aud, iat, nbf (now,
// whole seconds) and exp (now plus the lifetime), which it also returns.
// Those five override any of the same name in claims.
func (s *Signer) Sign(claims map[string]any) (string, time.Time, error) {
	now := s.now().UTC().Truncate(time.Second)
	exp := now.Add(s.lifetime)
	c := make(jwt.MapClaims, len(claims)+5)
	for k, v := range claims {
		c[k] = v
	}
	c["iss"] = s.issuer
	c["aud"] = s.audience
	c["iat"] = now.Unix()
	c["nbf"] = now.Unix()
	c["exp"] = exp.Unix()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header["kid"] = s.kid
	raw, err := tok.SignedString(s.key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("admintoken: sign: %w", err)
	}
	return raw, exp, nil
}
