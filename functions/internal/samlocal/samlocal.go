// Package samlocal is the admin identity path for `sam local start-api`.
//
// In AWS, API Gateway's JWT authorizer verifies the administrator's token
// and puts its claims in the request context, where package identity reads
// them. `sam local start-api` does not evaluate JWT authorizers: requests
// reach the function without claims, so every management route would
// answer 401. Under sam local only, a Verifier therefore checks the Bearer
// token itself with package admintoken — the local server's rules: RS256
// signature against a configured public key, issuer, audience, exp, nbf and
// iat, as API Gateway would — and puts the claims where API Gateway would
// have put them.
//
// It cannot be switched on in a deployed stack by accident: it needs both
// AWS_SAM_LOCAL=true, which the SAM CLI sets in its local containers and
// the template never sets, and LOCAL_JWT_PUBLIC_KEY, which the template
// declares empty (sam local may only override declared variables); a
// contract test keeps both so. Even if someone set both in AWS, the
// gateway's JWT authorizer still runs first, and claims it provides are
// never replaced: the path only fills in claims that are missing.
package samlocal

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/kudurrustone/apikeys/functions/internal/admintoken"
	"github.com/kudurrustone/apikeys/functions/internal/bearer"
	"github.com/kudurrustone/apikeys/functions/internal/settings"
)

// Environment variables.
const (
	EnvSAMLocal  = settings.EnvSAMLocal          // "true" under sam local (set by the SAM CLI)
	EnvPublicKey = settings.EnvLocalJWTPublicKey // RSA public key: PEM, or base64 of the PKIX DER
	EnvIssuer    = settings.EnvLocalJWTIssuer    // default DefaultIssuer
	EnvAudience  = settings.EnvLocalJWTAudience  // default DefaultAudience
)

// Defaults: what `make run`'s POST /dev/token puts in its tokens, so a token
// from the local server works against sam local too.
const (
	DefaultIssuer   = admintoken.DefaultIssuer
	DefaultAudience = admintoken.DefaultAudience
)

// Verifier verifies admin tokens under sam local. A nil *Verifier is
// valid and does nothing.
type Verifier struct {
	tokens *admintoken.Verifier
	log    *slog.Logger
}

// FromEnv returns a Verifier when running under sam local with a public key
// configured, and nil otherwise.
func FromEnv(getenv func(string) string, log *slog.Logger) (*Verifier, error) {
	if getenv(EnvSAMLocal) != "true" || strings.TrimSpace(getenv(EnvPublicKey)) == "" {
		return nil, nil
	}
	key, err := parsePublicKey(getenv(EnvPublicKey))
	if err != nil {
		return nil, fmt.Errorf("samlocal: %s: %w", EnvPublicKey, err)
	}
	issuer, audience := getenv(EnvIssuer), getenv(EnvAudience)
	if issuer == "" {
		issuer = DefaultIssuer
	}
	if audience == "" {
		audience = DefaultAudience
	}
	return New(key, issuer, audience, time.Now, log), nil
}

// New returns a Verifier accepting RS256 tokens signed by key for issuer
// and audience, whatever their kid (there is one key and no JWKS).
func New(key *rsa.PublicKey, issuer, audience string, now func() time.Time, log *slog.Logger) *Verifier {
	if log == nil {
		log = slog.Default()
	}
	return &Verifier{tokens: admintoken.NewVerifier(key, "", issuer, audience, now), log: log}
}

func parsePublicKey(s string) (*rsa.PublicKey, error) {
	s = strings.TrimSpace(strings.ReplaceAll(s, `\n`, "\n"))
	var der []byte
	if block, _ := pem.Decode([]byte(s)); block != nil {
		der = block.Bytes
	} else {
		// One line, as `make local-api` writes it into env.json.
		var err error
		if der, err = base64.StdEncoding.DecodeString(s); err != nil {
			return nil, errors.New("neither PEM nor base64 DER")
		}
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, err
	}
	key, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%T is not an RSA public key (API Gateway JWT authorizers accept RS256 only)", pub)
	}
	return key, nil
}

// Handler is the signature of httpadapter's ProxyWithContext.
type Handler func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// Wrap returns next, verifying the Bearer token of events that carry no JWT
// claims first. A nil Verifier returns next unchanged.
func (v *Verifier) Wrap(next Handler) Handler {
	if v == nil {
		return next
	}
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return next(ctx, v.Apply(ctx, ev))
	}
}

// Apply returns ev with the claims of its verified Bearer token in the
// request context, as API Gateway's JWT authorizer would pass them. Events
// that already carry claims, and events whose token does not verify, are
// returned unchanged (the handlers then answer 401 for the latter).
func (v *Verifier) Apply(ctx context.Context, ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPRequest {
	if a := ev.RequestContext.Authorizer; a != nil && a.JWT != nil && len(a.JWT.Claims) > 0 {
		return ev
	}
	raw := bearerOf(ev.Headers)
	if raw == "" {
		return ev
	}
	claims, err := v.tokens.Verify(raw)
	if err != nil {
		v.log.InfoContext(ctx, "sam local: admin token rejected", "reason", err.Error())
		return ev
	}
	ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
		JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims},
	}
	return ev
}

// bearerOf returns the token of the Authorization header (any case of the
// name), or "".
func bearerOf(headers map[string]string) string {
	for name, value := range headers {
		if strings.EqualFold(name, "Authorization") {
			token, _ := bearer.Token(value)
			return token
		}
	}
	return ""
}
