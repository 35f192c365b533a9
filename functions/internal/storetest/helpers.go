package storetest

import (
	stdcmp "cmp"
	"context"
	"crypto/sha256"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

const testSourceIP = "203.0.113.7"

// testAddr is the source address of the store cases' uses of a key.
var testAddr = netip.MustParseAddr(testSourceIP)

// storePepper returns the pepper that hashes the keys the store cases
// create directly.
func storePepper(t testing.TB) *apikey.Pepper {
	t.Helper()
	p, err := apikey.NewPepper("1", testSecret("1"))
	if err != nil {
		t.Fatalf("NewPepper: %v", err)
	}
	return &p
}

// newKey returns a key record as the service would build it, created at
// `created` (truncated to ms, UTC), and its plaintext.
func newKey(t testing.TB, firm string, created time.Time) (keyservice.Key, string) {
	t.Helper()
	plain, err := apikey.Generate(nil)
	if err != nil {
		t.Fatalf("apikey.Generate: %v", err)
	}
	created = created.UTC().Truncate(time.Millisecond)
	pepper := storePepper(t)
	return keyservice.Key{
		ID:            NewID(t, created),
		FirmID:        firm,
		Label:         "Integration " + randomHex(t, 3),
		Hint:          apikey.Hint(plain),
		CreatedAt:     created,
		CreatedBy:     "alice",
		Scopes:        keyservice.AllScopes,
		Digest:        pepper.Hash(plain),
		PepperVersion: pepper.Version,
	}, plain
}

// eventID returns an audit event id of the time at (a ULID, as the service
// makes them) whose random part is derived from seed, so the same event
// always gets the same id.
func eventID(at time.Time, seed string) string {
	sum := sha256.Sum256([]byte(seed))
	return ulid(at, sum[:10])
}

// EventID is eventID for store tests outside this package.
func EventID(at time.Time, seed string) string { return eventID(at, seed) }

func generateAudit(k keyservice.Key) keyservice.AuditRecord {
	return keyservice.AuditRecord{ID: eventID(k.CreatedAt, "generate "+k.ID), At: k.CreatedAt,
		Action: keyservice.ActionGenerate, FirmID: k.FirmID, KeyID: k.ID, Label: k.Label, Hint: k.Hint,
		Actor: k.CreatedBy, SourceIP: testSourceIP}
}

func revokeAudit(k keyservice.Key, at time.Time, by string) keyservice.AuditRecord {
	return keyservice.AuditRecord{ID: eventID(at, "revoke "+k.ID+" "+by), At: at, Action: keyservice.ActionRevoke,
		FirmID: k.FirmID, KeyID: k.ID, Label: k.Label, Hint: k.Hint, Actor: by, SourceIP: testSourceIP}
}

// allAudit returns every audit record of the firm, oldest first.
func allAudit(s keyservice.Store, firm string) ([]keyservice.AuditRecord, error) {
	recs, err := s.ListAudit(context.Background(), firm, "", "", 0)
	slices.Reverse(recs)
	return recs, err
}

func credOf(k keyservice.Key) keyservice.Credential {
	return keyservice.Credential{FirmID: k.FirmID, KeyID: k.ID, Label: k.Label, ExpiresAt: k.ExpiresAt,
		RevokedAt: k.RevokedAt, LastUsedAt: k.LastUsedAt, Scopes: k.Scopes, AllowedIPs: k.AllowedIPs,
		PepperVersion: k.PepperVersion}
}

// mustCreate stores k with its generate audit record and fails t on error.
func mustCreate(t testing.TB, s keyservice.Store, k keyservice.Key, maxActive int) {
	t.Helper()
	if err := s.CreateKey(context.Background(), k, maxActive, generateAudit(k)); err != nil {
		t.Fatalf("CreateKey(%s): %v", k.ID, err)
	}
}

// createRetrying calls CreateKey, retrying ErrConflict (a lost transaction
// race, after which nothing was written) as the service does.
func createRetrying(s keyservice.Store, k keyservice.Key, maxActive int) error {
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		err = s.CreateKey(context.Background(), k, maxActive, generateAudit(k))
		if !errors.Is(err, keyservice.ErrConflict) {
			return err
		}
		time.Sleep(time.Duration(1+attempt%5) * time.Millisecond)
	}
	return err
}

// assertFree checks that exactly want more keys fit under maxActive for the
// firm: the store's active count is exact. It creates those keys.
func assertFree(t testing.TB, s keyservice.Store, firm string, maxActive, want int) {
	t.Helper()
	at := baseTime().Add(time.Hour)
	for i := 0; i < want; i++ {
		k, _ := newKey(t, firm, at)
		if err := s.CreateKey(context.Background(), k, maxActive, generateAudit(k)); err != nil {
			t.Fatalf("free slots: want %d, but creating #%d failed: %v", want, i+1, err)
		}
	}
	k, _ := newKey(t, firm, at)
	if err := s.CreateKey(context.Background(), k, maxActive, generateAudit(k)); !errors.Is(err, keyservice.ErrLimitReached) {
		t.Fatalf("free slots: want %d, but key #%d: err = %v, want ErrLimitReached", want, want+1, err)
	}
}

func wantErr(t testing.TB, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", what, err, target)
	}
}

func noErr(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// recordOpts compare store records as the suite needs: set instants
// exactly and only in UTC (they go to clients as RFC 3339 UTC), addresses
// by value, an empty list like none.
var recordOpts = cmp.Options{
	cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) && utcOrZero(a) && utcOrZero(b) }),
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	cmpopts.EquateEmpty(),
	cmpopts.EquateErrors(),
}

func utcOrZero(t time.Time) bool { return t.IsZero() || t.Location() == time.UTC }

// diffAudit returns the differences of got from want (-want +got), or "".
// A want without an ID accepts any: the id of an event the service wrote
// is not known to the test.
func diffAudit(got, want keyservice.AuditRecord) string {
	if want.ID == "" {
		got.ID = ""
	}
	return cmp.Diff(want, got, recordOpts)
}

func checkKey(t testing.TB, what string, got, want keyservice.Key) {
	t.Helper()
	if d := cmp.Diff(want, got, recordOpts); d != "" {
		t.Errorf("%s (-want +got):\n%s", what, d)
	}
}

func checkCred(t testing.TB, what string, got, want keyservice.Credential) {
	t.Helper()
	if d := cmp.Diff(want, got, recordOpts); d != "" {
		t.Errorf("%s (-want +got):\n%s", what, d)
	}
}

// checkStored reads want back by id (GetKey) and by digest
// (FindCredential) and compares both with it.
func checkStored(t testing.TB, s keyservice.Store, what string, want keyservice.Key) {
	t.Helper()
	ctx := context.Background()
	got, err := s.GetKey(ctx, want.FirmID, want.ID)
	noErr(t, what+": GetKey", err)
	checkKey(t, what, got, want)
	cred, err := s.FindCredential(ctx, want.Digest)
	noErr(t, what+": FindCredential", err)
	checkCred(t, what+" (credential)", cred, credOf(want))
}

// checkAudit compares the firm's audit records with want. Records must come
// oldest first; the order of records at the same instant is the store's.
func checkAudit(t testing.TB, s keyservice.Store, firm string, want []keyservice.AuditRecord) {
	t.Helper()
	got, err := allAudit(s, firm)
	noErr(t, "ListAudit", err)
	if len(got) != len(want) {
		t.Fatalf("ListAudit: %d records, want %d: %+v", len(got), len(want), got)
	}
	for i := 1; i < len(got); i++ {
		if got[i].At.Before(got[i-1].At) {
			t.Fatalf("ListAudit: record %d (%v) is older than record %d (%v): want oldest first",
				i, got[i].At, i-1, got[i-1].At)
		}
	}
	byTime := func(rs []keyservice.AuditRecord) []keyservice.AuditRecord {
		rs = slices.Clone(rs)
		slices.SortStableFunc(rs, func(a, b keyservice.AuditRecord) int {
			return stdcmp.Or(a.At.Compare(b.At), stdcmp.Compare(a.KeyID, b.KeyID), stdcmp.Compare(a.Action, b.Action))
		})
		return rs
	}
	got, want = byTime(got), byTime(want)
	for i := range want {
		if d := diffAudit(got[i], want[i]); d != "" {
			t.Errorf("ListAudit[%d] (-want +got):\n%s", i, d)
		}
	}
}

func checkIDs(t testing.TB, what string, got []keyservice.Key, want ...keyservice.Key) {
	t.Helper()
	ids := func(ks []keyservice.Key) []string {
		out := make([]string, len(ks))
		for i := range ks {
			out[i] = ks[i].ID
		}
		return out
	}
	if d := cmp.Diff(ids(want), ids(got), cmpopts.EquateEmpty()); d != "" {
		t.Fatalf("%s: ids (-want +got):\n%s", what, d)
	}
}
