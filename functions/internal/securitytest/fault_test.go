package securitytest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
	"github.com/kudurrustone/apikeys/functions/internal/authorizer"
	"github.com/kudurrustone/apikeys/functions/internal/ddblocal"
	"github.com/kudurrustone/apikeys/functions/internal/faults"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
	"github.com/kudurrustone/apikeys/functions/internal/storetest"
)

// internalMessage is the one message a 500 may carry.
const internalMessage = "An internal error occurred. Please try again."

// wantInternalOrOK checks a management answer under a fault: either the
// call succeeded (okStatus) or it is 500 internal with the generic message
// and nothing internal in it. It reports whether it succeeded.
func wantInternalOrOK(t testing.TB, what string, r response, okStatus int, internals ...string) bool {
	t.Helper()
	if r.status == okStatus {
		return true
	}
	if r.status != http.StatusInternalServerError {
		t.Errorf("%s: %s, want %d or 500 internal", what, r, okStatus)
		return false
	}
	var env struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(r.body, &env); err != nil || env.Error.Code != "internal" || env.Error.Message != internalMessage {
		t.Errorf("%s: 500 body %s, want the generic internal envelope", what, r.body)
	}
	for _, s := range append(internals, "DynamoDB", "dynamodb", "Exception", "ddbstore", "keyservice", "127.0.0.1", "deadline", "connection") {
		if s != "" && bytes.Contains(r.body, []byte(s)) {
			t.Errorf("%s: 500 body reveals %q: %s", what, s, r.body)
		}
	}
	return false
}

// faultCase is one fault and when it strikes.
type faultCase struct {
	name  string
	fault faults.Fault
	stop  bool // stop the endpoint instead (DynamoDB Local gone)
}

func faultCases() []faultCase {
	var out []faultCase
	for _, f := range []faults.Fault{
		{Kind: faults.ThroughputExceeded},
		{Kind: faults.Throttling},
		{Kind: faults.InternalError},
		{Kind: faults.Unavailable},
		{Kind: faults.Drop},
		{Kind: faults.Delay, Delay: 600 * time.Millisecond},
		{Kind: faults.ThroughputExceeded, Op: "GetItem"},
		{Kind: faults.ThroughputExceeded, Op: "TransactWriteItems"},
		{Kind: faults.Throttling, Op: "Query"},
		{Kind: faults.Drop, Op: "TransactWriteItems"},
		{Kind: faults.DropAfterForward, Op: "TransactWriteItems"},
		{Kind: faults.Delay, Op: "TransactWriteItems", Delay: 600 * time.Millisecond},
	} {
		out = append(out, faultCase{name: f.String(), fault: f})
	}
	return append(out, faultCase{name: "DynamoDB Local stopped", stop: true})
}

// faultLedger counts for the report.
type faultLedger struct {
	injected, failed, allowedWithoutFault, internal, ok int
}

// TestFailClosedDynamoDB injects every fault between the store and
// DynamoDB Local and checks: whenever a fault struck its call, the
// authorizer never allows — the service returns an error that is not a
// deny, and the Lambda handler fails the invocation on every event kind
// (API Gateway answers 500 and caches nothing) instead of answering a deny
// it would cache; the
// management routes answer success or 500 internal (generic); after
// recovery everything works and retries are safe; and the table never holds
// anything half-written.
func TestFailClosedDynamoDB(t *testing.T) {
	proxy := faults.Start(t, ddblocal.Endpoint(t))
	env := openDDB(t, fastClient(proxy.URL()))
	s := newStack(t, env, withMaxKeys(100))
	firm := storetest.NewFirmID(t)
	used := s.generate(firm, "Always used")
	var ledger faultLedger

	for _, fc := range faultCases() {
		for _, stale := range []bool{false, true} {
			name := fc.name
			if stale {
				name += "/last-used stale"
			}
			t.Run(name, func(t *testing.T) {
				s := s.with(t)
				victim := s.generate(firm, "Victim")
				if stale {
					s.clock.Advance(2 * time.Minute) // the next use writes last-used
				}
				before := total(proxy.Injected())
				if fc.stop {
					proxy.Stop()
				} else {
					proxy.Inject(fc.fault)
				}
				struck := func() bool { return fc.stop || total(proxy.Injected()) > before }

				// The authorizer: service and Lambda handler, every event kind.
				// A delay must outlast the deadline; otherwise deadlines are
				// generous, so a slow machine does not look like a fault.
				deadline, under := 5*time.Second, s
				if fc.fault.Kind == faults.Delay {
					deadline = 150 * time.Millisecond
					under = s.with(t)
					under.auth = authorizer.New(s.svc, s.log, authorizer.WithTimeout(deadline))
				}
				ctx := context.Background()
				for _, key := range []string{used.Key, victim.Key} {
					mark := total(proxy.Injected())
					// The handler bounds Authorize the same way.
					p, err := s.svc.Authorize(timeout(t, deadline), key)
					hit := fc.stop || total(proxy.Injected()) > mark
					switch {
					case hit && err == nil:
						t.Errorf("Authorize allowed %s although a fault struck it", p.KeyID)
					case !hit && err != nil && !(fc.fault.Kind == faults.Delay && errors.Is(err, context.DeadlineExceeded)):
						// (A short deadline may expire on a loaded machine.)
						t.Errorf("Authorize failed without a fault: %v", err)
					case err != nil && errors.Is(err, keyservice.ErrDenied):
						t.Errorf("a store failure is reported as a plain deny: %v", err)
					}
					mark = total(proxy.Injected())
					ok, _, failed := under.authorizeAll(ctx, "Bearer "+key)
					hit = fc.stop || total(proxy.Injected()) > mark
					switch {
					case hit && ok:
						t.Errorf("authorizer handler allowed although a fault struck")
					case hit && !failed:
						// A deny would be cached by API Gateway for the
						// whole TTL, locking a working key out.
						t.Errorf("authorizer handler answered a deny although it could not decide; want a failed invocation")
					}
					if hit {
						ledger.failed++
					} else if ok {
						ledger.allowedWithoutFault++
					}
				}

				// The management routes.
				adm := admin(firm)
				gen := s.do(request{method: "POST", target: "/v1/api-keys", body: `{"label":"Under fault"}`, claims: adm, ctx: timeout(t, deadline+100*time.Millisecond)})
				wantInternalOrOK(t, "generate", gen, http.StatusCreated, env.table)
				lst := s.do(request{method: "GET", target: "/v1/api-keys", claims: adm, ctx: timeout(t, deadline+100*time.Millisecond)})
				wantInternalOrOK(t, "list", lst, http.StatusOK, env.table)
				rev := s.do(request{method: "POST", target: "/v1/api-keys/" + victim.ID + "/revoke", claims: adm, ctx: timeout(t, deadline+100*time.Millisecond)})
				revoked := wantInternalOrOK(t, "revoke", rev, http.StatusOK, env.table)
				for _, r := range []response{gen, lst, rev} {
					if r.status == http.StatusInternalServerError {
						ledger.internal++
					} else {
						ledger.ok++
					}
				}
				if fc.stop && (gen.status != 500 || lst.status != 500 || rev.status != 500) {
					t.Errorf("with DynamoDB Local stopped: generate %d, list %d, revoke %d; want 500s", gen.status, lst.status, rev.status)
				}
				if struck() {
					ledger.injected++
				}

				// Recover.
				proxy.Clear()
				if fc.stop {
					if err := proxy.Restart(); err != nil {
						t.Fatal(err)
					}
				}
				// Let delayed requests drain before reading the table.
				time.Sleep(fc.fault.Delay)
				checkInvariants(t, env.snapshot(t))

				// Retry is safe: revoking again succeeds, with the first
				// revocation's time if it had been applied.
				again := s.revoke(adm, victim.ID)
				if again.status != http.StatusOK {
					t.Fatalf("revoke after recovery: %s", again)
				}
				var k1, k2 keyJSON
				_ = json.Unmarshal(again.body, &k2)
				if revoked {
					_ = json.Unmarshal(rev.body, &k1)
					if k1.RevokedAt == nil || k2.RevokedAt == nil || *k1.RevokedAt != *k2.RevokedAt {
						t.Errorf("revokedAt changed on retry: %v vs %v", k1.RevokedAt, k2.RevokedAt)
					}
				}
				if ok, _ := s.authorize(ctx, "Bearer "+victim.Key); ok {
					t.Error("revoked key allowed after recovery")
				}
				if ok, _ := s.authorize(ctx, "Bearer "+used.Key); !ok {
					t.Error("valid key denied after recovery")
				}
				// Do not let keys pile up: revoke what generate made.
				if gen.status == http.StatusCreated {
					var g keyJSON
					_ = json.Unmarshal(gen.body, &g)
					s.revoke(adm, g.ID)
				}
				checkInvariants(t, env.snapshot(t))
			})
		}
	}
	t.Logf("DynamoDB faults: %d cases struck; authorizations failed (no answer to cache) under a fault: %d; allowed without a fault: %d; management answers: %d internal, %d ok; injected: %v",
		ledger.injected, ledger.failed, ledger.allowedWithoutFault, ledger.internal, ledger.ok, proxy.Injected())
}

// TestFaultOnEachRequest strikes the Nth DynamoDB request of a whole key
// life (generate, use, revoke, use) with each kind of fault in turn, then
// retries what failed and checks nothing was lost, nothing half-written and
// the revoked key is denied.
func TestFaultOnEachRequest(t *testing.T) {
	proxy := faults.Start(t, ddblocal.Endpoint(t))
	env := openDDB(t, fastClient(proxy.URL()))
	s := newStack(t, env, withMaxKeys(100))
	firm := storetest.NewFirmID(t)
	adm := admin(firm)
	// The story costs 6 requests: TWI (create), GetItem+TWI (use, first
	// touch), GetItem+TWI (revoke), GetItem (use).
	const requests = 6
	runs := 0
	for _, kind := range []faults.Kind{faults.ThroughputExceeded, faults.Drop, faults.DropAfterForward, faults.InternalError} {
		for n := 1; n <= requests; n++ {
			t.Run(fmt.Sprintf("%v on request %d", kind, n), func(t *testing.T) {
				s := s.with(t)
				runs++
				s.clock.Advance(2 * time.Minute)
				proxy.ResetCounts()
				proxy.Inject(faults.Fault{Kind: kind, Nth: n})
				defer proxy.Clear()

				gen := s.do(request{method: "POST", target: "/v1/api-keys", body: `{"label":"Nth"}`, claims: adm})
				if !wantInternalOrOK(t, "generate", gen, http.StatusCreated, env.table) {
					// Nothing to use or revoke; the retry below must work.
					proxy.Clear()
					checkInvariants(t, env.snapshot(t))
					gen = s.do(request{method: "POST", target: "/v1/api-keys", body: `{"label":"Nth retry"}`, claims: adm})
					if gen.status != http.StatusCreated {
						t.Fatalf("generate retry: %s", gen)
					}
				}
				var k keyJSON
				_ = json.Unmarshal(gen.body, &k)
				mark := total(proxy.Injected())
				if _, err := s.svc.Authorize(context.Background(), k.Key); err != nil && total(proxy.Injected()) == mark {
					t.Errorf("use failed without a fault: %v", err)
				}
				for attempt := 0; ; attempt++ {
					r := s.revoke(adm, k.ID)
					if wantInternalOrOK(t, "revoke", r, http.StatusOK, env.table) {
						break
					}
					if attempt > 2 {
						t.Fatalf("revoke never succeeded: %s", r)
					}
				}
				if _, err := s.svc.Authorize(context.Background(), k.Key); err == nil {
					t.Error("revoked key allowed")
				}
				proxy.Clear()
				time.Sleep(10 * time.Millisecond)
				checkInvariants(t, env.snapshot(t))
				if c := proxy.Count(""); c < n {
					t.Logf("only %d requests; fault #%d never struck", c, n)
				}
			})
		}
	}
	t.Logf("Nth-request faults: %d runs; injected: %v", runs, proxy.Injected())
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func timeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestLostAnswerWithSDKRetries: DynamoDB applies CreateKey's transaction but
// the answer is lost, and the SDK (default retries) sends it again. The
// retry carries the same ClientRequestToken, so it must not create a second
// key or count one twice.
func TestLostAnswerWithSDKRetries(t *testing.T) {
	proxy := faults.Start(t, ddblocal.Endpoint(t))
	client := fastClient(proxy.URL())
	retrying := dynamodb.New(client.Options(), func(o *dynamodb.Options) { o.RetryMaxAttempts = 3 })
	env := openDDB(t, retrying)
	s := newStack(t, env, withMaxKeys(5))
	firm := storetest.NewFirmID(t)
	proxy.Inject(faults.Fault{Kind: faults.DropAfterForward, Op: "TransactWriteItems", Nth: 1})
	r := s.do(request{method: "POST", target: "/v1/api-keys", body: `{"label":"Lost answer"}`, claims: admin(firm)})
	proxy.Clear()
	wantInternalOrOK(t, "generate", r, http.StatusCreated, env.table)
	snap := env.snapshot(t)
	checkInvariants(t, snap)
	t.Logf("generate answered %d; the table holds %d key(s) for the firm; TransactWriteItems sent: %d",
		r.status, len(snap.keysOf(firm)), proxy.Count("TransactWriteItems"))
	if n := len(snap.keysOf(firm)); n != 1 {
		t.Errorf("the firm has %d keys after one generate, want 1 (a retried transaction created another)", n)
	}
}

// panickyStore panics in every read, as a store bug would.
type panickyStore struct{ keyservice.Store }

func (panickyStore) FindCredential(context.Context, apikey.Digest) (keyservice.Credential, error) {
	panic("store bug")
}

func (panickyStore) ListKeys(context.Context, string, string, int) ([]keyservice.Key, error) {
	var m map[string]int
	m["x"]++ // a runtime error
	return nil, nil
}

// TestStorePanicDenies: a panic inside the store denies (authorizer) or is
// a 500 internal (handlers), never an allow or a crash.
func TestStorePanicDenies(t *testing.T) {
	env := openBolt(t)
	firm := storetest.NewFirmID(t)
	k := newStack(t, env).generate(firm, "Before the bug")
	s := newStack(t, env, withStoreWrapper(func(st keyservice.Store) keyservice.Store { return panickyStore{st} }))
	if ok, _ := s.authorize(context.Background(), "Bearer "+k.Key); ok {
		t.Fatal("allowed while the store panics")
	}
	r, _ := s.list(admin(firm), "")
	wantError(t, r, http.StatusInternalServerError, keyservice.CodeInternal)
	wantInternalOrOK(t, "list", r, http.StatusOK, "store bug", "nil map")
	storetest.AssertNoPlaintext(t, s.logs.Bytes(), []string{k.Key})
}
