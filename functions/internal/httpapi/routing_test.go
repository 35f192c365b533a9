package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/kudurrustone/apikeys/functions/internal/httpapi"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

func TestRoutes(t *testing.T) {
	want := map[string]string{
		"GET /v1/api-keys":              "list",
		"POST /v1/api-keys":             "generate",
		"PATCH /v1/api-keys/{id}":       "update",
		"POST /v1/api-keys/{id}/roll":   "roll",
		"POST /v1/api-keys/{id}/revoke": "revoke",
		"GET /v1/audit-events":          "auditevents",
		"GET /v1/whoami":                "whoami",
		"POST /v1/whoami":               "whoami",
	}
	got := httpapi.Routes()
	if len(got) != len(want) {
		t.Fatalf("routes = %v", got)
	}
	for _, r := range got {
		if want[r.Method+" "+r.Path] != r.Function {
			t.Errorf("unexpected route %+v", r)
		}
	}
}

func TestRouteMismatches(t *testing.T) {
	tests := []struct {
		name   string
		method string
		target string
		status int
		code   keyservice.Code
		allow  string
	}{
		{"unknown path", "GET", "/v1/nope", 404, keyservice.CodeNotFound, ""},
		{"root", "GET", "/", 404, keyservice.CodeNotFound, ""},
		{"trailing slash", "GET", "/v1/api-keys/", 404, keyservice.CodeNotFound, ""},
		{"double slash", "GET", "/v1//api-keys", 404, keyservice.CodeNotFound, ""},
		{"dot segment", "GET", "/v1/x/../api-keys", 404, keyservice.CodeNotFound, ""},
		{"revoke without id", "POST", "/v1/api-keys//revoke", 404, keyservice.CodeNotFound, ""},
		{"GET on a key", "GET", "/v1/api-keys/01KQ0000000000000000000000", 405, keyservice.CodeInvalidRequest, "PATCH"},
		{"DELETE on a key", "DELETE", "/v1/api-keys/01KQ0000000000000000000000", 405, keyservice.CodeInvalidRequest, "PATCH"},
		{"PATCH without id", "PATCH", "/v1/api-keys/", 404, keyservice.CodeNotFound, ""},
		{"GET on roll", "GET", "/v1/api-keys/01KQ0000000000000000000000/roll", 405, keyservice.CodeInvalidRequest, "POST"},
		{"POST on audit events", "POST", "/v1/audit-events", 405, keyservice.CodeInvalidRequest, "GET"},
		{"audit events of a key is not a route", "GET", "/v1/api-keys/01KQ0000000000000000000000/audit-events", 404, keyservice.CodeNotFound, ""},
		{"case of path", "GET", "/V1/API-KEYS", 404, keyservice.CodeNotFound, ""},
		{"PUT on keys", "PUT", "/v1/api-keys", 405, keyservice.CodeInvalidRequest, "GET, POST"},
		{"DELETE on keys", "DELETE", "/v1/api-keys", 405, keyservice.CodeInvalidRequest, "GET, POST"},
		{"GET on revoke", "GET", "/v1/api-keys/01KQ0000000000000000000000/revoke", 405, keyservice.CodeInvalidRequest, "POST"},
		{"PATCH on whoami", "PATCH", "/v1/whoami", 405, keyservice.CodeInvalidRequest, "GET, POST"},
		{"odd method", "BREW", "/v1/whoami", 405, keyservice.CodeInvalidRequest, "GET, POST"},
	}
	e := newEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.do(req{method: tt.method, target: tt.target, claims: adminPremier})
			wantError(t, rec, tt.status, tt.code)
			if got := rec.Header().Get("Allow"); got != tt.allow {
				t.Errorf("Allow = %q, want %q", got, tt.allow)
			}
		})
	}
}

// Each Lambda function serves its own routes only.
func TestHandlerServesOneFunction(t *testing.T) {
	e := newEnv(t, withMaxKeys(100))
	key := map[string]any{"firmId": "acme", "keyId": "01KQ0000000000000000000000", "keyLabel": "x", "scopes": "read write"}
	// One call per route of Routes(), each with what it needs to succeed.
	calls := map[string]func() req{
		"GET /v1/api-keys": func() req { return req{method: "GET", target: "/v1/api-keys", claims: adminPremier} },
		"POST /v1/api-keys": func() req {
			return req{method: "POST", target: "/v1/api-keys", body: `{"label":"y"}`, claims: adminPremier}
		},
		"PATCH /v1/api-keys/{id}": func() req {
			return req{method: "PATCH", target: "/v1/api-keys/" + e.generate("x").ID, body: `{"label":"z"}`, claims: adminPremier}
		},
		"POST /v1/api-keys/{id}/roll": func() req {
			return req{method: "POST", target: "/v1/api-keys/" + e.generate("x").ID + "/roll", claims: adminPremier}
		},
		"POST /v1/api-keys/{id}/revoke": func() req {
			return req{method: "POST", target: "/v1/api-keys/" + e.generate("x").ID + "/revoke", claims: adminPremier}
		},
		"GET /v1/audit-events": func() req { return req{method: "GET", target: "/v1/audit-events", claims: adminPremier} },
		"GET /v1/whoami":       func() req { return req{method: "GET", target: "/v1/whoami", lambda: key} },
		"POST /v1/whoami":      func() req { return req{method: "POST", target: "/v1/whoami", lambda: key} },
	}
	served := map[string]int{"list": 200, "generate": 201, "update": 200, "roll": 201, "revoke": 200,
		"auditevents": 200, "whoami": 200}
	for _, fn := range []string{"list", "generate", "update", "roll", "revoke", "auditevents", "whoami", "bogus"} {
		h := e.api.Handler(fn)
		for _, route := range httpapi.Routes() {
			mk, ok := calls[route.Method+" "+route.Path]
			if !ok {
				t.Fatalf("no call for route %s %s", route.Method, route.Path)
			}
			c := mk()
			rec := serve(t, h, c)
			switch {
			case route.Function == fn:
				if rec.Code != served[fn] {
					t.Errorf("%s on %s %s: %d %s", fn, c.method, c.target, rec.Code, rec.Body.String())
				}
			case rec.Code != 404 && rec.Code != 405:
				t.Errorf("%s served %s %s: %d", fn, c.method, c.target, rec.Code)
			default:
				wantError(t, rec, rec.Code, "")
			}
		}
	}
}

// HTTP API puts a named stage in front of the path; the handlers route on
// the declared path.
func TestNamedStagePrefix(t *testing.T) {
	e := newEnv(t)
	rec := e.do(req{method: "GET", target: "/prod/v1/api-keys", stage: "prod", claims: adminPremier})
	if rec.Code != 200 {
		t.Fatalf("got %d %s", rec.Code, rec.Body.String())
	}
	rec = e.do(req{method: "GET", target: "/prod/v1/api-keys", claims: adminPremier})
	wantError(t, rec, 404, keyservice.CodeNotFound)
}

func TestPanicIsInternalError(t *testing.T) {
	e := newEnv(t)
	e.store.failList = func() error { panic("store exploded with secret detail") }
	rec := e.do(req{method: "GET", target: "/v1/api-keys", claims: adminPremier})
	wantError(t, rec, http.StatusInternalServerError, keyservice.CodeInternal)
	logs := e.logs.String()
	if !strings.Contains(logs, "panic in handler") {
		t.Errorf("panic not logged: %s", logs)
	}
	if strings.Contains(logs, "secret detail") || strings.Contains(rec.Body.String(), "secret detail") {
		t.Errorf("panic value leaked")
	}
	// The handler is still usable.
	e.store.failList = nil
	if rec := e.do(req{method: "GET", target: "/v1/api-keys", claims: adminPremier}); rec.Code != 200 {
		t.Errorf("after panic: %d", rec.Code)
	}
}

func TestStatusTable(t *testing.T) {
	want := map[keyservice.Code]int{
		keyservice.CodeUnauthorized: 401, keyservice.CodeNotFirmAdmin: 403, keyservice.CodePremierRequired: 403,
		keyservice.CodeInvalidLabel: 400, keyservice.CodeInvalidRequest: 400, keyservice.CodeNotFound: 404,
		keyservice.CodeKeyLimitReached: 409, keyservice.CodeInternal: 500, "something_else": 500,
	}
	for c, s := range want {
		if got := httpapi.StatusOf(c); got != s {
			t.Errorf("StatusOf(%s) = %d, want %d", c, got, s)
		}
	}
}
