package httpapi_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

// FuzzManagementHandlers sends random methods, paths, queries, bodies and
// claims through the whole router. Whatever arrives, the answer is a 2xx or
// a 4xx with the exact error envelope: never a 5xx, never a panic, never an
// empty status.
func FuzzManagementHandlers(f *testing.F) {
	seeds := []struct {
		method       uint8
		path, query  string
		body         string
		claimVariant uint8
	}{
		{0, "/v1/api-keys", "", "", 0},
		{0, "/v1/api-keys", "status=active&limit=10", "", 0},
		{0, "/v1/api-keys", "limit=0&cursor=%%", "", 0},
		{0, "/v1/api-keys", "cursor=djEuYWJjLmFsbC4wMUtRMDAwMDAwMDAwMDAwMDAwMDAwMDAwMA", "", 0},
		{1, "/v1/api-keys", "", `{"label":"Production Integration"}`, 0},
		{1, "/v1/api-keys", "", `{"label":"x","expiresAt":"2099-01-01T00:00:00Z"}`, 0},
		{1, "/v1/api-keys", "", `{"label":"x","expiresAt":"0000-01-01T00:00:00Z"}`, 0},
		{1, "/v1/api-keys", "", `{"label":"x","expiresAt":"9999-12-31T23:59:59.999999999+23:59"}`, 0},
		{1, "/v1/api-keys", "", `{"label":"\u0000"}`, 0},
		{1, "/v1/api-keys", "", `{"label":"x"}{}`, 1},
		{1, "/v1/api-keys", "", `{"label":"x"}`, 2},
		{1, "/v1/api-keys", "", `{"label":"x"}`, 3},
		{1, "/v1/api-keys", "", `[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[`, 0},
		{1, "/v1/api-keys/01KQ0000000000000000000000/revoke", "", "", 0},
		{1, "/v1/api-keys/%2e%2e/revoke", "", "", 0},
		{2, "/v1/api-keys/x/revoke", "", "", 0},
		{0, "/v1/whoami", "", "", 4},
		{3, "/v1/whoami", "", "", 0},
		{0, "//v1/whoami", "", "", 0},
		{0, "/v1/api-keys\x00", "", "", 0},
		{1, "/v1/api-keys", "", "{\"label\":\"\xff\"}", 0},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.query, s.body, s.claimVariant)
	}
	e := newEnv(f, withMaxKeys(3))
	methods := []string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"}
	claims := []map[string]string{adminPremier, adminBasic, member, nil, otherAdmin, testkit.WithClaims(adminPremier, "sub", "")}
	f.Fuzz(func(t *testing.T, method uint8, path, query, body string, claimVariant uint8) {
		r := req{
			method: methods[int(method)%len(methods)],
			target: path,
			body:   body,
			claims: claims[int(claimVariant)%len(claims)],
		}
		if query != "" {
			r.target += "?" + query
		}
		if claimVariant%7 == 4 {
			r.lambda = map[string]any{"firmId": "acme", "keyId": path, "keyLabel": body}
		}
		ev := event(r)
		ev.RawQueryString = query
		ev.RawPath, _, _ = strings.Cut(path, "?")
		hr, err := identityRequest(ev)
		if err != nil {
			return // the proxy rejects such an event before any handler runs
		}
		defer e.logs.Reset() // the buffer would otherwise grow for the whole fuzz run
		rec := record(e.handler, hr)
		if rec.Code >= 500 || rec.Code < 200 || (rec.Code >= 300 && rec.Code < 400) {
			t.Fatalf("%s %q %q body %q: status %d %s", r.method, path, query, body, rec.Code, rec.Body.String())
		}
		checkCommon(t, rec)
		if rec.Code >= 400 {
			if msg := envelopeErr(rec.Body.Bytes(), ""); msg != "" {
				t.Fatalf("envelope: %s: %s", msg, rec.Body.String())
			}
		}
		// Free the slot again so generate keeps being exercised.
		if rec.Code == 201 {
			var k struct{ ID string }
			if err := json.Unmarshal(rec.Body.Bytes(), &k); err != nil {
				t.Fatal(err)
			}
			if _, err := e.store.Store.RevokeKey(context.Background(), r.claims["firmId"], k.ID, t0, "fuzz", keyservice.AuditRecord{ID: k.ID, At: t0, Action: keyservice.ActionRevoke, FirmID: r.claims["firmId"], KeyID: k.ID}); err != nil {
				t.Fatal(err)
			}
		}
	})
}
