package httpapi_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

func TestGenerateCreated(t *testing.T) {
	tests := []struct {
		name        string
		body        string
		contentType string // "" = application/json, "-" = none
		wantLabel   string
		wantExpires *string
	}{
		{name: "label only", body: `{"label":"Production Integration"}`, wantLabel: "Production Integration"},
		{name: "label is trimmed", body: `{"label":"  Office Sync Tool \n"}`, wantLabel: "Office Sync Tool"},
		{name: "expiresAt", body: `{"label":"Accounting Export","expiresAt":"2027-01-31T10:00:00Z"}`,
			wantLabel: "Accounting Export", wantExpires: ptr("2027-01-31T10:00:00.000Z")},
		{name: "expiresAt with offset is normalised to UTC", body: `{"label":"x","expiresAt":"2027-01-31T12:00:00.123+02:00"}`,
			wantLabel: "x", wantExpires: ptr("2027-01-31T10:00:00.123Z")},
		{name: "expiresAt null means no expiry", body: `{"label":"x","expiresAt":null}`, wantLabel: "x"},
		{name: "expiresAt with lower-case t and z", body: `{"label":"x","expiresAt":"2030-01-01t00:00:00z"}`,
			wantLabel: "x", wantExpires: ptr("2030-01-01T00:00:00.000Z")},
		{name: "expiresAt at the last accepted second", body: `{"label":"x","expiresAt":"9999-12-31T23:59:59Z"}`,
			wantLabel: "x", wantExpires: ptr("9999-12-31T23:59:59.000Z")},
		{name: "expiresAt at the last second through an offset", body: `{"label":"x","expiresAt":"9999-12-31T22:59:59-01:00"}`,
			wantLabel: "x", wantExpires: ptr("9999-12-31T23:59:59.000Z")},
		{name: "expiresAt with nanoseconds is kept to the millisecond", body: `{"label":"x","expiresAt":"2030-01-01T00:00:00.123456789Z"}`,
			wantLabel: "x", wantExpires: ptr("2030-01-01T00:00:00.123Z")},
		{name: "emoji ZWJ sequence", body: `{"label":"Dev laptop 👩\u200d💻"}`, wantLabel: "Dev laptop 👩\u200d💻"},
		{name: "Persian with a zero-width non-joiner", body: `{"label":"همگام\u200cسازی دفتر"}`, wantLabel: "همگام\u200cسازی دفتر"},
		{name: "long compound word", body: `{"label":"Kraftfahrzeughaftpflichtversicherung"}`, wantLabel: "Kraftfahrzeughaftpflichtversicherung"},
		{name: "64 characters", body: `{"label":"` + strings.Repeat("é", 64) + `"}`, wantLabel: strings.Repeat("é", 64)},
		{name: "no content type", body: `{"label":"x"}`, contentType: "-", wantLabel: "x"},
		{name: "json with charset", body: `{"label":"x"}`, contentType: "application/json; charset=utf-8", wantLabel: "x"},
		{name: "curl's default form content type with a JSON body", body: `{"label":"x"}`, contentType: "application/x-www-form-urlencoded", wantLabel: "x"},
		{name: "text content type with a JSON body", body: `{"label":"x"}`, contentType: "text/plain", wantLabel: "x"},
		{name: "surrounding whitespace", body: " \n{\"label\":\"x\"}\n ", wantLabel: "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			headers := map[string]string{"content-type": "application/json"}
			switch tt.contentType {
			case "":
			case "-":
				headers = map[string]string{"content-type": ""}
			default:
				headers["content-type"] = tt.contentType
			}
			rec := e.do(req{method: "POST", target: "/v1/api-keys", body: tt.body, headers: headers, claims: adminPremier})
			if rec.Code != http.StatusCreated {
				t.Fatalf("status = %d, want 201; %s", rec.Code, rec.Body.String())
			}
			checkCommon(t, rec)
			k := decodeKey(t, rec.Body.Bytes(), true)
			if k.Key == nil || apikey.Validate(*k.Key) != nil {
				t.Fatalf("key is not a valid API key")
			}
			if k.Hint != "kst_…"+(*k.Key)[len(*k.Key)-4:] {
				t.Errorf("hint = %q, want %q", k.Hint, apikey.Hint(*k.Key))
			}
			if k.Label != tt.wantLabel || k.Status != "active" || k.CreatedBy != "alice" ||
				k.CreatedAt != "2026-11-25T12:00:00.000Z" || !keyservice.ValidID(k.ID) {
				t.Errorf("got %+v", k)
			}
			if k.LastUsedAt != nil || k.RevokedAt != nil || k.RevokedBy != nil {
				t.Errorf("unset members must be null: %s", rec.Body.String())
			}
			if (k.ExpiresAt == nil) != (tt.wantExpires == nil) || (k.ExpiresAt != nil && *k.ExpiresAt != *tt.wantExpires) {
				t.Errorf("expiresAt = %v, want %v", deref(k.ExpiresAt), deref(tt.wantExpires))
			}
			// The key is shown once: never logged, never listed.
			if strings.Contains(e.logs.String(), *k.Key) {
				t.Errorf("the plaintext key appears in the logs")
			}
			if !strings.Contains(e.logs.String(), `"audit"`) {
				t.Errorf("no audit log line")
			}
			list := e.do(req{method: "GET", target: "/v1/api-keys", claims: adminPremier})
			if strings.Contains(list.Body.String(), *k.Key) || strings.Contains(list.Body.String(), `"key"`) {
				t.Errorf("listing shows the key: %s", list.Body.String())
			}
		})
	}
}

// TestGenerateAccess: scopes and allowedIps as given, canonical and in
// order, defaults when absent.
func TestGenerateAccess(t *testing.T) {
	tests := []struct {
		name        string
		body        string
		wantScopes  string
		wantAllowed string
	}{
		{"defaults", `{"label":"x"}`, `["read","write"]`, `[]`},
		{"read only", `{"label":"x","scopes":["read"]}`, `["read"]`, `[]`},
		{"write only", `{"label":"x","scopes":["write"]}`, `["write"]`, `[]`},
		{"write before read is shown read first", `{"label":"x","scopes":["write","read"]}`, `["read","write"]`, `[]`},
		{"empty allowedIps", `{"label":"x","allowedIps":[]}`, `["read","write"]`, `[]`},
		{"canonical CIDR, order kept", `{"label":"x","allowedIps":["203.0.113.7","10.1.2.3/8","2001:DB8::1","2001:db8:1::/48"]}`,
			`["read","write"]`, `["203.0.113.7/32","10.0.0.0/8","2001:db8::1/128","2001:db8:1::/48"]`},
		{"16 entries", `{"label":"x","allowedIps":[` + sixteen() + `]}`, `["read","write"]`, ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			rec := e.do(req{method: "POST", target: "/v1/api-keys", body: tt.body, claims: adminPremier})
			if rec.Code != http.StatusCreated {
				t.Fatalf("status = %d, want 201; %s", rec.Code, rec.Body.String())
			}
			k := decodeKey(t, rec.Body.Bytes(), true)
			if got := mustJSON(t, k.Scopes); got != tt.wantScopes {
				t.Errorf("scopes = %s, want %s", got, tt.wantScopes)
			}
			if got := mustJSON(t, k.AllowedIPs); tt.wantAllowed != "" && got != tt.wantAllowed {
				t.Errorf("allowedIps = %s, want %s", got, tt.wantAllowed)
			}
			// The listing shows the same.
			list := e.do(req{method: "GET", target: "/v1/api-keys", claims: adminPremier})
			if !strings.Contains(list.Body.String(), `"scopes":`+mustJSON(t, k.Scopes)+`,"allowedIps":`+mustJSON(t, k.AllowedIPs)) {
				t.Errorf("listing differs: %s", list.Body.String())
			}
		})
	}
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func addresses(n int) string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf(`"198.51.100.%d"`, i))
	}
	return strings.Join(out, ",")
}

func sixteen() string   { return addresses(16) }
func seventeen() string { return addresses(17) }

func TestGenerateErrors(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		headers map[string]string
		claims  map[string]string
		noCtx   bool
		setup   func(e *env)
		status  int
		code    keyservice.Code
	}{
		// 401
		{name: "no gateway context", body: `{"label":"x"}`, noCtx: true, status: 401, code: keyservice.CodeUnauthorized},
		{name: "spoofed proxy context header", body: `{"label":"x"}`, noCtx: true,
			headers: map[string]string{"X-GoLambdaProxy-ApiGW-Context": `{"authorizer":{"jwt":{"claims":{"sub":"alice","firmId":"acme","role":"admin","tier":"premier"}}}}`},
			status:  401, code: keyservice.CodeUnauthorized},
		{name: "spoofed header beside a context without claims", body: `{"label":"x"}`,
			headers: map[string]string{"X-GoLambdaProxy-ApiGW-Context": `{"authorizer":{"jwt":{"claims":{"sub":"alice","firmId":"acme","role":"admin","tier":"premier"}}}}`},
			status:  401, code: keyservice.CodeUnauthorized},
		{name: "no claims", body: `{"label":"x"}`, status: 401, code: keyservice.CodeUnauthorized},
		{name: "empty claims", body: `{"label":"x"}`, claims: map[string]string{}, status: 401, code: keyservice.CodeUnauthorized},
		{name: "no subject", body: `{"label":"x"}`, claims: testkit.WithClaims(adminPremier, "sub", "<delete>"), status: 401, code: keyservice.CodeUnauthorized},
		{name: "empty firm", body: `{"label":"x"}`, claims: testkit.WithClaims(adminPremier, "firmId", ""), status: 401, code: keyservice.CodeUnauthorized},
		{name: "401 before body checks", body: `{`, status: 401, code: keyservice.CodeUnauthorized},
		// 403
		{name: "not an admin", body: `{"label":"x"}`, claims: member, status: 403, code: keyservice.CodeNotFirmAdmin},
		{name: "role is case-sensitive", body: `{"label":"x"}`, claims: testkit.WithClaims(adminPremier, "role", "Admin"), status: 403, code: keyservice.CodeNotFirmAdmin},
		{name: "role list is not admin", body: `{"label":"x"}`, claims: testkit.WithClaims(adminPremier, "role", "[admin]"), status: 403, code: keyservice.CodeNotFirmAdmin},
		{name: "not premier", body: `{"label":"x"}`, claims: adminBasic, status: 403, code: keyservice.CodePremierRequired},
		{name: "403 before body checks", body: `{`, claims: member, status: 403, code: keyservice.CodeNotFirmAdmin},
		{name: "premier before body checks", body: `{"label":""}`, claims: adminBasic, status: 403, code: keyservice.CodePremierRequired},
		{name: "tier is case-sensitive", body: `{"label":"x"}`, claims: testkit.WithClaims(adminPremier, "tier", "Premier"), status: 403, code: keyservice.CodePremierRequired},
		{name: "no tier", body: `{"label":"x"}`, claims: testkit.WithClaims(adminPremier, "tier", "<delete>"), status: 403, code: keyservice.CodePremierRequired},
		// 400 invalid_label
		{name: "empty label", body: `{"label":""}`, status: 400, code: keyservice.CodeInvalidLabel},
		{name: "blank label", body: `{"label":" \t "}`, status: 400, code: keyservice.CodeInvalidLabel},
		{name: "missing label", body: `{}`, status: 400, code: keyservice.CodeInvalidLabel},
		{name: "65 characters", body: `{"label":"` + strings.Repeat("a", 65) + `"}`, status: 400, code: keyservice.CodeInvalidLabel},
		{name: "control character", body: `{"label":"a\u0007b"}`, status: 400, code: keyservice.CodeInvalidLabel},
		{name: "inner newline", body: `{"label":"a\nb"}`, status: 400, code: keyservice.CodeInvalidLabel},
		{name: "bidi override", body: `{"label":"a\u202eb"}`, status: 400, code: keyservice.CodeInvalidLabel},
		{name: "key minus its checksum", body: `{"label":"my key kst_U3QjpEnViqwTyEUNKpdBe3CpMR8jtjW0VosRfE90Wzz"}`, status: 400, code: keyservice.CodeInvalidLabel},
		{name: "key without its prefix, upper-cased", body: `{"label":"U3QJPENVIQWTYEUNKPDBE3CPMR8JTJW0VOSRFE90WZZ0CHKAV"}`, status: 400, code: keyservice.CodeInvalidLabel},
		{name: "24 characters of a key", body: `{"label":"see pEnViqwTyEUNKpdBe3CpMR8j"}`, status: 400, code: keyservice.CodeInvalidLabel},
		{name: "bidi isolate", body: `{"label":"a\u2067b"}`, status: 400, code: keyservice.CodeInvalidLabel},
		{name: "nothing visible", body: `{"label":"\u200d\u3164"}`, status: 400, code: keyservice.CodeInvalidLabel},
		// 400 invalid_request
		{name: "empty body", body: ``, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "malformed JSON", body: `{"label":`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "null body", body: `null`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "array body", body: `[{"label":"x"}]`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "string body", body: `"x"`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "trailing data", body: `{"label":"x"} x`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "two objects", body: `{"label":"x"}{"label":"y"}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "unknown field", body: `{"label":"x","scope":["read"]}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "unknown scope", body: `{"label":"x","scopes":["all"]}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "empty scopes", body: `{"label":"x","scopes":[]}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "scopes null", body: `{"label":"x","scopes":null}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "scopes string", body: `{"label":"x","scopes":"read"}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "scope repeated", body: `{"label":"x","scopes":["read","read"]}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "scope case", body: `{"label":"x","scopes":["Read"]}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "scope number", body: `{"label":"x","scopes":[1]}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "allowedIps string", body: `{"label":"x","allowedIps":"10.0.0.1"}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "allowedIps null", body: `{"label":"x","allowedIps":null}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "allowedIps bad address", body: `{"label":"x","allowedIps":["10.0.0.256"]}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "allowedIps host name", body: `{"label":"x","allowedIps":["example.com"]}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "allowedIps bad prefix", body: `{"label":"x","allowedIps":["10.0.0.0/33"]}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "allowedIps zone", body: `{"label":"x","allowedIps":["fe80::1%eth0"]}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "allowedIps empty entry", body: `{"label":"x","allowedIps":[""]}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "allowedIps duplicate after canonical form", body: `{"label":"x","allowedIps":["10.1.2.3/8","10.0.0.0/8"]}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "allowedIps address and its /32", body: `{"label":"x","allowedIps":["203.0.113.7","203.0.113.7/32"]}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "allowedIps 17 entries", body: `{"label":"x","allowedIps":[` + seventeen() + `]}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "field name case", body: `{"Label":"x"}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "duplicate expiresAt, last one null", body: `{"label":"x","expiresAt":"2020-01-01T00:00:00Z","expiresAt":null}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "duplicate label", body: `{"label":"x","label":"x"}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "duplicate label through an escape", body: `{"label":"x","\u006cabel":"y"}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "label beside Label", body: `{"label":"x","Label":"y"}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "expiresAt bool", body: `{"label":"x","expiresAt":true}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "label number", body: `{"label":42}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "label null", body: `{"label":null}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "label object", body: `{"label":{"x":1}}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "expiresAt number", body: `{"label":"x","expiresAt":1893456000}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "expiresAt not RFC 3339", body: `{"label":"x","expiresAt":"2027-01-31"}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "expiresAt in the past", body: `{"label":"x","expiresAt":"2020-01-01T00:00:00Z"}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "expiresAt in year 10000 in UTC", body: `{"label":"x","expiresAt":"9999-12-31T23:30:00-01:00"}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "expiresAt a millisecond past the last second", body: `{"label":"x","expiresAt":"9999-12-31T23:59:59.001Z"}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "expiresAt five-digit year", body: `{"label":"x","expiresAt":"10000-01-01T00:00:00Z"}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "expiresAt comma before the fraction", body: `{"label":"x","expiresAt":"2030-01-01T00:00:00,5Z"}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "expiresAt space for T", body: `{"label":"x","expiresAt":"2030-01-01 00:00:00Z"}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "expiresAt offset hours 24", body: `{"label":"x","expiresAt":"2030-01-01T00:00:00+24:00"}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "expiresAt February 30", body: `{"label":"x","expiresAt":"2030-02-30T00:00:00Z"}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "expiresAt hour 24", body: `{"label":"x","expiresAt":"2030-01-01T24:00:00Z"}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "expiresAt offset without colon", body: `{"label":"x","expiresAt":"2030-01-01T00:00:00+0100"}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "expiresAt empty", body: `{"label":"x","expiresAt":""}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "expiresAt now", body: `{"label":"x","expiresAt":"2026-11-25T12:00:00Z"}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "body over 8 KiB", body: `{"label":"x","pad":"` + strings.Repeat("a", 8<<10) + `"}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "body over 8 KiB of whitespace", body: `{"label":"x"}` + strings.Repeat(" ", 8<<10), status: 400, code: keyservice.CodeInvalidRequest},
		{name: "invalid UTF-8", body: "{\"label\":\"a\xffb\"}", status: 400, code: keyservice.CodeInvalidRequest},
		{name: "form content type", body: `label=x`, headers: map[string]string{"content-type": "application/x-www-form-urlencoded"}, status: 400, code: keyservice.CodeInvalidRequest},
		// 409
		{name: "key limit reached", body: `{"label":"x"}`, setup: func(e *env) {
			for range e.maxKeys {
				e.generate("filler")
			}
		}, status: 409, code: keyservice.CodeKeyLimitReached},
		// 500
		{name: "pepper unavailable", body: `{"label":"x"}`, setup: func(e *env) { e.peppers.Err = errors.New("secret unavailable") }, status: 500, code: keyservice.CodeInternal},
		{name: "store failure", body: `{"label":"x"}`, setup: func(e *env) {
			e.store.failCreate = func() error { return errors.New("dynamodb: connection refused to table secret-table") }
		}, status: 500, code: keyservice.CodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if tt.setup != nil {
				tt.setup(e)
			}
			claims := tt.claims
			if claims == nil && tt.status != 401 {
				claims = adminPremier
			}
			rec := e.do(req{method: "POST", target: "/v1/api-keys", body: tt.body, headers: tt.headers, claims: claims, noCtx: tt.noCtx})
			wantError(t, rec, tt.status, tt.code)
			if tt.status == 500 {
				if strings.Contains(rec.Body.String(), "dynamodb") || strings.Contains(rec.Body.String(), "secret") {
					t.Errorf("500 leaks internal detail: %s", rec.Body.String())
				}
				if !strings.Contains(e.logs.String(), "internal error") {
					t.Errorf("internal error not logged")
				}
			}
		})
	}
}

func TestGenerateLimitCountsOnlyActiveKeys(t *testing.T) {
	e := newEnv(t, withMaxKeys(1))
	k := e.generate("first")
	if rec := e.do(req{method: "POST", target: "/v1/api-keys", body: `{"label":"second"}`, claims: adminPremier}); rec.Code != 409 {
		t.Fatalf("second key: %d", rec.Code)
	}
	if rec := e.do(req{method: "POST", target: "/v1/api-keys/" + k.ID + "/revoke", claims: adminPremier}); rec.Code != 200 {
		t.Fatalf("revoke: %d", rec.Code)
	}
	if rec := e.do(req{method: "POST", target: "/v1/api-keys", body: `{"label":"second"}`, claims: adminPremier}); rec.Code != 201 {
		t.Fatalf("after revoke: %d %s", rec.Code, rec.Body.String())
	}
}

func ptr(s string) *string { return &s }

func deref(s *string) string {
	if s == nil {
		return "null"
	}
	return *s
}
