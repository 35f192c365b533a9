package samlocal_test

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/golang-jwt/jwt/v5"

	"github.com/kudurrustone/apikeys/functions/internal/samlocal"
	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func pemOf(t *testing.T, k *rsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func derBase64(t *testing.T, k *rsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

func sign(t *testing.T, k *rsa.PrivateKey, claims jwt.MapClaims) string {
	t.Helper()
	return testkit.SignJWT(t, jwt.SigningMethodRS256, k, "", claims)
}

func adminClaims(mod func(jwt.MapClaims)) jwt.MapClaims {
	c := jwt.MapClaims{"sub": "alice", "firmId": "acme", "role": "admin", "tier": "premier",
		"iss": samlocal.DefaultIssuer, "aud": samlocal.DefaultAudience, "exp": now.Add(time.Hour).Unix()}
	if mod != nil {
		mod(c)
	}
	return c
}

func event(auth string) events.APIGatewayV2HTTPRequest {
	ev := events.APIGatewayV2HTTPRequest{Headers: map[string]string{}}
	if auth != "" {
		ev.Headers["authorization"] = auth
	}
	return ev
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestApply(t *testing.T) {
	key, other := testkit.RSAKey(t), testkit.RSAKey(t)
	v := samlocal.New(&key.PublicKey, samlocal.DefaultIssuer, samlocal.DefaultAudience, func() time.Time { return now }, quiet)

	hs, err := jwt.NewWithClaims(jwt.SigningMethodHS256, adminClaims(nil)).SignedString([]byte(pemOf(t, key)))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		auth      string
		wantClaim bool
	}{
		{"valid token", "Bearer " + sign(t, key, adminClaims(nil)), true},
		{"scheme in any case", "bEaReR " + sign(t, key, adminClaims(nil)), true},
		{"no header", "", false},
		{"not bearer", "Basic " + sign(t, key, adminClaims(nil)), false},
		{"other key", "Bearer " + sign(t, other, adminClaims(nil)), false},
		{"expired", "Bearer " + sign(t, key, adminClaims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() })), false},
		{"no exp", "Bearer " + sign(t, key, adminClaims(func(c jwt.MapClaims) { delete(c, "exp") })), false},
		{"wrong issuer", "Bearer " + sign(t, key, adminClaims(func(c jwt.MapClaims) { c["iss"] = "evil" })), false},
		{"wrong audience", "Bearer " + sign(t, key, adminClaims(func(c jwt.MapClaims) { c["aud"] = "other" })), false},
		{"HS256 with the public key as secret", "Bearer " + hs, false},
		{"garbage", "Bearer abc.def.ghi", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := v.Apply(context.Background(), event(tt.auth))
			a := got.RequestContext.Authorizer
			if !tt.wantClaim {
				if a != nil {
					t.Fatalf("claims set for a token that must not verify: %+v", a.JWT)
				}
				return
			}
			if a == nil || a.JWT == nil {
				t.Fatal("no claims for a valid token")
			}
			c := a.JWT.Claims
			if c["sub"] != "alice" || c["firmId"] != "acme" || c["role"] != "admin" || c["tier"] != "premier" {
				t.Errorf("claims = %v", c)
			}
			if c["exp"] != "1795611600" {
				t.Errorf("exp flattened to %q, want the number's text", c["exp"])
			}
		})
	}
}

func TestApplyKeepsGatewayClaims(t *testing.T) {
	key := testkit.RSAKey(t)
	v := samlocal.New(&key.PublicKey, samlocal.DefaultIssuer, samlocal.DefaultAudience, func() time.Time { return now }, quiet)
	ev := event("Bearer " + sign(t, key, adminClaims(func(c jwt.MapClaims) { c["firmId"] = "globex" })))
	ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
		JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: map[string]string{"sub": "bob", "firmId": "acme"}},
	}
	got := v.Apply(context.Background(), ev)
	if c := got.RequestContext.Authorizer.JWT.Claims; c["firmId"] != "acme" || c["sub"] != "bob" {
		t.Errorf("gateway claims replaced: %v", c)
	}
}

func TestFromEnv(t *testing.T) {
	key := testkit.RSAKey(t)
	pemKey := pemOf(t, key)
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		name    string
		env     map[string]string
		enabled bool
		wantErr string
	}{
		{"not sam local", map[string]string{samlocal.EnvPublicKey: pemKey}, false, ""},
		{"sam local set to something else", map[string]string{samlocal.EnvSAMLocal: "1", samlocal.EnvPublicKey: pemKey}, false, ""},
		{"sam local without a key", map[string]string{samlocal.EnvSAMLocal: "true"}, false, ""},
		{"sam local with a key", map[string]string{samlocal.EnvSAMLocal: "true", samlocal.EnvPublicKey: pemKey}, true, ""},
		{"escaped newlines (env.json)", map[string]string{samlocal.EnvSAMLocal: "true", samlocal.EnvPublicKey: strings.ReplaceAll(pemKey, "\n", `\n`)}, true, ""},
		{"base64 DER (make local-api)", map[string]string{samlocal.EnvSAMLocal: "true", samlocal.EnvPublicKey: derBase64(t, key)}, true, ""},
		{"neither", map[string]string{samlocal.EnvSAMLocal: "true", samlocal.EnvPublicKey: "nope!"}, false, "neither PEM nor base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := samlocal.FromEnv(env(tt.env), quiet)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (v != nil) != tt.enabled {
				t.Fatalf("enabled = %t, want %t", v != nil, tt.enabled)
			}
			// A nil verifier passes events through untouched.
			called := false
			h := v.Wrap(func(_ context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
				called = true
				if (ev.RequestContext.Authorizer != nil) != tt.enabled {
					t.Errorf("claims present = %t, want %t", ev.RequestContext.Authorizer != nil, tt.enabled)
				}
				return events.APIGatewayV2HTTPResponse{StatusCode: 200}, nil
			})
			claims := adminClaims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(time.Hour).Unix() })
			if _, err := h(context.Background(), event("Bearer "+sign(t, key, claims))); err != nil || !called {
				t.Fatalf("wrapped handler: called %t, err %v", called, err)
			}
		})
	}
}
