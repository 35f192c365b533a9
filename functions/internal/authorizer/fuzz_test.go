package authorizer_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/kudurrustone/apikeys/functions/internal/authorizer"
)

// FuzzAuthorizer feeds random event bytes to Invoke over a service that
// knows no valid key (only a revoked and an expired one). Whatever the
// bytes, the answer is never an allow, never a panic, and is either valid
// JSON or the REST "Unauthorized" error.
func FuzzAuthorizer(f *testing.F) {
	w := newWorld(f)
	for _, seed := range [][]byte{
		httpEvent(map[string]string{"authorization": "Bearer " + w.unknown}),
		httpEvent(map[string]string{"Authorization": "bearer " + w.revoked}),
		httpEvent(map[string]string{"authorization": "Bearer " + w.expired + ",Bearer " + w.unknown}),
		httpV1Event(map[string]string{"authorization": "Bearer " + w.unknown}),
		tokenEvent("Bearer " + w.unknown),
		tokenEvent("Bearer"),
		tokenEvent("BEARER " + w.revoked),
		requestEvent(map[string]string{"Authorization": "Bearer " + w.expired}, nil),
		requestEvent(map[string]string{"authorization": "x"}, map[string][]string{"Authorization": {"Bearer a", "Bearer b"}}),
		[]byte(`{}`),
		[]byte(`null`),
		[]byte(`{"version":"2.0","type":"REQUEST","headers":{"authorization":"Bearer kst_\u0000"}}`),
		[]byte(`{"type":"TOKEN","authorizationToken":"Bearer kst_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","methodArn":"arn:aws:execute-api:a:b:c/d/*"}`),
		[]byte("\xff"),
	} {
		f.Add(seed)
	}
	h := authorizer.New(w.svc, w.log)
	f.Fuzz(func(t *testing.T, payload []byte) {
		defer w.logs.Reset()
		out, err := h.Invoke(context.Background(), payload)
		if err != nil {
			if !errors.Is(err, authorizer.ErrUnauthorized) || out != nil {
				t.Fatalf("unexpected error %v (output %q)", err, out)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("output is not JSON: %q", out)
		}
		var a answer
		if err := json.Unmarshal(out, &a); err != nil {
			t.Fatalf("output: %v", err)
		}
		if a.allows() {
			t.Fatalf("allowed %q -> %s", payload, out)
		}
		noKeyInLogs(t, w.logs.String(), w.revoked, w.expired, w.unknown)
	})
}
