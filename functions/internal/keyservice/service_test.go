package keyservice_test

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
	"github.com/kudurrustone/apikeys/functions/internal/boltstore"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
	"github.com/kudurrustone/apikeys/functions/internal/storetest"
	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

// flakyTouch fails the next TouchLastUsed calls while failing is set.
type flakyTouch struct {
	keyservice.Store
	failing  atomic.Bool
	attempts atomic.Int64
}

func (f *flakyTouch) TouchLastUsed(ctx context.Context, d apikey.Digest, firmID, keyID string, at time.Time, ip netip.Addr, staleBefore time.Time) (bool, error) {
	f.attempts.Add(1)
	if f.failing.Load() {
		return false, errors.New("injected: store unavailable")
	}
	return f.Store.TouchLastUsed(ctx, d, firmID, keyID, at, ip, staleBefore)
}

// A failed last-used write denies that request (fail closed) and gives the
// write back, so the next use of the key writes it instead of skipping it.
func TestAuthorizeLastUsedWriteFailure(t *testing.T) {
	bolt, err := boltstore.Open(filepath.Join(t.TempDir(), "keys.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bolt.Close() })
	store := &flakyTouch{Store: bolt}
	clock := testkit.NewClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	svc := keyservice.New(store, testkit.Peppers{Set: storetest.TestPepperSet(t, "1")},
		keyservice.Config{Now: clock.Now})
	admin := keyservice.Admin{Subject: "alice", FirmID: "acme", IsAdmin: true, IsPremier: true}
	k, plain, err := svc.Generate(context.Background(), admin, keyservice.GenerateInput{Label: "Office Sync Tool"})
	if err != nil {
		t.Fatal(err)
	}

	store.failing.Store(true)
	if _, err := svc.Authorize(context.Background(), plain); err == nil || errors.Is(err, keyservice.ErrDenied) {
		t.Fatalf("Authorize with a failing last-used write = %v, want a (non-deny) failure", err)
	}
	store.failing.Store(false)
	p, err := svc.Authorize(context.Background(), plain)
	if err != nil || p.KeyID != k.ID {
		t.Fatalf("Authorize after recovery = %+v, %v", p, err)
	}
	if n := store.attempts.Load(); n != 2 {
		t.Fatalf("%d last-used attempts, want 2 (the failed one, then the retry)", n)
	}
	got, err := bolt.GetKey(context.Background(), "acme", k.ID)
	if err != nil || !got.LastUsedAt.Equal(clock.Now().UTC().Truncate(time.Millisecond)) {
		t.Fatalf("LastUsedAt = %v (%v), want %v", got.LastUsedAt, err, clock.Now())
	}
}
