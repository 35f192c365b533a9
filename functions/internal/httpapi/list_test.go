package httpapi_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

type page struct {
	Items      []json.RawMessage `json:"items"`
	NextCursor *string           `json:"nextCursor"`
}

func decodePage(t *testing.T, body []byte) page {
	t.Helper()
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil {
		t.Fatalf("page: %v; %s", err, body)
	}
	if len(members) != 2 || members["items"] == nil || members["nextCursor"] == nil {
		t.Fatalf("page must be exactly {items, nextCursor}: %s", body)
	}
	if string(members["items"]) == "null" {
		t.Fatalf("items is null, want an array: %s", body)
	}
	var p page
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func (e *env) list(t *testing.T, query string, claims map[string]string) ([]keyObj, *string) {
	t.Helper()
	rec := e.do(req{method: "GET", target: "/v1/api-keys" + query, claims: claims})
	if rec.Code != http.StatusOK {
		t.Fatalf("list %s: %d %s", query, rec.Code, rec.Body.String())
	}
	checkCommon(t, rec)
	p := decodePage(t, rec.Body.Bytes())
	var out []keyObj
	for _, raw := range p.Items {
		out = append(out, decodeKey(t, raw, false))
	}
	return out, p.NextCursor
}

func ids(keys []keyObj) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.ID)
	}
	return out
}

func TestListOK(t *testing.T) {
	t.Run("empty firm: items is an empty array, nextCursor null", func(t *testing.T) {
		e := newEnv(t)
		rec := e.do(req{method: "GET", target: "/v1/api-keys", claims: adminPremier})
		if rec.Code != 200 || rec.Body.String() != "{\"items\":[],\"nextCursor\":null}\n" {
			t.Fatalf("got %d %q", rec.Code, rec.Body.String())
		}
		checkCommon(t, rec)
	})

	e := newEnv(t)
	var made []keyObj
	for _, l := range []string{"one", "two", "three"} {
		made = append(made, e.generate(l))
		e.clock.Advance(time.Second)
	}
	// A key of another firm must never show.
	if rec := e.do(req{method: "POST", target: "/v1/api-keys", body: `{"label":"globex"}`, claims: otherAdmin}); rec.Code != 201 {
		t.Fatal(rec.Body.String())
	}
	newestFirst := []string{made[2].ID, made[1].ID, made[0].ID}

	t.Run("newest first, firm only", func(t *testing.T) {
		got, next := e.list(t, "", adminPremier)
		if !slices.Equal(ids(got), newestFirst) || next != nil {
			t.Fatalf("got %v next %v, want %v", ids(got), deref(next), newestFirst)
		}
	})
	t.Run("a firm that left Premier can still list", func(t *testing.T) {
		got, _ := e.list(t, "", adminBasic)
		if len(got) != 3 {
			t.Fatalf("got %d keys", len(got))
		}
	})
	t.Run("pagination with limit and cursor", func(t *testing.T) {
		var all []string
		q := "?limit=2"
		for i := 0; ; i++ {
			got, next := e.list(t, q, adminPremier)
			all = append(all, ids(got)...)
			if next == nil {
				break
			}
			if i > 3 {
				t.Fatal("too many pages")
			}
			q = "?limit=2&cursor=" + url.QueryEscape(*next)
		}
		if !slices.Equal(all, newestFirst) {
			t.Fatalf("pages %v, want %v", all, newestFirst)
		}
	})
	t.Run("unknown parameters are ignored, empty cursor is the first page", func(t *testing.T) {
		got, _ := e.list(t, "?_=123&cursor=&foo=bar", adminPremier)
		if len(got) != 3 {
			t.Fatalf("got %d", len(got))
		}
	})
	t.Run("unknown parameters are ignored even when malformed", func(t *testing.T) {
		for _, q := range []string{"?status=active&utm_source=a;b", "?x=%zz&status=active", "?%zz=1&status=active&&", "?;;;&limit=50"} {
			if got, _ := e.list(t, q, adminPremier); len(got) != 3 {
				t.Fatalf("%s: got %d", q, len(got))
			}
		}
	})

	// Revoke one, let one expire: statuses are computed at request time.
	if rec := e.do(req{method: "POST", target: "/v1/api-keys/" + made[0].ID + "/revoke", claims: adminPremier}); rec.Code != 200 {
		t.Fatal(rec.Body.String())
	}
	rec := e.do(req{method: "POST", target: "/v1/api-keys", body: `{"label":"short","expiresAt":"2026-11-25T13:00:00Z"}`, claims: adminPremier})
	if rec.Code != 201 {
		t.Fatal(rec.Body.String())
	}
	short := decodeKey(t, rec.Body.Bytes(), true)
	e.clock.Advance(2 * time.Hour)

	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"?status=all", []string{short.ID, made[2].ID, made[1].ID, made[0].ID}},
		{"?status=active", []string{made[2].ID, made[1].ID}},
		{"?status=revoked", []string{made[0].ID}},
		{"?status=expired", []string{short.ID}},
		{"?status=active&limit=1", []string{made[2].ID}},
	} {
		t.Run("filter "+tt.query, func(t *testing.T) {
			got, _ := e.list(t, tt.query, adminPremier)
			if !slices.Equal(ids(got), tt.want) {
				t.Fatalf("got %v, want %v", ids(got), tt.want)
			}
			for _, k := range got {
				switch k.ID {
				case short.ID:
					if k.Status != "expired" || k.ExpiresAt == nil || *k.ExpiresAt != "2026-11-25T13:00:00.000Z" {
						t.Errorf("expired key: %+v", k)
					}
				case made[0].ID:
					if k.Status != "revoked" || k.RevokedAt == nil || deref(k.RevokedBy) != "alice" {
						t.Errorf("revoked key: %+v", k)
					}
				default:
					if k.Status != "active" {
						t.Errorf("active key: %+v", k)
					}
				}
			}
		})
	}
}

func TestListErrors(t *testing.T) {
	tests := []struct {
		name   string
		query  string
		claims map[string]string
		noCtx  bool
		setup  func(e *env)
		status int
		code   keyservice.Code
	}{
		{name: "no gateway context", noCtx: true, status: 401, code: keyservice.CodeUnauthorized},
		{name: "no claims", status: 401, code: keyservice.CodeUnauthorized},
		{name: "no firm", claims: testkit.WithClaims(adminPremier, "firmId", "<delete>"), status: 401, code: keyservice.CodeUnauthorized},
		{name: "not an admin", claims: member, status: 403, code: keyservice.CodeNotFirmAdmin},
		{name: "403 before query checks", query: "?limit=0", claims: member, status: 403, code: keyservice.CodeNotFirmAdmin},
		{name: "bad status", query: "?status=open", status: 400, code: keyservice.CodeInvalidRequest},
		{name: "status case", query: "?status=Active", status: 400, code: keyservice.CodeInvalidRequest},
		{name: "empty status", query: "?status=", status: 400, code: keyservice.CodeInvalidRequest},
		{name: "repeated status", query: "?status=active&status=revoked", status: 400, code: keyservice.CodeInvalidRequest},
		{name: "limit 0", query: "?limit=0", status: 400, code: keyservice.CodeInvalidRequest},
		{name: "limit 101", query: "?limit=101", status: 400, code: keyservice.CodeInvalidRequest},
		{name: "limit negative", query: "?limit=-1", status: 400, code: keyservice.CodeInvalidRequest},
		{name: "limit plus sign", query: "?limit=%2B5", status: 400, code: keyservice.CodeInvalidRequest},
		{name: "limit float", query: "?limit=1.5", status: 400, code: keyservice.CodeInvalidRequest},
		{name: "limit word", query: "?limit=ten", status: 400, code: keyservice.CodeInvalidRequest},
		{name: "limit empty", query: "?limit=", status: 400, code: keyservice.CodeInvalidRequest},
		{name: "limit huge", query: "?limit=99999999999999999999", status: 400, code: keyservice.CodeInvalidRequest},
		{name: "repeated limit", query: "?limit=5&limit=6", status: 400, code: keyservice.CodeInvalidRequest},
		{name: "garbage cursor", query: "?cursor=abc", status: 400, code: keyservice.CodeInvalidRequest},
		{name: "repeated cursor", query: "?cursor=a&cursor=b", status: 400, code: keyservice.CodeInvalidRequest},
		{name: "malformed query", query: "?status=%zz", status: 400, code: keyservice.CodeInvalidRequest},
		{name: "semicolon in status", query: "?status=active;x", status: 400, code: keyservice.CodeInvalidRequest},
		{name: "escaped status name given twice", query: "?status=active&%73tatus=all", status: 400, code: keyservice.CodeInvalidRequest},
		{name: "another firm's cursor", query: "?limit=1&cursor=", setup: nil, claims: otherAdmin, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "store failure", setup: func(e *env) {
			e.store.failList = func() error { return errors.New("dynamodb: throttled") }
		}, status: 500, code: keyservice.CodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			query := tt.query
			if tt.name == "another firm's cursor" {
				// Page acme's keys, then present acme's cursor as globex.
				e.generate("a")
				e.clock.Advance(time.Millisecond)
				e.generate("b")
				_, next := e.list(t, "?limit=1", adminPremier)
				query += url.QueryEscape(*next)
			}
			if tt.setup != nil {
				tt.setup(e)
			}
			claims := tt.claims
			if claims == nil && tt.status != 401 {
				claims = adminPremier
			}
			rec := e.do(req{method: "GET", target: "/v1/api-keys" + query, claims: claims, noCtx: tt.noCtx})
			wantError(t, rec, tt.status, tt.code)
		})
	}
}
