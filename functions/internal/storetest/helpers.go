package storetest

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

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

// diffTime compares times exactly (same instant) and requires UTC for set
// times, since they go to clients as RFC 3339 UTC.
func diffTime(field string, got, want time.Time) string {
	switch {
	case got.IsZero() != want.IsZero():
		return fmt.Sprintf("%s = %v, want %v", field, got, want)
	case got.IsZero():
		return ""
	case !got.Equal(want):
		return fmt.Sprintf("%s = %v, want %v", field, got.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
	case got.Location() != time.UTC:
		return fmt.Sprintf("%s is in %v, want UTC", field, got.Location())
	}
	return ""
}

func diffString(field, got, want string) string {
	if got != want {
		return fmt.Sprintf("%s = %q, want %q", field, got, want)
	}
	return ""
}

func joinDiffs(ds ...string) string {
	var out []string
	for _, d := range ds {
		if d != "" {
			out = append(out, d)
		}
	}
	return strings.Join(out, "; ")
}

func diffKey(got, want keyservice.Key) string {
	d := joinDiffs(
		diffString("ID", got.ID, want.ID),
		diffString("FirmID", got.FirmID, want.FirmID),
		diffString("Label", got.Label, want.Label),
		diffString("Hint", got.Hint, want.Hint),
		diffTime("CreatedAt", got.CreatedAt, want.CreatedAt),
		diffString("CreatedBy", got.CreatedBy, want.CreatedBy),
		diffTime("ExpiresAt", got.ExpiresAt, want.ExpiresAt),
		diffTime("RevokedAt", got.RevokedAt, want.RevokedAt),
		diffString("RevokedBy", got.RevokedBy, want.RevokedBy),
		diffTime("LastUsedAt", got.LastUsedAt, want.LastUsedAt),
		diffString("LastUsedIP", fmt.Sprint(got.LastUsedIP), fmt.Sprint(want.LastUsedIP)),
		diffString("Scopes", got.Scopes.String(), want.Scopes.String()),
		diffString("AllowedIPs", fmt.Sprint(got.AllowedIPs), fmt.Sprint(want.AllowedIPs)),
		diffString("Replaces", got.Replaces, want.Replaces),
		diffString("ReplacedBy", got.ReplacedBy, want.ReplacedBy),
		diffString("PepperVersion", got.PepperVersion, want.PepperVersion),
	)
	if !got.Digest.Equal(want.Digest) {
		d = joinDiffs(d, "Digest differs")
	}
	return d
}

func diffCred(got, want keyservice.Credential) string {
	return joinDiffs(
		diffString("FirmID", got.FirmID, want.FirmID),
		diffString("KeyID", got.KeyID, want.KeyID),
		diffString("Label", got.Label, want.Label),
		diffTime("ExpiresAt", got.ExpiresAt, want.ExpiresAt),
		diffTime("RevokedAt", got.RevokedAt, want.RevokedAt),
		diffTime("LastUsedAt", got.LastUsedAt, want.LastUsedAt),
		diffString("Scopes", got.Scopes.String(), want.Scopes.String()),
		diffString("AllowedIPs", fmt.Sprint(got.AllowedIPs), fmt.Sprint(want.AllowedIPs)),
		diffString("PepperVersion", got.PepperVersion, want.PepperVersion),
	)
}

func diffAudit(got, want keyservice.AuditRecord) string {
	id := ""
	if want.ID != "" {
		id = diffString("ID", got.ID, want.ID)
	}
	return joinDiffs(id,
		diffString("Hint", got.Hint, want.Hint),
		diffString("Changed", fmt.Sprint(got.Changed), fmt.Sprint(want.Changed)),
		diffString("NewKeyID", got.NewKeyID, want.NewKeyID),
		diffString("GracePeriodSeconds", fmt.Sprint(got.GracePeriodSeconds), fmt.Sprint(want.GracePeriodSeconds)),
		diffTime("At", got.At, want.At),
		diffString("Action", got.Action, want.Action),
		diffString("FirmID", got.FirmID, want.FirmID),
		diffString("KeyID", got.KeyID, want.KeyID),
		diffString("Label", got.Label, want.Label),
		diffString("Actor", got.Actor, want.Actor),
		diffString("SourceIP", got.SourceIP, want.SourceIP),
	)
}

func checkKey(t testing.TB, what string, got, want keyservice.Key) {
	t.Helper()
	if d := diffKey(got, want); d != "" {
		t.Errorf("%s: %s", what, d)
	}
}

func checkCred(t testing.TB, what string, got, want keyservice.Credential) {
	t.Helper()
	if d := diffCred(got, want); d != "" {
		t.Errorf("%s: %s", what, d)
	}
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
			return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.KeyID, b.KeyID), cmp.Compare(a.Action, b.Action))
		})
		return rs
	}
	got, want = byTime(got), byTime(want)
	for i := range want {
		if d := diffAudit(got[i], want[i]); d != "" {
			t.Errorf("ListAudit[%d]: %s", i, d)
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
	g, w := ids(got), ids(want)
	if strings.Join(g, ",") != strings.Join(w, ",") {
		t.Fatalf("%s: ids\n got %v\nwant %v", what, g, w)
	}
}
