package securitytest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
	"github.com/kudurrustone/apikeys/functions/internal/storetest"
	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

// TestFirmIsolation: an administrator of firm A cannot list, revoke or learn
// the existence of firm B's keys — by id, by a cursor from B's listing, or
// by a tampered cursor — over both stores, through the HTTP handlers.
func TestFirmIsolation(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) *storeEnv) {
		s := newStack(t, open(t))
		firmA, firmB := storetest.NewFirmID(t), storetest.NewFirmID(t)
		a, b := admin(firmA), admin(firmB)
		ownA := s.generate(firmA, "A one")
		var bKeys []keyJSON
		for _, l := range []string{"B one", "B two", "B three"} {
			bKeys = append(bKeys, s.generate(firmB, l))
		}
		if r := s.revoke(b, bKeys[2].ID); r.status != http.StatusOK {
			t.Fatalf("B revokes its own key: %s", r)
		}
		// Everything that would reveal B's keys to A.
		bSecrets := [][]byte{[]byte(firmB)}
		for _, k := range bKeys {
			bSecrets = append(bSecrets, []byte(k.ID), []byte(k.Label), []byte(k.Hint))
		}
		noBData := func(t *testing.T, what string, r response) {
			t.Helper()
			for _, sec := range bSecrets {
				if bytes.Contains(r.body, sec) {
					t.Errorf("%s: answer reveals %q of firm B: %s", what, sec, r)
				}
			}
		}

		t.Run("list shows only own keys", func(t *testing.T) {
			s := s.with(t)
			for _, status := range []string{"", "status=all", "status=active", "status=revoked", "limit=100"} {
				r, l := s.list(a, status)
				if r.status != http.StatusOK || len(l.Items) > 1 {
					t.Fatalf("list %q: %s", status, r)
				}
				noBData(t, "list "+status, r)
			}
			if _, l := s.list(a, ""); len(l.Items) != 1 || l.Items[0].ID != ownA.ID {
				t.Fatalf("A's list = %+v, want only %s", l.Items, ownA.ID)
			}
		})

		t.Run("revoke by id is not_found, identical to a missing id", func(t *testing.T) {
			s := s.with(t)
			missing := s.revoke(a, "01KQZZZZZZZZZZZZZZZZZZZZZZ")
			wantError(t, missing, http.StatusNotFound, keyservice.CodeNotFound)
			for _, k := range bKeys {
				r := s.revoke(a, k.ID)
				wantError(t, r, http.StatusNotFound, keyservice.CodeNotFound)
				if !bytes.Equal(r.body, missing.body) {
					t.Errorf("revoke of B's key %s answers %s, a missing id %s", k.ID, r.body, missing.body)
				}
				for _, h := range []string{"Content-Type", "Cache-Control", "Content-Length"} {
					if r.header.Get(h) != missing.header.Get(h) {
						t.Errorf("header %s differs: %q vs %q", h, r.header.Get(h), missing.header.Get(h))
					}
				}
				noBData(t, "revoke", r)
			}
			// B's keys are untouched: active ones still list as active.
			_, l := s.list(b, "status=active")
			if len(l.Items) != 2 {
				t.Fatalf("B's active keys after A's attempts: %+v", l.Items)
			}
		})

		t.Run("edit, roll and a key's audit trail of B's keys answer as for a missing id", func(t *testing.T) {
			s := s.with(t)
			const missingID = "01KQZZZZZZZZZZZZZZZZZZZZZZ"
			calls := []struct {
				name    string
				request func(id string) request
			}{
				{"edit", func(id string) request {
					return request{method: "PATCH", target: "/v1/api-keys/" + id, body: `{"label":"taken over"}`, claims: a}
				}},
				{"roll", func(id string) request {
					return request{method: "POST", target: "/v1/api-keys/" + id + "/roll", body: `{"gracePeriodSeconds":0}`, claims: a}
				}},
				{"audit trail", func(id string) request {
					return request{method: "GET", target: "/v1/audit-events?keyId=" + id, claims: a}
				}},
			}
			for _, c := range calls {
				missing := s.do(c.request(missingID))
				if c.name != "audit trail" {
					wantError(t, missing, http.StatusNotFound, keyservice.CodeNotFound)
				}
				for _, k := range bKeys {
					r := s.do(c.request(k.ID))
					if r.status != missing.status || !bytes.Equal(r.body, missing.body) {
						t.Errorf("%s of B's key %s answers %s, a missing id %s", c.name, k.ID, r, missing)
					}
					noBData(t, c.name, r)
				}
			}
			// B's keys are untouched: same labels, the active ones still
			// active, and no new key for A.
			_, l := s.list(b, "status=all")
			if len(l.Items) != len(bKeys) {
				t.Fatalf("B's keys after A's attempts: %+v", l.Items)
			}
			for _, k := range l.Items {
				if k.Label == "taken over" {
					t.Errorf("A relabelled B's key: %+v", k)
				}
			}
			if _, la := s.list(a, "status=all"); len(la.Items) != 1 {
				t.Errorf("A's keys after rolling B's: %+v", la.Items)
			}
		})

		t.Run("cursor from B's listing is refused", func(t *testing.T) {
			s := s.with(t)
			for _, status := range []string{"", "status=all", "status=active"} {
				q := "limit=1"
				if status != "" {
					q += "&" + status
				}
				_, lb := s.list(b, q)
				if lb.NextCursor == nil {
					t.Fatalf("B's listing %q has no next cursor", q)
				}
				r, _ := s.list(a, q+"&cursor="+*lb.NextCursor)
				wantError(t, r, http.StatusBadRequest, keyservice.CodeInvalidRequest)
				noBData(t, "B's cursor", r)
			}
		})

		t.Run("tampered cursors are refused", func(t *testing.T) {
			s := s.with(t)
			_, la := s.list(a, "limit=1")
			_ = la // A has one key: no cursor; forge from B's instead
			_, lb := s.list(b, "limit=1")
			c := *lb.NextCursor
			raw, err := base64.RawURLEncoding.DecodeString(c)
			if err != nil {
				t.Fatalf("cursor is not base64url: %v", err)
			}
			parts := strings.Split(string(raw), ".")
			enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
			flip := []byte(c)
			flip[len(flip)/2] ^= 1
			tampered := map[string]string{
				"bit flipped":      string(flip),
				"truncated":        c[:len(c)-3],
				"padded":           c + "AAAA",
				"std base64":       base64.StdEncoding.EncodeToString(raw),
				"other status":     enc(strings.Join([]string{parts[0], parts[1], "revoked", parts[3]}, ".")),
				"other version":    enc(strings.Join([]string{"v2", parts[1], parts[2], parts[3]}, ".")),
				"empty firm tag":   enc(strings.Join([]string{parts[0], "", parts[2], parts[3]}, ".")),
				"firm id as tag":   enc(strings.Join([]string{parts[0], firmA, parts[2], parts[3]}, ".")),
				"extra part":       enc(string(raw) + ".x"),
				"bad id":           enc(strings.Join([]string{parts[0], parts[1], parts[2], "../../x"}, ".")),
				"lower-case id":    enc(strings.Join([]string{parts[0], parts[1], parts[2], strings.ToLower(parts[3])}, ".")),
				"huge":             strings.Repeat("A", 4096),
				"not base64":       "%%%",
				"only dots":        enc("..."),
				"key id as cursor": bKeys[0].ID,
			}
			for name, cur := range tampered {
				r, _ := s.list(a, "limit=1&cursor="+urlQueryEscape(cur))
				if r.status != http.StatusBadRequest || r.code(t) != keyservice.CodeInvalidRequest {
					t.Errorf("%s: %s, want 400 invalid_request", name, r)
				}
				noBData(t, name, r)
			}
			// The firm tag is not a secret, so A can forge a well-formed
			// cursor for its own firm positioned at one of B's ids: it only
			// positions the query inside A's own partition.
			r, _ := s.list(a, "cursor="+urlQueryEscape(forgeCursor(firmA, "all", bKeys[0].ID)))
			if r.status != http.StatusOK {
				t.Fatalf("forged own-firm cursor: %s", r)
			}
			noBData(t, "forged own-firm cursor", r)
		})

		t.Run("B's keys are not A's to use", func(t *testing.T) {
			s := s.with(t)
			// Sanity: the authorizer still names B for B's active key.
			ok, firm := s.authorize(context.Background(), "Bearer "+bKeys[0].Key)
			if !ok || firm != firmB {
				t.Fatalf("B's key: allowed=%v firm=%q", ok, firm)
			}
			if ok, _ := s.authorize(context.Background(), "Bearer "+bKeys[2].Key); ok {
				t.Fatal("B's revoked key allowed")
			}
		})
		checkInvariants(t, s.env.snapshot(t))
	})
}

func urlQueryEscape(s string) string {
	r := strings.NewReplacer("%", "%25", "&", "%26", "+", "%2B", "=", "%3D", "#", "%23", " ", "%20")
	return r.Replace(s)
}

// forgeCursor builds a cursor the way keyservice does (v1.<tag>.<status>.<id>);
// the tag is a public function of the firm id.
func forgeCursor(firm, status, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("v1." + firmTag(firm) + "." + status + "." + id))
}

// TestPrivilege: members get not_firm_admin on every management route;
// a non-Premier admin gets premier_required on generate and can still list
// and revoke; missing, mistyped or miscased claims are refused.
func TestPrivilege(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) *storeEnv) {
		s := newStack(t, open(t))
		firm := storetest.NewFirmID(t)
		k := s.generate(firm, "Existing")
		routes := []request{
			{method: "GET", target: "/v1/api-keys"},
			{method: "GET", target: "/v1/api-keys?status=active&limit=5"},
			{method: "POST", target: "/v1/api-keys", body: `{"label":"New"}`},
			{method: "POST", target: "/v1/api-keys/" + k.ID + "/revoke"},
			{method: "POST", target: "/v1/api-keys/01KQZZZZZZZZZZZZZZZZZZZZZZ/revoke"},
		}
		on := func(r request, claims map[string]string) request { r.claims = claims; return r }
		adm := admin(firm)

		t.Run("member is not_firm_admin everywhere", func(t *testing.T) {
			s := s.with(t)
			for _, role := range []string{"member", "viewer", "", "Admin", "ADMIN", " admin", "admin ", "admin\x00",
				"[admin]", `["admin"]`, "[admin member]", "admin,member", "administrator", "adm", "true", "1", "null", `{"admin":true}`} {
				for _, r := range routes {
					got := s.do(on(r, testkit.WithClaims(adm, "role", role)))
					wantError(t, got, http.StatusForbidden, keyservice.CodeNotFirmAdmin)
				}
			}
			for _, r := range routes {
				wantError(t, s.do(on(r, testkit.WithClaims(adm, "role", "<delete>"))), http.StatusForbidden, keyservice.CodeNotFirmAdmin)
				// The role under another casing of the claim name.
				for _, name := range []string{"Role", "ROLE", "roles", "cognito:groups"} {
					got := s.do(on(r, testkit.WithClaims(adm, "role", "<delete>", name, "admin")))
					wantError(t, got, http.StatusForbidden, keyservice.CodeNotFirmAdmin)
				}
			}
		})

		t.Run("non-Premier admin: premier_required on generate only", func(t *testing.T) {
			s := s.with(t)
			for _, tier := range []string{"basic", "", "Premier", "PREMIER", " premier", "[premier]", `["premier"]`, "premier,basic", "true"} {
				c := testkit.WithClaims(adm, "tier", tier)
				wantError(t, s.do(on(routes[2], c)), http.StatusForbidden, keyservice.CodePremierRequired)
				if r, _ := s.list(c, ""); r.status != http.StatusOK {
					t.Errorf("tier %q: list %s", tier, r)
				}
			}
			c := testkit.WithClaims(adm, "tier", "<delete>")
			wantError(t, s.do(on(routes[2], c)), http.StatusForbidden, keyservice.CodePremierRequired)
			c = testkit.WithClaims(adm, "tier", "<delete>", "Tier", "premier")
			wantError(t, s.do(on(routes[2], c)), http.StatusForbidden, keyservice.CodePremierRequired)
			basic := testkit.WithClaims(adm, "tier", "basic")
			if r := s.revoke(basic, k.ID); r.status != http.StatusOK {
				t.Fatalf("non-Premier admin revokes: %s", r)
			}
			if r := s.revoke(basic, k.ID); r.status != http.StatusOK {
				t.Fatalf("non-Premier admin revokes again: %s", r)
			}
		})

		t.Run("no usable identity is unauthorized", func(t *testing.T) {
			s := s.with(t)
			cases := map[string]request{
				"no authorizer context": {},
				"empty claims":          {claims: map[string]string{}},
				"no sub":                {claims: testkit.WithClaims(adm, "sub", "<delete>")},
				"empty sub":             {claims: testkit.WithClaims(adm, "sub", "")},
				"no firmId":             {claims: testkit.WithClaims(adm, "firmId", "<delete>")},
				"empty firmId":          {claims: testkit.WithClaims(adm, "firmId", "")},
				"firmId miscased name":  {claims: testkit.WithClaims(adm, "firmId", "<delete>", "FirmId", firm)},
				"firmid lower name":     {claims: testkit.WithClaims(adm, "firmId", "<delete>", "firmid", firm)},
				"sub miscased name":     {claims: testkit.WithClaims(adm, "sub", "<delete>", "Sub", "x")},
				"API key context only":  {lambda: map[string]any{"firmId": firm, "keyId": k.ID, "keyLabel": "x"}},
				"spoofed proxy header": {headers: map[string]string{
					"X-GoLambdaProxy-ApiGateway-Context": `{"authorizer":{"jwt":{"claims":{"sub":"x","firmId":"` + firm + `","role":"admin","tier":"premier"}}}}`,
				}},
			}
			for name, c := range cases {
				for _, r := range routes {
					r.claims, r.lambda, r.headers = c.claims, c.lambda, c.headers
					got := s.do(r)
					if got.status != http.StatusUnauthorized || got.code(t) != keyservice.CodeUnauthorized {
						t.Errorf("%s: %s %s: %s, want 401 unauthorized", name, r.method, r.target, got)
					}
				}
			}
		})

		t.Run("implausible identity values are unauthorized", func(t *testing.T) {
			s := s.with(t)
			// A subject or firm id no identity provider issues (OIDC caps
			// sub at 255 characters): refused up front instead of failing
			// in the store (DynamoDB caps a partition key at 2048 bytes,
			// bbolt a bucket name at 32 KiB) with a 500.
			long := strings.Repeat("f", 3000)
			cases := map[string]map[string]string{
				"firm id of 3000 bytes":  testkit.WithClaims(adm, "firmId", long),
				"firm id of 40000 bytes": testkit.WithClaims(adm, "firmId", strings.Repeat("f", 40000)),
				"subject of 1 MiB":       testkit.WithClaims(adm, "sub", strings.Repeat("s", 1<<20)),
				"firm id with NUL":       testkit.WithClaims(adm, "firmId", firm+"\x00"),
				"firm id with newline":   testkit.WithClaims(adm, "firmId", firm+"\n"),
				"firm id not UTF-8":      testkit.WithClaims(adm, "firmId", firm+"\xff"),
				"subject not UTF-8":      testkit.WithClaims(adm, "sub", "alice\xff"),
			}
			for name, c := range cases {
				for _, r := range routes {
					got := s.do(on(r, c))
					if got.status != http.StatusUnauthorized || got.code(t) != keyservice.CodeUnauthorized {
						t.Errorf("%s: %s %s: %s, want 401 unauthorized", name, r.method, r.target, got)
					}
				}
			}
		})

		t.Run("flattened non-string firm ids stay separate firms", func(t *testing.T) {
			s := s.with(t)
			// API Gateway flattens a numeric or list claim to its text; it
			// is then just another (empty) firm, never the firm whose id it
			// spells differently.
			for _, f := range []string{"[" + firm + "]", `["` + firm + `"]`, strings.ToUpper(firm), " " + firm, firm + " "} {
				r, l := s.list(testkit.WithClaims(adm, "firmId", f), "")
				if r.status != http.StatusOK || len(l.Items) != 0 {
					t.Errorf("firmId %q: %s", f, r)
				}
				if r := s.revoke(testkit.WithClaims(adm, "firmId", f), k.ID); r.status != http.StatusNotFound {
					t.Errorf("firmId %q revokes %s's key: %s", f, firm, r)
				}
			}
		})
		checkInvariants(t, s.env.snapshot(t))
	})
}

// firmTag mirrors keyservice's cursor firm tag (a public function of the
// firm id, so anyone can compute it).
func firmTag(firm string) string {
	s := sha256.Sum256([]byte("cursor-firm:" + firm))
	return hex.EncodeToString(s[:6])
}
