package securitytest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
	"github.com/kudurrustone/apikeys/functions/internal/storetest"
	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

// TestNoLeak runs a whole key life — generate, use, list, errors (mangled
// keys presented, the key pasted where it does not belong, another firm's
// admin), revoke, use again — on both stores, capturing every log line of
// the service, the handlers and the authorizer, every error string, every
// HTTP answer but the one 201 body, and the whole store, and asserts the
// plaintext key (or any 5-character run of its secret) is in none of them.
func TestNoLeak(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) *storeEnv) {
		env := open(t)
		s := newStack(t, env)
		firm, otherFirm := storetest.NewFirmID(t), storetest.NewFirmID(t)
		adm, other := admin(firm), admin(otherFirm)
		ctx := context.Background()

		var k keyJSON            // the created key
		var answers bytes.Buffer // every HTTP answer but the 201's body
		var errs []string
		record := func(what string, r response) response {
			// The label is the request, which may hold the key: not an answer.
			fmt.Fprintf(&answers, "%s: %d %v\n%s\n", strings.ReplaceAll(what, k.Key, "<KEY>"), r.status, r.header, r.body)
			if k.Key != "" && bytes.Contains(r.body, []byte(k.Key[4:20])) {
				t.Errorf("answer to %s holds part of the key: %s", strings.ReplaceAll(what, k.Key, "<KEY>"), bytes.ReplaceAll(r.body, []byte(k.Key), []byte("<KEY>")))
			}
			return r
		}
		recordErr := func(err error) {
			if err != nil {
				errs = append(errs, err.Error())
			}
		}

		// Generate: the one answer that carries the key.
		created := s.do(request{method: "POST", target: "/v1/api-keys", body: `{"label":"Leak check"}`, claims: adm})
		if created.status != http.StatusCreated {
			t.Fatalf("generate: %s", created)
		}
		if cc := created.header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("201 Cache-Control = %q, want no-store", cc)
		}
		fmt.Fprintf(&answers, "generate: %d %v\n", created.status, created.header)
		if err := json.Unmarshal(created.body, &k); err != nil || apikey.Validate(k.Key) != nil {
			t.Fatalf("201 body: %s", created.body)
		}
		key := k.Key

		// Use it, through every event kind and the service.
		ok, _ := s.authorize(ctx, "Bearer "+key)
		if !ok {
			t.Fatal("fresh key denied")
		}
		p, err := s.svc.Authorize(ctx, key)
		recordErr(err)
		record("whoami", s.do(request{method: "GET", target: "/v1/whoami",
			lambda: map[string]any{"firmId": p.FirmID, "keyId": p.KeyID, "keyLabel": p.Label}}))
		record("list", s.do(request{method: "GET", target: "/v1/api-keys", claims: adm}))

		// Errors, with the key (or most of it) where it does not belong.
		mangled := []string{
			key[:len(key)-1], key + "x", "x" + key, strings.ToUpper(key), key[:20] + differentChar(key[20]) + key[21:],
			key[:30], key + key, strings.Replace(key, "kst_", "kst-", 1),
		}
		for _, m := range mangled {
			for _, h := range []string{"Bearer " + m, m, "Basic " + m, "Bearer " + key + " " + m, "Bearer " + key + "," + m} {
				if ok, _ := s.authorize(ctx, h); ok {
					t.Errorf("mangled key allowed: %q", strings.ReplaceAll(h, key, "<KEY>"))
				}
			}
			_, err := s.svc.Authorize(ctx, m)
			recordErr(err)
		}
		for _, ev := range [][]byte{
			httpAuthEvent(map[string]string{"authorization": "Bearer " + key, "Authorization": "Bearer " + key}),
			restRequestEvent(nil, map[string][]string{"Authorization": {"Bearer " + key, "Bearer " + key}}),
			restTokenEvent("Bearer " + key + "\x00"),
			[]byte(`{"version":"2.0","headers":{"authorization":"Bearer ` + key + `"}`), // truncated JSON
			[]byte(`{"type":"TOKEN","authorizationToken":"Bearer ` + key + `"}`),        // no methodArn
		} {
			out, err := s.auth.Invoke(ctx, ev)
			recordErr(err)
			if bytes.Contains(out, []byte(key[4:20])) {
				t.Errorf("authorizer answer to %s holds the key: %s", bytes.ReplaceAll(ev, []byte(key), []byte("<KEY>")), bytes.ReplaceAll(out, []byte(key), []byte("<KEY>")))
			}
			fmt.Fprintf(&answers, "authorizer: %s\n", out)
		}
		for _, r := range []request{
			{method: "POST", target: "/v1/api-keys/" + key + "/revoke", claims: adm},
			{method: "GET", target: "/v1/api-keys?cursor=" + key, claims: adm},
			{method: "GET", target: "/v1/api-keys?status=" + key, claims: adm},
			{method: "GET", target: "/v1/api-keys?limit=" + key, claims: adm},
			{method: "GET", target: "/v1/" + key, claims: adm},
			{method: "DELETE", target: "/v1/api-keys", claims: adm, headers: map[string]string{"Authorization": "Bearer " + key}},
			{method: "POST", target: "/v1/api-keys", claims: adm, body: `{"label":"x","extra":"` + key + `"}`},
			{method: "POST", target: "/v1/api-keys", claims: adm, body: `{"label":["` + key + `"]}`},
			{method: "POST", target: "/v1/api-keys", claims: adm, body: `{"label":"x","` + key + `":true}`},
			{method: "POST", target: "/v1/api-keys", claims: adm, body: `{"label":"x","expiresAt":"` + key + `"}`},
			{method: "POST", target: "/v1/api-keys", claims: adm, body: `{"label":"x"` + key},
			{method: "POST", target: "/v1/api-keys", claims: adm, body: `{"label":"x\u0000` + key + `"}`},
			// The strict decoder's refusals: duplicates, names in another
			// case, null, wrong types, each around the key.
			{method: "POST", target: "/v1/api-keys", claims: adm, body: `{"label":"x","label":"` + key + `"}`},
			{method: "POST", target: "/v1/api-keys", claims: adm, body: `{"` + key + `":1,"` + key + `":2}`},
			{method: "POST", target: "/v1/api-keys", claims: adm, body: `{"label":"x","` + strings.ToUpper(key[4:34]) + `":null}`},
			{method: "POST", target: "/v1/api-keys", claims: adm, body: `{"label":null,"expiresAt":{"` + key + `":1}}`},
			{method: "POST", target: "/v1/api-keys", claims: adm, body: `{"label":"x","expiresAt":"` + key[4:14] + `-01-01T00:00:00Z"}`},
			{method: "POST", target: "/v1/api-keys", claims: adm, body: `{"label":"x","expiresAt":"9999-12-31T23:30:00-01:00","` + key + `":0}`},
			{method: "GET", target: "/v1/api-keys?status=active&utm_source=" + key + ";b", claims: adm},
			{method: "GET", target: "/v1/api-keys?status=" + key + ";b", claims: adm},
			// An admin pastes the key, or part of it, where the label goes.
			{method: "POST", target: "/v1/api-keys", claims: adm, body: `{"label":"` + key + `"}`},
			{method: "POST", target: "/v1/api-keys", claims: adm, body: `{"label":"my key ` + key[:len(key)-6] + `"}`},
			{method: "POST", target: "/v1/api-keys", claims: adm, body: `{"label":"` + strings.ToLower(key[4:]) + `"}`},
			{method: "POST", target: "/v1/api-keys", claims: adm, body: `{"label":"see ` + key[12:36] + ` here"}`},
			{method: "POST", target: "/v1/api-keys", claims: adm, body: `{"label":"\u202e` + key[4:28] + `"}`},
			{method: "POST", target: "/v1/api-keys", claims: adm, body: `{"label":"` + strings.Repeat(key[4:20], 5) + `"}`},
			{method: "POST", target: "/v1/api-keys", claims: adm, body: `{"label":"Copy of ` + key + `"}`},
			{method: "POST", target: "/v1/api-keys", claims: testkit.WithClaims(adm, "tier", "basic"), body: `{"label":"x"}`},
			{method: "POST", target: "/v1/api-keys", claims: adm, headers: map[string]string{"Content-Type": "text/" + key}, body: `{"label":"x"}`},
			{method: "GET", target: "/v1/whoami", headers: map[string]string{"Authorization": "Bearer " + key}},
			{method: "POST", target: "/v1/whoami", headers: map[string]string{"Authorization": "Bearer " + key}},
			// The lifecycle routes, with the key where it does not belong.
			{method: "PATCH", target: "/v1/api-keys/" + key, claims: adm, body: `{"label":"x"}`},
			{method: "PATCH", target: "/v1/api-keys/" + k.ID, claims: adm, body: `{"label":"` + key + `"}`},
			{method: "PATCH", target: "/v1/api-keys/" + k.ID, claims: adm, body: `{"label":"x","` + key + `":1}`},
			{method: "PATCH", target: "/v1/api-keys/" + k.ID, claims: adm, body: `{"scopes":["` + key + `"]}`},
			{method: "PATCH", target: "/v1/api-keys/" + k.ID, claims: adm, body: `{"allowedIps":["` + key + `"]}`},
			{method: "PATCH", target: "/v1/api-keys/" + k.ID, claims: adm, body: `{"expiresAt":"` + key + `"}`},
			{method: "PATCH", target: "/v1/api-keys/" + k.ID, claims: adm, body: `{"label":"Renamed","scopes":["read"]}`},
			{method: "POST", target: "/v1/api-keys/" + key + "/roll", claims: adm},
			{method: "POST", target: "/v1/api-keys/" + k.ID + "/roll", claims: adm, body: `{"gracePeriodSeconds":"` + key + `"}`},
			{method: "GET", target: "/v1/audit-events?keyId=" + key, claims: adm},
			{method: "GET", target: "/v1/audit-events?cursor=" + key, claims: adm},
			{method: "GET", target: "/v1/audit-events?limit=" + key, claims: adm},
			{method: "GET", target: "/v1/audit-events", claims: adm},
			{method: "GET", target: "/v1/audit-events?keyId=" + k.ID, claims: adm},
			{method: "GET", target: "/v1/audit-events", claims: other},
			{method: "GET", target: "/v1/api-keys", claims: testkit.WithClaims(adm, "role", "member"), headers: map[string]string{"Authorization": "Bearer " + key}},
			// Another firm's administrator.
			{method: "POST", target: "/v1/api-keys/" + k.ID + "/revoke", claims: other},
			{method: "GET", target: "/v1/api-keys", claims: other},
		} {
			record(r.method+" "+r.target, s.do(r))
		}
		_, err = s.svc.Revoke(ctx, keyservice.Admin{Subject: "x", FirmID: firm, IsAdmin: true}, key)
		recordErr(err)
		_, _, err = s.svc.Generate(ctx, keyservice.Admin{Subject: "x", FirmID: firm, IsAdmin: true, IsPremier: true},
			keyservice.GenerateInput{Label: "bad\x00" + key})
		recordErr(err)

		// Revoke, use again, revoke again, use after a minute.
		record("revoke", s.do(request{method: "POST", target: "/v1/api-keys/" + k.ID + "/revoke", claims: adm}))
		if ok, _ := s.authorize(ctx, "Bearer "+key); ok {
			t.Error("revoked key allowed")
		}
		_, err = s.svc.Authorize(ctx, key)
		recordErr(err)
		record("revoke again", s.do(request{method: "POST", target: "/v1/api-keys/" + k.ID + "/revoke", claims: adm}))
		s.clock.Advance(2 * time.Minute)
		_, err = s.svc.Authorize(ctx, key)
		recordErr(err)
		record("list revoked", s.do(request{method: "GET", target: "/v1/api-keys?status=revoked", claims: adm}))

		logs := s.logs.Bytes()
		snap := env.snapshot(t)
		// The audit records, as the store gives them back.
		records, err := env.store.ListAudit(ctx, firm, "", "", 0)
		if err != nil || len(records) == 0 {
			t.Fatalf("ListAudit: %d records, %v", len(records), err)
		}
		audit, _ := json.Marshal(records)
		// The captures are real: the logs hold the audit lines, the store
		// the key's record.
		if !bytes.Contains(logs, []byte(k.ID)) || !bytes.Contains(logs, []byte(`"audit"`)) {
			t.Fatalf("log capture holds no audit line for %s:\n%s", k.ID, logs)
		}
		if !bytes.Contains(snap.raw, []byte(k.ID)) || len(errs) == 0 || answers.Len() == 0 {
			t.Fatal("store dump, errors or answers are empty")
		}
		for _, part := range []struct {
			name string
			data []byte
		}{
			{"logs", logs},
			{"error strings", []byte(strings.Join(errs, "\n"))},
			{"HTTP and authorizer answers", answers.Bytes()},
			{"store (" + env.name + ")", snap.raw},
			{"audit records", audit},
		} {
			t.Run(part.name, func(t *testing.T) { storetest.AssertNoPlaintext(t, part.data, []string{key}) })
		}
		checkInvariants(t, snap)
		t.Logf("%s: checked %d log bytes, %d error strings, %d answer bytes, %d store bytes", env.name, len(logs), len(errs), answers.Len(), len(snap.raw))
	})
}

// differentChar returns a key character different from c.
func differentChar(c byte) string {
	if c == '0' {
		return "1"
	}
	return "0"
}

// TestLabelRefusesAKey: a key pasted into the label is refused
// (invalid_label, without echoing it), since a label is stored, listed and
// logged in the clear; labels that merely mention the prefix are fine.
func TestLabelRefusesAKey(t *testing.T) {
	key, err := apikey.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	// SPEC: a whole key in any letter case, with or without its prefix, or
	// any run of 24 characters copied from one.
	for _, l := range []string{key, "Copy of " + key, key + " old", "  " + key + "  ", "kst_kst_" + key[4:] + "x",
		key[:len(key)-1], key[:len(key)-6], strings.ToUpper(key), strings.ToLower(key[4:]), key[10:34]} {
		_, err := keyservice.NormalizeLabel(l)
		if keyservice.CodeOf(err) != keyservice.CodeInvalidLabel || strings.Contains(err.Error(), key[4:12]) {
			t.Errorf("label with a key: %v", err)
		}
	}
	for _, l := range []string{"kst_ migration", "Rotate kst_ keys", "kst_" + key[4:20] + " partial"} {
		if _, err := keyservice.NormalizeLabel(l); err != nil {
			t.Errorf("NormalizeLabel(%q): %v", l, err)
		}
	}
}
