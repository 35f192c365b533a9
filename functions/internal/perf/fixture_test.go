package perf_test

import (
	"context"
	"log/slog"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
	"github.com/kudurrustone/apikeys/functions/internal/boltstore"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

// pepperSecret is the benchmark's one pepper version, "1". The floor hashes
// with crypto/hmac over the same bytes.
var pepperSecret = []byte("perf pepper: 32 bytes or longer, fixed for the run")

func pepperSet(tb testing.TB) apikey.PepperSet {
	tb.Helper()
	set, err := apikey.NewPepperSet("1", map[string][]byte{"1": pepperSecret})
	if err != nil {
		tb.Fatal(err)
	}
	return set
}

var admin = keyservice.Admin{Subject: "alice", FirmID: "perf", IsAdmin: true, IsPremier: true, SourceIP: "127.0.0.1"}

// start is a fixed, millisecond-aligned instant for the injected clocks.
var start = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func newService(tb testing.TB, store keyservice.Store, clock *testkit.Clock) *keyservice.Service {
	tb.Helper()
	return keyservice.New(store, testkit.Peppers{Set: pepperSet(tb)}, keyservice.Config{
		MaxActiveKeys: 1 << 20,
		Now:           clock.Now,
		Logger:        slog.New(slog.DiscardHandler),
	})
}

// generate makes one key and uses it once, so its last-used time is set
// and the warm path (no write for a minute) is what follows.
func generate(tb testing.TB, svc *keyservice.Service) (keyservice.Key, string) {
	tb.Helper()
	ctx := context.Background()
	k, plain, err := svc.Generate(ctx, admin, keyservice.GenerateInput{Label: "Production Integration"})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := svc.Authorize(ctx, plain); err != nil {
		tb.Fatal(err)
	}
	return k, plain
}

// boltFixture is an embedded store file holding one used key.
type boltFixture struct {
	path   string
	key    keyservice.Key
	plain  string
	clock  *testkit.Clock
	store  *boltstore.Store
	svc    *keyservice.Service
	closed bool
}

func newBoltFixture(tb testing.TB) *boltFixture {
	tb.Helper()
	f := &boltFixture{path: filepath.Join(tb.TempDir(), "keys.db"), clock: testkit.NewClock(start)}
	f.open(tb)
	f.key, f.plain = generate(tb, f.svc)
	tb.Cleanup(func() { f.close(tb) })
	return f
}

func (f *boltFixture) open(tb testing.TB) {
	tb.Helper()
	s, err := boltstore.Open(f.path)
	if err != nil {
		tb.Fatal(err)
	}
	f.store, f.svc, f.closed = s, newService(tb, s, f.clock), false
}

func (f *boltFixture) close(tb testing.TB) {
	tb.Helper()
	if f.closed {
		return
	}
	f.closed = true
	if err := f.store.Close(); err != nil {
		tb.Error(err)
	}
}

// counting wraps a store and counts the calls the service makes: the
// in-process view of "store requests per authorization".
type counting struct {
	keyservice.Store
	mu            sync.Mutex
	finds, writes int
}

func (c *counting) FindCredential(ctx context.Context, d apikey.Digest) (keyservice.Credential, error) {
	c.mu.Lock()
	c.finds++
	c.mu.Unlock()
	return c.Store.FindCredential(ctx, d)
}

func (c *counting) TouchLastUsed(ctx context.Context, d apikey.Digest, firmID, keyID string, at time.Time, ip netip.Addr, staleBefore time.Time) (bool, error) {
	wrote, err := c.Store.TouchLastUsed(ctx, d, firmID, keyID, at, ip, staleBefore)
	if wrote {
		c.mu.Lock()
		c.writes++
		c.mu.Unlock()
	}
	return wrote, err
}

func (c *counting) counts() (int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.finds, c.writes
}
