package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/httpapi"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

func TestRevokeOK(t *testing.T) {
	var mu sync.Mutex
	var hooked []string
	e := newEnv(t, withAPIOption(httpapi.WithCacheReset(func(_ context.Context, k keyservice.Key) {
		mu.Lock()
		defer mu.Unlock()
		hooked = append(hooked, k.ID)
	})))
	k := e.generate("Office Sync Tool")
	e.clock.Advance(time.Minute)

	for _, tt := range []struct {
		name string
		body string
	}{
		{"first revoke", ""},
		{"revoking again is idempotent", "{}"},
		{"a body is ignored", `{"anything":true}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e.clock.Advance(time.Minute) // a later revoke must not move revokedAt
			rec := e.do(req{method: "POST", target: "/v1/api-keys/" + k.ID + "/revoke", body: tt.body, claims: adminPremier})
			if rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
			}
			checkCommon(t, rec)
			got := decodeKey(t, rec.Body.Bytes(), false)
			if got.ID != k.ID || got.Status != "revoked" || deref(got.RevokedAt) != "2026-11-25T12:02:00.000Z" ||
				deref(got.RevokedBy) != "alice" || got.Label != "Office Sync Tool" {
				t.Fatalf("got %+v", got)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if len(hooked) != 3 || hooked[0] != k.ID {
		t.Errorf("revoke hook calls = %v, want the key three times", hooked)
	}
	if c := strings.Count(e.logs.String(), `"action":"key.revoked"`); c < 1 {
		t.Errorf("no revoke audit log")
	}
}

func TestRevokeHookPanicStillAnswers(t *testing.T) {
	e := newEnv(t, withAPIOption(httpapi.WithCacheReset(func(context.Context, keyservice.Key) { panic("boom") })))
	k := e.generate("x")
	rec := e.do(req{method: "POST", target: "/v1/api-keys/" + k.ID + "/revoke", claims: adminPremier})
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
	if !strings.Contains(e.logs.String(), "panic in cache reset hook") {
		t.Errorf("hook panic not logged")
	}
}

func TestRevokeErrors(t *testing.T) {
	tests := []struct {
		name   string
		id     string // "" = the generated key
		claims map[string]string
		noCtx  bool
		setup  func(e *env)
		status int
		code   keyservice.Code
	}{
		{name: "no gateway context", noCtx: true, status: 401, code: keyservice.CodeUnauthorized},
		{name: "no claims", status: 401, code: keyservice.CodeUnauthorized},
		{name: "not an admin", claims: member, status: 403, code: keyservice.CodeNotFirmAdmin},
		{name: "unknown id", id: "01KQZZZZZZZZZZZZZZZZZZZZZZ", status: 404, code: keyservice.CodeNotFound},
		{name: "malformed id", id: "not-a-key-id", status: 404, code: keyservice.CodeNotFound},
		{name: "lower-case id", id: "lower", status: 404, code: keyservice.CodeNotFound},
		{name: "another firm's key looks missing", claims: otherAdmin, status: 404, code: keyservice.CodeNotFound},
		{name: "store failure", setup: func(e *env) {
			e.store.failRevoke = func() error { return errors.New("dynamodb: timeout") }
		}, status: 500, code: keyservice.CodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			k := e.generate("x")
			if tt.setup != nil {
				tt.setup(e)
			}
			id := tt.id
			if id == "" {
				id = k.ID
			}
			claims := tt.claims
			if claims == nil && tt.status != 401 {
				claims = adminPremier
			}
			rec := e.do(req{method: "POST", target: "/v1/api-keys/" + id + "/revoke", claims: claims, noCtx: tt.noCtx})
			wantError(t, rec, tt.status, tt.code)
			// Whatever happened, the key is still active for its firm.
			got, _ := e.list(t, "", adminPremier)
			if len(got) != 1 || got[0].Status != "active" {
				t.Errorf("key changed: %+v", got)
			}
		})
	}
}

// TestDeniedManagementCallsAreLogged: a member, or an admin naming another
// firm's key, is turned away and the log says who (subject and firm),
// never the key.
func TestDeniedManagementCallsAreLogged(t *testing.T) {
	e := newEnv(t)
	k := e.generate("acme key")
	for _, tt := range []struct {
		name, method, target, body string
		claims                     map[string]string
		status                     int
		subject, firm              string
	}{
		{"member revokes", "POST", "/v1/api-keys/" + k.ID + "/revoke", "", member, 403, "bob", "acme"},
		{"member lists", "GET", "/v1/api-keys", "", member, 403, "bob", "acme"},
		{"non-Premier generates", "POST", "/v1/api-keys", `{"label":"x"}`, adminBasic, 403, "alice", "acme"},
		{"another firm's key", "POST", "/v1/api-keys/" + k.ID + "/revoke", "", otherAdmin, 404, otherAdmin["sub"], otherAdmin["firmId"]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e.logs.Reset()
			rec := e.do(req{method: tt.method, target: tt.target, body: tt.body, claims: tt.claims})
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d", rec.Code, tt.status)
			}
			var line map[string]any
			for l := range strings.SplitSeq(e.logs.String(), "\n") {
				if strings.Contains(l, "management call denied") {
					_ = json.Unmarshal([]byte(l), &line)
				}
			}
			if line == nil || line["subject"] != tt.subject || line["firmId"] != tt.firm {
				t.Fatalf("no denial line with subject %q and firm %q:\n%s", tt.subject, tt.firm, e.logs.String())
			}
		})
	}
}

// TestDeniedCallWithAKeyInThePathLogsNoKey: a key put where an id goes is
// 404 and is not logged.
func TestDeniedCallWithAKeyInThePathLogsNoKey(t *testing.T) {
	e := newEnv(t)
	key := "kst_U3QjpEnViqwTyEUNKpdBe3CpMR8jtjW0VosRfE90Wzz0chKAV"
	for _, claims := range []map[string]string{adminPremier, member} {
		rec := e.do(req{method: "POST", target: "/v1/api-keys/" + key + "/revoke", claims: claims})
		if rec.Code != 404 && rec.Code != 403 {
			t.Fatalf("status %d", rec.Code)
		}
	}
	if logs := e.logs.String(); !strings.Contains(logs, "management call denied") || strings.Contains(logs, key[4:20]) {
		t.Fatalf("denial not logged, or logged with the key:\n%s", logs)
	}
}
