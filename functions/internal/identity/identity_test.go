package identity_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/kudurrustone/apikeys/functions/internal/identity"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

func TestConfigFromEnv(t *testing.T) {
	if got := identity.ConfigFromEnv(nil); got != identity.DefaultConfig() {
		t.Errorf("nil getenv: %+v", got)
	}
	want := identity.Config{SubjectClaim: "sub", FirmClaim: "custom:firm", RoleClaim: "custom:role",
		TierClaim: "tier", AdminRole: "owner", PremierTier: "premier"}
	env := map[string]string{"CLAIM_FIRM_ID": "custom:firm", "CLAIM_ROLE": "custom:role", "ADMIN_ROLE": "owner", "CLAIM_TIER": ""}
	if got := identity.ConfigFromEnv(func(k string) string { return env[k] }); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	all := map[string]string{"CLAIM_SUBJECT": "a", "CLAIM_FIRM_ID": "b", "CLAIM_ROLE": "c", "CLAIM_TIER": "d", "ADMIN_ROLE": "e", "PREMIER_TIER": "f"}
	want = identity.Config{SubjectClaim: "a", FirmClaim: "b", RoleClaim: "c", TierClaim: "d", AdminRole: "e", PremierTier: "f"}
	if got := identity.ConfigFromEnv(func(k string) string { return all[k] }); got != want {
		t.Errorf("all overridden: %+v", got)
	}
}

func gatewayRequest(t *testing.T, auth *events.APIGatewayV2HTTPRequestContextAuthorizerDescription, headers map[string]string) *http.Request {
	t.Helper()
	ev := events.APIGatewayV2HTTPRequest{
		RawPath: "/v1/api-keys",
		Headers: headers,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			Authorizer: auth,
			HTTP:       events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET", Path: "/v1/api-keys", SourceIP: "198.51.100.4"},
		},
	}
	r, err := identity.NewRequest(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func jwt(claims map[string]string) *events.APIGatewayV2HTTPRequestContextAuthorizerDescription {
	return &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims}}
}

const spoof = `{"authorizer":{"jwt":{"claims":{"sub":"eve","firmId":"acme","role":"admin","tier":"premier"}},"lambda":{"firmId":"acme","keyId":"k"}}}`

func TestAdmin(t *testing.T) {
	full := map[string]string{"sub": "alice", "firmId": "acme", "role": "admin", "tier": "premier"}
	tests := []struct {
		name string
		cfg  identity.Config
		req  func(t *testing.T) *http.Request
		want keyservice.Admin
		ok   bool
	}{
		{"admin of a Premier firm", identity.DefaultConfig(), func(t *testing.T) *http.Request { return gatewayRequest(t, jwt(full), nil) },
			keyservice.Admin{Subject: "alice", FirmID: "acme", IsAdmin: true, IsPremier: true, SourceIP: "198.51.100.4"}, true},
		{"member of a basic firm", identity.DefaultConfig(), func(t *testing.T) *http.Request {
			return gatewayRequest(t, jwt(map[string]string{"sub": "bob", "firmId": "acme", "role": "member", "tier": "basic"}), nil)
		}, keyservice.Admin{Subject: "bob", FirmID: "acme", SourceIP: "198.51.100.4"}, true},
		{"values are case-sensitive", identity.DefaultConfig(), func(t *testing.T) *http.Request {
			return gatewayRequest(t, jwt(map[string]string{"sub": "a", "firmId": "f", "role": "Admin", "tier": "PREMIER"}), nil)
		}, keyservice.Admin{Subject: "a", FirmID: "f", SourceIP: "198.51.100.4"}, true},
		{"custom claim names", identity.Config{SubjectClaim: "email", FirmClaim: "custom:firm", RoleClaim: "custom:role", TierClaim: "custom:plan", AdminRole: "owner", PremierTier: "gold"},
			func(t *testing.T) *http.Request {
				return gatewayRequest(t, jwt(map[string]string{"email": "a@x", "custom:firm": "f", "custom:role": "owner", "custom:plan": "gold", "role": "admin"}), nil)
			}, keyservice.Admin{Subject: "a@x", FirmID: "f", IsAdmin: true, IsPremier: true, SourceIP: "198.51.100.4"}, true},
		{"empty configured role never matches a missing claim", identity.Config{SubjectClaim: "sub", FirmClaim: "firmId", RoleClaim: "role", TierClaim: "tier"},
			func(t *testing.T) *http.Request {
				return gatewayRequest(t, jwt(map[string]string{"sub": "a", "firmId": "f"}), nil)
			},
			keyservice.Admin{Subject: "a", FirmID: "f", SourceIP: "198.51.100.4"}, true},
		{"no context at all", identity.DefaultConfig(), func(*testing.T) *http.Request { return httptest.NewRequest("GET", "/v1/api-keys", nil) }, keyservice.Admin{}, false},
		{"spoofed proxy header only", identity.DefaultConfig(), func(*testing.T) *http.Request {
			r := httptest.NewRequest("GET", "/v1/api-keys", nil)
			r.Header.Set("X-GoLambdaProxy-ApiGW-Context", spoof)
			return r
		}, keyservice.Admin{}, false},
		{"spoofed proxy header beside a context without claims", identity.DefaultConfig(), func(t *testing.T) *http.Request {
			return gatewayRequest(t, nil, map[string]string{"x-golambdaproxy-apigw-context": spoof})
		}, keyservice.Admin{}, false},
		{"no authorizer", identity.DefaultConfig(), func(t *testing.T) *http.Request { return gatewayRequest(t, nil, nil) }, keyservice.Admin{}, false},
		{"lambda authorizer only", identity.DefaultConfig(), func(t *testing.T) *http.Request {
			return gatewayRequest(t, &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: map[string]any{"firmId": "acme", "keyId": "k"}}, nil)
		}, keyservice.Admin{}, false},
		{"nil claims", identity.DefaultConfig(), func(t *testing.T) *http.Request { return gatewayRequest(t, jwt(nil), nil) }, keyservice.Admin{}, false},
		{"empty subject", identity.DefaultConfig(), func(t *testing.T) *http.Request {
			return gatewayRequest(t, jwt(map[string]string{"sub": "", "firmId": "acme", "role": "admin", "tier": "premier"}), nil)
		}, keyservice.Admin{}, false},
		{"no firm", identity.DefaultConfig(), func(t *testing.T) *http.Request {
			return gatewayRequest(t, jwt(map[string]string{"sub": "alice", "role": "admin", "tier": "premier"}), nil)
		}, keyservice.Admin{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.cfg.Admin(tt.req(t))
			if ok != tt.ok || got != tt.want {
				t.Errorf("got %+v %v, want %+v %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestPrincipal(t *testing.T) {
	lambda := func(m map[string]any) *events.APIGatewayV2HTTPRequestContextAuthorizerDescription {
		return &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: m}
	}
	tests := []struct {
		name string
		auth *events.APIGatewayV2HTTPRequestContextAuthorizerDescription
		want keyservice.Principal
		ok   bool
	}{
		{"full", lambda(map[string]any{"firmId": "acme", "keyId": "K1", "keyLabel": "Office Sync Tool", "scopes": "read write"}), keyservice.Principal{FirmID: "acme", KeyID: "K1", Label: "Office Sync Tool", Scopes: keyservice.AllScopes}, true},
		{"read only", lambda(map[string]any{"firmId": "acme", "keyId": "K1", "keyLabel": "Export", "scopes": "read"}), keyservice.Principal{FirmID: "acme", KeyID: "K1", Label: "Export", Scopes: keyservice.ScopeRead}, true},
		{"write only", lambda(map[string]any{"firmId": "acme", "keyId": "K1", "scopes": "write"}), keyservice.Principal{FirmID: "acme", KeyID: "K1", Scopes: keyservice.ScopeWrite}, true},
		{"no scopes: an authorizer from before scopes", lambda(map[string]any{"firmId": "acme", "keyId": "K1", "keyLabel": "Office Sync Tool"}), keyservice.Principal{FirmID: "acme", KeyID: "K1", Label: "Office Sync Tool", Scopes: keyservice.AllScopes}, true},
		{"no label", lambda(map[string]any{"firmId": "acme", "keyId": "K1"}), keyservice.Principal{FirmID: "acme", KeyID: "K1", Scopes: keyservice.AllScopes}, true},
		{"empty scopes", lambda(map[string]any{"firmId": "acme", "keyId": "K1", "scopes": ""}), keyservice.Principal{}, false},
		{"unknown scope", lambda(map[string]any{"firmId": "acme", "keyId": "K1", "scopes": "read admin"}), keyservice.Principal{}, false},
		{"scopes with two spaces", lambda(map[string]any{"firmId": "acme", "keyId": "K1", "scopes": "read  write"}), keyservice.Principal{}, false},
		{"scopes as list", lambda(map[string]any{"firmId": "acme", "keyId": "K1", "scopes": []any{"read"}}), keyservice.Principal{}, false},
		{"no authorizer", nil, keyservice.Principal{}, false},
		{"JWT only", jwt(map[string]string{"firmId": "acme", "keyId": "K1"}), keyservice.Principal{}, false},
		{"empty", lambda(map[string]any{}), keyservice.Principal{}, false},
		{"empty key id", lambda(map[string]any{"firmId": "acme", "keyId": ""}), keyservice.Principal{}, false},
		{"empty firm", lambda(map[string]any{"firmId": "", "keyId": "K1"}), keyservice.Principal{}, false},
		{"number key id", lambda(map[string]any{"firmId": "acme", "keyId": 1.0}), keyservice.Principal{}, false},
		{"bool firm", lambda(map[string]any{"firmId": true, "keyId": "K1"}), keyservice.Principal{}, false},
		{"null label", lambda(map[string]any{"firmId": "acme", "keyId": "K1", "keyLabel": nil}), keyservice.Principal{}, false},
		{"object label", lambda(map[string]any{"firmId": "acme", "keyId": "K1", "keyLabel": map[string]any{}}), keyservice.Principal{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := identity.Principal(gatewayRequest(t, tt.auth, nil))
			if ok != tt.ok || got != tt.want {
				t.Errorf("got %+v %v, want %+v %v", got, ok, tt.want, tt.ok)
			}
		})
	}
	r := httptest.NewRequest("GET", "/v1/whoami", nil)
	r.Header.Set("X-GoLambdaProxy-ApiGW-Context", spoof)
	if _, ok := identity.Principal(r); ok {
		t.Error("spoofed header accepted")
	}
}

func TestNewRequest(t *testing.T) {
	ev := events.APIGatewayV2HTTPRequest{
		RawPath: "/v1/api-keys", RawQueryString: "limit=5",
		Headers: map[string]string{"content-type": "application/json"},
		Body:    `{"label":"x"}`,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			Stage: "$default", RequestID: "r1",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: "/v1/api-keys", SourceIP: "192.0.2.1"},
		},
	}
	r, err := identity.NewRequest(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if r.Method != "POST" || r.URL.Path != "/v1/api-keys" || r.URL.RawQuery != "limit=5" || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("request %s %s %q", r.Method, r.URL, r.Header)
	}
	if r.Header.Get("X-GoLambdaProxy-ApiGW-Context") != "" {
		t.Error("NewRequest must carry the context in the context.Context, not in a header")
	}
	if _, err := identity.NewRequest(context.Background(), events.APIGatewayV2HTTPRequest{Body: "%%%", IsBase64Encoded: true}); err == nil {
		t.Error("bad base64 body accepted")
	}
}

func TestFlattenClaim(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"string", "admin", "admin"},
		{"number", json.Number("42"), "42"},
		{"float", 1.5, "1.5"},
		{"bool", true, "true"},
		{"null", nil, ""},
		{"array", []any{"a", json.Number("1"), false}, "[a 1 false]"},
		{"object", map[string]any{"k": "v"}, `{"k":"v"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := identity.FlattenClaim(tt.in); got != tt.want {
				t.Errorf("FlattenClaim(%v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
