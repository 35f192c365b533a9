package securitytest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kudurrustone/apikeys/functions/internal/ddblocal"
	"github.com/kudurrustone/apikeys/functions/internal/faults"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
	"github.com/kudurrustone/apikeys/functions/internal/storetest"
)

// TestRevokeRacingAuthorizations: 100 goroutines authorize a key in a loop
// while it is revoked. Every authorization that starts after Revoke
// returned must deny; the ones that overlap it may go either way.
func TestRevokeRacingAuthorizations(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) *storeEnv) {
		s := newStack(t, open(t))
		firm := storetest.NewFirmID(t)
		k := s.generate(firm, "Racing")
		ctx := context.Background()

		const workers = 100
		var revokedAt atomic.Int64 // UnixNano after Revoke returned; 0 before
		var stop atomic.Bool
		var after, afterAllowed, before, beforeAllowed atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for !stop.Load() {
					began := time.Now().UnixNano()
					revoked := revokedAt.Load()
					_, err := s.svc.Authorize(ctx, k.Key)
					if err != nil && !errors.Is(err, keyservice.ErrDenied) {
						t.Errorf("Authorize: %v", err)
						return
					}
					if revoked != 0 && began > revoked {
						after.Add(1)
						if err == nil {
							afterAllowed.Add(1)
						}
					} else {
						before.Add(1)
						if err == nil {
							beforeAllowed.Add(1)
						}
					}
				}
			}()
		}
		close(start)
		// Let authorizations run against the active key first.
		for deadline := time.Now().Add(10 * time.Second); beforeAllowed.Load() < workers && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		if _, err := s.svc.Revoke(ctx, keyservice.Admin{Subject: "admin", FirmID: firm, IsAdmin: true}, k.ID); err != nil {
			t.Fatalf("Revoke: %v", err)
		}
		revokedAt.Store(time.Now().UnixNano())
		// Authorizations that start after the revoke: at least one per
		// worker, however slow the store is under the race detector.
		for deadline := time.Now().Add(10 * time.Second); after.Load() < 2*workers && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		stop.Store(true)
		wg.Wait()
		t.Logf("%d authorizations started before or during the revoke (%d allowed); %d started after it returned (%d allowed)",
			before.Load(), beforeAllowed.Load(), after.Load(), afterAllowed.Load())
		if after.Load() < workers {
			t.Fatalf("only %d authorizations started after the revoke; the race was not exercised", after.Load())
		}
		if beforeAllowed.Load() == 0 {
			t.Fatal("no authorization was allowed before the revoke; the race was not exercised")
		}
		if n := afterAllowed.Load(); n != 0 {
			t.Fatalf("%d authorizations that started after Revoke returned were allowed", n)
		}
		checkInvariants(t, s.env.snapshot(t))
	})
}

// TestGenerateRacingTheLimit: 20 parallel generate calls through the HTTP
// handler against a limit of 5 create exactly 5 keys; the others get 409
// key_limit_reached, never a 500.
func TestGenerateRacingTheLimit(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) *storeEnv) {
		s := newStack(t, open(t), withMaxKeys(5))
		firm := storetest.NewFirmID(t)
		const calls = 20
		statuses := make([]response, calls)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range calls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				hr, err := newHTTPRequest(request{method: "POST", target: "/v1/api-keys", body: fmt.Sprintf(`{"label":"Race %d"}`, i), claims: admin(firm)})
				if err != nil {
					t.Error(err)
					return
				}
				statuses[i] = serveRequest(s.api, hr)
			}()
		}
		close(start)
		wg.Wait()
		created, limited := 0, 0
		for _, r := range statuses {
			switch r.status {
			case http.StatusCreated:
				created++
			case http.StatusConflict:
				if r.code(t) != keyservice.CodeKeyLimitReached {
					t.Errorf("409 with code %s", r.code(t))
				}
				limited++
			default:
				t.Errorf("generate: %s", r)
			}
		}
		if created != 5 || limited != calls-5 {
			t.Fatalf("%d created, %d key_limit_reached; want 5 and %d", created, limited, calls-5)
		}
		snap := s.env.snapshot(t)
		checkInvariants(t, snap)
		if n := len(snap.keysOf(firm)); n != 5 {
			t.Fatalf("the store holds %d keys of the firm, want 5", n)
		}
		// The limit still holds afterwards, and a revoke frees one slot.
		wantError(t, s.do(request{method: "POST", target: "/v1/api-keys", body: `{"label":"Sixth"}`, claims: admin(firm)}), http.StatusConflict, keyservice.CodeKeyLimitReached)
		_, l := s.list(admin(firm), "")
		if r := s.revoke(admin(firm), l.Items[0].ID); r.status != http.StatusOK {
			t.Fatalf("revoke: %s", r)
		}
		s.generate(firm, "After revoke")
		checkInvariants(t, s.env.snapshot(t))
	})
}

// TestLastUsedOneWritePerMinute: 1,000 parallel authorizations of one key
// within one minute write last-used once; a minute later, once more.
func TestLastUsedOneWritePerMinute(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) *storeEnv) {
		var counter *countingStore
		s := newStack(t, open(t), withStoreWrapper(func(st keyservice.Store) keyservice.Store {
			counter = &countingStore{Store: st}
			return counter
		}))
		k := s.generate(storetest.NewFirmID(t), "Busy")
		burst := func() {
			var wg sync.WaitGroup
			start := make(chan struct{})
			var failed atomic.Int64
			for range 1000 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					if _, err := s.svc.Authorize(context.Background(), k.Key); err != nil {
						failed.Add(1)
					}
				}()
			}
			close(start)
			wg.Wait()
			if n := failed.Load(); n != 0 {
				t.Fatalf("%d of 1000 authorizations failed", n)
			}
		}
		burst()
		if w := counter.touchWrites.Load(); w != 1 {
			t.Fatalf("first minute: %d last-used writes, want 1 (%d attempts)", w, counter.touches.Load())
		}
		// One process coalesces a burst: one attempt, not one per request
		// that read a stale last-used time.
		first := counter.touches.Load()
		if first != 1 {
			t.Fatalf("first minute: %d last-used write attempts, want 1", first)
		}
		s.clock.Advance(30 * time.Second)
		for range 10 {
			if _, err := s.svc.Authorize(context.Background(), k.Key); err != nil {
				t.Fatal(err)
			}
		}
		if w := counter.touchWrites.Load(); w != 1 {
			t.Fatalf("30 s later: %d last-used writes, want still 1", w)
		}
		s.clock.Advance(31 * time.Second) // 61 s after the first write
		burst()
		if w, a := counter.touchWrites.Load(), counter.touches.Load(); w != 2 || a != 2 {
			t.Fatalf("61 s later: %d last-used writes in %d attempts, want 2 in 2", w, a)
		}
		t.Logf("%s: 2010 authorizations, %d FindCredential calls, %d TouchLastUsed attempts (%d in the first burst), %d writes",
			s.env.name, counter.finds.Load(), counter.touches.Load(), first, counter.touchWrites.Load())
		checkInvariants(t, s.env.snapshot(t))
	})
}

// TestDynamoDBRequestsPerAuthorization counts DynamoDB requests on the wire
// (through the faults proxy): every authorization is one GetItem, and
// last-used costs one TransactWriteItems per key per minute.
func TestDynamoDBRequestsPerAuthorization(t *testing.T) {
	proxy := faults.Start(t, ddblocal.Endpoint(t))
	// No retries (each request on the wire is one call), and room for a
	// burst of 1,000 parallel calls.
	client := fastClient(proxy.URL())
	client = dynamodb.New(client.Options(), func(o *dynamodb.Options) {
		o.HTTPClient = &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxConnsPerHost: 128, MaxIdleConnsPerHost: 128}}
	})
	env := openDDB(t, client)
	s := newStack(t, env)
	k := s.generate(storetest.NewFirmID(t), "Counted")
	ctx := context.Background()
	proxy.ResetCounts()
	for range 100 {
		if _, err := s.svc.Authorize(ctx, k.Key); err != nil {
			t.Fatal(err)
		}
	}
	if g, w := proxy.Count("GetItem"), proxy.Count("TransactWriteItems"); g != 100 || w != 1 || proxy.Count("") != 101 {
		t.Fatalf("100 sequential authorizations in a minute: %v; want 100 GetItem and 1 TransactWriteItems", proxy.Counts())
	}
	s.clock.Advance(61 * time.Second)
	proxy.ResetCounts()
	for range 100 {
		if _, err := s.svc.Authorize(ctx, k.Key); err != nil {
			t.Fatal(err)
		}
	}
	if g, w := proxy.Count("GetItem"), proxy.Count("TransactWriteItems"); g != 100 || w != 1 {
		t.Fatalf("the next minute: %v; want 100 GetItem and 1 TransactWriteItems", proxy.Counts())
	}
	// A denied key (unknown, or malformed) costs one GetItem, or nothing.
	proxy.ResetCounts()
	unknown := s.generate("another-firm", "x")
	s.revoke(admin("another-firm"), unknown.ID)
	proxy.ResetCounts()
	if _, err := s.svc.Authorize(ctx, unknown.Key); !errors.Is(err, keyservice.ErrDenied) {
		t.Fatalf("revoked key: %v", err)
	}
	if _, err := s.svc.Authorize(ctx, k.Key[:20]); !errors.Is(err, keyservice.ErrDenied) {
		t.Fatalf("malformed key: %v", err)
	}
	if c := proxy.Counts(); c["GetItem"] != 1 || proxy.Count("") != 1 {
		t.Fatalf("a revoked and a malformed key: %v; want 1 GetItem in all", c)
	}
	// Parallel: 1,000 authorizations in one minute write once on the wire.
	s.clock.Advance(61 * time.Second)
	proxy.ResetCounts()
	var wg sync.WaitGroup
	for range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.svc.Authorize(ctx, k.Key); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	t.Logf("1000 parallel authorizations: %v on the wire (TransactWriteItems: last-used attempts; all but one fail their condition or conflict)", proxy.Counts())
	if proxy.Count("GetItem") != 1000 {
		t.Fatalf("GetItem = %d, want 1000", proxy.Count("GetItem"))
	}
	checkInvariants(t, env.snapshot(t))
}
