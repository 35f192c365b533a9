package localserver_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/lifecycle"
	"github.com/kudurrustone/apikeys/functions/internal/localserver"
	"github.com/kudurrustone/apikeys/functions/internal/storetest"
)

// lifecycleLines returns the lifecycle events the server logged, in order.
func lifecycleLines(t *testing.T, logs []byte) []struct {
	DetailType string           `json:"detail-type"`
	Source     string           `json:"source"`
	Detail     lifecycle.Detail `json:"detail"`
} {
	t.Helper()
	type line = struct {
		DetailType string           `json:"detail-type"`
		Source     string           `json:"source"`
		Detail     lifecycle.Detail `json:"detail"`
	}
	var out []line
	sc := bufio.NewScanner(bytes.NewReader(logs))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l struct {
			Msg string `json:"msg"`
			line
		}
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "lifecycle event" {
			out = append(out, l.line)
		}
	}
	return out
}

// TestLifecycleEventsLogged: on the local server every generate and revoke
// is logged as its lifecycle event, a repeated revoke is not, and the
// expiry check (run at start and on its timer) logs "API Key Expiring"
// once for a key expiring within the warning window. No line holds a key.
func TestLifecycleEventsLogged(t *testing.T) {
	srv := startServer(t, localserver.Config{ExpiryCheckInterval: 200 * time.Millisecond})
	tok := token(t, srv.URL, "alice", "acme", "admin", "premier")
	_, plain := generate(t, srv.URL, tok, "Office Sync Tool")
	exp := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Millisecond)
	r := do(t, http.MethodPost, srv.URL+"/v1/api-keys", tok, map[string]string{"label": "Trial", "expiresAt": exp.Format(time.RFC3339Nano)})
	if r.Status != http.StatusCreated {
		t.Fatalf("generate with expiry: %d %s", r.Status, r.Body)
	}
	trial := r.JSON(t)
	trialKey, _ := trial["key"].(string)
	id, _ := trial["id"].(string)
	for range 2 {
		if r := do(t, http.MethodPost, srv.URL+"/v1/api-keys/"+id+"/revoke", tok, nil); r.Status != http.StatusOK {
			t.Fatalf("revoke: %d %s", r.Status, r.Body)
		}
	}
	_, other := generate(t, srv.URL, tok, "Nightly Export")
	r = do(t, http.MethodPost, srv.URL+"/v1/api-keys", tok, map[string]string{"label": "Expiring Soon", "expiresAt": exp.Format(time.RFC3339Nano)})
	if r.Status != http.StatusCreated {
		t.Fatalf("generate with expiry: %d %s", r.Status, r.Body)
	}
	soon := r.JSON(t)
	soonKey, _ := soon["key"].(string)
	deadline := time.Now().Add(10 * time.Second)
	var types []string
	for {
		types = types[:0]
		var warned []string
		for _, l := range lifecycleLines(t, srv.Logs.Bytes()) {
			if l.Source != lifecycle.Source || l.Detail.FirmID != "acme" {
				t.Errorf("line %+v", l)
			}
			types = append(types, l.DetailType)
			if l.DetailType == lifecycle.DetailExpiring {
				warned = append(warned, l.Detail.KeyID)
			}
		}
		if slices.Contains(warned, soon["id"].(string)) || time.Now().After(deadline) {
			// The revoked trial key may have been warned before its revoke.
			want := []string{soon["id"].(string)}
			if len(warned) == 2 {
				want = []string{id, soon["id"].(string)}
			}
			if !slices.Equal(warned, want) {
				t.Errorf("expiry warnings for %v, want %v (once each)", warned, want)
			}
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var gen, rev int
	for _, dt := range types {
		switch dt {
		case lifecycle.DetailGenerated:
			gen++
		case lifecycle.DetailRevoked:
			rev++
		}
	}
	if gen != 4 || rev != 1 {
		t.Errorf("logged %d generated and %d revoked events, want 4 and 1: %v", gen, rev, types)
	}
	srv.Stop(t)
	storetest.AssertNoPlaintext(t, srv.Logs.Bytes(), []string{plain, trialKey, other, soonKey})
}

// TestLifecycleUpdateAndRollLogged: an edit and a roll are logged as their
// lifecycle events with SPEC's details; an edit that changes nothing is not.
func TestLifecycleUpdateAndRollLogged(t *testing.T) {
	srv := startServer(t, localserver.Config{})
	tok := token(t, srv.URL, "alice", "acme", "admin", "premier")
	k, plain := generate(t, srv.URL, tok, "Office Sync Tool")
	id := k["id"].(string)
	for range 2 { // the second edit changes nothing
		if r := do(t, http.MethodPatch, srv.URL+"/v1/api-keys/"+id, tok, map[string]any{"label": "Office Sync"}); r.Status != http.StatusOK {
			t.Fatalf("patch: %d %s", r.Status, r.Body)
		}
	}
	r := do(t, http.MethodPost, srv.URL+"/v1/api-keys/"+id+"/roll", tok, map[string]any{"gracePeriodSeconds": 60})
	if r.Status != http.StatusCreated {
		t.Fatalf("roll: %d %s", r.Status, r.Body)
	}
	rolled := r.JSON(t)
	srv.Stop(t)
	var got []string
	for _, l := range lifecycleLines(t, srv.Logs.Bytes()) {
		got = append(got, l.DetailType)
		switch l.DetailType {
		case lifecycle.DetailUpdated:
			if l.Detail.KeyID != id || l.Detail.Label != "Office Sync" || !slices.Equal(toStrings(l.Detail.Details["changed"]), []string{"label"}) {
				t.Errorf("updated event %+v", l.Detail)
			}
		case lifecycle.DetailRolled:
			if l.Detail.KeyID != id || l.Detail.Details["newKeyId"] != rolled["id"] || l.Detail.Details["gracePeriodSeconds"] != float64(60) {
				t.Errorf("rolled event %+v", l.Detail)
			}
		}
	}
	want := []string{lifecycle.DetailGenerated, lifecycle.DetailUpdated, lifecycle.DetailRolled}
	if !slices.Equal(got, want) {
		t.Errorf("logged %v, want %v", got, want)
	}
	storetest.AssertNoPlaintext(t, srv.Logs.Bytes(), []string{plain, rolled["key"].(string)})
}

func toStrings(v any) []string {
	var out []string
	if vs, ok := v.([]any); ok {
		for _, s := range vs {
			str, _ := s.(string)
			out = append(out, str)
		}
	}
	return out
}
