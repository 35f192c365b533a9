package storetest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/expiry"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

// ExpiryStore is a store with the expiry check's methods.
type ExpiryStore interface {
	keyservice.Store
	expiry.Store
}

// RunExpiry runs the expiry-warning cases over stores from newStore: the
// window, one warning per key and expiry, racing claims, and claims that
// lose to a change.
func RunExpiry(t *testing.T, newStore func(t *testing.T) ExpiryStore) {
	t.Helper()
	for _, c := range []struct {
		name string
		fn   func(t *testing.T, s ExpiryStore)
	}{
		{"Window", testExpiryWindow},
		{"ClaimOnce", testExpiryClaimOnce},
		{"Concurrent/Claims", testExpiryConcurrentClaims},
		{"ClaimLosesToChange", testExpiryClaimLosesToChange},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			t.Parallel()
			c.fn(t, s)
		})
	}
}

// expiringKey creates a key of firm expiring at exp.
func expiringKey(t *testing.T, s ExpiryStore, firm string, created, exp time.Time) keyservice.Key {
	t.Helper()
	k, _ := newKey(t, firm, created)
	k.ExpiresAt = exp.UTC().Truncate(time.Millisecond)
	mustCreate(t, s, k, 100)
	return k
}

// dueIDs returns the ids of firm's keys ExpiringKeys gives for the window.
func dueIDs(t *testing.T, s ExpiryStore, firm string, from, to time.Time) []string {
	t.Helper()
	keys, err := s.ExpiringKeys(context.Background(), from, to)
	noErr(t, "ExpiringKeys", err)
	var ids []string
	for _, k := range keys {
		if k.FirmID == firm {
			ids = append(ids, k.ID)
		}
	}
	return ids
}

func testExpiryWindow(t *testing.T, s ExpiryStore) {
	ctx := context.Background()
	firm := NewFirmID(t)
	now := baseTime()
	week := 7 * 24 * time.Hour
	soon := expiringKey(t, s, firm, now, now.Add(time.Hour))
	later := expiringKey(t, s, firm, now, now.Add(6*24*time.Hour))
	expiringKey(t, s, firm, now, now.Add(8*24*time.Hour)) // beyond the window
	expiringKey(t, s, firm, now.Add(-2*time.Hour), now.Add(-time.Hour))
	k, _ := newKey(t, firm, now) // no expiry
	mustCreate(t, s, k, 100)
	revoked := expiringKey(t, s, firm, now, now.Add(2*time.Hour))
	_, err := s.RevokeKey(ctx, firm, revoked.ID, now, "bob", revokeAudit(revoked, now, "bob"))
	noErr(t, "RevokeKey", err)

	got := dueIDs(t, s, firm, now, now.Add(week))
	if len(got) != 2 || got[0] != soon.ID || got[1] != later.ID {
		t.Fatalf("due %v, want [%s %s] (soonest first; none beyond the window, expired, without expiry or revoked)", got, soon.ID, later.ID)
	}
	keys, err := s.ExpiringKeys(ctx, now, now.Add(week))
	noErr(t, "ExpiringKeys", err)
	for _, k := range keys {
		if k.ID == soon.ID && (k.Label != soon.Label || k.Hint != soon.Hint || !k.ExpiresAt.Equal(soon.ExpiresAt)) {
			t.Errorf("due key %+v lacks label, hint or expiry of %+v", k, soon)
		}
	}
}

func testExpiryClaimOnce(t *testing.T, s ExpiryStore) {
	ctx := context.Background()
	firm := NewFirmID(t)
	now := baseTime()
	k := expiringKey(t, s, firm, now, now.Add(24*time.Hour))
	for i, want := range []bool{true, false} {
		ok, err := s.ClaimExpiryWarning(ctx, k, now.Add(time.Duration(i)*time.Hour))
		noErr(t, "ClaimExpiryWarning", err)
		if ok != want {
			t.Fatalf("claim %d = %t, want %t", i+1, ok, want)
		}
	}
	if got := dueIDs(t, s, firm, now, now.Add(48*time.Hour)); len(got) != 0 {
		t.Errorf("a warned key is still due: %v", got)
	}
	// The key itself is unchanged.
	got, err := s.GetKey(ctx, firm, k.ID)
	noErr(t, "GetKey", err)
	checkKey(t, "key after its warning", got, k)
}

func testExpiryConcurrentClaims(t *testing.T, s ExpiryStore) {
	firm := NewFirmID(t)
	now := baseTime()
	k := expiringKey(t, s, firm, now, now.Add(time.Hour))
	var won atomic.Int32
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			ok, err := s.ClaimExpiryWarning(context.Background(), k, now)
			if err != nil {
				t.Errorf("ClaimExpiryWarning: %v", err)
			}
			if ok {
				won.Add(1)
			}
		})
	}
	wg.Wait()
	if n := won.Load(); n != 1 {
		t.Errorf("%d of 10 racing claims won, want exactly 1", n)
	}
}

func testExpiryClaimLosesToChange(t *testing.T, s ExpiryStore) {
	ctx := context.Background()
	firm := NewFirmID(t)
	now := baseTime()
	moved := expiringKey(t, s, firm, now, now.Add(time.Hour))
	stale := moved
	stale.ExpiresAt = moved.ExpiresAt.Add(-time.Minute) // listed before its expiry changed
	if ok, err := s.ClaimExpiryWarning(ctx, stale, now); err != nil || ok {
		t.Errorf("claim on a changed expiry = %t, %v; want false", ok, err)
	}
	revoked := expiringKey(t, s, firm, now, now.Add(time.Hour))
	_, err := s.RevokeKey(ctx, firm, revoked.ID, now, "bob", revokeAudit(revoked, now, "bob"))
	noErr(t, "RevokeKey", err)
	if ok, err := s.ClaimExpiryWarning(ctx, revoked, now); err != nil || ok {
		t.Errorf("claim on a revoked key = %t, %v; want false", ok, err)
	}
	if ok, err := s.ClaimExpiryWarning(ctx, moved, now); err != nil || !ok {
		t.Errorf("claim on the current expiry = %t, %v; want true", ok, err)
	}
}
