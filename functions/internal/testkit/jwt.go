package testkit

import (
	"crypto/rand"
	"crypto/rsa"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// RSAKey returns a new 2048-bit RSA key (the size API Gateway's JWT
// authorizer and the local server use), or fails the test.
func RSAKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// SignJWT returns claims as a compact JWT signed with method and key,
// naming kid in the header unless it is "", or fails the test. Tests use it
// to make the tokens a verifier must accept or refuse (another key, another
// algorithm, a missing claim), which no real signer would issue.
func SignJWT(t testing.TB, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
