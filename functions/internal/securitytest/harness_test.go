package securitytest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	bolt "go.etcd.io/bbolt"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
	"github.com/kudurrustone/apikeys/functions/internal/authorizer"
	"github.com/kudurrustone/apikeys/functions/internal/boltstore"
	"github.com/kudurrustone/apikeys/functions/internal/ddblocal"
	"github.com/kudurrustone/apikeys/functions/internal/ddbstore"
	"github.com/kudurrustone/apikeys/functions/internal/httpapi"
	"github.com/kudurrustone/apikeys/functions/internal/identity"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
	"github.com/kudurrustone/apikeys/functions/internal/storetest"
	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(ddblocal.Main(m)) }

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// ---- stores ----------------------------------------------------------------

// storeEnv is one store under test with raw access to what it persisted.
type storeEnv struct {
	name  string
	store keyservice.Store
	// snapshot reads everything the store persisted, bypassing the store.
	snapshot func(t testing.TB) snapshot
	// ddb only: the table, for direct reads.
	client *dynamodb.Client
	table  string
}

// backend opens a fresh store.
type backend struct {
	name string
	open func(t testing.TB) *storeEnv
}

var backends = []backend{
	{"bolt", openBolt},
	{"dynamodb", func(t testing.TB) *storeEnv { return openDDB(t, nil) }},
}

// forEachStore runs fn as a sub-test per store implementation.
func forEachStore(t *testing.T, fn func(t *testing.T, open func(t testing.TB) *storeEnv)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b.open) })
	}
}

func openBolt(t testing.TB) *storeEnv {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keys.db")
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatalf("boltstore.Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return &storeEnv{name: "bolt", store: s, snapshot: func(t testing.TB) snapshot { return boltSnapshot(t, path) }}
}

// openDDB opens a ddbstore on a fresh DynamoDB Local table. db is the client
// the store uses (nil: a direct one); snapshots always read directly.
func openDDB(t testing.TB, db ddbstore.API) *storeEnv {
	t.Helper()
	client, table := ddblocal.NewTable(t)
	if db == nil {
		db = client
	}
	return &storeEnv{
		name: "dynamodb", store: ddbstore.New(db, table), client: client, table: table,
		snapshot: func(t testing.TB) snapshot { return ddbSnapshot(t, client, table) },
	}
}

// fastClient is a DynamoDB client for endpoint that does not retry, so an
// injected fault surfaces at once.
func fastClient(endpoint string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:           ddblocal.Region,
		Credentials:      credentials.NewStaticCredentialsProvider(ddblocal.AccessKeyID, ddblocal.SecretAccessKey, ""),
		BaseEndpoint:     aws.String(endpoint),
		RetryMaxAttempts: 1,
		HTTPClient: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			MaxConnsPerHost: 64, MaxIdleConnsPerHost: 64, IdleConnTimeout: 10 * time.Second,
		}},
	})
}

// ---- snapshots and invariants ------------------------------------------

type snapKey struct {
	firm, id, digest, revokedAt string
	released                    bool
}

type snapCred struct {
	firm, keyID, revokedAt string
}

type snapAudit struct {
	firm, keyID, action, newKeyID string
}

// snapshot is a store's persisted state in one neutral shape, and its raw
// bytes (for the leak checks).
type snapshot struct {
	keys     []snapKey
	creds    map[string]snapCred // by hex digest
	counters map[string]int      // by firm
	audits   []snapAudit
	byKey    int // copies of audit events under their key (DynamoDB) or index entries (bolt)
	raw      []byte
}

// checkInvariants fails t when anything is half-written: a key without its
// credential or the reverse, revoked flags that disagree, a counter that is
// not the number of counted keys, an audit record without its change.
func checkInvariants(t testing.TB, s snapshot) {
	t.Helper()
	byDigest := map[string]snapKey{}
	counted := map[string]int{}
	keyIDs := map[string]snapKey{}
	for _, k := range s.keys {
		byDigest[k.digest] = k
		keyIDs[k.firm+"/"+k.id] = k
		c, ok := s.creds[k.digest]
		switch {
		case !ok:
			t.Errorf("key %s/%s has no credential", k.firm, k.id)
		case c.firm != k.firm || c.keyID != k.id:
			t.Errorf("credential of key %s/%s names %s/%s", k.firm, k.id, c.firm, c.keyID)
		case c.revokedAt != k.revokedAt:
			t.Errorf("key %s/%s revokedAt %q but its credential %q", k.firm, k.id, k.revokedAt, c.revokedAt)
		}
		if k.revokedAt == "" && !k.released {
			counted[k.firm]++
		}
	}
	for d, c := range s.creds {
		if _, ok := byDigest[d]; !ok {
			t.Errorf("credential of %s/%s has no key", c.firm, c.keyID)
		}
	}
	firms := map[string]bool{}
	for f := range counted {
		firms[f] = true
	}
	for f := range s.counters {
		firms[f] = true
	}
	for f := range firms {
		if s.counters[f] != counted[f] {
			t.Errorf("firm %s: counter %d, but %d counted keys", f, s.counters[f], counted[f])
		}
	}
	if s.byKey != len(s.audits) {
		t.Errorf("%d audit events but %d copies under their keys", len(s.audits), s.byKey)
	}
	gen, rev := map[string]int{}, map[string]int{}
	for _, a := range s.audits {
		id := a.firm + "/" + a.keyID
		k, ok := keyIDs[id]
		switch a.action {
		case keyservice.ActionRoll:
			// A roll creates the successor: it counts as its generate.
			gen[a.firm+"/"+a.newKeyID]++
			if _, ok := keyIDs[a.firm+"/"+a.newKeyID]; !ok || keyIDs[id].id == "" {
				t.Errorf("roll audit record for missing key %s or successor %s", id, a.newKeyID)
			}
		case keyservice.ActionGenerate:
			gen[id]++
			if !ok {
				t.Errorf("generate audit record for missing key %s", id)
			}
		case keyservice.ActionRevoke:
			rev[id]++
			if !ok || k.revokedAt == "" {
				t.Errorf("revoke audit record for key %s that is not revoked", id)
			}
		}
	}
	for id, k := range keyIDs {
		if gen[id] != 1 {
			t.Errorf("key %s has %d generate audit records, want 1", id, gen[id])
		}
		want := 0
		if k.revokedAt != "" {
			want = 1
		}
		if rev[id] != want {
			t.Errorf("key %s has %d revoke audit records, want %d", id, rev[id], want)
		}
	}
}

func (s snapshot) keysOf(firm string) []snapKey {
	var out []snapKey
	for _, k := range s.keys {
		if k.firm == firm {
			out = append(out, k)
		}
	}
	return out
}

func ddbSnapshot(t testing.TB, client *dynamodb.Client, table string) snapshot {
	t.Helper()
	s := snapshot{creds: map[string]snapCred{}, counters: map[string]int{}}
	var raw bytes.Buffer
	p := dynamodb.NewScanPaginator(client, &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("scan %s: %v", table, err)
		}
		for _, it := range out.Items {
			names := make([]string, 0, len(it))
			for n := range it {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				fmt.Fprintf(&raw, "%s=", n)
				raw.WriteString(ddblocal.AttributeText(it[n]))
				raw.WriteByte(' ')
			}
			raw.WriteByte('\n')
			pk, sk := avS(it["PK"]), avS(it["SK"])
			switch {
			case strings.HasPrefix(pk, "CRED#"):
				s.creds[strings.TrimPrefix(pk, "CRED#")] = snapCred{firm: avS(it["firmId"]), keyID: avS(it["keyId"]), revokedAt: avS(it["revokedAt"])}
			case strings.HasPrefix(sk, "KEY#"):
				rel, _ := it["released"].(*types.AttributeValueMemberBOOL)
				s.keys = append(s.keys, snapKey{firm: strings.TrimPrefix(pk, "FIRM#"), id: strings.TrimPrefix(sk, "KEY#"),
					digest: avS(it["digest"]), revokedAt: avS(it["revokedAt"]), released: rel != nil && rel.Value})
			case sk == "COUNTER":
				var n int
				if v, ok := it["activeCount"].(*types.AttributeValueMemberN); ok {
					fmt.Sscan(v.Value, &n)
				}
				s.counters[strings.TrimPrefix(pk, "FIRM#")] = n
			case strings.HasPrefix(sk, "EVENT#"):
				s.audits = append(s.audits, snapAudit{firm: strings.TrimPrefix(pk, "FIRM#"), keyID: avS(it["keyId"]),
					action: avS(it["action"]), newKeyID: avS(it["newKeyId"])})
			case strings.HasPrefix(sk, "KEYEVENT#"):
				s.byKey++
			default:
				t.Errorf("unexpected item PK=%q SK=%q", pk, sk)
			}
		}
	}
	s.raw = raw.Bytes()
	return s
}

func avS(v types.AttributeValue) string {
	if s, ok := v.(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

// boltSnapshot copies the store file (the store holds its lock) and reads
// the copy with bbolt. It follows boltstore's documented layout.
func boltSnapshot(t testing.TB, path string) snapshot {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	cp := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(cp, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(cp, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatalf("open copy of %s: %v", path, err)
	}
	defer db.Close()
	s := snapshot{creds: map[string]snapCred{}, counters: map[string]int{}, raw: raw}
	err = db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte("keys")); b != nil {
			err := b.ForEach(func(firm, _ []byte) error {
				return b.Bucket(firm).ForEach(func(id, v []byte) error {
					var r struct {
						Digest    string `json:"digest"`
						RevokedAt string `json:"revokedAt"`
						Released  bool   `json:"released"`
					}
					if err := json.Unmarshal(v, &r); err != nil {
						return err
					}
					s.keys = append(s.keys, snapKey{firm: string(firm), id: string(id), digest: r.Digest, revokedAt: r.RevokedAt, released: r.Released})
					return nil
				})
			})
			if err != nil {
				return err
			}
		}
		if b := tx.Bucket([]byte("creds")); b != nil {
			err := b.ForEach(func(d, v []byte) error {
				var r struct {
					FirmID    string `json:"firmId"`
					KeyID     string `json:"keyId"`
					RevokedAt string `json:"revokedAt"`
				}
				if err := json.Unmarshal(v, &r); err != nil {
					return err
				}
				s.creds[string(d)] = snapCred{firm: r.FirmID, keyID: r.KeyID, revokedAt: r.RevokedAt}
				return nil
			})
			if err != nil {
				return err
			}
		}
		if b := tx.Bucket([]byte("counters")); b != nil {
			err := b.ForEach(func(f, v []byte) error {
				var n int
				if _, err := fmt.Sscan(string(v), &n); err != nil {
					return err
				}
				s.counters[string(f)] = n
				return nil
			})
			if err != nil {
				return err
			}
		}
		if b := tx.Bucket([]byte("keyevents")); b != nil {
			err := b.ForEach(func(firm, _ []byte) error {
				return b.Bucket(firm).ForEach(func(_, _ []byte) error { s.byKey++; return nil })
			})
			if err != nil {
				return err
			}
		}
		if b := tx.Bucket([]byte("events")); b != nil {
			return b.ForEach(func(firm, _ []byte) error {
				return b.Bucket(firm).ForEach(func(_, v []byte) error {
					var r struct {
						KeyID    string `json:"keyId"`
						Action   string `json:"action"`
						NewKeyID string `json:"newKeyId"`
					}
					if err := json.Unmarshal(v, &r); err != nil {
						return err
					}
					s.audits = append(s.audits, snapAudit{firm: string(firm), keyID: r.KeyID, action: r.Action, newKeyID: r.NewKeyID})
					return nil
				})
			})
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read copy of %s: %v", path, err)
	}
	return s
}

// ---- the product over a store -------------------------------------------

// stack is the service, the HTTP handlers and the authorizer over one
// store, sharing one clock and one captured JSON log.
type stack struct {
	t     testing.TB
	env   *storeEnv
	clock *testkit.Clock
	logs  *testkit.SyncBuffer
	log   *slog.Logger
	svc   *keyservice.Service
	api   http.Handler
	auth  *authorizer.Handler
}

// with returns the stack reporting to t (a sub-test), so a failure inside
// a helper fails the right test.
func (s *stack) with(t testing.TB) *stack {
	c := *s
	c.t = t
	return &c
}

type stackConfig struct {
	maxKeys int
	peppers keyservice.PepperSource
	wrap    func(keyservice.Store) keyservice.Store
	clock   *testkit.Clock
}

type stackOption func(*stackConfig)

func withMaxKeys(n int) stackOption { return func(c *stackConfig) { c.maxKeys = n } }
func withPeppers(p keyservice.PepperSource) stackOption {
	return func(c *stackConfig) { c.peppers = p }
}
func withStoreWrapper(w func(keyservice.Store) keyservice.Store) stackOption {
	return func(c *stackConfig) { c.wrap = w }
}
func withClock(clock *testkit.Clock) stackOption { return func(c *stackConfig) { c.clock = clock } }

// testPeppers is the pepper set of every stack unless overridden.
func testPeppers(t testing.TB) keyservice.PepperSource {
	return testkit.Peppers{Set: storetest.TestPepperSet(t, "1")}
}

func newStack(t testing.TB, env *storeEnv, opts ...stackOption) *stack {
	t.Helper()
	cfg := stackConfig{maxKeys: 10}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.peppers == nil {
		cfg.peppers = testPeppers(t)
	}
	store := env.store
	if cfg.wrap != nil {
		store = cfg.wrap(store)
	}
	if cfg.clock == nil {
		cfg.clock = testkit.NewClock(t0)
	}
	s := &stack{t: t, env: env, clock: cfg.clock, logs: &testkit.SyncBuffer{}}
	s.log = slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s.svc = keyservice.New(store, cfg.peppers, keyservice.Config{MaxActiveKeys: cfg.maxKeys, Now: s.clock.Now, Logger: s.log})
	s.api = httpapi.New(s.svc, identity.DefaultConfig(), s.log, httpapi.WithClock(s.clock.Now)).Mux()
	s.auth = authorizer.New(s.svc, s.log)
	return s
}

// ---- identities and requests -------------------------------------------

func admin(firm string) map[string]string {
	return map[string]string{"sub": "admin-of-" + firm, "firmId": firm, "role": "admin", "tier": "premier"}
}

// request is one call as API Gateway (HTTP API, payload 2.0) delivers it.
type request struct {
	method, target, body string
	headers              map[string]string
	claims               map[string]string // nil: no JWT authorizer context
	lambda               map[string]any    // Lambda authorizer context
	ctx                  context.Context
}

func v2Event(r request) events.APIGatewayV2HTTPRequest {
	path, query, _ := strings.Cut(r.target, "?")
	headers := map[string]string{"content-type": "application/json"}
	for k, v := range r.headers {
		headers[strings.ToLower(k)] = v
	}
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "$default", RawPath: path, RawQueryString: query, Headers: headers, Body: r.body,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			AccountID: "123456789012", APIID: "abcdef1234", Stage: "$default", RequestID: "req-sec",
			DomainName: "abcdef1234.execute-api.eu-west-1.amazonaws.com",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: r.method, Path: path, Protocol: "HTTP/1.1", SourceIP: "198.51.100.9", UserAgent: "securitytest",
			},
		},
	}
	if r.claims != nil || r.lambda != nil {
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: r.lambda}
		if r.claims != nil {
			ev.RequestContext.Authorizer.JWT = &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: r.claims}
		}
	}
	return ev
}

// response is what a client got.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

// code returns the error code of an error envelope, checking it is exactly
// {"error":{"code","message"}} with a non-empty message.
func (r response) code(t testing.TB) keyservice.Code {
	t.Helper()
	var env map[string]map[string]string
	if err := json.Unmarshal(r.body, &env); err != nil || len(env) != 1 || env["error"] == nil {
		t.Fatalf("not an error envelope: %s", r)
	}
	e := env["error"]
	if len(e) != 2 || e["code"] == "" || e["message"] == "" {
		t.Fatalf("not an error envelope: %s", r)
	}
	return keyservice.Code(e["code"])
}

func (s *stack) do(r request) response {
	s.t.Helper()
	return serveHTTP(s.t, s.api, r)
}

func serveHTTP(t testing.TB, h http.Handler, r request) response {
	t.Helper()
	hr, err := newHTTPRequest(r)
	if err != nil {
		t.Fatalf("identity.NewRequest: %v", err)
	}
	return serveRequest(h, hr)
}

// newHTTPRequest turns r into the *http.Request the Lambda proxy would
// build, gateway context included.
func newHTTPRequest(r request) (*http.Request, error) {
	ctx := r.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	return identity.NewRequest(ctx, v2Event(r))
}

func serveRequest(h http.Handler, hr *http.Request) response {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, hr)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// wantError checks status and code of an error answer.
func wantError(t testing.TB, r response, status int, code keyservice.Code) {
	t.Helper()
	if r.status != status {
		t.Errorf("status %d, want %d: %s", r.status, status, r)
		return
	}
	if got := r.code(t); got != code {
		t.Errorf("code %s, want %s: %s", got, code, r)
	}
}

type keyJSON struct {
	ID        string  `json:"id"`
	Label     string  `json:"label"`
	Hint      string  `json:"hint"`
	Status    string  `json:"status"`
	RevokedAt *string `json:"revokedAt"`
	Key       string  `json:"key"`
}

type listJSON struct {
	Items      []keyJSON `json:"items"`
	NextCursor *string   `json:"nextCursor"`
}

// generate creates a key over HTTP for the firm's admin.
func (s *stack) generate(firm, label string) keyJSON {
	s.t.Helper()
	r := s.do(request{method: "POST", target: "/v1/api-keys", body: `{"label":"` + label + `"}`, claims: admin(firm)})
	if r.status != http.StatusCreated {
		s.t.Fatalf("generate for %s: %s", firm, r)
	}
	var k keyJSON
	if err := json.Unmarshal(r.body, &k); err != nil || apikey.Validate(k.Key) != nil {
		s.t.Fatalf("generate: bad body %s", r)
	}
	return k
}

func (s *stack) list(claims map[string]string, query string) (response, listJSON) {
	s.t.Helper()
	target := "/v1/api-keys"
	if query != "" {
		target += "?" + query
	}
	r := s.do(request{method: "GET", target: target, claims: claims})
	var l listJSON
	if r.status == http.StatusOK {
		if err := json.Unmarshal(r.body, &l); err != nil {
			s.t.Fatalf("list: bad body %s", r)
		}
	}
	return r, l
}

func (s *stack) revoke(claims map[string]string, id string) response {
	s.t.Helper()
	return s.do(request{method: "POST", target: "/v1/api-keys/" + id + "/revoke", claims: claims})
}

// ---- the authorizer on real events --------------------------------------

const methodArn = "arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/prod/GET/v1/whoami"

// httpAuthEvent is an HTTP API (payload 2.0) authorizer event.
func httpAuthEvent(headers map[string]string) []byte {
	ev := map[string]any{
		"version": "2.0", "type": "REQUEST",
		"routeArn":       "arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/$default/GET/v1/whoami",
		"identitySource": []string{headers["authorization"]},
		"routeKey":       "GET /v1/whoami", "rawPath": "/v1/whoami", "rawQueryString": "",
		"headers": headers,
		"requestContext": map[string]any{
			"accountId": "123456789012", "apiId": "abcdef1234", "requestId": "auth-req", "stage": "$default",
			"http": map[string]any{"method": "GET", "path": "/v1/whoami", "protocol": "HTTP/1.1", "sourceIp": "198.51.100.9"},
		},
	}
	b, _ := json.Marshal(ev)
	return b
}

func restTokenEvent(token string) []byte {
	b, _ := json.Marshal(map[string]any{"type": "TOKEN", "authorizationToken": token, "methodArn": methodArn})
	return b
}

func restRequestEvent(headers map[string]string, multi map[string][]string) []byte {
	b, _ := json.Marshal(map[string]any{
		"type": "REQUEST", "methodArn": methodArn, "resource": "/v1/whoami", "path": "/v1/whoami", "httpMethod": "GET",
		"headers": headers, "multiValueHeaders": multi,
		"requestContext": map[string]any{"accountId": "123456789012", "apiId": "abcdef1234", "stage": "prod", "requestId": "auth-req"},
	})
	return b
}

// verdict reads an authorizer answer: allowed, with the firm and key it
// names. It fails t on an answer that is neither a clear allow nor a clear
// deny. A REST "Unauthorized" error is a deny (API Gateway answers 401).
func verdict(t testing.TB, out []byte, err error) (allowed bool, firm, keyID string) {
	t.Helper()
	if err != nil {
		if !errors.Is(err, authorizer.ErrUnauthorized) && !errors.Is(err, authorizer.ErrUndecided) {
			t.Fatalf("authorizer error %v (only the REST Unauthorized convention and the cannot-decide failure are allowed)", err)
		}
		return false, "", ""
	}
	var r struct {
		IsAuthorized   *bool          `json:"isAuthorized"`
		Context        map[string]any `json:"context"`
		PolicyDocument *struct {
			Statement []struct {
				Effect   string   `json:"Effect"`
				Resource []string `json:"Resource"`
			} `json:"Statement"`
		} `json:"policyDocument"`
	}
	if e := json.Unmarshal(out, &r); e != nil {
		t.Fatalf("authorizer answer is not JSON: %q", out)
	}
	simple := r.IsAuthorized != nil && *r.IsAuthorized
	policy := false
	if r.PolicyDocument != nil {
		policy = len(r.PolicyDocument.Statement) > 0
		for _, st := range r.PolicyDocument.Statement {
			policy = policy && st.Effect == "Allow"
		}
	}
	if r.IsAuthorized == nil && r.PolicyDocument == nil {
		t.Fatalf("authorizer answer is neither a simple response nor a policy: %s", out)
	}
	if !simple && !policy {
		return false, "", ""
	}
	if simple && r.PolicyDocument != nil || policy && r.IsAuthorized != nil {
		t.Fatalf("ambiguous authorizer answer: %s", out)
	}
	f, _ := r.Context["firmId"].(string)
	k, _ := r.Context["keyId"].(string)
	if f == "" || k == "" {
		t.Fatalf("allow without firm and key: %s", out)
	}
	return true, f, k
}

// authorize presents key in a header value to the authorizer through all
// three event kinds; they must agree. It returns whether it was allowed.
func (s *stack) authorize(ctx context.Context, header string) (bool, string) {
	s.t.Helper()
	ok, firm, _ := s.authorizeAll(ctx, header)
	return ok, firm
}

// authorizeAll sends header in every event kind and reports the common
// verdict and whether the invocations failed (ErrUndecided: API Gateway
// answers 500 and caches nothing) rather than answered.
func (s *stack) authorizeAll(ctx context.Context, header string) (ok bool, firm string, failed bool) {
	s.t.Helper()
	type res struct {
		ok, failed bool
		firm, id   string
	}
	var got []res
	for _, ev := range [][]byte{
		httpAuthEvent(map[string]string{"authorization": header}),
		restTokenEvent(header),
		restRequestEvent(map[string]string{"Authorization": header}, nil),
	} {
		out, err := s.auth.Invoke(ctx, ev)
		ok, firm, id := verdict(s.t, out, err)
		got = append(got, res{ok, errors.Is(err, authorizer.ErrUndecided), firm, id})
	}
	for _, g := range got[1:] {
		if g != got[0] {
			s.t.Fatalf("event kinds disagree: %+v", got)
		}
	}
	return got[0].ok, got[0].firm, got[0].failed
}

// ---- a counting store -------------------------------------------------------

// countingStore counts the calls the service makes, and the last-used
// writes that actually happened.
type countingStore struct {
	keyservice.Store
	calls, finds, touches, touchWrites atomic.Int64
}

var _ keyservice.Store = (*countingStore)(nil)

func (c *countingStore) CreateKey(ctx context.Context, k keyservice.Key, maxActive int, a keyservice.AuditRecord) error {
	c.calls.Add(1)
	return c.Store.CreateKey(ctx, k, maxActive, a)
}

func (c *countingStore) GetKey(ctx context.Context, firmID, keyID string) (keyservice.Key, error) {
	c.calls.Add(1)
	return c.Store.GetKey(ctx, firmID, keyID)
}

func (c *countingStore) ListKeys(ctx context.Context, firmID, afterID string, limit int) ([]keyservice.Key, error) {
	c.calls.Add(1)
	return c.Store.ListKeys(ctx, firmID, afterID, limit)
}

func (c *countingStore) RevokeKey(ctx context.Context, firmID, keyID string, at time.Time, by string, a keyservice.AuditRecord) (keyservice.Key, error) {
	c.calls.Add(1)
	return c.Store.RevokeKey(ctx, firmID, keyID, at, by, a)
}

func (c *countingStore) ReleaseExpired(ctx context.Context, firmID string, now time.Time) (int, error) {
	c.calls.Add(1)
	return c.Store.ReleaseExpired(ctx, firmID, now)
}

func (c *countingStore) FindCredential(ctx context.Context, d apikey.Digest) (keyservice.Credential, error) {
	c.calls.Add(1)
	c.finds.Add(1)
	return c.Store.FindCredential(ctx, d)
}

func (c *countingStore) TouchLastUsed(ctx context.Context, d apikey.Digest, firmID, keyID string, at time.Time, ip netip.Addr, staleBefore time.Time) (bool, error) {
	c.calls.Add(1)
	c.touches.Add(1)
	wrote, err := c.Store.TouchLastUsed(ctx, d, firmID, keyID, at, ip, staleBefore)
	if wrote {
		c.touchWrites.Add(1)
	}
	return wrote, err
}

func (c *countingStore) ListAudit(ctx context.Context, firmID, keyID, beforeID string, limit int) ([]keyservice.AuditRecord, error) {
	c.calls.Add(1)
	return c.Store.ListAudit(ctx, firmID, keyID, beforeID, limit)
}
