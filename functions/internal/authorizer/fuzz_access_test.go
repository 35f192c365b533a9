package authorizer_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"slices"
	"testing"

	"github.com/kudurrustone/apikeys/functions/internal/authorizer"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

// FuzzAccess drives the policy and the address check: a key of each scope
// set, pinned or not, in each event kind, from any source address string,
// on any route method. Whatever the input, an allow names exactly the
// methods of the key's scopes on the event's stage and nothing wider, a
// pinned key is let in only from an address inside its prefixes (IPv4-
// mapped IPv6 included), and never from a TOKEN event, which carries none.
func FuzzAccess(f *testing.F) {
	for _, s := range []struct {
		key, kind  uint8
		ip, method string
	}{
		{0, 0, "203.0.113.7", "GET"}, {1, 0, "203.0.113.7", "POST"}, {2, 1, "198.51.100.1", "DELETE"},
		{3, 0, "203.0.113.250", "GET"}, {3, 0, "::ffff:203.0.113.7", "GET"}, {3, 0, "::ffff:cb00:7107", "PUT"},
		{3, 0, "2001:db8::1", "GET"}, {3, 0, "2001:db8::1%eth0", "GET"}, {3, 0, "203.0.114.1", "GET"},
		{3, 1, "203.0.113.7", "GET"}, {3, 2, "203.0.113.7", "GET"}, {3, 3, "203.0.113.7", "GET"},
		{3, 0, "", "GET"}, {3, 0, "203.0.113.7/24", "GET"}, {3, 0, " 203.0.113.7", "GET"}, {3, 0, "0203.0.113.7", "GET"},
		{0, 0, "::", "*"}, {1, 2, "203.0.113.7", "get"},
	} {
		f.Add(s.key, s.kind, s.ip, s.method)
	}
	w := newWorld(f)
	h := w.handler()
	pinnedPrefixes := []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8::/32")}
	f.Fuzz(func(t *testing.T, keyKind, eventKind uint8, sourceIP, method string) {
		keys := []struct {
			key    string
			scopes keyservice.Scopes
			pinned bool
		}{{w.active, keyservice.AllScopes, false}, {w.readOnly, keyservice.ScopeRead, false},
			{w.writeOnly, keyservice.ScopeWrite, false}, {w.pinned, keyservice.AllScopes, true}}
		k := keys[int(keyKind)%len(keys)]
		header := "Bearer " + k.key
		route := method + "/v1/whoami"
		var payload []byte
		stage := restStage
		hasAddress := true
		switch eventKind % 4 {
		case 0:
			ev := map[string]any{}
			_ = json.Unmarshal(httpEventFrom(map[string]string{"authorization": header}, sourceIP), &ev)
			ev["routeArn"] = httpStage + "/" + route
			payload = mustJSON(ev)
			stage = httpStage
		case 1:
			payload = mustJSON(map[string]any{"type": "TOKEN", "authorizationToken": header, "methodArn": restStage + "/" + route})
			hasAddress = false
		case 2:
			ev := map[string]any{}
			_ = json.Unmarshal(requestEventFrom(map[string]string{"Authorization": header}, nil, sourceIP), &ev)
			ev["methodArn"] = restStage + "/" + route
			payload = mustJSON(ev)
		case 3:
			ev := map[string]any{}
			_ = json.Unmarshal(httpV1Event(map[string]string{"authorization": header}), &ev)
			ev["methodArn"] = httpStage + "/" + route
			ev["requestContext"].(map[string]any)["identity"] = map[string]any{"sourceIp": sourceIP}
			payload = mustJSON(ev)
			stage = httpStage
		}
		out, err := h.Invoke(context.Background(), payload)
		if err != nil {
			if errors.Is(err, authorizer.ErrUnauthorized) {
				return
			}
			t.Fatalf("error %v", err)
		}
		var a answer
		if err := json.Unmarshal(out, &a); err != nil {
			t.Fatal(err)
		}
		if !a.allows() {
			if k.pinned && hasAddress && inside(pinnedPrefixes, sourceIP) {
				t.Fatalf("pinned key denied from %q", sourceIP)
			}
			if !k.pinned {
				t.Fatalf("unpinned key denied: %s", out)
			}
			return
		}
		if k.pinned && (!hasAddress || !inside(pinnedPrefixes, sourceIP)) {
			t.Fatalf("pinned key allowed from %q (event kind %d)", sourceIP, eventKind%4)
		}
		if want := allowed(stage, k.scopes); !slices.Equal(a.PolicyDocument.Statement[0].Resource, want) || len(a.PolicyDocument.Statement) != 1 {
			t.Fatalf("allow %+v, want exactly %v", a.PolicyDocument, want)
		}
	})
}

// inside is the reference address check: the address as text, with an
// IPv4-mapped IPv6 address taken as its IPv4 address.
func inside(prefixes []netip.Prefix, s string) bool {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return false
	}
	a = a.WithZone("").Unmap()
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
