package rie_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
	"github.com/kudurrustone/apikeys/functions/internal/ddblocal"
	"github.com/kudurrustone/apikeys/functions/internal/motoserver"
	"github.com/kudurrustone/apikeys/functions/internal/rie"
	"github.com/kudurrustone/apikeys/functions/internal/smfake"
	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(ddblocal.Main(m)) }

// The functions under test: name (folder under functions/ and under
// .build/host/) and the package it is built from.
var functionNames = []string{"list", "generate", "update", "roll", "revoke", "auditevents", "whoami", "authorizer", "publisher", "expiry"}

const (
	pepperSecretName = "kudurrustone-api-keys-pepper"
	// A 64-character pepper, as the template's GenerateSecretString makes.
	pepperSecretValue = `{"current":"1","1":"q5Xr0hFv3mW8kT2zLb7NcY4pJs9dGe6uAi1oRwQx0EyVnMfKtHlSaPgZjCuBbDdI"}`
	// Placeholder API id and stage of the sample events.
	eventAPIID = "abc123defg"
	eventStage = "$default"
)

// cacheResets records the ResetAuthorizersCache calls of the revoke
// function (DELETE /v2/apis/{apiId}/stages/{stage}/cache/authorizers).
type cacheResets struct {
	mu    sync.Mutex
	paths []string
}

func (c *cacheResets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.paths = append(c.paths, r.Method+" "+r.URL.EscapedPath())
	c.mu.Unlock()
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		http.Error(w, `{"message":"Missing Authentication Token"}`, http.StatusForbidden)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (c *cacheResets) calls() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.paths...)
}

// stack is every function running under its own emulator, against one
// DynamoDB Local table, a Secrets Manager fake and an API Gateway fake.
type stack struct {
	emu    map[string]*rie.Emulator
	table  string // the DynamoDB Local table every function uses
	resets *cacheResets
	// plaintext keys seen in responses, to prove none reaches a log line
	mu   sync.Mutex
	keys []string
}

// startStack starts the named functions (default: all) under emulators.
func startStack(t *testing.T, names ...string) *stack {
	t.Helper()
	return startStackEnv(t, nil, names...)
}

// startStackEnv is startStack with environment changes: a key mapped to ""
// is removed.
func startStackEnv(t *testing.T, change map[string]string, names ...string) *stack {
	t.Helper()
	if len(names) == 0 {
		names = functionNames
	}
	bootstraps := map[string]string{}
	for _, fn := range names {
		bootstraps[fn] = rie.Bootstrap(t, fn, "./functions/"+fn)
	}
	_, table := ddblocal.NewTable(t)
	sm := smfake.New(t)
	sm.SetSecret(pepperSecretName, pepperSecretValue)
	resets := &cacheResets{}
	apigw := httptest.NewServer(resets)
	t.Cleanup(apigw.Close)

	s := &stack{emu: map[string]*rie.Emulator{}, table: table, resets: resets}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, fn := range names {
		env := map[string]string{
			"AWS_REGION":                  smfake.Region,
			"AWS_ACCESS_KEY_ID":           "test",
			"AWS_SECRET_ACCESS_KEY":       "test",
			"AWS_EC2_METADATA_DISABLED":   "true",
			"AWS_LAMBDA_FUNCTION_NAME":    fn,
			"AWS_LAMBDA_FUNCTION_TIMEOUT": "10",
			"TABLE_NAME":                  table,
			"DYNAMODB_ENDPOINT":           ddblocal.Endpoint(t),
			"SECRETSMANAGER_ENDPOINT":     sm.URL(),
			"PEPPER_SECRET_ARN":           sm.ARN(pepperSecretName),
			"APIGATEWAY_ENDPOINT":         apigw.URL,
			"LOG_LEVEL":                   "DEBUG",
		}
		if fn == "publisher" {
			env["EVENTBRIDGE_ENDPOINT"] = motoserver.URL(t)
		}
		for k, v := range change {
			if v == "" {
				delete(env, k)
			} else {
				env[k] = v
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := rie.Start(t, fn, bootstraps[fn], env)
			mu.Lock()
			s.emu[fn] = e
			mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	t.Cleanup(func() {
		// Whatever happened, no plaintext key may appear in any output.
		for fn, e := range s.emu {
			out := e.Output()
			for _, k := range s.plaintexts() {
				if strings.Contains(out, k) {
					t.Errorf("the output of %s contains a plaintext key", fn)
				}
			}
			if t.Failed() {
				t.Logf("output of %s:\n%s", fn, out)
			}
		}
	})
	return s
}

func (s *stack) plaintexts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.keys...)
}

// invoke sends payload to fn and returns the raw response body.
func (s *stack) invoke(t *testing.T, fn, label string, payload []byte) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	status, body, rep, err := s.emu[fn].Invoke(ctx, payload)
	if err != nil {
		t.Fatalf("%s: %v", label, err)
	}
	if status != http.StatusOK {
		t.Fatalf("%s: emulator answered %d: %s", label, status, body)
	}
	init := ""
	if rep.Init > 0 {
		init = fmt.Sprintf(", init %.2f ms", ms(rep.Init))
	}
	t.Logf("emulator %-10s %-48s -> %s (%.2f ms%s)", fn, label, summary(body), ms(rep.Duration), init)
	return body
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// summary shortens a response for the log: the status and error code of a
// proxy response, the decision of an authorizer. It never prints a key.
func summary(body []byte) string {
	var v struct {
		StatusCode   *int   `json:"statusCode"`
		Body         string `json:"body"`
		IsAuthorized *bool  `json:"isAuthorized"`
		Policy       *struct {
			Statement []struct{ Effect string } `json:"Statement"`
		} `json:"policyDocument"`
		ErrorMessage      string `json:"errorMessage"`
		BatchItemFailures *[]any `json:"batchItemFailures"`
		Due               *int   `json:"due"`
		Warned            *int   `json:"warned"`
	}
	if json.Unmarshal(body, &v) != nil {
		return "unparseable response"
	}
	switch {
	case v.Due != nil:
		return fmt.Sprintf("%d due, %d warned", *v.Due, *v.Warned)
	case v.BatchItemFailures != nil:
		return fmt.Sprintf("%d batch item failures", len(*v.BatchItemFailures))
	case v.StatusCode != nil:
		var e errorBody
		if json.Unmarshal([]byte(v.Body), &e) == nil && e.Error.Code != "" {
			return fmt.Sprintf("%d %s", *v.StatusCode, e.Error.Code)
		}
		return fmt.Sprintf("%d", *v.StatusCode)
	case v.IsAuthorized != nil && v.Policy == nil:
		return fmt.Sprintf("isAuthorized=%t", *v.IsAuthorized)
	case v.Policy != nil && len(v.Policy.Statement) > 0:
		return "policy " + v.Policy.Statement[0].Effect
	case v.ErrorMessage != "":
		return "error " + v.ErrorMessage
	}
	return "?"
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

type keyJSON struct {
	ID        string  `json:"id"`
	Label     string  `json:"label"`
	Hint      string  `json:"hint"`
	Status    string  `json:"status"`
	Key       string  `json:"key"`
	RevokedAt *string `json:"revokedAt"`
	Replaces  *string `json:"replaces"`
}

// proxy invokes an HTTP API function and decodes the proxy response.
func (s *stack) proxy(t *testing.T, fn, label string, payload []byte) events.APIGatewayV2HTTPResponse {
	t.Helper()
	body := s.invoke(t, fn, label, payload)
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(body, &resp); err != nil || resp.StatusCode == 0 {
		t.Fatalf("%s: not an HTTP API proxy response: %s", label, body)
	}
	if ct := resp.Headers["Content-Type"]; !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", label, ct)
	}
	return resp
}

// generate creates a key through the generate function with the sample
// admin event and returns it.
func (s *stack) generate(t *testing.T, label string) keyJSON {
	t.Helper()
	return s.generateWith(t, map[string]any{"label": label})
}

// generateWith is generate with a whole body (scopes, allowedIps).
func (s *stack) generateWith(t *testing.T, body map[string]any) keyJSON {
	t.Helper()
	ev := testkit.Event(t, "generate-admin-premier.json", nil)
	var m map[string]any
	if err := json.Unmarshal(ev, &m); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(body)
	m["body"] = string(b)
	ev, _ = json.Marshal(m)
	resp := s.proxy(t, "generate", fmt.Sprintf("generate %v", body["label"]), ev)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("generate: status %d: %s", resp.StatusCode, resp.Body)
	}
	var k keyJSON
	if err := json.Unmarshal([]byte(resp.Body), &k); err != nil || k.Key == "" || k.ID == "" {
		t.Fatalf("generate: unexpected body: %v", err)
	}
	s.mu.Lock()
	s.keys = append(s.keys, k.Key)
	s.mu.Unlock()
	return k
}

// TestEmulatorStory runs the whole life of a key through the deployed
// binaries: generate (admin, Premier) -> the authorizer allows the key ->
// whoami returns its firm and id -> revoke (which resets the authorizer
// cache) -> the authorizer denies the same key.
func TestEmulatorStory(t *testing.T) {
	s := startStack(t)

	k := s.generate(t, "Production Integration")
	if k.Status != "active" || !strings.HasPrefix(k.Key, "kst_") {
		t.Fatalf("generated key: status %q", k.Status)
	}

	// The authorizer allows it (HTTP API payload 2.0, IAM policy).
	authEvent := testkit.Event(t, "authorizer-http-valid.json", map[string]string{"KEY": k.Key})
	var allow events.APIGatewayCustomAuthorizerResponse
	if err := json.Unmarshal(s.invoke(t, "authorizer", "authorize the new key", authEvent), &allow); err != nil {
		t.Fatal(err)
	}
	if len(allow.PolicyDocument.Statement) != 1 || allow.PolicyDocument.Statement[0].Effect != "Allow" {
		t.Fatal("authorizer denied a freshly generated key")
	}
	want := map[string]any{"firmId": "acme", "keyId": k.ID, "keyLabel": "Production Integration", "scopes": "read write"}
	for name, v := range want {
		if allow.Context[name] != v {
			t.Errorf("authorizer context %s = %v, want %v", name, allow.Context[name], v)
		}
	}

	// API Gateway hands the authorizer's context to whoami.
	var who map[string]any
	if err := json.Unmarshal(testkit.Event(t, "whoami.json", map[string]string{"KEY": k.Key}), &who); err != nil {
		t.Fatal(err)
	}
	who["requestContext"].(map[string]any)["authorizer"] = map[string]any{"lambda": allow.Context}
	whoEvent, _ := json.Marshal(who)
	resp := s.proxy(t, "whoami", "whoami with the authorizer's context", whoEvent)
	var got map[string]any
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(resp.Body), &got) != nil {
		t.Fatalf("whoami: %d %s", resp.StatusCode, resp.Body)
	}
	if got["firmId"] != "acme" || got["keyId"] != k.ID || got["label"] != "Production Integration" {
		t.Errorf("whoami = %v, want firm acme, key %s", got, k.ID)
	}

	// Revoke it; the revoke function resets the stage's authorizer cache.
	revEvent := testkit.Event(t, "revoke-admin-premier.json", map[string]string{"KEY_ID": k.ID})
	resp = s.proxy(t, "revoke", "revoke the key", revEvent)
	var rk keyJSON
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(resp.Body), &rk) != nil || rk.Status != "revoked" {
		t.Fatalf("revoke: %d %s", resp.StatusCode, resp.Body)
	}
	wantReset := "DELETE /v2/apis/" + eventAPIID + "/stages/%24default/cache/authorizers"
	if calls := s.resets.calls(); len(calls) != 1 || calls[0] != wantReset {
		t.Errorf("authorizer cache resets = %q, want [%q]", calls, wantReset)
	}

	// The very next authorization denies the same key.
	var deny events.APIGatewayCustomAuthorizerResponse
	if err := json.Unmarshal(s.invoke(t, "authorizer", "authorize the revoked key", authEvent), &deny); err != nil {
		t.Fatal(err)
	}
	if len(deny.PolicyDocument.Statement) != 1 || deny.PolicyDocument.Statement[0].Effect != "Deny" || len(deny.Context) != 0 {
		t.Errorf("authorizer after revoke = %+v, want a Deny without context", deny)
	}
}

// expectation is the answer a sample event must get.
type expectation struct {
	function string
	// HTTP API functions: status and error code ("" for success).
	status int
	code   string
	// Authorizer: the decision.
	policyEffect string   // Allow or Deny
	methods      []string // of an Allow; nil: every method
	errorMessage string   // a function error (REST "Unauthorized": API Gateway answers 401)
}

var readMethods = []string{"GET", "HEAD", "OPTIONS"}

// eventExpectations covers every file in events/; a file without an entry
// fails the test, so new events cannot go unchecked.
var eventExpectations = map[string]expectation{
	"list-admin-premier.json":     {function: "list", status: 200},
	"list-admin-not-premier.json": {function: "list", status: 200},
	"list-non-admin.json":         {function: "list", status: 403, code: "not_firm_admin"},
	"list-missing-claims.json":    {function: "list", status: 401, code: "unauthorized"},
	"list-invalid-query.json":     {function: "list", status: 400, code: "invalid_request"},

	"generate-admin-premier.json":  {function: "generate", status: 201},
	"generate-not-premier.json":    {function: "generate", status: 403, code: "premier_required"},
	"generate-non-admin.json":      {function: "generate", status: 403, code: "not_firm_admin"},
	"generate-missing-claims.json": {function: "generate", status: 401, code: "unauthorized"},
	"generate-invalid-label.json":  {function: "generate", status: 400, code: "invalid_label"},
	"generate-unknown-field.json":  {function: "generate", status: 400, code: "invalid_request"},

	// Sorted order runs revoke-admin-not-premier first: a firm that left
	// Premier may still revoke; the second revoke is idempotent.
	"revoke-admin-not-premier.json": {function: "revoke", status: 200},
	"revoke-admin-premier.json":     {function: "revoke", status: 200},
	"revoke-non-admin.json":         {function: "revoke", status: 403, code: "not_firm_admin"},
	"revoke-missing-claims.json":    {function: "revoke", status: 401, code: "unauthorized"},
	"revoke-other-firm.json":        {function: "revoke", status: 404, code: "not_found"},
	"revoke-unknown-key.json":       {function: "revoke", status: 404, code: "not_found"},

	// update and roll run after revoke (sorted order): {{REVOKED_KEY_ID}}
	// is revoked by then.
	"update-admin-premier.json": {function: "update", status: 200},
	"update-empty-body.json":    {function: "update", status: 400, code: "invalid_request"},
	"update-not-premier.json":   {function: "update", status: 403, code: "premier_required"},
	"update-revoked-key.json":   {function: "update", status: 409, code: "key_not_active"},

	"roll-admin-premier.json":      {function: "roll", status: 201},
	"roll-grace-out-of-range.json": {function: "roll", status: 400, code: "invalid_request"},
	"roll-non-admin.json":          {function: "roll", status: 403, code: "not_firm_admin"},
	"roll-revoked-key.json":        {function: "roll", status: 409, code: "key_not_active"},

	"auditevents-admin-not-premier.json": {function: "auditevents", status: 200},
	"auditevents-key-filter.json":        {function: "auditevents", status: 200},
	"auditevents-invalid-query.json":     {function: "auditevents", status: 400, code: "invalid_request"},
	"auditevents-non-admin.json":         {function: "auditevents", status: 403, code: "not_firm_admin"},

	"whoami.json":                 {function: "whoami", status: 200},
	"whoami-post.json":            {function: "whoami", status: 200},
	"whoami-missing-context.json": {function: "whoami", status: 401, code: "unauthorized"},

	"authorizer-http-valid.json":                  {function: "authorizer", policyEffect: "Allow"},
	"authorizer-http-valid-lowercase-bearer.json": {function: "authorizer", policyEffect: "Allow"},
	"authorizer-http-revoked.json":                {function: "authorizer", policyEffect: "Deny"},
	"authorizer-http-unknown-key.json":            {function: "authorizer", policyEffect: "Deny"},
	"authorizer-http-malformed.json":              {function: "authorizer", policyEffect: "Deny"},
	"authorizer-http-missing-header.json":         {function: "authorizer", policyEffect: "Deny"},
	// A read-only key: the same policy for a GET and a POST route (a cached
	// answer serves every route); API Gateway refuses the POST.
	"authorizer-http-read-scope.json":      {function: "authorizer", policyEffect: "Allow", methods: readMethods},
	"authorizer-http-read-scope-post.json": {function: "authorizer", policyEffect: "Allow", methods: readMethods},
	// A key allowed from 198.51.100.0/24 only.
	"authorizer-http-pinned-inside.json":          {function: "authorizer", policyEffect: "Allow"},
	"authorizer-http-pinned-mapped-ipv6.json":     {function: "authorizer", policyEffect: "Allow"},
	"authorizer-http-pinned-outside.json":         {function: "authorizer", policyEffect: "Deny"},
	"authorizer-rest-request-pinned.json":         {function: "authorizer", policyEffect: "Allow"},
	"authorizer-rest-token-pinned.json":           {function: "authorizer", policyEffect: "Deny"}, // no address in a TOKEN event
	"authorizer-rest-token.json":                  {function: "authorizer", policyEffect: "Allow"},
	"authorizer-rest-token-malformed.json":        {function: "authorizer", policyEffect: "Deny"},
	"authorizer-rest-token-revoked.json":          {function: "authorizer", policyEffect: "Deny"},
	"authorizer-rest-request.json":                {function: "authorizer", policyEffect: "Allow"},
	"authorizer-rest-request-missing-header.json": {function: "authorizer", errorMessage: "Unauthorized"},

	// A stream event as the publisher's mapping delivers it (audit records
	// only): every record published to the (moto) default bus.
	"publisher-stream.json": {function: "publisher"},
	// The hourly schedule's input: the check runs and reports its counts.
	"expiry-scheduled.json": {function: "expiry"},
}

// TestEmulatorEvents invokes every sample event in events/ and checks its
// answer. Placeholders get real values: {{KEY}} an active key of firm acme,
// {{REVOKED_KEY}} a revoked one, {{KEY_ID}} a key the revoke events revoke,
// {{ACTIVE_KEY_ID}} and {{REVOKED_KEY_ID}} the ids of the first two, and
// {{ROLL_KEY_ID}} a key the roll events roll.
func TestEmulatorEvents(t *testing.T) {
	root, err := testkit.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "events", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no events found: %v", err)
	}
	sort.Strings(files)
	seen := map[string]bool{}
	for _, f := range files {
		if _, ok := eventExpectations[filepath.Base(f)]; !ok {
			t.Errorf("events/%s has no expectation in eventExpectations", filepath.Base(f))
		}
		seen[filepath.Base(f)] = true
	}
	for name := range eventExpectations {
		if !seen[name] {
			t.Errorf("eventExpectations names events/%s, which does not exist", name)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	s := startStack(t)
	active := s.generate(t, "Office Sync Tool")
	revoked := s.generate(t, "Accounting Export")
	toRevoke := s.generate(t, "Old Integration")
	revEvent := testkit.Event(t, "revoke-admin-premier.json", map[string]string{"KEY_ID": revoked.ID})
	if resp := s.proxy(t, "revoke", "revoke a key for the revoked-key events", revEvent); resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d %s", resp.StatusCode, resp.Body)
	}
	readKey := s.generateWith(t, map[string]any{"label": "Accounting Export (read)", "scopes": []string{"read"}})
	pinned := s.generateWith(t, map[string]any{"label": "Office Sync (office network)", "allowedIps": []string{"198.51.100.0/24"}})
	toRoll := s.generate(t, "Rolled Integration")
	values := map[string]string{"KEY": active.Key, "REVOKED_KEY": revoked.Key, "KEY_ID": toRevoke.ID, "READ_KEY": readKey.Key, "PINNED_KEY": pinned.Key,
		"ACTIVE_KEY_ID": active.ID, "REVOKED_KEY_ID": revoked.ID, "ROLL_KEY_ID": toRoll.ID}
	keyIDs := map[string]string{active.Key: active.ID, readKey.Key: readKey.ID, pinned.Key: pinned.ID}

	for _, f := range files {
		name := filepath.Base(f)
		want := eventExpectations[name]
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			ev := testkit.Event(t, name, values)
			if want.function == "expiry" {
				var r struct {
					Due    *int `json:"due"`
					Warned *int `json:"warned"`
				}
				body := s.invoke(t, want.function, "events/"+name, ev)
				if err := json.Unmarshal(body, &r); err != nil || r.Due == nil || r.Warned == nil {
					t.Errorf("%s: %s, want the check's counts", name, body)
				}
				return
			}
			if want.function == "publisher" {
				checkPublisher(t, name, s.invoke(t, want.function, "events/"+name, ev))
				return
			}
			if want.function != "authorizer" {
				resp := s.proxy(t, want.function, "events/"+name, ev)
				checkProxy(t, name, want, resp)
				return
			}
			checkAuthorizer(t, name, want, s.invoke(t, "authorizer", "events/"+name, ev), keyIDs)
		})
	}
}

func checkProxy(t *testing.T, name string, want expectation, resp events.APIGatewayV2HTTPResponse) {
	t.Helper()
	if resp.StatusCode != want.status {
		t.Errorf("%s: status %d, want %d; body %s", name, resp.StatusCode, want.status, resp.Body)
		return
	}
	if want.code != "" {
		var e errorBody
		if err := json.Unmarshal([]byte(resp.Body), &e); err != nil || e.Error.Code != want.code || e.Error.Message == "" {
			t.Errorf("%s: body %s, want error code %s with a message", name, resp.Body, want.code)
		}
		return
	}
	switch {
	case strings.HasPrefix(name, "generate-"):
		var k keyJSON
		if json.Unmarshal([]byte(resp.Body), &k) != nil || !strings.HasPrefix(k.Key, "kst_") || k.Status != "active" {
			t.Errorf("%s: unexpected generate body", name)
		}
		if cc := resp.Headers["Cache-Control"]; cc != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", name, cc)
		}
	case strings.HasPrefix(name, "revoke-"):
		var k keyJSON
		if json.Unmarshal([]byte(resp.Body), &k) != nil || k.Status != "revoked" || k.RevokedAt == nil {
			t.Errorf("%s: body %s, want a revoked key", name, resp.Body)
		}
	case strings.HasPrefix(name, "list-"):
		var page struct {
			Items      []keyJSON `json:"items"`
			NextCursor *string   `json:"nextCursor"`
		}
		if json.Unmarshal([]byte(resp.Body), &page) != nil || len(page.Items) == 0 {
			t.Errorf("%s: body %s, want the firm's keys", name, resp.Body)
		}
		for _, k := range page.Items {
			if k.Key != "" {
				t.Errorf("%s: a listed key carries its plaintext", name)
			}
		}
	case strings.HasPrefix(name, "roll-"):
		var k keyJSON
		if json.Unmarshal([]byte(resp.Body), &k) != nil || !strings.HasPrefix(k.Key, "kst_") || k.Status != "active" ||
			k.Replaces == nil {
			t.Errorf("%s: body %s, want the new key, shown once, replacing the old", name, resp.Body)
		}
		if cc := resp.Headers["Cache-Control"]; cc != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", name, cc)
		}
	case strings.HasPrefix(name, "update-"):
		var k keyJSON
		if json.Unmarshal([]byte(resp.Body), &k) != nil || k.Label != "Office Sync Tool (Berlin)" || k.Key != "" {
			t.Errorf("%s: body %s, want the renamed key", name, resp.Body)
		}
	case strings.HasPrefix(name, "auditevents-"):
		var page struct {
			Items []struct {
				ID, Action, KeyID string
				Details           map[string]any
			} `json:"items"`
		}
		if json.Unmarshal([]byte(resp.Body), &page) != nil || len(page.Items) == 0 {
			t.Errorf("%s: body %s, want the firm's events", name, resp.Body)
		}
		if strings.Contains(resp.Body, "kst_") {
			t.Errorf("%s: an audit event carries key material: %s", name, resp.Body)
		}
	case strings.HasPrefix(name, "whoami"):
		var got map[string]any
		if json.Unmarshal([]byte(resp.Body), &got) != nil || got["firmId"] != "acme" || got["keyId"] == "" ||
			fmt.Sprint(got["scopes"]) != "[read write]" {
			t.Errorf("%s: body %s", name, resp.Body)
		}
	}
}

// checkPublisher requires a partial batch response without failures.
func checkPublisher(t *testing.T, name string, body []byte) {
	t.Helper()
	var r struct {
		BatchItemFailures *[]any `json:"batchItemFailures"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.BatchItemFailures == nil || len(*r.BatchItemFailures) != 0 {
		t.Errorf("%s: %s, want no batch item failures", name, body)
	}
}

func checkAuthorizer(t *testing.T, name string, want expectation, body []byte, keyIDs map[string]string) {
	t.Helper()
	switch {
	case want.policyEffect != "":
		var r events.APIGatewayCustomAuthorizerResponse
		if err := json.Unmarshal(body, &r); err != nil || len(r.PolicyDocument.Statement) != 1 {
			t.Fatalf("%s: not one policy statement: %s", name, body)
		}
		st := r.PolicyDocument.Statement[0]
		if st.Effect != want.policyEffect {
			t.Errorf("%s: effect %s, want %s", name, st.Effect, want.policyEffect)
		}
		stage := "arn:aws:execute-api:us-east-1:123456789012:" + eventAPIID + "/prod"
		if strings.HasPrefix(name, "authorizer-http-") {
			stage = "arn:aws:execute-api:us-east-1:123456789012:" + eventAPIID + "/$default"
		}
		if want.policyEffect == "Deny" {
			if len(r.Context) != 0 {
				t.Errorf("%s: a deny carries context %v", name, r.Context)
			}
			return
		}
		// Exactly the methods of the key's scopes, on every resource of
		// the stage, so a cached allow serves every route it may use.
		methods := want.methods
		if methods == nil {
			methods = []string{"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"}
		}
		var wantRes []string
		for _, m := range methods {
			wantRes = append(wantRes, stage+"/"+m+"/*")
		}
		if !slices.Equal(st.Resource, wantRes) {
			t.Errorf("%s: resources %v, want %v", name, st.Resource, wantRes)
		}
		if r.Context["firmId"] != "acme" || r.PrincipalID == "" || r.Context["keyId"] != r.PrincipalID || !slices.Contains(slices.Collect(maps.Values(keyIDs)), r.PrincipalID) {
			t.Errorf("%s: principal %q context %v, want a key of acme", name, r.PrincipalID, r.Context)
		}
		if want.methods != nil && r.Context["scopes"] != "read" {
			t.Errorf("%s: context scopes %v, want read", name, r.Context["scopes"])
		}
	case want.errorMessage != "":
		var r struct {
			ErrorMessage string `json:"errorMessage"`
		}
		if err := json.Unmarshal(body, &r); err != nil || r.ErrorMessage != want.errorMessage {
			t.Errorf("%s: %s, want function error %q", name, body, want.errorMessage)
		}
	default:
		t.Fatalf("%s: no expectation", name)
	}
}

// TestEmulatorAuthorizerCannotDecide: with DynamoDB unreachable the
// deployed authorizer fails the invocation (a function error, so API
// Gateway answers 500 and caches nothing) for HTTP API and REST events
// alike, instead of answering a deny API Gateway would cache; a malformed
// key, which needs no table read, is still a plain deny.
func TestEmulatorAuthorizerCannotDecide(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	unreachable := closed.URL
	closed.Close()
	s := startStackEnv(t, map[string]string{"DYNAMODB_ENDPOINT": unreachable, "AWS_MAX_ATTEMPTS": "1"}, "authorizer")
	key, err := apikey.Generate(nil) // well-formed: deciding needs the table
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"authorizer-http-valid.json", "authorizer-rest-token.json", "authorizer-rest-request.json"} {
		ev := testkit.Event(t, name, map[string]string{"KEY": key})
		body := s.invoke(t, "authorizer", name+" with DynamoDB unreachable", ev)
		var r struct {
			ErrorMessage string `json:"errorMessage"`
		}
		if err := json.Unmarshal(body, &r); err != nil || r.ErrorMessage != "authorizer: cannot decide" {
			t.Errorf("%s: %s, want the function error %q", name, body, "authorizer: cannot decide")
		}
	}
	ev := testkit.Event(t, "authorizer-http-malformed.json", nil)
	var deny events.APIGatewayCustomAuthorizerResponse
	if err := json.Unmarshal(s.invoke(t, "authorizer", "malformed key with DynamoDB unreachable", ev), &deny); err != nil ||
		len(deny.PolicyDocument.Statement) != 1 || deny.PolicyDocument.Statement[0].Effect != "Deny" {
		t.Errorf("malformed key: %+v, want a Deny", deny)
	}
}
