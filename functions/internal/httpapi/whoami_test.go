package httpapi_test

import (
	"testing"

	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

func TestWhoami(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct{ scopes, want string }{
		{"read write", `["read","write"]`},
		{"read", `["read"]`},
		{"write", `["write"]`},
	} {
		rec := e.do(req{method: "GET", target: "/v1/whoami",
			lambda: map[string]any{"firmId": "acme", "keyId": "01KQ0000000000000000000000", "keyLabel": "Production Integration", "scopes": tt.scopes}})
		if rec.Code != 200 || rec.Body.String() != `{"firmId":"acme","keyId":"01KQ0000000000000000000000","label":"Production Integration","scopes":`+tt.want+`}`+"\n" {
			t.Fatalf("scopes %q: got %d %s", tt.scopes, rec.Code, rec.Body.String())
		}
		checkCommon(t, rec)
	}
}

func TestWhoamiErrors(t *testing.T) {
	tests := []struct {
		name    string
		lambda  map[string]any
		claims  map[string]string
		headers map[string]string
		noCtx   bool
	}{
		{name: "no gateway context", noCtx: true},
		{name: "spoofed proxy context header", noCtx: true,
			headers: map[string]string{"X-GoLambdaProxy-ApiGW-Context": `{"authorizer":{"lambda":{"firmId":"acme","keyId":"01KQ0000000000000000000000"}}}`}},
		{name: "no authorizer context"},
		{name: "admin JWT is not an API key", claims: adminPremier},
		{name: "empty lambda context", lambda: map[string]any{}},
		{name: "no firmId", lambda: map[string]any{"keyId": "01KQ0000000000000000000000"}},
		{name: "empty keyId", lambda: map[string]any{"firmId": "acme", "keyId": ""}},
		{name: "keyId not a string", lambda: map[string]any{"firmId": "acme", "keyId": 42.0}},
		{name: "firmId not a string", lambda: map[string]any{"firmId": true, "keyId": "k"}},
		{name: "label not a string", lambda: map[string]any{"firmId": "acme", "keyId": "k", "keyLabel": []any{"x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			rec := e.do(req{method: "GET", target: "/v1/whoami", lambda: tt.lambda, claims: tt.claims, headers: tt.headers, noCtx: tt.noCtx})
			wantError(t, rec, 401, keyservice.CodeUnauthorized)
		})
	}
}
