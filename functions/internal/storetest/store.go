package storetest

import (
	"context"
	"crypto/rand"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

// RunStore runs the store contract cases of keyservice.Store (store.go).
//
// Beyond the doc comments there, the suite holds stores to this: RevokeKey
// and TouchLastUsed never fail because of a concurrent write (a store that
// sees a transaction conflict retries, or for TouchLastUsed reports
// (false, nil): someone else wrote); CreateKey may return ErrConflict for a
// lost race, which callers retry.
func RunStore(t *testing.T, newStore func(t *testing.T) keyservice.Store) {
	t.Helper()
	runCases(t, lifecycleCases, newStore)
	runCases(t, []storeCase{
		{"CreateKey/RoundTrip", testCreateRoundTrip},
		{"CreateKey/DuplicateID", testCreateDuplicateID},
		{"CreateKey/DuplicateDigest", testCreateDuplicateDigest},
		{"CreateKey/Limit", testCreateLimit},
		{"GetKey/NotFoundAndIsolation", testGetKeyNotFound},
		{"ListKeys/OrderPagingIsolation", testListKeys},
		{"RevokeKey/Idempotent", testRevoke},
		{"RevokeKey/NotFoundAndIsolation", testRevokeNotFound},
		{"RevokeKey/ReleasesCount", testRevokeReleasesCount},
		{"ReleaseExpired", testReleaseExpired},
		{"FindCredential/NotFound", testFindCredentialNotFound},
		{"TouchLastUsed/Throttle", testTouch},
		{"TouchLastUsed/Unknown", testTouchUnknown},
		{"TouchLastUsed/KeepsRevoke", testTouchKeepsRevoke},
		{"ListAudit/OrderAndIsolation", testListAudit},
		{"Concurrent/CreateKeyLimit", testConcurrentCreate},
		{"Concurrent/Revoke", testConcurrentRevoke},
		{"Concurrent/RevokeVsTouch", testConcurrentRevokeTouch},
		{"Concurrent/CreateVsRevoke", testConcurrentCreateRevoke},
		{"Concurrent/ReleaseExpired", testConcurrentRelease},
		{"Concurrent/Touch", testConcurrentTouch},
	}, newStore)
}

func testCreateRoundTrip(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	firm := NewFirmID(t)
	t0 := baseTime().Add(123 * time.Millisecond)

	k, _ := newKey(t, firm, t0)
	k.Label = "Büro-Sync „Ärger“ ✓ 日本"
	k.ExpiresAt = t0.Add(90*24*time.Hour + 456*time.Millisecond)
	mustCreate(t, s, k, 10)
	checkStored(t, s, "CreateKey", k)

	// A key without expiry keeps every optional time zero.
	k2, _ := newKey(t, firm, t0.Add(time.Second))
	mustCreate(t, s, k2, 10)
	checkStored(t, s, "GetKey (no expiry)", k2)

	// Scopes and allowed addresses, in the order given, on key and
	// credential alike.
	k3, _ := newKey(t, firm, t0.Add(2*time.Second))
	k3.Scopes = keyservice.ScopeRead
	k3.AllowedIPs = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8::/32"),
		netip.MustParsePrefix("10.1.2.3/32")}
	mustCreate(t, s, k3, 10)
	checkStored(t, s, "GetKey (scopes, allowed addresses)", k3)

	// A key without scopes is refused: no key may have none.
	k4, _ := newKey(t, firm, t0.Add(3*time.Second))
	k4.Scopes = 0
	if err := s.CreateKey(ctx, k4, 10, generateAudit(k4)); err == nil {
		t.Fatalf("CreateKey of a key without scopes succeeded")
	}

	checkAudit(t, s, firm, []keyservice.AuditRecord{generateAudit(k), generateAudit(k2), generateAudit(k3)})
}

func testCreateDuplicateID(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	firm := NewFirmID(t)
	k1, _ := newKey(t, firm, baseTime())
	mustCreate(t, s, k1, 3)

	k2, _ := newKey(t, firm, baseTime())
	k2.ID = k1.ID
	err := s.CreateKey(ctx, k2, 3, generateAudit(k2))
	wantErr(t, "CreateKey with a duplicate id", err, keyservice.ErrConflict)

	// All or nothing: no credential, no audit, no count, k1 untouched.
	_, err = s.FindCredential(ctx, k2.Digest)
	wantErr(t, "FindCredential of the refused key", err, keyservice.ErrNotFound)
	got, err := s.GetKey(ctx, firm, k1.ID)
	noErr(t, "GetKey", err)
	checkKey(t, "GetKey of the first key", got, k1)
	checkAudit(t, s, firm, []keyservice.AuditRecord{generateAudit(k1)})
	assertFree(t, s, firm, 3, 2)
}

func testCreateDuplicateDigest(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	firm, other := NewFirmID(t), NewFirmID(t)
	k1, _ := newKey(t, firm, baseTime())
	mustCreate(t, s, k1, 3)

	for _, f := range []string{firm, other} {
		k2, _ := newKey(t, f, baseTime())
		k2.Digest = k1.Digest
		err := s.CreateKey(ctx, k2, 3, generateAudit(k2))
		wantErr(t, "CreateKey with a duplicate digest", err, keyservice.ErrConflict)
		_, err = s.GetKey(ctx, f, k2.ID)
		wantErr(t, "GetKey of the refused key", err, keyservice.ErrNotFound)
	}

	cred, err := s.FindCredential(ctx, k1.Digest)
	noErr(t, "FindCredential", err)
	checkCred(t, "FindCredential keeps the first key", cred, credOf(k1))
	checkAudit(t, s, firm, []keyservice.AuditRecord{generateAudit(k1)})
	checkAudit(t, s, other, nil)
	assertFree(t, s, firm, 3, 2)
	assertFree(t, s, other, 3, 3)
}

func testCreateLimit(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	firm, other := NewFirmID(t), NewFirmID(t)
	var audits []keyservice.AuditRecord
	for i := 0; i < 3; i++ {
		k, _ := newKey(t, firm, baseTime().Add(time.Duration(i)*time.Millisecond))
		mustCreate(t, s, k, 3)
		audits = append(audits, generateAudit(k))
	}
	k4, _ := newKey(t, firm, baseTime())
	err := s.CreateKey(ctx, k4, 3, generateAudit(k4))
	wantErr(t, "CreateKey over the limit", err, keyservice.ErrLimitReached)
	_, err = s.GetKey(ctx, firm, k4.ID)
	wantErr(t, "GetKey of the refused key", err, keyservice.ErrNotFound)
	_, err = s.FindCredential(ctx, k4.Digest)
	wantErr(t, "FindCredential of the refused key", err, keyservice.ErrNotFound)
	checkAudit(t, s, firm, audits)

	// The limit is per firm, and it is whatever the caller passes.
	assertFree(t, s, other, 3, 3)
	mustCreate(t, s, k4, 4)
}

func testGetKeyNotFound(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	firm, other := NewFirmID(t), NewFirmID(t)
	_, err := s.GetKey(ctx, firm, NewID(t, baseTime()))
	wantErr(t, "GetKey of an unknown id", err, keyservice.ErrNotFound)

	k, _ := newKey(t, firm, baseTime())
	mustCreate(t, s, k, 10)
	_, err = s.GetKey(ctx, other, k.ID)
	wantErr(t, "GetKey of another firm's key", err, keyservice.ErrNotFound)
}

func testListKeys(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	firm, other := NewFirmID(t), NewFirmID(t)
	t0 := baseTime()

	empty, err := s.ListKeys(ctx, firm, "", 10)
	noErr(t, "ListKeys of an empty firm", err)
	checkIDs(t, "ListKeys of an empty firm", empty)

	// Created out of order; listed by id descending.
	keys := make([]keyservice.Key, 7)
	for _, i := range []int{3, 0, 6, 1, 5, 2, 4} {
		keys[i], _ = newKey(t, firm, t0.Add(time.Duration(i)*time.Second))
		mustCreate(t, s, keys[i], 20)
	}
	for i := 0; i < 2; i++ {
		k, _ := newKey(t, other, t0.Add(time.Duration(i)*time.Second+time.Millisecond))
		mustCreate(t, s, k, 20)
	}
	desc := []keyservice.Key{keys[6], keys[5], keys[4], keys[3], keys[2], keys[1], keys[0]}

	all, err := s.ListKeys(ctx, firm, "", 100)
	noErr(t, "ListKeys", err)
	checkIDs(t, "ListKeys", all, desc...)
	for i := range all {
		checkKey(t, "ListKeys item", all[i], desc[i])
	}

	pages := [][]keyservice.Key{desc[0:3], desc[3:6], desc[6:7], {}}
	after := ""
	for i, want := range pages {
		got, err := s.ListKeys(ctx, firm, after, 3)
		noErr(t, "ListKeys page", err)
		checkIDs(t, "ListKeys page "+string(rune('1'+i)), got, want...)
		if len(got) > 0 {
			after = got[len(got)-1].ID
		}
	}

	one, err := s.ListKeys(ctx, firm, "", 1)
	noErr(t, "ListKeys limit 1", err)
	checkIDs(t, "ListKeys limit 1", one, desc[0])

	// afterID need not exist: listing starts strictly below it.
	between := NewID(t, t0.Add(3500*time.Millisecond))
	rest, err := s.ListKeys(ctx, firm, between, 100)
	noErr(t, "ListKeys after a missing id", err)
	checkIDs(t, "ListKeys after a missing id", rest, desc[3:]...)
}

func testRevoke(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	firm := NewFirmID(t)
	t0 := baseTime()
	k, _ := newKey(t, firm, t0)
	k.ExpiresAt = t0.Add(time.Hour)
	mustCreate(t, s, k, 10)

	at := t0.Add(1500 * time.Millisecond)
	got, err := s.RevokeKey(ctx, firm, k.ID, at, "bob", revokeAudit(k, at, "bob"))
	noErr(t, "RevokeKey", err)
	want := k
	want.RevokedAt, want.RevokedBy = at, "bob"
	checkKey(t, "RevokeKey result", got, want)

	checkStored(t, s, "GetKey after revoke", want)

	// Again, later and by someone else: nothing changes, no audit record.
	later := at.Add(time.Minute)
	again, err := s.RevokeKey(ctx, firm, k.ID, later, "carol", revokeAudit(k, later, "carol"))
	noErr(t, "RevokeKey again", err)
	checkKey(t, "RevokeKey again", again, want)
	checkStored(t, s, "GetKey after second revoke", want)
	checkAudit(t, s, firm, []keyservice.AuditRecord{generateAudit(k), revokeAudit(k, at, "bob")})
}

func testRevokeNotFound(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	firm, other := NewFirmID(t), NewFirmID(t)
	at := baseTime()
	missing := NewID(t, at)
	_, err := s.RevokeKey(ctx, firm, missing, at, "bob",
		keyservice.AuditRecord{At: at, Action: keyservice.ActionRevoke, FirmID: firm, KeyID: missing, Actor: "bob"})
	wantErr(t, "RevokeKey of an unknown id", err, keyservice.ErrNotFound)
	checkAudit(t, s, firm, nil)

	k, _ := newKey(t, firm, at)
	mustCreate(t, s, k, 10)
	_, err = s.RevokeKey(ctx, other, k.ID, at, "mallory",
		keyservice.AuditRecord{At: at, Action: keyservice.ActionRevoke, FirmID: other, KeyID: k.ID, Actor: "mallory"})
	wantErr(t, "RevokeKey of another firm's key", err, keyservice.ErrNotFound)
	checkAudit(t, s, other, nil)
	checkStored(t, s, "key after another firm's revoke", k)
}

func testRevokeReleasesCount(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	firm := NewFirmID(t)
	at := baseTime()
	a, _ := newKey(t, firm, at)
	b, _ := newKey(t, firm, at)
	mustCreate(t, s, a, 2)
	mustCreate(t, s, b, 2)
	c, _ := newKey(t, firm, at)
	wantErr(t, "CreateKey over the limit", s.CreateKey(ctx, c, 2, generateAudit(c)), keyservice.ErrLimitReached)

	_, err := s.RevokeKey(ctx, firm, a.ID, at, "bob", revokeAudit(a, at, "bob"))
	noErr(t, "RevokeKey", err)
	mustCreate(t, s, c, 2)

	// A second revoke of the same key releases nothing more.
	_, err = s.RevokeKey(ctx, firm, a.ID, at, "bob", revokeAudit(a, at, "bob"))
	noErr(t, "RevokeKey again", err)
	assertFree(t, s, firm, 2, 0)
}

func testReleaseExpired(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	firm := NewFirmID(t)
	t0 := baseTime()
	a, _ := newKey(t, firm, t0)
	a.ExpiresAt = t0.Add(time.Hour)
	b, _ := newKey(t, firm, t0)
	b.ExpiresAt = t0.Add(2 * time.Hour)
	c, _ := newKey(t, firm, t0)
	for _, k := range []keyservice.Key{a, b, c} {
		mustCreate(t, s, k, 3)
	}
	d, _ := newKey(t, firm, t0)
	wantErr(t, "CreateKey over the limit", s.CreateKey(ctx, d, 3, generateAudit(d)), keyservice.ErrLimitReached)

	release := func(now time.Time, want int) {
		t.Helper()
		n, err := s.ReleaseExpired(ctx, firm, now)
		noErr(t, "ReleaseExpired", err)
		if n != want {
			t.Fatalf("ReleaseExpired(%v) = %d, want %d", now, n, want)
		}
	}
	release(t0.Add(time.Hour-time.Millisecond), 0)
	release(t0.Add(time.Hour), 1) // expiry at exactly now counts
	release(t0.Add(time.Hour), 0) // once only

	// Releasing frees the slot but changes nothing users see.
	checkStored(t, s, "released key", a)
	checkAudit(t, s, firm, []keyservice.AuditRecord{generateAudit(a), generateAudit(b), generateAudit(c)})

	mustCreate(t, s, d, 3) // counted now: b, c, d
	e, _ := newKey(t, firm, t0)
	wantErr(t, "CreateKey over the limit", s.CreateKey(ctx, e, 3, generateAudit(e)), keyservice.ErrLimitReached)

	// Revoking a released key does not release it twice.
	_, err := s.RevokeKey(ctx, firm, a.ID, t0.Add(time.Hour), "bob", revokeAudit(a, t0.Add(time.Hour), "bob"))
	noErr(t, "RevokeKey of a released key", err)
	wantErr(t, "CreateKey over the limit", s.CreateKey(ctx, e, 3, generateAudit(e)), keyservice.ErrLimitReached)

	// A revoked key is not counted, so it is never released either.
	_, err = s.RevokeKey(ctx, firm, b.ID, t0.Add(time.Hour), "bob", revokeAudit(b, t0.Add(time.Hour), "bob"))
	noErr(t, "RevokeKey", err)
	release(t0.Add(3*time.Hour), 0)
	assertFree(t, s, firm, 3, 1)
}

func testFindCredentialNotFound(t *testing.T, s keyservice.Store) {
	_, err := s.FindCredential(context.Background(), randomDigest(t))
	wantErr(t, "FindCredential of an unknown digest", err, keyservice.ErrNotFound)
}

func randomDigest(t testing.TB) apikey.Digest {
	t.Helper()
	var d apikey.Digest
	if _, err := rand.Read(d[:]); err != nil {
		t.Fatalf("crypto/rand: %v", err)
	}
	return d
}

func testTouch(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	firm := NewFirmID(t)
	t0 := baseTime()
	k, _ := newKey(t, firm, t0)
	mustCreate(t, s, k, 10)
	other, _ := newKey(t, firm, t0)
	mustCreate(t, s, other, 10)

	ipA, ipB := netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("2001:db8::7")
	var lastIP netip.Addr
	touch := func(at, staleBefore time.Time, wantWrote bool, wantLast time.Time, ip netip.Addr) {
		t.Helper()
		wrote, err := s.TouchLastUsed(ctx, k.Digest, firm, k.ID, at, ip, staleBefore)
		noErr(t, "TouchLastUsed", err)
		if wrote != wantWrote {
			t.Fatalf("TouchLastUsed(at %v, staleBefore %v) wrote = %v, want %v", at, staleBefore, wrote, wantWrote)
		}
		if wrote {
			lastIP = ip
		}
		want := k
		want.LastUsedAt, want.LastUsedIP = wantLast, lastIP
		checkStored(t, s, "key after TouchLastUsed", want)
	}
	t1 := t0.Add(10*time.Second + 7*time.Millisecond)
	t2 := t1.Add(time.Minute + time.Millisecond)
	touch(t1, t1.Add(-time.Minute), true, t1, ipA)                                                // unset: writes time and address
	touch(t1.Add(30*time.Second), t1.Add(-30*time.Second), false, t1, ipB)                        // fresh: no write, address kept
	touch(t1.Add(time.Minute), t1, false, t1, ipB)                                                // equal to staleBefore: not before it
	touch(t2, t1.Add(time.Millisecond), true, t2, ipB)                                            // stale: writes, IPv6 too
	touch(t2.Add(time.Minute), t2.Add(time.Millisecond), true, t2.Add(time.Minute), netip.Addr{}) // a use without address clears it
	touch(t2.Add(2*time.Minute), t2.Add(time.Minute+time.Millisecond), true, t2.Add(2*time.Minute), ipA)

	got, err := s.GetKey(ctx, firm, other.ID)
	noErr(t, "GetKey", err)
	checkKey(t, "untouched key", got, other)
	checkAudit(t, s, firm, []keyservice.AuditRecord{generateAudit(k), generateAudit(other)})
}

func testTouchUnknown(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	firm := NewFirmID(t)
	at := baseTime()
	d, id := randomDigest(t), NewID(t, at)
	wrote, err := s.TouchLastUsed(ctx, d, firm, id, at, testAddr, at)
	if err != nil && !errors.Is(err, keyservice.ErrNotFound) {
		t.Fatalf("TouchLastUsed of an unknown key: %v", err)
	}
	if wrote {
		t.Fatalf("TouchLastUsed of an unknown key wrote")
	}
	// It must not have created anything.
	_, err = s.FindCredential(ctx, d)
	wantErr(t, "FindCredential after touching an unknown digest", err, keyservice.ErrNotFound)
	_, err = s.GetKey(ctx, firm, id)
	wantErr(t, "GetKey after touching an unknown key", err, keyservice.ErrNotFound)
	keys, err := s.ListKeys(ctx, firm, "", 10)
	noErr(t, "ListKeys", err)
	checkIDs(t, "ListKeys after touching an unknown key", keys)
}

func testTouchKeepsRevoke(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	firm := NewFirmID(t)
	t0 := baseTime()
	k, _ := newKey(t, firm, t0)
	mustCreate(t, s, k, 10)

	// Used, then revoked: the revoke keeps the last-used time.
	used := t0.Add(time.Second)
	_, err := s.TouchLastUsed(ctx, k.Digest, firm, k.ID, used, testAddr, used)
	noErr(t, "TouchLastUsed", err)
	revoked := t0.Add(2 * time.Second)
	_, err = s.RevokeKey(ctx, firm, k.ID, revoked, "bob", revokeAudit(k, revoked, "bob"))
	noErr(t, "RevokeKey", err)

	// Touched after the revoke (a use that raced it): still revoked.
	late := t0.Add(5 * time.Minute)
	wrote, err := s.TouchLastUsed(ctx, k.Digest, firm, k.ID, late, testAddr, late)
	noErr(t, "TouchLastUsed after revoke", err)
	want := k
	want.RevokedAt, want.RevokedBy, want.LastUsedAt, want.LastUsedIP = revoked, "bob", used, testAddr
	if wrote {
		want.LastUsedAt = late
	}
	checkStored(t, s, "revoked key after touch", want)
}

func testListAudit(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	firm, other := NewFirmID(t), NewFirmID(t)
	t0 := baseTime() // a whole second: its RFC 3339 form has no fraction

	// Times chosen so that variable-width fractions would sort wrongly as
	// strings ("…05Z" > "…05.5Z").
	k1, _ := newKey(t, firm, t0)
	k2, _ := newKey(t, firm, t0.Add(500*time.Millisecond))
	k3, _ := newKey(t, firm, t0.Add(time.Second))
	k4, _ := newKey(t, firm, t0.Add(1050*time.Millisecond))
	for _, k := range []keyservice.Key{k3, k1, k4, k2} {
		mustCreate(t, s, k, 10)
	}
	rev := t0.Add(10 * time.Millisecond)
	_, err := s.RevokeKey(ctx, firm, k1.ID, rev, "bob", revokeAudit(k1, rev, "bob"))
	noErr(t, "RevokeKey", err)
	x, _ := newKey(t, other, t0.Add(time.Millisecond))
	mustCreate(t, s, x, 10)

	checkAudit(t, s, firm, []keyservice.AuditRecord{
		generateAudit(k1), revokeAudit(k1, rev, "bob"), generateAudit(k2), generateAudit(k3), generateAudit(k4),
	})
	checkAudit(t, s, other, []keyservice.AuditRecord{generateAudit(x)})
	checkAudit(t, s, NewFirmID(t), nil)

	// Two records at the same instant are both kept.
	y, _ := newKey(t, other, t0.Add(time.Millisecond))
	mustCreate(t, s, y, 10)
	got, err := allAudit(s, other)
	noErr(t, "ListAudit", err)
	if len(got) != 2 {
		t.Fatalf("ListAudit: %d records for two keys created at the same instant, want 2", len(got))
	}
}

// run starts n goroutines running fn(i) and waits for them; a start gate
// lines them up so they really race.
func run(n int, fn func(i int)) {
	var ready, done sync.WaitGroup
	gate := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			defer done.Done()
			ready.Done()
			<-gate
			fn(i)
		}()
	}
	ready.Wait()
	close(gate)
	done.Wait()
}

func testConcurrentCreate(t *testing.T, s keyservice.Store) {
	firm := NewFirmID(t)
	const n, limit = 20, 5
	keys := make([]keyservice.Key, n)
	for i := range keys {
		keys[i], _ = newKey(t, firm, baseTime())
	}
	errs := make([]error, n)
	run(n, func(i int) { errs[i] = createRetrying(s, keys[i], limit) })

	ok, limited := 0, 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, keyservice.ErrLimitReached):
			limited++
		default:
			t.Errorf("CreateKey #%d: %v", i, err)
		}
	}
	if ok != limit || limited != n-limit {
		t.Fatalf("%d concurrent creates with limit %d: %d succeeded, %d hit the limit; want %d and %d",
			n, limit, ok, limited, limit, n-limit)
	}
	listed, err := s.ListKeys(context.Background(), firm, "", 100)
	noErr(t, "ListKeys", err)
	audits, err := allAudit(s, firm)
	noErr(t, "ListAudit", err)
	if len(listed) != limit || len(audits) != limit {
		t.Fatalf("after the race: %d keys and %d audit records, want %d of each", len(listed), len(audits), limit)
	}
	for i, err := range errs {
		if err != nil {
			_, ferr := s.FindCredential(context.Background(), keys[i].Digest)
			wantErr(t, "FindCredential of a refused key", ferr, keyservice.ErrNotFound)
		}
	}
}

func testConcurrentRevoke(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	firm := NewFirmID(t)
	t0 := baseTime()
	k, _ := newKey(t, firm, t0)
	other, _ := newKey(t, firm, t0)
	mustCreate(t, s, k, 3)
	mustCreate(t, s, other, 3)

	const n = 10
	results := make([]keyservice.Key, n)
	errs := make([]error, n)
	run(n, func(i int) {
		at := t0.Add(time.Duration(i+1) * time.Millisecond)
		by := "admin-" + string(rune('a'+i))
		results[i], errs[i] = s.RevokeKey(ctx, firm, k.ID, at, by, revokeAudit(k, at, by))
	})
	for i, err := range errs {
		noErr(t, "concurrent RevokeKey", err)
		if !results[i].RevokedAt.Equal(results[0].RevokedAt) || results[i].RevokedBy != results[0].RevokedBy {
			t.Errorf("RevokeKey #%d returned revokedAt %v by %q; #0 returned %v by %q",
				i, results[i].RevokedAt, results[i].RevokedBy, results[0].RevokedAt, results[0].RevokedBy)
		}
	}
	checkStored(t, s, "stored key after concurrent revokes", results[0])
	checkAudit(t, s, firm, []keyservice.AuditRecord{
		generateAudit(k), generateAudit(other), revokeAudit(k, results[0].RevokedAt, results[0].RevokedBy),
	})
	assertFree(t, s, firm, 3, 2) // released exactly once
}

func testConcurrentRevokeTouch(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	firm := NewFirmID(t)
	t0 := baseTime()
	const rounds, touchers, touches = 3, 4, 5
	for r := 0; r < rounds; r++ {
		k, _ := newKey(t, firm, t0)
		mustCreate(t, s, k, 100)
		revokeAt := t0.Add(time.Duration(r+1) * time.Second)
		var revoked keyservice.Key
		var revokeErr error
		touchErrs := make([]error, touchers)
		run(touchers+1, func(i int) {
			if i == touchers {
				revoked, revokeErr = s.RevokeKey(ctx, firm, k.ID, revokeAt, "bob", revokeAudit(k, revokeAt, "bob"))
				return
			}
			for j := 0; j < touches; j++ {
				at := t0.Add(time.Duration(i*touches+j+1) * time.Millisecond)
				if _, err := s.TouchLastUsed(ctx, k.Digest, firm, k.ID, at, testAddr, at); err != nil {
					touchErrs[i] = err
					return
				}
			}
		})
		noErr(t, "RevokeKey racing TouchLastUsed", revokeErr)
		for _, err := range touchErrs {
			noErr(t, "TouchLastUsed racing RevokeKey", err)
		}
		if !revoked.RevokedAt.Equal(revokeAt) || revoked.RevokedBy != "bob" {
			t.Fatalf("RevokeKey returned revokedAt %v by %q", revoked.RevokedAt, revoked.RevokedBy)
		}
		got, err := s.GetKey(ctx, firm, k.ID)
		noErr(t, "GetKey", err)
		cred, err := s.FindCredential(ctx, k.Digest)
		noErr(t, "FindCredential", err)
		if !got.RevokedAt.Equal(revokeAt) || got.RevokedBy != "bob" || !cred.RevokedAt.Equal(revokeAt) {
			t.Fatalf("revoke lost to a concurrent touch: key revokedAt %v by %q, credential revokedAt %v",
				got.RevokedAt, got.RevokedBy, cred.RevokedAt)
		}
		if !got.LastUsedAt.Equal(cred.LastUsedAt) {
			t.Fatalf("last used: key %v, credential %v; want equal", got.LastUsedAt, cred.LastUsedAt)
		}
	}
}

func testConcurrentCreateRevoke(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	firm := NewFirmID(t)
	const limit, creators = 5, 8
	t0 := baseTime()
	old := make([]keyservice.Key, limit)
	for i := range old {
		old[i], _ = newKey(t, firm, t0)
		mustCreate(t, s, old[i], limit)
	}
	fresh := make([]keyservice.Key, creators)
	for i := range fresh {
		fresh[i], _ = newKey(t, firm, t0.Add(time.Second))
	}
	errs := make([]error, limit+creators)
	run(limit+creators, func(i int) {
		if i < limit {
			_, errs[i] = s.RevokeKey(ctx, firm, old[i].ID, t0.Add(time.Minute), "bob", revokeAudit(old[i], t0.Add(time.Minute), "bob"))
			return
		}
		err := createRetrying(s, fresh[i-limit], limit)
		if errors.Is(err, keyservice.ErrLimitReached) {
			err = nil // depends on the interleaving
		}
		errs[i] = err
	})
	for _, err := range errs {
		noErr(t, "create or revoke in the race", err)
	}
	keys, err := s.ListKeys(ctx, firm, "", 100)
	noErr(t, "ListKeys", err)
	active := 0
	for _, k := range keys {
		if k.RevokedAt.IsZero() {
			active++
		}
	}
	if active > limit {
		t.Fatalf("%d active keys after the race, limit %d", active, limit)
	}
	assertFree(t, s, firm, limit, limit-active)
}

func testConcurrentRelease(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	firm := NewFirmID(t)
	const limit, expiring, n = 6, 4, 8
	t0 := baseTime()
	for i := 0; i <= expiring; i++ {
		k, _ := newKey(t, firm, t0)
		if i < expiring {
			k.ExpiresAt = t0.Add(time.Minute)
		}
		mustCreate(t, s, k, limit)
	}
	counts := make([]int, n)
	errs := make([]error, n)
	run(n, func(i int) { counts[i], errs[i] = s.ReleaseExpired(ctx, firm, t0.Add(time.Hour)) })
	total := 0
	for i := range counts {
		noErr(t, "concurrent ReleaseExpired", errs[i])
		total += counts[i]
	}
	if total != expiring {
		t.Fatalf("concurrent ReleaseExpired released %d in all, want %d", total, expiring)
	}
	assertFree(t, s, firm, limit, limit-1)
}

func testConcurrentTouch(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	firm := NewFirmID(t)
	t0 := baseTime()
	k, _ := newKey(t, firm, t0)
	mustCreate(t, s, k, 10)
	const n = 10
	at := t0.Add(time.Second)
	wrote := make([]bool, n)
	errs := make([]error, n)
	run(n, func(i int) { wrote[i], errs[i] = s.TouchLastUsed(ctx, k.Digest, firm, k.ID, at, testAddr, at) })
	writes := 0
	for i := range errs {
		noErr(t, "concurrent TouchLastUsed", errs[i])
		if wrote[i] {
			writes++
		}
	}
	if writes > 1 {
		t.Fatalf("%d concurrent touches with the same staleBefore wrote %d times, want at most 1", n, writes)
	}
	want := k
	want.LastUsedAt, want.LastUsedIP = at, testAddr
	got, err := s.GetKey(ctx, firm, k.ID)
	noErr(t, "GetKey", err)
	checkKey(t, "key after concurrent touches", got, want)
}
