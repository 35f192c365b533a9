package authorizer_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
	"github.com/kudurrustone/apikeys/functions/internal/authorizer"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

// stubStore knows one credential by digest. Every Store method it does not
// override panics (nil embedded interface), which the authorizer must turn
// into a deny.
type stubStore struct {
	keyservice.Store
	mu      sync.Mutex
	creds   map[apikey.Digest]keyservice.Credential
	findErr error
	touched int
}

func (s *stubStore) FindCredential(_ context.Context, d apikey.Digest) (keyservice.Credential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.findErr != nil {
		return keyservice.Credential{}, s.findErr
	}
	c, ok := s.creds[d]
	if !ok {
		return keyservice.Credential{}, keyservice.ErrNotFound
	}
	return c, nil
}

func (s *stubStore) TouchLastUsed(context.Context, apikey.Digest, string, string, time.Time, netip.Addr, time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.touched++
	return true, nil
}

const (
	firmID      = "acme"
	keyID       = "01KQ0000000000000000000000"
	readOnlyID  = "01KQ0000000000000000000003"
	writeOnlyID = "01KQ0000000000000000000004"
	pinnedID    = "01KQ0000000000000000000005"
	label       = "Production Integration"
	region      = "eu-west-1"
	account     = "123456789012"
	apiID       = "abcdef1234"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// world is a real keyservice over a stub store that knows the keys active,
// revoked and expired.
type world struct {
	store                    *stubStore
	svc                      *keyservice.Service
	active, revoked, expired string
	unknown                  string
	// readOnly and writeOnly have one scope; pinned may be used only from
	// 203.0.113.0/24 and 2001:db8::/32.
	readOnly, writeOnly, pinned string
	logs                        *testkit.SyncBuffer
	log                         *slog.Logger
}

func newWorld(t testing.TB) *world {
	t.Helper()
	set, err := apikey.NewPepperSet("1", map[string][]byte{"1": []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{store: &stubStore{creds: map[apikey.Digest]keyservice.Credential{}}, logs: &testkit.SyncBuffer{}}
	w.log = slog.New(slog.NewJSONHandler(w.logs, nil))
	gen := func() string {
		k, err := apikey.Generate(nil)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	w.active, w.revoked, w.expired, w.unknown = gen(), gen(), gen(), gen()
	w.readOnly, w.writeOnly, w.pinned = gen(), gen(), gen()
	p := set.Current()
	w.store.creds[p.Hash(w.readOnly)] = keyservice.Credential{FirmID: firmID, KeyID: readOnlyID, Label: label, Scopes: keyservice.ScopeRead}
	w.store.creds[p.Hash(w.writeOnly)] = keyservice.Credential{FirmID: firmID, KeyID: writeOnlyID, Label: label, Scopes: keyservice.ScopeWrite}
	w.store.creds[p.Hash(w.pinned)] = keyservice.Credential{FirmID: firmID, KeyID: pinnedID, Label: label, Scopes: keyservice.AllScopes,
		AllowedIPs: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8::/32")}}
	w.store.creds[p.Hash(w.active)] = keyservice.Credential{FirmID: firmID, KeyID: keyID, Label: label, Scopes: keyservice.AllScopes}
	w.store.creds[p.Hash(w.revoked)] = keyservice.Credential{FirmID: firmID, KeyID: "01KQ0000000000000000000001", RevokedAt: now.Add(-time.Hour)}
	w.store.creds[p.Hash(w.expired)] = keyservice.Credential{FirmID: firmID, KeyID: "01KQ0000000000000000000002", ExpiresAt: now.Add(-time.Second)}
	w.svc = keyservice.New(w.store, testkit.Peppers{Set: set}, keyservice.Config{Now: func() time.Time { return now }, Logger: w.log})
	return w
}

func (w *world) handler(opts ...authorizer.Option) *authorizer.Handler {
	return authorizer.New(w.svc, w.log, opts...)
}

// authFunc is an Authorizer fake.
type authFunc func(ctx context.Context, key string) (keyservice.Principal, error)

func (f authFunc) AuthorizeFrom(ctx context.Context, key string, _ netip.Addr) (keyservice.Principal, error) {
	return f(ctx, key)
}

// Event builders, shaped like the samples in the API Gateway documentation.

func httpEvent(headers map[string]string) []byte { return httpEventFrom(headers, "203.0.113.7") }

const httpStage = "arn:aws:execute-api:" + region + ":" + account + ":" + apiID + "/$default"

func httpEventFrom(headers map[string]string, sourceIP string) []byte {
	return mustJSON(map[string]any{
		"version":        "2.0",
		"type":           "REQUEST",
		"routeArn":       "arn:aws:execute-api:" + region + ":" + account + ":" + apiID + "/$default/GET/v1/whoami",
		"identitySource": []string{headers["authorization"]},
		"routeKey":       "GET /v1/whoami",
		"rawPath":        "/v1/whoami",
		"rawQueryString": "",
		"headers":        headers,
		"requestContext": map[string]any{
			"accountId": account, "apiId": apiID, "domainName": apiID + ".execute-api." + region + ".amazonaws.com",
			"http":      map[string]any{"method": "GET", "path": "/v1/whoami", "protocol": "HTTP/1.1", "sourceIp": sourceIP, "userAgent": "curl"},
			"requestId": "abc", "routeKey": "GET /v1/whoami", "stage": "$default", "time": "25/Nov/2026:12:00:00 +0000", "timeEpoch": 1795608000000,
		},
	})
}

const restStage = "arn:aws:execute-api:" + region + ":" + account + ":" + apiID + "/prod"
const methodArn = restStage + "/GET/v1/whoami"
const stageWildcard = restStage + "/*/*"

// allowed is the Resource list of an Allow of scopes on the stage.
func allowed(stage string, scopes keyservice.Scopes) []string {
	var out []string
	for _, m := range scopes.Methods() {
		out = append(out, stage+"/"+m+"/*")
	}
	return out
}

func tokenEvent(token string) []byte {
	return mustJSON(map[string]any{"type": "TOKEN", "authorizationToken": token, "methodArn": methodArn})
}

func requestEvent(headers map[string]string, multi map[string][]string) []byte {
	return requestEventFrom(headers, multi, "203.0.113.7")
}

func requestEventFrom(headers map[string]string, multi map[string][]string, sourceIP string) []byte {
	ev := map[string]any{
		"type": "REQUEST", "methodArn": methodArn, "resource": "/v1/whoami", "path": "/v1/whoami", "httpMethod": "GET",
		"headers": headers, "queryStringParameters": map[string]string{}, "pathParameters": map[string]string{},
		"stageVariables": map[string]string{},
		"requestContext": map[string]any{"path": "/prod/v1/whoami", "accountId": account, "resourceId": "r1", "stage": "prod",
			"requestId": "req", "resourcePath": "/v1/whoami", "httpMethod": "GET", "apiId": apiID,
			"identity": map[string]any{"sourceIp": sourceIP}},
	}
	if multi != nil {
		ev["multiValueHeaders"] = multi
	}
	return mustJSON(ev)
}

// httpV1Event is an HTTP API payload format 1.0 authorizer event: the REST
// REQUEST shape with a version.
func httpV1Event(headers map[string]string) []byte {
	var m map[string]any
	_ = json.Unmarshal(requestEvent(headers, nil), &m)
	m["version"] = "1.0"
	m["methodArn"] = "arn:aws:execute-api:" + region + ":" + account + ":" + apiID + "/$default/GET/v1/whoami"
	return mustJSON(m)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// answer is the union of the simple and the IAM policy response.
type answer struct {
	IsAuthorized   *bool          `json:"isAuthorized"`
	PrincipalID    string         `json:"principalId"`
	Context        map[string]any `json:"context"`
	PolicyDocument *struct {
		Version   string
		Statement []struct {
			Action   []string
			Effect   string
			Resource []string
		}
	} `json:"policyDocument"`
}

func invoke(t testing.TB, h *authorizer.Handler, payload []byte) (answer, error) {
	t.Helper()
	out, err := h.Invoke(context.Background(), payload)
	if err != nil {
		if out != nil {
			t.Errorf("output %s beside error %v", out, err)
		}
		return answer{}, err
	}
	var a answer
	if jerr := json.Unmarshal(out, &a); jerr != nil {
		t.Fatalf("output is not JSON: %v: %q", jerr, out)
	}
	return a, nil
}

// allows reports whether any API Gateway would let the request in.
func (a answer) allows() bool {
	if a.IsAuthorized != nil && *a.IsAuthorized {
		return true
	}
	if a.PolicyDocument != nil {
		for _, s := range a.PolicyDocument.Statement {
			if s.Effect != "Deny" {
				return true
			}
		}
	}
	return false
}

var errBoom = errors.New("boom")

func noKeyInLogs(t testing.TB, logs string, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if k != "" && strings.Contains(logs, k) {
			t.Errorf("a presented key appears in the logs")
		}
	}
}
