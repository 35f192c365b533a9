// Package storetest is the conformance suite every keyservice.Store must
// pass: the contract of each method, firm isolation, exact time round-trips,
// the concurrency cases of SPEC section 5 (run it under -race), and the
// service's rules end to end over the store. A store package calls Run from
// its tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) keyservice.Store { return openTestStore(t) })
//	}
//
// Every sub-test uses fresh, random firm ids, so newStore may return a new
// store per call or share one (a DynamoDB Local table, say). The sub-tests
// run in parallel (go test -parallel n sets how many at once); newStore
// itself is only ever called from one goroutine at a time.
package storetest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

// Run runs the whole suite: the store contract (Store/...) and the service
// over the store (Service/...). newStore is called once per sub-test.
func Run(t *testing.T, newStore func(t *testing.T) keyservice.Store) {
	t.Helper()
	t.Run("Store", func(t *testing.T) { RunStore(t, newStore) })
	t.Run("Service", func(t *testing.T) { RunService(t, newStore) })
}

type storeCase struct {
	name string
	fn   func(t *testing.T, s keyservice.Store)
}

func runCases(t *testing.T, cases []storeCase, newStore func(t *testing.T) keyservice.Store) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// newStore runs before t.Parallel, so calls to it never
			// overlap. The cases use their own random firms, so they may
			// overlap: a network store's latency then overlaps too.
			s := newStore(t)
			t.Parallel()
			c.fn(t, s)
		})
	}
}

// TestPepperSet returns a pepper set whose current version is current and
// which holds every version in versions (current is added if missing). The
// secrets are derived from the version names, so two sets built with the
// same versions hash alike.
func TestPepperSet(t testing.TB, current string, versions ...string) apikey.PepperSet {
	t.Helper()
	secrets := map[string][]byte{current: testSecret(current)}
	for _, v := range versions {
		secrets[v] = testSecret(v)
	}
	set, err := apikey.NewPepperSet(current, secrets)
	if err != nil {
		t.Fatalf("NewPepperSet: %v", err)
	}
	return set
}

func testSecret(version string) []byte {
	return []byte(fmt.Sprintf("storetest pepper, version %q, 32+ bytes long", version))
}

// NewFirmID returns a random firm id, so that sub-tests sharing one store
// never see each other's data.
func NewFirmID(t testing.TB) string {
	t.Helper()
	return "firm-" + randomHex(t, 8)
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("crypto/rand: %v", err)
	}
	return hex.EncodeToString(b)
}

// baseTime is a realistic, millisecond-truncated UTC instant, as the service
// produces them.
func baseTime() time.Time { return time.Now().UTC().Truncate(time.Second) }

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// NewID returns a key id in the service's format (a ULID: 48 bits of
// milliseconds of at, then 80 random bits), so ids of later times sort
// after ids of earlier times.
func NewID(t testing.TB, at time.Time) string {
	t.Helper()
	var rnd [10]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatalf("crypto/rand: %v", err)
	}
	id := ulid(at, rnd[:])
	if !keyservice.ValidID(id) {
		t.Fatalf("NewID made an invalid id %q", id)
	}
	return id
}

// ulid encodes the milliseconds of at and 10 random bytes as a key id.
func ulid(at time.Time, rnd []byte) string {
	var b [16]byte
	ms := uint64(at.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	copy(b[6:], rnd)
	var hi, lo uint64
	for i := 0; i < 8; i++ {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[8+i])
	}
	var out [26]byte
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}
