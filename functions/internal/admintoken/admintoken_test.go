package admintoken_test

import (
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/kudurrustone/apikeys/functions/internal/admintoken"
	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return now }

func valid(edit func(jwt.MapClaims)) jwt.MapClaims {
	c := jwt.MapClaims{"sub": "alice", "firmId": "acme", "role": "admin", "tier": "premier",
		"iss": admintoken.DefaultIssuer, "aud": admintoken.DefaultAudience,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	if edit != nil {
		edit(c)
	}
	return c
}

// TestSignerRoundTrip: what the local server's /dev/token signs, its
// verifier accepts, with the claims as API Gateway would pass them.
func TestSignerRoundTrip(t *testing.T) {
	key := testkit.RSAKey(t)
	s, err := admintoken.NewSigner(key, admintoken.DefaultIssuer, admintoken.DefaultAudience, time.Hour, clock)
	if err != nil {
		t.Fatal(err)
	}
	kid, err := admintoken.KeyID(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if s.KeyID() != kid || len(kid) != 16 {
		t.Fatalf("KeyID = %q, want %q (16 hex digits)", s.KeyID(), kid)
	}
	raw, exp, err := s.Sign(map[string]any{"sub": "alice", "firmId": "acme", "role": "admin", "iss": "ignored"})
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Equal(now.Add(time.Hour)) {
		t.Errorf("exp = %v, want %v", exp, now.Add(time.Hour))
	}
	got, err := s.Verifier().Verify(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"sub": "alice", "firmId": "acme", "role": "admin",
		"iss": admintoken.DefaultIssuer, "aud": admintoken.DefaultAudience,
		"iat": "1795608000", "nbf": "1795608000", "exp": "1795611600"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
}

// TestVerify holds the verifier to the rules of API Gateway's JWT
// authorizer: forged, stale and malformed tokens are refused with a reason
// that names the problem.
func TestVerify(t *testing.T) {
	key, other := testkit.RSAKey(t), testkit.RSAKey(t)
	kid, err := admintoken.KeyID(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	withKid := admintoken.NewVerifier(&key.PublicKey, kid, admintoken.DefaultIssuer, admintoken.DefaultAudience, clock)
	anyKid := admintoken.NewVerifier(&key.PublicKey, "", admintoken.DefaultIssuer, admintoken.DefaultAudience, clock)
	rs256 := jwt.SigningMethodRS256
	tests := []struct {
		name    string
		v       *admintoken.Verifier
		raw     string
		wantErr string // "" = accepted
	}{
		{"valid", withKid, testkit.SignJWT(t, rs256, key, kid, valid(nil)), ""},
		{"valid without iat and nbf", withKid, testkit.SignJWT(t, rs256, key, kid, valid(func(c jwt.MapClaims) { delete(c, "iat"); delete(c, "nbf") })), ""},
		{"audience in a list", withKid, testkit.SignJWT(t, rs256, key, kid, valid(func(c jwt.MapClaims) { c["aud"] = []string{"x", admintoken.DefaultAudience} })), ""},
		{"any kid: no kid", anyKid, testkit.SignJWT(t, rs256, key, "", valid(nil)), ""},
		{"any kid: some kid", anyKid, testkit.SignJWT(t, rs256, key, "0000000000000000", valid(nil)), ""},
		{"unknown kid", withKid, testkit.SignJWT(t, rs256, key, "0000000000000000", valid(nil)), "cannot be verified"},
		{"no kid", withKid, testkit.SignJWT(t, rs256, key, "", valid(nil)), "cannot be verified"},
		{"another key, same kid", withKid, testkit.SignJWT(t, rs256, other, kid, valid(nil)), "signature is invalid"},
		{"another key, any kid", anyKid, testkit.SignJWT(t, rs256, other, "", valid(nil)), "signature is invalid"},
		{"expired", anyKid, testkit.SignJWT(t, rs256, key, kid, valid(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() })), "expired"},
		{"no exp", anyKid, testkit.SignJWT(t, rs256, key, kid, valid(func(c jwt.MapClaims) { delete(c, "exp") })), "required claim"},
		{"not yet valid (nbf)", anyKid, testkit.SignJWT(t, rs256, key, kid, valid(func(c jwt.MapClaims) { c["nbf"] = now.Add(10 * time.Minute).Unix() })), "not valid yet"},
		{"issued in the future (iat)", anyKid, testkit.SignJWT(t, rs256, key, kid, valid(func(c jwt.MapClaims) { c["iat"] = now.Add(10 * time.Minute).Unix() })), "not valid yet"},
		{"wrong issuer", anyKid, testkit.SignJWT(t, rs256, key, kid, valid(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" })), "wrong issuer"},
		{"no issuer", anyKid, testkit.SignJWT(t, rs256, key, kid, valid(func(c jwt.MapClaims) { delete(c, "iss") })), "required claim"},
		{"wrong audience", anyKid, testkit.SignJWT(t, rs256, key, kid, valid(func(c jwt.MapClaims) { c["aud"] = "someone-else" })), "wrong audience"},
		{"HS256 keyed with the public key", anyKid, testkit.SignJWT(t, jwt.SigningMethodHS256, pubDER, kid, valid(nil)), "signature is invalid"},
		{"RS512", anyKid, testkit.SignJWT(t, jwt.SigningMethodRS512, key, kid, valid(nil)), "signature is invalid"},
		{"no audience", anyKid, testkit.SignJWT(t, rs256, key, kid, valid(func(c jwt.MapClaims) { delete(c, "aud") })), "required claim"},
		{"garbage", anyKid, "abc.def.ghi", "malformed"},
		{"not a JWT", anyKid, "kst_abc", "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims, err := tt.v.Verify(tt.raw)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				if claims["sub"] != "alice" || claims["firmId"] != "acme" {
					t.Errorf("claims = %v", claims)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
			if claims != nil {
				t.Errorf("claims returned with the error: %v", claims)
			}
		})
	}
}

func TestVerifyNoToken(t *testing.T) {
	v := admintoken.NewVerifier(&testkit.RSAKey(t).PublicKey, "", admintoken.DefaultIssuer, admintoken.DefaultAudience, clock)
	if _, err := v.Verify(""); !errors.Is(err, admintoken.ErrNoToken) {
		t.Fatalf("err = %v, want ErrNoToken", err)
	}
}

// TestVerifyFlattensClaims: claims reach the handlers as API Gateway HTTP
// APIs pass them, every value a string, numbers as their JSON text.
func TestVerifyFlattensClaims(t *testing.T) {
	key := testkit.RSAKey(t)
	v := admintoken.NewVerifier(&key.PublicKey, "", admintoken.DefaultIssuer, admintoken.DefaultAudience, clock)
	raw := testkit.SignJWT(t, jwt.SigningMethodRS256, key, "", valid(func(c jwt.MapClaims) {
		c["big"] = 12345678901234567
		c["ratio"] = 1.5
		c["ok"] = true
		c["groups"] = []string{"admins", "ops"}
		c["nested"] = map[string]any{"a": 1}
		c["none"] = nil
	}))
	got, err := v.Verify(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"sub": "alice", "firmId": "acme", "role": "admin", "tier": "premier",
		"iss": admintoken.DefaultIssuer, "aud": admintoken.DefaultAudience,
		"iat": "1795608000", "nbf": "1795608000", "exp": "1795611600",
		"big": "12345678901234567", "ratio": "1.5", "ok": "true",
		"groups": "[admins ops]", "nested": `{"a":1}`, "none": ""}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
}
