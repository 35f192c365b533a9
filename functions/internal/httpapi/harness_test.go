package httpapi_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
	"github.com/kudurrustone/apikeys/functions/internal/httpapi"
	"github.com/kudurrustone/apikeys/functions/internal/identity"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

type env struct {
	t       testing.TB
	store   *faultStore
	peppers *testkit.Peppers // set Err to make the secret unavailable
	clock   *testkit.Clock
	svc     *keyservice.Service
	api     *httpapi.API
	handler http.Handler
	logs    *testkit.SyncBuffer
	maxKeys int
}

type envOption func(*envConfig)

type envConfig struct {
	maxKeys int
	apiOpts []httpapi.Option
	ident   identity.Config
}

func withMaxKeys(n int) envOption { return func(c *envConfig) { c.maxKeys = n } }
func withAPIOption(o httpapi.Option) envOption {
	return func(c *envConfig) { c.apiOpts = append(c.apiOpts, o) }
}

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	cfg := envConfig{maxKeys: 5, ident: identity.DefaultConfig()}
	for _, o := range opts {
		o(&cfg)
	}
	set, err := apikey.NewPepperSet("1", map[string][]byte{"1": []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: openStore(t), peppers: &testkit.Peppers{Set: set}, clock: testkit.NewClock(t0), logs: &testkit.SyncBuffer{}, maxKeys: cfg.maxKeys}
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.svc = keyservice.New(e.store, e.peppers, keyservice.Config{MaxActiveKeys: cfg.maxKeys, Now: e.clock.Now, Logger: log})
	e.api = httpapi.New(e.svc, cfg.ident, log, append([]httpapi.Option{httpapi.WithClock(e.clock.Now)}, cfg.apiOpts...)...)
	e.handler = e.api.Mux()
	return e
}

// Identities.
var (
	adminPremier = map[string]string{"sub": "alice", "firmId": "acme", "role": "admin", "tier": "premier"}
	adminBasic   = map[string]string{"sub": "alice", "firmId": "acme", "role": "admin", "tier": "basic"}
	otherAdmin   = map[string]string{"sub": "mallory", "firmId": "globex", "role": "admin", "tier": "premier"}
	member       = map[string]string{"sub": "bob", "firmId": "acme", "role": "member", "tier": "premier"}
)

// req describes one request as API Gateway would deliver it.
type req struct {
	method  string
	target  string // path and optional ?query
	body    string
	headers map[string]string
	claims  map[string]string // JWT authorizer claims; nil = no JWT authorizer
	lambda  map[string]any    // Lambda authorizer context; nil = none
	stage   string
	noCtx   bool // plain httptest request without any gateway context
}

func (e *env) do(r req) *httptest.ResponseRecorder {
	e.t.Helper()
	return serve(e.t, e.handler, r)
}

func event(r req) events.APIGatewayV2HTTPRequest {
	path, query, _ := strings.Cut(r.target, "?")
	stage := r.stage
	if stage == "" {
		stage = "$default"
	}
	headers := map[string]string{}
	for k, v := range r.headers {
		headers[strings.ToLower(k)] = v
	}
	if _, ok := headers["content-type"]; !ok && r.body != "" {
		headers["content-type"] = "application/json"
	}
	ev := events.APIGatewayV2HTTPRequest{
		Version:        "2.0",
		RouteKey:       "$default",
		RawPath:        path,
		RawQueryString: query,
		Headers:        headers,
		Body:           r.body,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			AccountID:  "123456789012",
			APIID:      "abcdef1234",
			Stage:      stage,
			RequestID:  "req-1",
			DomainName: "abcdef1234.execute-api.eu-west-1.amazonaws.com",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: r.method, Path: path, Protocol: "HTTP/1.1", SourceIP: "203.0.113.7", UserAgent: "test",
			},
		},
	}
	if r.claims != nil || r.lambda != nil {
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{}
		if r.claims != nil {
			ev.RequestContext.Authorizer.JWT = &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: r.claims}
		}
		ev.RequestContext.Authorizer.Lambda = r.lambda
	}
	return ev
}

func identityRequest(ev events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	return identity.NewRequest(context.Background(), ev)
}

func record(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

func serve(t testing.TB, h http.Handler, r req) *httptest.ResponseRecorder {
	t.Helper()
	var hr *http.Request
	if r.noCtx {
		hr = httptest.NewRequest(r.method, r.target, strings.NewReader(r.body))
		for k, v := range r.headers {
			hr.Header.Set(k, v)
		}
	} else {
		var err error
		hr, err = identity.NewRequest(context.Background(), event(r))
		if err != nil {
			t.Fatalf("NewRequest: %v", err)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, hr)
	return rec
}

// checkCommon checks what every response carries.
func checkCommon(t testing.TB, rec *httptest.ResponseRecorder) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	if !json.Valid(rec.Body.Bytes()) {
		t.Errorf("body is not JSON: %q", rec.Body.String())
	}
}

// envelopeErr returns why body is not exactly {"error":{"code","message"}}
// with code, or "".
func envelopeErr(body []byte, code keyservice.Code) string {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return "body is not a JSON object: " + err.Error()
	}
	if len(top) != 1 || top["error"] == nil {
		return "top level must be exactly {\"error\": …}"
	}
	var inner map[string]json.RawMessage
	if err := json.Unmarshal(top["error"], &inner); err != nil {
		return "error is not an object"
	}
	if len(inner) != 2 {
		return "error must have exactly code and message"
	}
	var c, m string
	if json.Unmarshal(inner["code"], &c) != nil || json.Unmarshal(inner["message"], &m) != nil {
		return "code and message must be strings"
	}
	if code != "" && c != string(code) {
		return "code = " + c + ", want " + string(code)
	}
	if m == "" {
		return "message is empty"
	}
	return ""
}

// wantError checks status and envelope.
func wantError(t testing.TB, rec *httptest.ResponseRecorder, status int, code keyservice.Code) {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status = %d, want %d; body %s", rec.Code, status, rec.Body.String())
	}
	checkCommon(t, rec)
	if msg := envelopeErr(rec.Body.Bytes(), code); msg != "" {
		t.Errorf("envelope: %s; body %s", msg, rec.Body.String())
	}
}

// keyObj is the Key object as a client reads it; pointers tell null apart.
type keyObj struct {
	ID         string   `json:"id"`
	Label      string   `json:"label"`
	Hint       string   `json:"hint"`
	Status     string   `json:"status"`
	CreatedAt  string   `json:"createdAt"`
	CreatedBy  string   `json:"createdBy"`
	LastUsedAt *string  `json:"lastUsedAt"`
	LastUsedIP *string  `json:"lastUsedIp"`
	ExpiresAt  *string  `json:"expiresAt"`
	RevokedAt  *string  `json:"revokedAt"`
	RevokedBy  *string  `json:"revokedBy"`
	Scopes     []string `json:"scopes"`
	AllowedIPs []string `json:"allowedIps"`
	Replaces   *string  `json:"replaces"`
	ReplacedBy *string  `json:"replacedBy"`
	Key        *string  `json:"key"`
}

// keyFields are the members of SPEC's Key object, in its order.
var keyFields = []string{"id", "label", "hint", "status", "createdAt", "createdBy", "lastUsedAt", "lastUsedIp",
	"expiresAt", "revokedAt", "revokedBy", "scopes", "allowedIps", "replaces", "replacedBy"}

// decodeKey decodes a Key object and checks it has exactly the contract's
// members (plus "key" when withSecret).
func decodeKey(t testing.TB, raw []byte, withSecret bool) keyObj {
	t.Helper()
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		t.Fatalf("Key is not an object: %v; %s", err, raw)
	}
	want := len(keyFields)
	if withSecret {
		want++
		if _, ok := members["key"]; !ok {
			t.Errorf("no key member in %s", raw)
		}
	}
	for _, f := range keyFields {
		if _, ok := members[f]; !ok {
			t.Errorf("member %s missing in %s", f, raw)
		}
	}
	if len(members) != want {
		t.Errorf("Key has %d members, want %d: %s", len(members), want, raw)
	}
	var k keyObj
	if err := json.Unmarshal(raw, &k); err != nil {
		t.Fatal(err)
	}
	// scopes is a non-empty array and allowedIps an array, never null.
	if k.Scopes == nil || len(k.Scopes) == 0 || k.AllowedIPs == nil {
		t.Errorf("scopes %v, allowedIps %v: want arrays (scopes not empty) in %s", k.Scopes, k.AllowedIPs, raw)
	}
	for _, ts := range []*string{&k.CreatedAt, k.LastUsedAt, k.ExpiresAt, k.RevokedAt} {
		if ts == nil {
			continue
		}
		if _, err := time.Parse(httpapi.TimeFormat, *ts); err != nil {
			t.Errorf("timestamp %q not in %s", *ts, httpapi.TimeFormat)
		}
	}
	return k
}

// generate makes a key through the API and returns it.
func (e *env) generate(label string) keyObj {
	e.t.Helper()
	rec := e.do(req{method: "POST", target: "/v1/api-keys", body: `{"label":` + jsonString(label) + `}`, claims: adminPremier})
	if rec.Code != http.StatusCreated {
		e.t.Fatalf("generate: %d %s", rec.Code, rec.Body.String())
	}
	return decodeKey(e.t, rec.Body.Bytes(), true)
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
