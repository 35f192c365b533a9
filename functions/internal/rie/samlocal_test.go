package rie_test

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"github.com/aws/aws-lambda-go/events"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kudurrustone/apikeys/functions/internal/samlocal"
	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

// TestEmulatorSAMLocal runs the functions as `sam local start-api` does:
// AWS_SAM_LOCAL=true, the pepper from LOCAL_PEPPER (no Secrets Manager),
// and no JWT claims in the events, so the functions verify the admin token
// themselves against LOCAL_JWT_PUBLIC_KEY (package samlocal). The revoke
// function does not try to reset an authorizer cache that does not exist.
func TestEmulatorSAMLocal(t *testing.T) {
	key := testkit.RSAKey(t)
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	s := startStackEnv(t, map[string]string{
		"AWS_SAM_LOCAL":           "true",
		"LOCAL_JWT_PUBLIC_KEY":    base64.StdEncoding.EncodeToString(der),
		"LOCAL_PEPPER":            `{"current":"1","1":"local-only-pepper-not-a-secret-0123456789abcdef"}`,
		"PEPPER_SECRET_ARN":       "",
		"SECRETSMANAGER_ENDPOINT": "",
	}, "generate", "revoke", "authorizer")

	token := func(t *testing.T, signer *rsa.PrivateKey, claims jwt.MapClaims) string {
		t.Helper()
		c := jwt.MapClaims{"sub": "alice", "firmId": "acme", "role": "admin", "tier": "premier",
			"iss": samlocal.DefaultIssuer, "aud": samlocal.DefaultAudience, "exp": time.Now().Add(time.Hour).Unix()}
		for k, v := range claims {
			c[k] = v
		}
		return testkit.SignJWT(t, jwt.SigningMethodRS256, signer, "", c)
	}
	// The sample event without its claims, with a Bearer token instead, as
	// sam local start-api delivers a request.
	withoutClaims := func(t *testing.T, file, bearer string, values map[string]string) []byte {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal(testkit.Event(t, file, values), &m); err != nil {
			t.Fatal(err)
		}
		delete(m["requestContext"].(map[string]any), "authorizer")
		m["headers"].(map[string]any)["authorization"] = "Bearer " + bearer
		b, _ := json.Marshal(m)
		return b
	}

	other := testkit.RSAKey(t)
	resp := s.proxy(t, "generate", "sam local: token signed by another key",
		withoutClaims(t, "generate-admin-premier.json", token(t, other, nil), nil))
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("token of another key: status %d, want 401", resp.StatusCode)
	}
	resp = s.proxy(t, "generate", "sam local: expired token",
		withoutClaims(t, "generate-admin-premier.json", token(t, key, jwt.MapClaims{"exp": time.Now().Add(-time.Minute).Unix()}), nil))
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("expired token: status %d, want 401", resp.StatusCode)
	}
	resp = s.proxy(t, "generate", "sam local: non-admin token",
		withoutClaims(t, "generate-admin-premier.json", token(t, key, jwt.MapClaims{"role": "member"}), nil))
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("non-admin token: status %d, want 403", resp.StatusCode)
	}

	resp = s.proxy(t, "generate", "sam local: valid admin token",
		withoutClaims(t, "generate-admin-premier.json", token(t, key, nil), nil))
	var k keyJSON
	if resp.StatusCode != http.StatusCreated || json.Unmarshal([]byte(resp.Body), &k) != nil || k.Key == "" {
		t.Fatalf("valid token: %d %s", resp.StatusCode, resp.Body)
	}
	s.mu.Lock()
	s.keys = append(s.keys, k.Key)
	s.mu.Unlock()

	// The key works with the local pepper.
	var allow events.APIGatewayCustomAuthorizerResponse
	ev := testkit.Event(t, "authorizer-http-valid.json", map[string]string{"KEY": k.Key})
	if err := json.Unmarshal(s.invoke(t, "authorizer", "sam local: authorize", ev), &allow); err != nil ||
		len(allow.PolicyDocument.Statement) != 1 || allow.PolicyDocument.Statement[0].Effect != "Allow" {
		t.Fatalf("authorizer under sam local: %+v %v", allow, err)
	}

	resp = s.proxy(t, "revoke", "sam local: revoke",
		withoutClaims(t, "revoke-admin-premier.json", token(t, key, nil), map[string]string{"KEY_ID": k.ID}))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d %s", resp.StatusCode, resp.Body)
	}
	if calls := s.resets.calls(); len(calls) != 0 {
		t.Errorf("cache reset attempted under sam local: %v", calls)
	}
}
