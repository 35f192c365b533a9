package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/httpapi"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

// resets records the cache reset hook's calls.
type resets struct {
	mu  sync.Mutex
	ids []string
}

func (r *resets) hook(_ context.Context, k keyservice.Key) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, k.ID)
}

func (r *resets) count() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.ids) }

func TestUpdateOK(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		check   func(t *testing.T, k keyObj)
		changed string // details.changed of the audit event; "" = no event
		reset   bool
	}{
		{"label", `{"label":"  Renamed  "}`, func(t *testing.T, k keyObj) {
			if k.Label != "Renamed" {
				t.Errorf("label %q", k.Label)
			}
		}, `["label"]`, false},
		{"expiresAt", `{"expiresAt":"2027-01-31t10:00:00z"}`, func(t *testing.T, k keyObj) {
			if deref(k.ExpiresAt) != "2027-01-31T10:00:00.000Z" {
				t.Errorf("expiresAt %v", deref(k.ExpiresAt))
			}
		}, `["expiresAt"]`, true},
		{"scopes and allowedIps", `{"scopes":["read"],"allowedIps":["10.1.2.3/8","2001:db8::1"]}`, func(t *testing.T, k keyObj) {
			if !slices.Equal(k.Scopes, []string{"read"}) || !slices.Equal(k.AllowedIPs, []string{"10.0.0.0/8", "2001:db8::1/128"}) {
				t.Errorf("scopes %v, allowedIps %v", k.Scopes, k.AllowedIPs)
			}
		}, `["scopes","allowedIps"]`, true},
		{"same label: nothing changes, no event", `{"label":"x"}`, func(t *testing.T, k keyObj) {}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r resets
			e := newEnv(t, withAPIOption(httpapi.WithCacheReset(r.hook)))
			k := e.generate("x")
			rec := e.do(req{method: "PATCH", target: "/v1/api-keys/" + k.ID, body: tt.body, claims: adminPremier})
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
			}
			checkCommon(t, rec)
			got := decodeKey(t, rec.Body.Bytes(), false)
			tt.check(t, got)
			if (r.count() == 1) != tt.reset {
				t.Errorf("cache resets %d, want reset %v", r.count(), tt.reset)
			}
			events := auditEvents(t, e, "?keyId="+k.ID)
			if tt.changed == "" {
				if len(events) != 1 {
					t.Fatalf("events %+v, want only key.generated", events)
				}
				return
			}
			if len(events) != 2 || events[0].Action != "key.updated" || string(events[0].Details["changed"]) != tt.changed {
				t.Fatalf("events %+v, want key.updated with changed %s first", events, tt.changed)
			}
		})
	}
}

func TestUpdateClearsExpiry(t *testing.T) {
	e := newEnv(t)
	rec := e.do(req{method: "POST", target: "/v1/api-keys", body: `{"label":"x","expiresAt":"2027-01-01T00:00:00Z"}`, claims: adminPremier})
	k := decodeKey(t, rec.Body.Bytes(), true)
	rec = e.do(req{method: "PATCH", target: "/v1/api-keys/" + k.ID, body: `{"expiresAt":null}`, claims: adminPremier})
	if got := decodeKey(t, rec.Body.Bytes(), false); rec.Code != 200 || got.ExpiresAt != nil {
		t.Fatalf("%d %s, want expiresAt null", rec.Code, rec.Body.String())
	}
	// Absent leaves it alone.
	rec = e.do(req{method: "PATCH", target: "/v1/api-keys/" + k.ID, body: `{"expiresAt":"2028-01-01T00:00:00Z"}`, claims: adminPremier})
	rec = e.do(req{method: "PATCH", target: "/v1/api-keys/" + k.ID, body: `{"label":"y"}`, claims: adminPremier})
	if got := decodeKey(t, rec.Body.Bytes(), false); deref(got.ExpiresAt) != "2028-01-01T00:00:00.000Z" {
		t.Fatalf("expiresAt %v after a label change, want kept", deref(got.ExpiresAt))
	}
}

func TestUpdateErrors(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		claims map[string]string
		target func(e *env, id string) string
		status int
		code   keyservice.Code
	}{
		{name: "no claims", body: `{"label":"y"}`, status: 401, code: keyservice.CodeUnauthorized},
		{name: "not an admin", body: `{"label":"y"}`, claims: member, status: 403, code: keyservice.CodeNotFirmAdmin},
		{name: "not premier", body: `{"label":"y"}`, claims: adminBasic, status: 403, code: keyservice.CodePremierRequired},
		{name: "premier before body", body: `{`, claims: adminBasic, status: 403, code: keyservice.CodePremierRequired},
		{name: "empty object", body: `{}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "no body", body: ``, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "unknown member", body: `{"label":"y","status":"active"}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "duplicate member", body: `{"label":"y","label":"z"}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "label null", body: `{"label":null}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "scopes null", body: `{"scopes":null}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "allowedIps null", body: `{"allowedIps":null}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "empty scopes", body: `{"scopes":[]}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "unknown scope", body: `{"scopes":["admin"]}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "bad address", body: `{"allowedIps":["10.0.0.0/40"]}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "duplicate address", body: `{"allowedIps":["10.0.0.1","10.0.0.1/32"]}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "past expiresAt", body: `{"expiresAt":"2020-01-01T00:00:00Z"}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "expiresAt past 9999", body: `{"expiresAt":"10000-01-01T00:00:00Z"}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "expiresAt number", body: `{"expiresAt":1}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "blank label", body: `{"label":" "}`, status: 400, code: keyservice.CodeInvalidLabel},
		{name: "unknown key", body: `{"label":"y"}`, target: func(*env, string) string { return "/v1/api-keys/01KQ0000000000000000000000" }, status: 404, code: keyservice.CodeNotFound},
		{name: "malformed id", body: `{"label":"y"}`, target: func(*env, string) string { return "/v1/api-keys/nope" }, status: 404, code: keyservice.CodeNotFound},
		{name: "another firm's key", body: `{"label":"y"}`, claims: otherAdmin, status: 404, code: keyservice.CodeNotFound},
		{name: "revoked key", body: `{"label":"y"}`, target: func(e *env, id string) string {
			e.do(req{method: "POST", target: "/v1/api-keys/" + id + "/revoke", claims: adminPremier})
			return "/v1/api-keys/" + id
		}, status: 409, code: keyservice.CodeKeyNotActive},
		{name: "expired key", body: `{"label":"y"}`, target: func(e *env, id string) string {
			rec := e.do(req{method: "POST", target: "/v1/api-keys", body: `{"label":"x","expiresAt":"2026-11-25T12:00:01Z"}`, claims: adminPremier})
			k := decodeKey(e.t, rec.Body.Bytes(), true)
			e.clock.Advance(time.Second)
			return "/v1/api-keys/" + k.ID
		}, status: 409, code: keyservice.CodeKeyNotActive},
		{name: "store failure", body: `{"label":"y"}`, target: func(e *env, id string) string {
			e.store.failAll = true
			return "/v1/api-keys/" + id
		}, status: 500, code: keyservice.CodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			k := e.generate("x")
			target := "/v1/api-keys/" + k.ID
			if tt.target != nil {
				target = tt.target(e, k.ID)
			}
			claims := tt.claims
			if claims == nil && tt.code != keyservice.CodeUnauthorized {
				claims = adminPremier
			}
			rec := e.do(req{method: "PATCH", target: target, body: tt.body, claims: claims})
			wantError(t, rec, tt.status, tt.code)
		})
	}
}

func TestRollCreated(t *testing.T) {
	for _, tt := range []struct {
		name, body string
		grace      int
	}{
		{"no body", "", 86400},
		{"empty object", "{}", 86400},
		{"grace 0", `{"gracePeriodSeconds":0}`, 0},
		{"grace 7 days", `{"gracePeriodSeconds":604800}`, 604800},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var r resets
			e := newEnv(t, withMaxKeys(1), withAPIOption(httpapi.WithCacheReset(r.hook)))
			old := e.generate("Production Integration")
			rec := e.do(req{method: "POST", target: "/v1/api-keys/" + old.ID + "/roll", body: tt.body, claims: adminPremier})
			if rec.Code != http.StatusCreated {
				t.Fatalf("status %d: %s (a roll is never refused for the limit)", rec.Code, rec.Body.String())
			}
			checkCommon(t, rec)
			succ := decodeKey(t, rec.Body.Bytes(), true)
			if succ.Key == nil || succ.ID == old.ID || deref(succ.Replaces) != old.ID || succ.Label != old.Label ||
				succ.Status != "active" || succ.ReplacedBy != nil {
				t.Fatalf("successor %s", rec.Body.String())
			}
			if r.count() != 1 {
				t.Errorf("cache resets %d, want 1", r.count())
			}
			list := e.do(req{method: "GET", target: "/v1/api-keys", claims: adminPremier})
			var page struct{ Items []keyObj }
			if err := json.Unmarshal(list.Body.Bytes(), &page); err != nil || len(page.Items) != 2 {
				t.Fatalf("list %s", list.Body.String())
			}
			o := page.Items[1]
			wantExp := t0.Add(time.Duration(tt.grace) * time.Second).UTC().Format(httpapi.TimeFormat)
			wantStatus := "active"
			if tt.grace == 0 {
				wantStatus = "expired"
			}
			if deref(o.ReplacedBy) != succ.ID || deref(o.ExpiresAt) != wantExp || o.Status != wantStatus {
				t.Errorf("old key %+v, want replacedBy %s, expiresAt %s, %s", o, succ.ID, wantExp, wantStatus)
			}
			events := auditEvents(t, e, "?keyId="+old.ID)
			if len(events) != 2 || events[0].Action != "key.rolled" ||
				string(events[0].Details["newKeyId"]) != `"`+succ.ID+`"` || string(events[0].Details["gracePeriodSeconds"]) != jsonInt(tt.grace) {
				t.Fatalf("events %+v", events)
			}
			if strings.Contains(e.logs.String(), *succ.Key) {
				t.Error("the new key appears in the logs")
			}
		})
	}
}

func jsonInt(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestRollErrors(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		claims map[string]string
		setup  func(e *env, id string) string
		status int
		code   keyservice.Code
	}{
		{name: "no claims", status: 401, code: keyservice.CodeUnauthorized},
		{name: "not an admin", claims: member, status: 403, code: keyservice.CodeNotFirmAdmin},
		{name: "not premier", claims: adminBasic, status: 403, code: keyservice.CodePremierRequired},
		{name: "grace negative", body: `{"gracePeriodSeconds":-1}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "grace over 7 days", body: `{"gracePeriodSeconds":604801}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "grace fraction", body: `{"gracePeriodSeconds":1.5}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "grace string", body: `{"gracePeriodSeconds":"60"}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "grace null", body: `{"gracePeriodSeconds":null}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "unknown member", body: `{"grace":60}`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "not an object", body: `[]`, status: 400, code: keyservice.CodeInvalidRequest},
		{name: "unknown key", setup: func(*env, string) string { return "01KQ0000000000000000000000" }, status: 404, code: keyservice.CodeNotFound},
		{name: "another firm's key", claims: otherAdmin, status: 404, code: keyservice.CodeNotFound},
		{name: "revoked", setup: func(e *env, id string) string {
			e.do(req{method: "POST", target: "/v1/api-keys/" + id + "/revoke", claims: adminPremier})
			return id
		}, status: 409, code: keyservice.CodeKeyNotActive},
		{name: "already rolled", setup: func(e *env, id string) string {
			e.do(req{method: "POST", target: "/v1/api-keys/" + id + "/roll", claims: adminPremier})
			return id
		}, status: 409, code: keyservice.CodeKeyNotActive},
		{name: "pepper unavailable", setup: func(e *env, id string) string { e.peppers.Err = errors.New("secret unavailable"); return id }, status: 500, code: keyservice.CodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			id := e.generate("x").ID
			if tt.setup != nil {
				id = tt.setup(e, id)
			}
			claims := tt.claims
			if claims == nil && tt.code != keyservice.CodeUnauthorized {
				claims = adminPremier
			}
			rec := e.do(req{method: "POST", target: "/v1/api-keys/" + id + "/roll", body: tt.body, claims: claims})
			wantError(t, rec, tt.status, tt.code)
		})
	}
}

// auditEvent is the AuditEvent object as a client reads it.
type auditEvent struct {
	ID       string                     `json:"id"`
	Action   string                     `json:"action"`
	KeyID    string                     `json:"keyId"`
	KeyLabel string                     `json:"keyLabel"`
	Actor    string                     `json:"actor"`
	SourceIP *string                    `json:"sourceIp"`
	At       string                     `json:"at"`
	Details  map[string]json.RawMessage `json:"details"`
}

var auditFields = []string{"id", "action", "keyId", "keyLabel", "actor", "sourceIp", "at", "details"}

// auditPage fetches a page and checks every event has exactly SPEC's
// members.
func auditPage(t testing.TB, e *env, query string, claims map[string]string) ([]auditEvent, *string) {
	t.Helper()
	rec := e.do(req{method: "GET", target: "/v1/audit-events" + query, claims: claims})
	if rec.Code != http.StatusOK {
		t.Fatalf("audit events%s: %d %s", query, rec.Code, rec.Body.String())
	}
	checkCommon(t, rec)
	var raw struct {
		Items      []map[string]json.RawMessage `json:"items"`
		NextCursor *string                      `json:"nextCursor"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil || raw.Items == nil {
		t.Fatalf("audit page %s: %v", rec.Body.String(), err)
	}
	var page struct {
		Items []auditEvent `json:"items"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
		t.Fatal(err)
	}
	for _, it := range raw.Items {
		if len(it) != len(auditFields) {
			t.Errorf("AuditEvent has %d members, want %d: %v", len(it), len(auditFields), it)
		}
		for _, f := range auditFields {
			if _, ok := it[f]; !ok {
				t.Errorf("AuditEvent without %s", f)
			}
		}
	}
	return page.Items, raw.NextCursor
}

func auditEvents(t testing.TB, e *env, query string) []auditEvent {
	t.Helper()
	items, _ := auditPage(t, e, query, adminPremier)
	return items
}

func TestAuditEventsOK(t *testing.T) {
	e := newEnv(t, withMaxKeys(50))
	a := e.generate("A")
	e.clock.Advance(time.Millisecond)
	b := e.generate("B")
	e.clock.Advance(time.Millisecond)
	e.do(req{method: "PATCH", target: "/v1/api-keys/" + a.ID, body: `{"label":"A2","scopes":["read"]}`, claims: adminPremier})
	e.clock.Advance(time.Millisecond)
	rec := e.do(req{method: "POST", target: "/v1/api-keys/" + b.ID + "/roll", body: `{"gracePeriodSeconds":60}`, claims: adminPremier})
	succ := decodeKey(t, rec.Body.Bytes(), true)
	e.clock.Advance(time.Millisecond)
	e.do(req{method: "POST", target: "/v1/api-keys/" + a.ID + "/revoke", claims: adminPremier})
	e.do(req{method: "POST", target: "/v1/api-keys/" + a.ID + "/revoke", claims: adminPremier}) // no second event
	e.generate("Other firm's")                                                                  // noise in firm acme is fine; another firm below

	all := auditEvents(t, e, "")
	var actions []string
	for _, ev := range all {
		actions = append(actions, ev.Action+" "+ev.KeyLabel)
	}
	want := []string{"key.generated Other firm's", "key.revoked A2", "key.rolled B", "key.updated A2", "key.generated B", "key.generated A"}
	if !slices.Equal(actions, want) {
		t.Fatalf("events %v, want newest first %v", actions, want)
	}
	rev, rolled, upd, gen := all[1], all[2], all[3], all[5]
	if string(rev.Details["changed"]) != "" || len(rev.Details) != 0 || len(gen.Details) != 0 {
		t.Errorf("details of generated/revoked must be {}: %v %v", gen.Details, rev.Details)
	}
	if string(upd.Details["changed"]) != `["label","scopes"]` || len(upd.Details) != 1 {
		t.Errorf("updated details %v", upd.Details)
	}
	if string(rolled.Details["newKeyId"]) != `"`+succ.ID+`"` || string(rolled.Details["gracePeriodSeconds"]) != "60" || len(rolled.Details) != 2 {
		t.Errorf("rolled details %v", rolled.Details)
	}
	for _, ev := range all {
		if ev.Actor != "alice" || ev.SourceIP == nil || *ev.SourceIP == "" || ev.ID == "" || !strings.HasSuffix(ev.At, "Z") {
			t.Errorf("event %+v", ev)
		}
	}

	// One key's events, paged by one: full pages, newest first, a cursor
	// bound to the filter.
	var got []string
	query := "?keyId=" + a.ID + "&limit=1"
	for {
		items, next := auditPage(t, e, query, adminPremier)
		if len(items) != 1 {
			t.Fatalf("page of %d events, want 1", len(items))
		}
		got = append(got, items[0].Action)
		if next == nil {
			break
		}
		query = "?keyId=" + a.ID + "&limit=1&cursor=" + *next
	}
	if !slices.Equal(got, []string{"key.revoked", "key.updated", "key.generated"}) {
		t.Fatalf("key %s events %v", a.ID, got)
	}

	// A non-Premier admin may read; another firm sees nothing of acme's.
	if items, _ := auditPage(t, e, "", adminBasic); len(items) != len(all) {
		t.Errorf("non-Premier admin sees %d events, want %d", len(items), len(all))
	}
	if items, next := auditPage(t, e, "?keyId="+a.ID, otherAdmin); len(items) != 0 || next != nil {
		t.Errorf("another firm sees %d events of acme's key", len(items))
	}
	if strings.Contains(e.logs.String(), *succ.Key) {
		t.Error("a key appears in the logs")
	}
}

func TestAuditEventsErrors(t *testing.T) {
	e := newEnv(t)
	a := e.generate("A")
	e.generate("B")
	e.do(req{method: "PATCH", target: "/v1/api-keys/" + a.ID, body: `{"label":"A2"}`, claims: adminPremier})
	_, next := auditPage(t, e, "?limit=1", adminPremier)
	_, keyNext := auditPage(t, e, "?limit=1&keyId="+a.ID, adminPremier)
	if next == nil || keyNext == nil {
		t.Fatal("no cursor")
	}
	tests := []struct {
		name   string
		query  string
		claims map[string]string
		status int
		code   keyservice.Code
	}{
		{"no claims", "", nil, 401, keyservice.CodeUnauthorized},
		{"not an admin", "", member, 403, keyservice.CodeNotFirmAdmin},
		{"limit 0", "?limit=0", adminPremier, 400, keyservice.CodeInvalidRequest},
		{"limit 101", "?limit=101", adminPremier, 400, keyservice.CodeInvalidRequest},
		{"limit word", "?limit=ten", adminPremier, 400, keyservice.CodeInvalidRequest},
		{"limit twice", "?limit=1&limit=2", adminPremier, 400, keyservice.CodeInvalidRequest},
		{"empty keyId", "?keyId=", adminPremier, 400, keyservice.CodeInvalidRequest},
		{"malformed keyId", "?keyId=nope", adminPremier, 400, keyservice.CodeInvalidRequest},
		{"garbage cursor", "?cursor=%%%", adminPremier, 400, keyservice.CodeInvalidRequest},
		{"bad cursor", "?cursor=abc", adminPremier, 400, keyservice.CodeInvalidRequest},
		{"another firm's cursor", "?limit=1&cursor=" + *next, otherAdmin, 400, keyservice.CodeInvalidRequest},
		{"cursor of another filter", "?limit=1&cursor=" + *keyNext, adminPremier, 400, keyservice.CodeInvalidRequest},
		{"cursor without its filter", "?limit=1&keyId=" + a.ID + "&cursor=" + *next, adminPremier, 400, keyservice.CodeInvalidRequest},
		{"list cursor", "?cursor=" + listCursor(t, e), adminPremier, 400, keyservice.CodeInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.do(req{method: "GET", target: "/v1/audit-events" + tt.query, claims: tt.claims})
			wantError(t, rec, tt.status, tt.code)
		})
	}
}

func listCursor(t *testing.T, e *env) string {
	rec := e.do(req{method: "GET", target: "/v1/api-keys?limit=1", claims: adminPremier})
	var page struct{ NextCursor *string }
	if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil || page.NextCursor == nil {
		t.Fatalf("list %s", rec.Body.String())
	}
	return *page.NextCursor
}

func TestWhoamiPost(t *testing.T) {
	e := newEnv(t)
	rec := e.do(req{method: "POST", target: "/v1/whoami", body: `{"anything":"ignored"}`,
		lambda: map[string]any{"firmId": "acme", "keyId": "01KQ0000000000000000000000", "keyLabel": "x", "scopes": "write"}})
	if rec.Code != 200 || rec.Body.String() != `{"firmId":"acme","keyId":"01KQ0000000000000000000000","label":"x","scopes":["write"]}`+"\n" {
		t.Fatalf("got %d %s", rec.Code, rec.Body.String())
	}
	rec = e.do(req{method: "POST", target: "/v1/whoami"})
	wantError(t, rec, 401, keyservice.CodeUnauthorized)
}
