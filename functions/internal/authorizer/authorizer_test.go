package authorizer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/kudurrustone/apikeys/functions/internal/authorizer"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

var wantContext = map[string]any{"firmId": firmID, "keyId": keyID, "keyLabel": label, "scopes": "read write"}

func TestHTTPAPI(t *testing.T) {
	w := newWorld(t)
	h := w.handler()
	huge := "Bearer " + strings.Repeat("a", 1<<20)
	tests := []struct {
		name    string
		headers map[string]string
		allow   bool
		reason  string
	}{
		{"valid key", map[string]string{"authorization": "Bearer " + w.active}, true, "valid_key"},
		{"header name capitalised", map[string]string{"Authorization": "Bearer " + w.active}, true, "valid_key"},
		{"header name upper case", map[string]string{"AUTHORIZATION": "Bearer " + w.active}, true, "valid_key"},
		{"lower-case bearer", map[string]string{"authorization": "bearer " + w.active}, true, "valid_key"},
		{"upper-case bearer", map[string]string{"authorization": "BEARER " + w.active}, true, "valid_key"},
		{"surrounding and repeated spaces", map[string]string{"authorization": "  Bearer   " + w.active + " "}, true, "valid_key"},
		{"other headers around", map[string]string{"x-authorization": "junk", "authorization": "Bearer " + w.active, "cookie": "a=b"}, true, "valid_key"},

		{"no header", map[string]string{}, false, "missing_header"},
		{"nil headers", nil, false, "missing_header"},
		{"empty header", map[string]string{"authorization": ""}, false, "not_bearer"},
		{"Bearer alone", map[string]string{"authorization": "Bearer"}, false, "not_bearer"},
		{"Bearer and space", map[string]string{"authorization": "Bearer "}, false, "not_bearer"},
		{"key without scheme", map[string]string{"authorization": w.active}, false, "not_bearer"},
		{"Basic scheme", map[string]string{"authorization": "Basic YWxhZGRpbjpvcGVuc2VzYW1l"}, false, "not_bearer"},
		{"Bearerx scheme", map[string]string{"authorization": "Bearerx " + w.active}, false, "not_bearer"},
		{"tab after scheme", map[string]string{"authorization": "Bearer\t" + w.active}, false, "not_bearer"},
		{"two tokens", map[string]string{"authorization": "Bearer " + w.active + " " + w.active}, false, "malformed_header"},
		{"two headers joined by API Gateway", map[string]string{"authorization": "Bearer " + w.active + ",Bearer " + w.unknown}, false, "multiple_values"},
		{"two header names", map[string]string{"authorization": "Bearer " + w.active, "Authorization": "Bearer " + w.active}, false, "multiple_headers"},
		{"1 MiB header", map[string]string{"authorization": huge}, false, "oversized_header"},
		{"non-UTF-8 token", map[string]string{"authorization": "Bearer kst_\xff\xfe" + strings.Repeat("a", 47)}, false, "key_malformed"},
		{"control character in token", map[string]string{"authorization": "Bearer " + w.active[:10] + "\x00" + w.active[11:]}, false, "malformed_header"},
		{"truncated key", map[string]string{"authorization": "Bearer " + w.active[:len(w.active)-1]}, false, "key_malformed"},
		{"mistyped key", map[string]string{"authorization": "Bearer " + mistype(w.active)}, false, "key_malformed"},
		{"unknown key", map[string]string{"authorization": "Bearer " + w.unknown}, false, "key_unknown"},
		{"revoked key", map[string]string{"authorization": "Bearer " + w.revoked}, false, "key_revoked"},
		{"expired key", map[string]string{"authorization": "Bearer " + w.expired}, false, "key_expired"},
	}
	simple := w.handler(authorizer.WithSimpleResponses())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Policy responses (the default).
			w.logs.Reset()
			a, err := invoke(t, h, httpEvent(tt.headers))
			if err != nil {
				t.Fatalf("a deny is an answer, not an error: %v", err)
			}
			if tt.allow {
				checkPolicy(t, a, nil, true, false, allowed(httpStage, keyservice.AllScopes))
			} else {
				checkPolicy(t, a, nil, false, false, []string{httpStage + "/*/*"})
			}
			checkDecisionLog(t, w.logs.String(), tt.allow, tt.reason)
			noKeyInLogs(t, w.logs.String(), w.active, w.revoked, w.expired, w.unknown)

			// Simple responses.
			w.logs.Reset()
			out, err := simple.Invoke(context.Background(), httpEvent(tt.headers))
			if err != nil {
				t.Fatalf("a deny is an answer, not an error: %v", err)
			}
			if tt.allow {
				var got events.APIGatewayV2CustomAuthorizerSimpleResponse
				if err := json.Unmarshal(out, &got); err != nil || !got.IsAuthorized || !reflect.DeepEqual(got.Context, wantContext) {
					t.Fatalf("got %s, want allow with %v", out, wantContext)
				}
			} else if string(out) != `{"isAuthorized":false}` {
				t.Fatalf("got %s, want exactly {\"isAuthorized\":false}", out)
			}
			checkDecisionLog(t, w.logs.String(), tt.allow, tt.reason)
		})
	}
}

func TestHTTPAPIWrongEventType(t *testing.T) {
	w := newWorld(t)
	var ev map[string]any
	_ = json.Unmarshal(httpEvent(map[string]string{"authorization": "Bearer " + w.active}), &ev)
	ev["type"] = "TOKEN"
	out, err := w.handler(authorizer.WithSimpleResponses()).Invoke(context.Background(), mustJSON(ev))
	if err != nil || string(out) != `{"isAuthorized":false}` {
		t.Fatalf("got %s %v", out, err)
	}
	a, err := invoke(t, w.handler(), mustJSON(ev))
	if err != nil || a.allows() {
		t.Fatalf("got %+v %v", a, err)
	}
}

// The policy allows exactly the methods of the key's scopes on every
// resource of the stage, for every event kind; API Gateway then refuses a
// method outside them (403) whichever route the cached answer meets.
func TestPolicyAllowsTheScopesMethods(t *testing.T) {
	w := newWorld(t)
	h := w.handler()
	keys := []struct {
		name   string
		key    string
		id     string
		scopes keyservice.Scopes
	}{
		{"read and write", w.active, keyID, keyservice.AllScopes},
		{"read", w.readOnly, readOnlyID, keyservice.ScopeRead},
		{"write", w.writeOnly, writeOnlyID, keyservice.ScopeWrite},
	}
	for _, k := range keys {
		for _, ev := range []struct {
			kind    string
			payload []byte
			stage   string
		}{
			{"HTTP API 2.0", httpEvent(map[string]string{"authorization": "Bearer " + k.key}), httpStage},
			{"REST TOKEN", tokenEvent("Bearer " + k.key), restStage},
			{"REST REQUEST", requestEvent(map[string]string{"Authorization": "Bearer " + k.key}, nil), restStage},
			{"HTTP API 1.0", httpV1Event(map[string]string{"authorization": "Bearer " + k.key}), httpStage},
		} {
			t.Run(k.name+"/"+ev.kind, func(t *testing.T) {
				a, err := invoke(t, h, ev.payload)
				if err != nil {
					t.Fatal(err)
				}
				want := allowed(ev.stage, k.scopes)
				if a.PolicyDocument == nil || len(a.PolicyDocument.Statement) != 1 ||
					!reflect.DeepEqual(a.PolicyDocument.Statement[0].Resource, want) || a.PolicyDocument.Statement[0].Effect != "Allow" {
					t.Fatalf("policy %+v, want Allow on %v", a.PolicyDocument, want)
				}
				if a.PrincipalID != k.id || a.Context["scopes"] != k.scopes.String() {
					t.Errorf("principal %q context %v", a.PrincipalID, a.Context)
				}
			})
		}
	}
	// With simple responses the scopes travel in the context only.
	out, err := w.handler(authorizer.WithSimpleResponses()).Invoke(context.Background(), httpEvent(map[string]string{"authorization": "Bearer " + w.readOnly}))
	var got events.APIGatewayV2CustomAuthorizerSimpleResponse
	if err != nil || json.Unmarshal(out, &got) != nil || !got.IsAuthorized || got.Context["scopes"] != "read" {
		t.Fatalf("simple response for a read-only key: %s %v", out, err)
	}
}

// A key with allowed addresses is let in only from them: IPv4, IPv6 and
// IPv4-mapped IPv6 source addresses, in every event kind that carries one.
// A REST TOKEN event carries none, so such a key is denied there.
func TestAllowedAddresses(t *testing.T) {
	w := newWorld(t)
	h := w.handler()
	header := map[string]string{"authorization": "Bearer " + w.pinned}
	rest := map[string]string{"Authorization": "Bearer " + w.pinned}
	tests := []struct {
		name    string
		payload []byte
		allow   bool
	}{
		{"HTTP API from inside", httpEventFrom(header, "203.0.113.7"), true},
		{"HTTP API from IPv4-mapped IPv6 inside", httpEventFrom(header, "::ffff:203.0.113.7"), true},
		{"HTTP API from IPv6 inside", httpEventFrom(header, "2001:db8::1"), true},
		{"HTTP API from outside", httpEventFrom(header, "198.51.100.7"), false},
		{"HTTP API from IPv4-mapped IPv6 outside", httpEventFrom(header, "::ffff:198.51.100.7"), false},
		{"HTTP API from IPv6 outside", httpEventFrom(header, "2001:db9::1"), false},
		{"HTTP API without an address", httpEventFrom(header, ""), false},
		{"HTTP API with a malformed address", httpEventFrom(header, "203.0.113.7, 10.0.0.1"), false},
		{"REST REQUEST from inside", requestEventFrom(rest, nil, "203.0.113.9"), true},
		{"REST REQUEST from outside", requestEventFrom(rest, nil, "192.0.2.1"), false},
		{"REST TOKEN (no address)", tokenEvent("Bearer " + w.pinned), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w.logs.Reset()
			a, err := invoke(t, h, tt.payload)
			if err != nil {
				t.Fatal(err)
			}
			if a.allows() != tt.allow {
				t.Fatalf("allows = %v, want %v", a.allows(), tt.allow)
			}
			if !tt.allow {
				checkDecisionLog(t, w.logs.String(), false, "address_not_allowed")
			}
		})
	}
	// A key without allowed addresses works without an address too.
	if a, err := invoke(t, h, tokenEvent("Bearer "+w.active)); err != nil || !a.allows() {
		t.Fatalf("unpinned key in a TOKEN event: %+v %v", a, err)
	}
}

var (
	all        = allowed(restStage, keyservice.AllScopes)
	stage      = []string{stageWildcard}
	everything = []string{"*"}
)

func TestRESTToken(t *testing.T) {
	w := newWorld(t)
	h := w.handler()
	tests := []struct {
		name         string
		token        string
		methodArn    string
		allow        bool
		unauthorized bool     // the "Unauthorized" error (401)
		resource     []string // of the policy
		reason       string
	}{
		{name: "valid key", token: "Bearer " + w.active, allow: true, resource: all, reason: "valid_key"},
		{name: "lower-case bearer", token: "bearer " + w.active, allow: true, resource: all, reason: "valid_key"},
		{name: "resource of a deep route", token: "Bearer " + w.active, methodArn: restStage + "/POST/v1/api-keys/X/revoke", allow: true, resource: all, reason: "valid_key"},
		{name: "other partition", token: "Bearer " + w.active, methodArn: "arn:aws-cn:execute-api:cn-north-1:" + account + ":" + apiID + "/dev/GET/", allow: true,
			resource: allowed("arn:aws-cn:execute-api:cn-north-1:"+account+":"+apiID+"/dev", keyservice.AllScopes), reason: "valid_key"},

		{name: "missing token", token: "", unauthorized: true, reason: "missing_header"},
		{name: "Bearer alone", token: "Bearer", unauthorized: true, reason: "not_bearer"},
		{name: "Basic scheme", token: "Basic abc", unauthorized: true, reason: "not_bearer"},
		{name: "two tokens", token: "Bearer " + w.active + " x", unauthorized: true, reason: "malformed_header"},
		{name: "comma-joined", token: "Bearer " + w.active + ", Bearer " + w.active, unauthorized: true, reason: "multiple_values"},
		{name: "malformed key", token: "Bearer kst_nope", resource: stage, reason: "key_malformed"},
		{name: "unknown key", token: "Bearer " + w.unknown, resource: stage, reason: "key_unknown"},
		{name: "revoked key", token: "Bearer " + w.revoked, resource: stage, reason: "key_revoked"},
		{name: "expired key", token: "Bearer " + w.expired, resource: stage, reason: "key_expired"},
		{name: "no methodArn", token: "Bearer " + w.active, methodArn: "-", resource: everything, reason: "bad_method_arn"},
		{name: "methodArn of another service", token: "Bearer " + w.active, methodArn: "arn:aws:lambda:" + region + ":" + account + ":function/x", resource: everything, reason: "bad_method_arn"},
		{name: "wildcard api id", token: "Bearer " + w.active, methodArn: "arn:aws:execute-api:" + region + ":" + account + ":*/prod/GET/x", resource: everything, reason: "bad_method_arn"},
		{name: "no stage", token: "Bearer " + w.active, methodArn: "arn:aws:execute-api:" + region + ":" + account + ":" + apiID, resource: everything, reason: "bad_method_arn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w.logs.Reset()
			ev := map[string]any{"type": "TOKEN", "authorizationToken": tt.token, "methodArn": methodArn}
			switch tt.methodArn {
			case "":
			case "-":
				delete(ev, "methodArn")
			default:
				ev["methodArn"] = tt.methodArn
			}
			a, err := invoke(t, h, mustJSON(ev))
			checkPolicy(t, a, err, tt.allow, tt.unauthorized, tt.resource)
			checkDecisionLog(t, w.logs.String(), tt.allow, tt.reason)
			noKeyInLogs(t, w.logs.String(), w.active, w.revoked, w.expired, w.unknown)
		})
	}
}

func TestRESTRequest(t *testing.T) {
	w := newWorld(t)
	h := w.handler()
	tests := []struct {
		name         string
		payload      []byte
		allow        bool
		unauthorized bool
		resource     []string
	}{
		{"valid key", requestEvent(map[string]string{"Authorization": "Bearer " + w.active}, nil), true, false, all},
		{"lower-case header name", requestEvent(map[string]string{"authorization": "Bearer " + w.active}, nil), true, false, all},
		{"odd header name", requestEvent(map[string]string{"aUtHoRiZaTiOn": "bEaReR " + w.active}, nil), true, false, all},
		{"multi-value with one value", requestEvent(map[string]string{"Authorization": "Bearer " + w.active},
			map[string][]string{"Authorization": {"Bearer " + w.active}}), true, false, all},
		{"HTTP API payload 1.0", httpV1Event(map[string]string{"authorization": "Bearer " + w.active}), true, false,
			allowed(httpStage, keyservice.AllScopes)},

		{"no header", requestEvent(map[string]string{"Host": "x"}, nil), false, true, nil},
		{"two header values", requestEvent(map[string]string{"Authorization": "Bearer " + w.active},
			map[string][]string{"Authorization": {"Bearer " + w.unknown, "Bearer " + w.active}}), false, true, nil},
		{"two header names", requestEvent(map[string]string{"Authorization": "Bearer " + w.active, "authorization": "Bearer " + w.active}, nil), false, true, nil},
		{"unknown key", requestEvent(map[string]string{"Authorization": "Bearer " + w.unknown}, nil), false, false, stage},
		{"revoked key", requestEvent(map[string]string{"Authorization": "Bearer " + w.revoked}, nil), false, false, stage},
		{"HTTP API payload 1.0 revoked", httpV1Event(map[string]string{"authorization": "Bearer " + w.revoked}), false, false,
			[]string{httpStage + "/*/*"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := invoke(t, h, tt.payload)
			checkPolicy(t, a, err, tt.allow, tt.unauthorized, tt.resource)
		})
	}
}

// When the authorizer cannot decide, it fails the invocation (API Gateway
// answers 500 and caches nothing) in every event format, with simple
// responses too; it never allows and never answers a deny that API Gateway
// would cache for the whole TTL.
func TestFailuresFailTheInvocation(t *testing.T) {
	w := newWorld(t)
	key := w.active
	tests := []struct {
		name   string
		auth   func(w *world) authorizer.Authorizer
		opts   []authorizer.Option
		reason string
	}{
		{"store error", func(w *world) authorizer.Authorizer {
			w.store.findErr = fmt.Errorf("dynamodb: connection refused for %s", key) // even an error quoting the key
			return w.svc
		}, nil, "error"},
		{"pepper error", func(w *world) authorizer.Authorizer {
			return keyservice.New(w.store, testkit.Peppers{Err: errors.New("secret unavailable")}, keyservice.Config{})
		}, nil, "error"},
		{"empty pepper set", func(w *world) authorizer.Authorizer {
			return keyservice.New(w.store, testkit.Peppers{}, keyservice.Config{})
		}, nil, "error"},
		{"panic in the store", func(w *world) authorizer.Authorizer {
			// A store without FindCredential: the nil embedded interface panics.
			s := struct{ keyservice.Store }{}
			return keyservice.New(s, testkit.StaticPeppers(t), keyservice.Config{})
		}, nil, "panic"},
		{"panic in Authorize", func(*world) authorizer.Authorizer {
			return authFunc(func(context.Context, string) (keyservice.Principal, error) { panic("boom") })
		}, nil, "panic"},
		{"timeout", func(*world) authorizer.Authorizer {
			return authFunc(func(ctx context.Context, _ string) (keyservice.Principal, error) {
				<-ctx.Done()
				return keyservice.Principal{FirmID: "acme", KeyID: "late"}, ctx.Err()
			})
		}, []authorizer.Option{authorizer.WithTimeout(20 * time.Millisecond)}, "timeout"},
		{"principal without firm", func(*world) authorizer.Authorizer {
			return authFunc(func(context.Context, string) (keyservice.Principal, error) {
				return keyservice.Principal{KeyID: keyID}, nil
			})
		}, nil, "incomplete_principal"},
		{"principal without scopes", func(*world) authorizer.Authorizer {
			return authFunc(func(context.Context, string) (keyservice.Principal, error) {
				return keyservice.Principal{FirmID: firmID, KeyID: keyID}, nil
			})
		}, nil, "incomplete_principal"},
		{"principal with an error", func(*world) authorizer.Authorizer {
			return authFunc(func(context.Context, string) (keyservice.Principal, error) {
				return keyservice.Principal{FirmID: firmID, KeyID: keyID}, errBoom
			})
		}, nil, "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.active = key
			auth := tt.auth(w)
			h := authorizer.New(auth, w.log, tt.opts...)
			simple := authorizer.New(auth, w.log, append(tt.opts, authorizer.WithSimpleResponses())...)
			for _, c := range []struct {
				h       *authorizer.Handler
				payload []byte
			}{
				{h, httpEvent(map[string]string{"authorization": "Bearer " + key})},
				{simple, httpEvent(map[string]string{"authorization": "Bearer " + key})},
				{h, tokenEvent("Bearer " + key)},
				{h, requestEvent(map[string]string{"Authorization": "Bearer " + key}, nil)},
			} {
				w.logs.Reset()
				start := time.Now()
				out, err := c.h.Invoke(context.Background(), c.payload)
				if !errors.Is(err, authorizer.ErrUndecided) || out != nil {
					t.Fatalf("got %s, %v; want no answer and ErrUndecided", out, err)
				}
				if strings.Contains(err.Error(), key) {
					t.Fatal("the function error holds the key")
				}
				if time.Since(start) > 2*time.Second {
					t.Errorf("took %v", time.Since(start))
				}
				logs := w.logs.String()
				if !strings.Contains(logs, `"reason":"`+tt.reason+`"`) || !strings.Contains(logs, `"decision":"fail"`) {
					t.Errorf("log %s lacks reason %s", logs, tt.reason)
				}
				noKeyInLogs(t, logs, key)
			}
		})
	}
}

func TestUnknownEventsDeny(t *testing.T) {
	w := newWorld(t)
	h := w.handler()
	for _, tt := range []struct {
		name    string
		payload string
	}{
		{"empty", ""},
		{"null", "null"},
		{"not JSON", "\xff\xfe{"},
		{"array", "[]"},
		{"empty object", "{}"},
		{"API Gateway proxy event", `{"version":"2.0","routeKey":"GET /","rawPath":"/","headers":{"authorization":"Bearer ` + w.active + `"}}`},
		{"REQUEST without methodArn", `{"type":"REQUEST","headers":{"authorization":"Bearer ` + w.active + `"}}`},
		{"version 3", `{"version":"3.0","type":"REQUEST","headers":{"authorization":"Bearer ` + w.active + `"}}`},
		{"v2 with headers of the wrong type", `{"version":"2.0","type":"REQUEST","headers":42}`},
		{"TOKEN with token of the wrong type", `{"type":"TOKEN","authorizationToken":["Bearer ` + w.active + `"],"methodArn":"` + methodArn + `"}`},
		{"REQUEST with headers of the wrong type", `{"type":"REQUEST","methodArn":"` + methodArn + `","headers":"Bearer ` + w.active + `"}`},
		{"huge", `{"type":"TOKEN","authorizationToken":"` + strings.Repeat("x", 6<<20) + `"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, err := invoke(t, h, []byte(tt.payload))
			if err != nil && !errors.Is(err, authorizer.ErrUnauthorized) {
				t.Fatalf("unexpected error %v", err)
			}
			if a.allows() {
				t.Fatalf("allowed: %+v", a)
			}
		})
	}
	// The universal deny is a deny for both API types.
	out, err := h.Invoke(context.Background(), []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	var simple events.APIGatewayV2CustomAuthorizerSimpleResponse
	var policy events.APIGatewayCustomAuthorizerResponse
	if json.Unmarshal(out, &simple) != nil || simple.IsAuthorized || json.Unmarshal(out, &policy) != nil ||
		len(policy.PolicyDocument.Statement) != 1 || policy.PolicyDocument.Statement[0].Effect != "Deny" {
		t.Fatalf("universal deny = %s", out)
	}
}

// The last-used time is written through the service on an allowed use.
func TestAllowTouchesLastUsed(t *testing.T) {
	w := newWorld(t)
	if _, err := invoke(t, w.handler(), tokenEvent("Bearer "+w.active)); err != nil {
		t.Fatal(err)
	}
	if w.store.touched != 1 {
		t.Errorf("touched %d times", w.store.touched)
	}
}

func checkPolicy(t *testing.T, a answer, err error, allow, unauthorized bool, resources []string) {
	t.Helper()
	if unauthorized {
		if !errors.Is(err, authorizer.ErrUnauthorized) || err.Error() != "Unauthorized" {
			t.Fatalf("want the Unauthorized error, got %+v, %v", a, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("unexpected error %v", err)
	}
	if a.PolicyDocument == nil || a.PolicyDocument.Version != "2012-10-17" || len(a.PolicyDocument.Statement) != 1 {
		t.Fatalf("bad policy %+v", a)
	}
	st := a.PolicyDocument.Statement[0]
	wantEffect := "Deny"
	if allow {
		wantEffect = "Allow"
	}
	if st.Effect != wantEffect || !reflect.DeepEqual(st.Action, []string{"execute-api:Invoke"}) || !reflect.DeepEqual(st.Resource, resources) {
		t.Fatalf("statement %+v, want %s on %v", st, wantEffect, resources)
	}
	if allow {
		if a.PrincipalID != keyID || !reflect.DeepEqual(a.Context, wantContext) {
			t.Fatalf("allow: principal %q context %v", a.PrincipalID, a.Context)
		}
	} else if a.Context != nil || a.PrincipalID == "" {
		t.Fatalf("deny: principal %q context %v", a.PrincipalID, a.Context)
	}
	if a.IsAuthorized != nil {
		t.Errorf("a policy answer carries isAuthorized")
	}
}

// checkDecisionLog checks the one log line of a decision.
func checkDecisionLog(t *testing.T, logs string, allow bool, reason string) {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "authorizer decision" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("want one decision line, got %d: %s", len(lines), logs)
	}
	d := lines[0]
	want := "deny"
	if allow {
		want = "allow"
	}
	if d["decision"] != want || d["reason"] != reason {
		t.Errorf("decision line %v, want %s/%s", d, want, reason)
	}
	if allow && (d["keyId"] != keyID || d["firmId"] != firmID) {
		t.Errorf("allow line lacks the key id: %v", d)
	}
}

func mistype(k string) string {
	b := []byte(k)
	if b[10] == 'a' {
		b[10] = 'b'
	} else {
		b[10] = 'a'
	}
	return string(b)
}

// A valid key decides the same whatever members the decision does not read
// hold (API Gateway builds the event, but a parser on this path must not be
// led astray), and a member it reads with the wrong type denies.
func TestOddMembersDecideAsTheStandardParser(t *testing.T) {
	w := newWorld(t)
	h := w.handler()
	with := func(mutate func(ev map[string]any)) []byte {
		var ev map[string]any
		if err := json.Unmarshal(httpEvent(map[string]string{"authorization": "Bearer " + w.active}), &ev); err != nil {
			t.Fatal(err)
		}
		mutate(ev)
		return mustJSON(ev)
	}
	rc := func(ev map[string]any) map[string]any { return ev["requestContext"].(map[string]any) }
	tests := []struct {
		name   string
		event  []byte
		allows bool
	}{
		{"cookies an object", with(func(ev map[string]any) { ev["cookies"] = map[string]any{} }), true},
		{"stageVariables with a number", with(func(ev map[string]any) { ev["stageVariables"] = map[string]any{"a": 1} }), true},
		{"timeEpoch a string", with(func(ev map[string]any) { rc(ev)["timeEpoch"] = "1795608000000" }), true},
		{"routeArn a number", with(func(ev map[string]any) { ev["routeArn"] = 1 }), false},
		{"requestId a number", with(func(ev map[string]any) { rc(ev)["requestId"] = 1 }), false},
		{"headers an array", with(func(ev map[string]any) { ev["headers"] = []string{"Bearer " + w.active} }), false},
		// A stray Latin-1 byte in a header the decision does not read
		// leaves a valid key allowed.
		{"invalid UTF-8 in another header", bytes.Replace(with(func(map[string]any) {}), []byte(`"headers":{`), []byte("\"headers\":{\"user-agent\":\"caf\xe9\","), 1), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := invoke(t, h, tt.event)
			if err != nil {
				t.Fatal(err)
			}
			if a.allows() != tt.allows {
				t.Fatalf("allows = %v, want %v", a.allows(), tt.allows)
			}
		})
	}
}
