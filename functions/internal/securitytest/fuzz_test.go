package securitytest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
	"github.com/kudurrustone/apikeys/functions/internal/authorizer"
	"github.com/kudurrustone/apikeys/functions/internal/identity"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

// fuzzWorld is a bolt-backed product with one valid, one revoked and one
// expired key of firm "acme", one valid key of firm "globex", and a
// well-formed key that was never issued.
type fuzzWorld struct {
	s                                  *stack
	counter                            *countingStore
	valid, revoked, expired, unknown   keyJSON
	other                              keyJSON
	validPrincipal, otherPrincipalFirm string
}

func newFuzzWorld(t testing.TB) *fuzzWorld {
	t.Helper()
	w := &fuzzWorld{}
	w.s = newStack(t, openBolt(t), withStoreWrapper(func(st keyservice.Store) keyservice.Store {
		w.counter = &countingStore{Store: st}
		return w.counter
	}), withMaxKeys(1000))
	w.valid = w.s.generate("acme", "Valid")
	w.revoked = w.s.generate("acme", "Revoked")
	if r := w.s.revoke(admin("acme"), w.revoked.ID); r.status != http.StatusOK {
		t.Fatalf("revoke: %s", r)
	}
	exp := t0.Add(time.Hour).Format(time.RFC3339)
	r := w.s.do(request{method: "POST", target: "/v1/api-keys", body: `{"label":"Expired","expiresAt":"` + exp + `"}`, claims: admin("acme")})
	if r.status != http.StatusCreated {
		t.Fatalf("generate expiring: %s", r)
	}
	_ = json.Unmarshal(r.body, &w.expired)
	w.other = w.s.generate("globex", "Other firm")
	w.s.clock.Advance(2 * time.Hour) // the expiring key has expired
	k, err := apikey.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	w.unknown = keyJSON{Key: k}
	return w
}

// expand replaces the placeholders {valid}, {revoked}, {expired},
// {unknown} and {other} by the keys.
func (w *fuzzWorld) expand(s string) string {
	if !strings.Contains(s, "{") {
		return s
	}
	return strings.NewReplacer("{valid}", w.valid.Key, "{revoked}", w.revoked.Key, "{expired}", w.expired.Key,
		"{unknown}", w.unknown.Key, "{other}", w.other.Key).Replace(s)
}

// rawJSONString writes s as a JSON string literal, escaping only what JSON
// requires, so invalid UTF-8 reaches the decoder byte for byte.
func rawJSONString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20:
			fmt.Fprintf(b, `\u%04x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}

// authValues is the reference reading of an event's Authorization values:
// every header whose name is "authorization" in any case.
func authValues(single map[string]string, multi map[string][]string) []string {
	var out []string
	for k, vs := range multi {
		if strings.EqualFold(k, "authorization") {
			out = append(out, vs...)
		}
	}
	if len(out) > 0 {
		return out
	}
	for k, v := range single {
		if strings.EqualFold(k, "authorization") {
			out = append(out, v)
		}
	}
	return out
}

// mayAllow is the safety oracle: an allow is only acceptable for exactly
// one value that is a Bearer scheme (any case) and a valid key, nothing
// else. It returns that key's firm and id.
func (w *fuzzWorld) mayAllow(values []string) (firm, keyID string, ok bool) {
	if len(values) != 1 {
		return "", "", false
	}
	f := strings.Fields(values[0])
	if len(f) != 2 || !strings.EqualFold(f[0], "bearer") {
		return "", "", false
	}
	switch f[1] {
	case w.valid.Key:
		return "acme", w.valid.ID, true
	case w.other.Key:
		return "globex", w.other.ID, true
	}
	return "", "", false
}

// FuzzAuthorizerEvents builds HTTP API 2.0, HTTP API 1.0, REST TOKEN and
// REST REQUEST events around real keys — odd header-name casing, spaces,
// "Bearer" alone, several keys or headers, 1 MiB values, invalid UTF-8 —
// and sends each as raw JSON through Invoke.
// Outcomes: a deny, or an allow of exactly the valid key for its firm;
// never a panic, an error (except REST's "Unauthorized"), a non-JSON answer
// or an allow of a revoked, expired, unknown or mangled key.
func FuzzAuthorizerEvents(f *testing.F) {
	big := strings.Repeat("A", 1<<20)
	seeds := []struct {
		kind          uint8
		name, value   string
		name2, value2 string
	}{
		{0, "authorization", "Bearer {valid}", "", ""},
		{1, "", "Bearer {valid}", "", ""},
		{2, "Authorization", "Bearer {valid}", "", ""},
		{3, "Authorization", "Bearer {valid}", "", ""},
		{0, "AUTHORIZATION", "bearer {valid}", "", ""},
		{0, "aUtHoRiZaTiOn", "BEARER   {valid}  ", "", ""},
		{0, "authorization", "Bearer", "", ""},
		{1, "", "Bearer ", "", ""},
		{0, "authorization", "Bearer {valid} {valid}", "", ""},
		{0, "authorization", "Bearer {valid},Bearer {unknown}", "", ""},
		{0, "authorization", "Bearer {revoked}", "Authorization", "Bearer {valid}"},
		{2, "Authorization", "Bearer {valid}", "authorization", "Bearer {valid}"},
		{2, "Authorization", "Bearer {revoked}", "Authorization", "Bearer {valid}"},
		{0, "authorization", "Bearer {revoked}", "", ""},
		{1, "", "Bearer {expired}", "", ""},
		{2, "authorization", "Bearer {unknown}", "", ""},
		{0, "authorization", "Bearer {other}", "", ""},
		{0, "authorization", "Bearer " + big, "", ""},
		{0, "authorization", "Bearer {valid}" + big, "", ""},
		{1, "", big, "", ""},
		{2, big, "Bearer {valid}", "", ""},
		{0, "authorization", "Bearer \xff{valid}", "", ""},
		{0, "authorization", "Bearer {valid}\xff", "", ""},
		{0, "\xffauthorization", "Bearer {valid}", "", ""},
		{0, "authorization", "Bearer\t{valid}", "", ""},
		{0, "authorization", "Bearer\u00a0{valid}", "", ""},
		{0, "authorization", "Bearer {valid}\x00", "", ""},
		{0, "authorization", "Basic {valid}", "", ""},
		{0, "authorization", "{valid}", "", ""},
		{0, "authorization", "Bearer KST_" + "{valid}"[4:], "", ""},
		{0, "x-api-key", "{valid}", "", ""},
		{0, "authorization ", "Bearer {valid}", "", ""},
		{0, "authorization", "Bearer \"{valid}\"", "", ""},
		{0, "authorization", "Bearer %6Bst_", "", ""},
	}
	for _, s := range seeds {
		f.Add(s.kind, s.name, s.value, s.name2, s.value2)
	}
	w := newFuzzWorld(f)
	h := w.s.auth
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, kind uint8, name, value, name2, value2 string) {
		value, value2 = w.expand(value), w.expand(value2)
		single := map[string]string{name: value}
		var multi map[string][]string
		if name2 != "" || value2 != "" {
			if name2 == name {
				multi = map[string][]string{name: {value, value2}}
			} else {
				single[name2] = value2
			}
		}
		var values []string
		var raw bytes.Buffer
		switch kind % 4 {
		case 0: // HTTP API payload 2.0
			values = authValues(single, nil)
			if multi != nil {
				// HTTP API joins repeated headers with commas.
				single[name] = value + "," + value2
				values = authValues(single, nil)
			}
			raw.WriteString(`{"version":"2.0","type":"REQUEST","routeArn":"arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/$default/GET/v1/whoami","routeKey":"GET /v1/whoami","rawPath":"/v1/whoami","headers":{`)
			writeHeaders(&raw, single)
			raw.WriteString(`},"requestContext":{"requestId":"fuzz","http":{"method":"GET","path":"/v1/whoami"}}}`)
		case 1: // REST TOKEN
			v := value
			if v == "" {
				values = nil
			} else {
				values = []string{v}
			}
			raw.WriteString(`{"type":"TOKEN","methodArn":"` + methodArn + `","authorizationToken":`)
			rawJSONString(&raw, v)
			raw.WriteString(`}`)
		default: // REST REQUEST, and HTTP API payload 1.0 (same shape)
			values = authValues(single, multi)
			raw.WriteString(`{"type":"REQUEST","methodArn":"` + methodArn + `",`)
			if kind%4 == 3 {
				raw.WriteString(`"version":"1.0",`)
			}
			raw.WriteString(`"headers":{`)
			writeHeaders(&raw, single)
			raw.WriteString(`},"multiValueHeaders":{`)
			first := true
			for k, vs := range multi {
				if !first {
					raw.WriteByte(',')
				}
				first = false
				rawJSONString(&raw, k)
				raw.WriteString(":[")
				for i, v := range vs {
					if i > 0 {
						raw.WriteByte(',')
					}
					rawJSONString(&raw, v)
				}
				raw.WriteString("]")
			}
			raw.WriteString(`},"requestContext":{"requestId":"fuzz"}}`)
		}
		check := func(how string, out []byte, err error) {
			if err != nil {
				if kind%4 == 0 || !errors.Is(err, authorizer.ErrUnauthorized) {
					t.Fatalf("%s: error %v", how, err)
				}
				return
			}
			if !json.Valid(out) {
				t.Fatalf("%s: answer is not JSON: %q", how, out)
			}
			ok, firm, keyID := verdict(t, out, nil)
			if !ok {
				return
			}
			wantFirm, wantKey, may := w.mayAllow(values)
			if !may {
				t.Fatalf("%s: allowed values %q", how, trunc(values))
			}
			if firm != wantFirm || keyID != wantKey {
				t.Fatalf("%s: allowed as %s/%s, want %s/%s", how, firm, keyID, wantFirm, wantKey)
			}
		}
		out, err := h.Invoke(ctx, raw.Bytes())
		check("Invoke", out, err)
		// Liveness: the canonical header must still let the valid key in.
		if len(values) == 1 && values[0] == "Bearer "+w.valid.Key {
			if ok, _, _ := verdict(t, out, err); !ok {
				t.Fatalf("the valid key in a canonical header was denied")
			}
		}
	})
}

func writeHeaders(b *bytes.Buffer, h map[string]string) {
	first := true
	for k, v := range h {
		if !first {
			b.WriteByte(',')
		}
		first = false
		rawJSONString(b, k)
		b.WriteByte(':')
		rawJSONString(b, v)
	}
}

func trunc(vs []string) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		if len(v) > 80 {
			v = v[:80] + "…"
		}
		out[i] = v
	}
	return out
}

// FuzzAuthorizeKey is key parsing at the service: whatever string is
// presented, a malformed one is denied before any store read, and only the
// exact valid key is let in. It also changes one byte of the valid key
// (position and value from the fuzzer): the checksum must catch it without
// a store read.
func FuzzAuthorizeKey(f *testing.F) {
	for _, s := range []string{"{valid}", "{revoked}", "{expired}", "{unknown}", "{other}", "", "kst_", "{valid}x",
		"x{valid}", " {valid}", "{valid}\n", "KST_", strings.Repeat("k", 1<<20), "kst_\xff", "{valid}{valid}"} {
		f.Add(s, uint8(10), byte('a'))
	}
	w := newFuzzWorld(f)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, presented string, pos uint8, b byte) {
		presented = w.expand(presented)
		before := w.counter.calls.Load()
		p, err := w.s.svc.Authorize(ctx, presented)
		reads := w.counter.calls.Load() - before
		if apikey.Validate(presented) != nil {
			if !errors.Is(err, keyservice.ErrDenied) || reads != 0 {
				t.Fatalf("malformed key: err %v, %d store calls; want ErrDenied and none", err, reads)
			}
		}
		validAcme := presented == w.valid.Key && p.FirmID == "acme" && p.KeyID == w.valid.ID
		validGlobex := presented == w.other.Key && p.FirmID == "globex" && p.KeyID == w.other.ID
		if err == nil && !validAcme && !validGlobex {
			t.Fatalf("allowed %q as %+v", trunc([]string{presented}), p)
		}
		if (presented == w.valid.Key || presented == w.other.Key) && err != nil {
			t.Fatalf("valid key denied: %v", err)
		}
		// One substituted byte of the valid key.
		i := int(pos) % apikey.Len
		if w.valid.Key[i] == b {
			return
		}
		m := []byte(w.valid.Key)
		m[i] = b
		before = w.counter.calls.Load()
		if _, err := w.s.svc.Authorize(ctx, string(m)); !errors.Is(err, keyservice.ErrDenied) {
			t.Fatalf("key with byte %d changed: err %v, want ErrDenied", i, err)
		}
		if n := w.counter.calls.Load() - before; n != 0 {
			t.Fatalf("key with byte %d changed reached the store (%d calls)", i, n)
		}
	})
}

// FuzzAdminClaims sends random claims (values and an extra claim that may
// shadow a standard one), bodies and ids to the management routes over a
// real store. The oracle is the spec's privilege table: 401 without a
// subject and firm, 403 not_firm_admin unless role is exactly "admin", 403
// premier_required on generate unless tier is exactly "premier"; nothing of
// another firm ever shows; never a 5xx.
func FuzzAdminClaims(f *testing.F) {
	big := strings.Repeat("x", 1<<20)
	for _, s := range []struct {
		route                                  uint8
		sub, firm, role, tier, extra, extraVal string
		body, id                               string
	}{
		{0, "alice", "acme", "admin", "premier", "", "", "", ""},
		{1, "alice", "acme", "admin", "premier", "", "", `{"label":"Fuzz"}`, ""},
		{2, "alice", "acme", "admin", "premier", "", "", "", "{other}"},
		{2, "alice", "acme", "admin", "basic", "", "", "", "{valid}"},
		{1, "alice", "acme", "admin", "Premier", "", "", `{"label":"x"}`, ""},
		{0, "alice", "acme", "Admin", "premier", "", "", "", ""},
		{0, "alice", "acme", "member", "premier", "role", "admin", "", ""},
		{0, "alice", "", "admin", "premier", "firmid", "acme", "", ""},
		{0, "", "acme", "admin", "premier", "", "", "", ""},
		{0, "alice", "globex", "admin", "premier", "", "", "", ""},
		{0, "alice", "[acme]", "[admin]", "[premier]", "", "", "", ""},
		{1, "alice", "acme", "admin", "premier", "tier", "basic", `{"label":"x"}`, ""},
		{1, big, "acme", "admin", "premier", "", "", `{"label":"big sub"}`, ""},
		{1, "alice", big[:40000], "admin", "premier", "", "", `{"label":"big firm"}`, ""},
		{0, "alice", big, "admin", "premier", "", "", "", ""},
		{1, "alice", "acme\xff", "admin", "premier", "", "", `{"label":"x"}`, ""},
		{1, "alice\x00", "acme\n", "admin", "premier", "", "", `{"label":"x"}`, ""},
		{2, "alice", "acme", "admin", "premier", "", "", "", "../{other}"},
	} {
		f.Add(s.route, s.sub, s.firm, s.role, s.tier, s.extra, s.extraVal, s.body, s.id)
	}
	w := newFuzzWorld(f)
	var generated atomic.Int64
	f.Fuzz(func(t *testing.T, route uint8, sub, firm, role, tier, extra, extraVal, body, id string) {
		claims := map[string]string{"sub": sub, "firmId": firm, "role": role, "tier": tier}
		if extra != "" {
			claims[extra] = extraVal
		}
		id = strings.NewReplacer("{valid}", w.valid.ID, "{other}", w.other.ID).Replace(id)
		var r request
		switch route % 3 {
		case 0:
			r = request{method: "GET", target: "/v1/api-keys"}
		case 1:
			r = request{method: "POST", target: "/v1/api-keys", body: body}
		case 2:
			r = request{method: "POST", target: "/v1/api-keys/" + id + "/revoke"}
		}
		r.claims = claims
		hr, err := newHTTPRequest(r)
		if err != nil {
			return // the proxy library refuses the event before any handler
		}
		got := serveRequest(w.s.api, hr)
		if got.status >= 500 || got.status < 200 {
			t.Fatalf("claims %q: %s", truncMap(claims), got)
		}
		if route%3 == 2 && !simpleSegment(id) && got.status == http.StatusNotFound && bytes.Contains(got.body, []byte("No such route.")) {
			return // the path does not name the revoke route at all; no handler ran
		}
		var want keyservice.Code
		switch {
		case !plausibleIdentity(claims["sub"]) || !plausibleIdentity(claims["firmId"]):
			want = keyservice.CodeUnauthorized
		case claims["role"] != "admin":
			want = keyservice.CodeNotFirmAdmin
		case route%3 == 1 && claims["tier"] != "premier":
			want = keyservice.CodePremierRequired
		}
		if want != "" {
			if got.status < 400 || got.code(t) != want {
				t.Fatalf("claims %q on %s: %s, want %s", truncMap(claims), r.method, got, want)
			}
			return
		}
		if got.status >= 400 {
			_ = got.code(t) // the envelope
		}
		if claims["firmId"] != "globex" {
			for _, sec := range []string{w.other.ID, w.other.Hint, "Other firm"} {
				if bytes.Contains(got.body, []byte(sec)) {
					t.Fatalf("firm %q sees globex's %q: %s", truncMap(claims)["firmId"], sec, got)
				}
			}
			// Nor can it change globex's key.
			if _, err := w.s.svc.Authorize(context.Background(), w.other.Key); err != nil {
				t.Fatalf("globex's key no longer works after firm %q's request: %v", truncMap(claims)["firmId"], err)
			}
		}
		if got.status == http.StatusCreated {
			// Keep under the limit: revoke what was made.
			var k keyJSON
			_ = json.Unmarshal(got.body, &k)
			generated.Add(1)
			if hr, err := newHTTPRequest(request{method: "POST", target: "/v1/api-keys/" + k.ID + "/revoke", claims: claims}); err == nil {
				_ = serveRequest(w.s.api, hr)
			}
		}
	})
}

// simpleSegment reports whether id stays one clean path segment.
func simpleSegment(id string) bool {
	if id == "" || id == "." || id == ".." {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// plausibleIdentity is the spec of an acceptable subject or firm id: not
// empty, at most identity.MaxIdentityLen bytes of valid UTF-8 without
// control characters.
func plausibleIdentity(s string) bool {
	if s == "" || len(s) > identity.MaxIdentityLen || !utf8.ValidString(s) {
		return false
	}
	return !strings.ContainsFunc(s, unicode.IsControl)
}

func truncMap(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[trunc([]string{k})[0]] = trunc([]string{v})[0]
	}
	return out
}
