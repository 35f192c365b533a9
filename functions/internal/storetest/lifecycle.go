package storetest

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

// lifecycleCases are the store contract of UpdateKey, RollKey and the
// paged ListAudit.
var lifecycleCases = []storeCase{
	{"UpdateKey/EachMember", testUpdateEachMember},
	{"UpdateKey/NotActiveNotFoundIsolation", testUpdateNotActive},
	{"RollKey/RoundTrip", testRollRoundTrip},
	{"RollKey/GraceKeepsEarlierExpiry", testRollEarlierExpiry},
	{"RollKey/NotActiveNotFoundIsolation", testRollNotActive},
	{"RollKey/SlotReleasedAfterGrace", testRollSlot},
	{"ListAudit/PagesAndKeyFilter", testListAuditPages},
	{"Concurrent/Roll", testConcurrentRoll},
	{"Concurrent/UpdateVsRevoke", testConcurrentUpdateRevoke},
	{"Concurrent/UpdateVsRoll", testConcurrentUpdateRoll},
}

func updateAudit(k keyservice.Key, at time.Time, by string, changed ...string) keyservice.AuditRecord {
	if changed == nil {
		changed = []string{}
	}
	return keyservice.AuditRecord{ID: eventID(at, "update "+k.ID+" "+by+at.String()), At: at, Action: keyservice.ActionUpdate,
		FirmID: k.FirmID, KeyID: k.ID, Label: k.Label, Hint: k.Hint, Actor: by, SourceIP: testSourceIP, Changed: changed}
}

func rollAudit(old keyservice.Key, succID string, at time.Time, grace int) keyservice.AuditRecord {
	return keyservice.AuditRecord{ID: eventID(at, "roll "+old.ID+" "+succID), At: at, Action: keyservice.ActionRoll,
		FirmID: old.FirmID, KeyID: old.ID, Label: old.Label, Hint: old.Hint, Actor: "alice", SourceIP: testSourceIP,
		NewKeyID: succID, GracePeriodSeconds: grace}
}

// successorOf returns a successor key as the service builds it for a roll
// at `at`: only its own id, secret and creation; the store copies the rest.
func successorOf(t testing.TB, old keyservice.Key, at time.Time) keyservice.Key {
	t.Helper()
	k, _ := newKey(t, old.FirmID, at)
	k.Label, k.Scopes = "", 0
	return k
}

func ptr[T any](v T) *T { return &v }

func testUpdateEachMember(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	firm := NewFirmID(t)
	t0 := baseTime()
	k, _ := newKey(t, firm, t0)
	k.ExpiresAt = t0.Add(48 * time.Hour)
	mustCreate(t, s, k, 10)
	audits := []keyservice.AuditRecord{generateAudit(k)}
	want := k

	steps := []struct {
		name    string
		u       keyservice.KeyUpdate
		changed []string
	}{
		{"label", keyservice.KeyUpdate{Label: ptr("Renamed ✓")}, []string{"label"}},
		{"earlier expiry", keyservice.KeyUpdate{ExpiresAt: ptr(t0.Add(time.Hour + 5*time.Millisecond))}, []string{"expiresAt"}},
		{"no expiry", keyservice.KeyUpdate{ExpiresAt: ptr(time.Time{})}, []string{"expiresAt"}},
		{"scopes", keyservice.KeyUpdate{Scopes: ptr(keyservice.ScopeRead)}, []string{"scopes"}},
		{"allowed addresses", keyservice.KeyUpdate{AllowedIPs: ptr([]netip.Prefix{
			netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("203.0.113.7/32")})}, []string{"allowedIps"}},
		{"all at once, label unchanged", keyservice.KeyUpdate{Label: ptr("Renamed ✓"), ExpiresAt: ptr(t0.Add(time.Minute)),
			Scopes: ptr(keyservice.AllScopes), AllowedIPs: ptr([]netip.Prefix{})}, []string{"expiresAt", "scopes", "allowedIps"}},
		{"nothing changes", keyservice.KeyUpdate{Label: ptr("Renamed ✓"), Scopes: ptr(keyservice.AllScopes)}, nil},
	}
	for i, st := range steps {
		at := t0.Add(time.Duration(i+1) * time.Second)
		got, changed, err := s.UpdateKey(ctx, firm, k.ID, at, st.u, updateAudit(want, at, "bob"))
		noErr(t, "UpdateKey "+st.name, err)
		if !slices.Equal(changed, st.changed) {
			t.Errorf("UpdateKey %s: changed %v, want %v", st.name, changed, st.changed)
		}
		want = st.u.Apply(want)
		checkKey(t, "UpdateKey "+st.name+" result", got, want)
		checkStored(t, s, "key after UpdateKey "+st.name, want)
		if st.changed != nil {
			audits = append(audits, updateAudit(want, at, "bob", st.changed...))
		}
		checkAudit(t, s, firm, audits)
	}
	assertFree(t, s, firm, 10, 9) // an update never changes the count
}

// notActive is the set-up of the not-active cases of update and roll: in
// firm, a key revoked at t0 by bob, a key that expires at t0 plus a minute
// and an active one; other is a firm with no keys.
type notActive struct {
	firm, other             string
	t0                      time.Time
	revoked, expired, third keyservice.Key
}

func newNotActive(t *testing.T, s keyservice.Store) notActive {
	t.Helper()
	n := notActive{firm: NewFirmID(t), other: NewFirmID(t), t0: baseTime()}
	n.revoked, _ = newKey(t, n.firm, n.t0)
	n.expired, _ = newKey(t, n.firm, n.t0)
	n.expired.ExpiresAt = n.t0.Add(time.Minute)
	n.third, _ = newKey(t, n.firm, n.t0)
	for _, k := range []keyservice.Key{n.revoked, n.expired, n.third} {
		mustCreate(t, s, k, 10)
	}
	_, err := s.RevokeKey(context.Background(), n.firm, n.revoked.ID, n.t0, "bob", revokeAudit(n.revoked, n.t0, "bob"))
	noErr(t, "RevokeKey", err)
	return n
}

func testUpdateNotActive(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	n := newNotActive(t, s)
	firm, other, t0, revoked, expired, live := n.firm, n.other, n.t0, n.revoked, n.expired, n.third
	var err error
	at := t0.Add(time.Minute) // expired exactly now
	u := keyservice.KeyUpdate{Label: ptr("New"), ExpiresAt: ptr(time.Time{})}
	for _, k := range []keyservice.Key{revoked, expired} {
		_, _, err := s.UpdateKey(ctx, firm, k.ID, at, u, updateAudit(k, at, "bob"))
		wantErr(t, "UpdateKey of an inactive key", err, keyservice.ErrNotActive)
	}
	_, _, err = s.UpdateKey(ctx, firm, NewID(t, t0), at, u, updateAudit(live, at, "bob"))
	wantErr(t, "UpdateKey of an unknown key", err, keyservice.ErrNotFound)
	_, _, err = s.UpdateKey(ctx, other, live.ID, at, u, updateAudit(live, at, "mallory"))
	wantErr(t, "UpdateKey of another firm's key", err, keyservice.ErrNotFound)

	got, err := s.GetKey(ctx, firm, expired.ID)
	noErr(t, "GetKey", err)
	checkKey(t, "expired key after refused update", got, expired)
	got, err = s.GetKey(ctx, firm, live.ID)
	noErr(t, "GetKey", err)
	checkKey(t, "key after another firm's update", got, live)
	checkAudit(t, s, firm, []keyservice.AuditRecord{generateAudit(revoked), generateAudit(expired), generateAudit(live),
		revokeAudit(revoked, t0, "bob")})
	checkAudit(t, s, other, nil)
}

func testRollRoundTrip(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	firm := NewFirmID(t)
	t0 := baseTime()
	old, _ := newKey(t, firm, t0)
	old.Scopes = keyservice.ScopeWrite
	old.AllowedIPs = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}
	old.ExpiresAt = t0.Add(30 * 24 * time.Hour)
	mustCreate(t, s, old, 1)

	at := t0.Add(time.Hour)
	graceEnd := at.Add(24 * time.Hour)
	succ := successorOf(t, old, at)
	gotOld, gotNew, err := s.RollKey(ctx, firm, old.ID, succ, graceEnd, rollAudit(old, succ.ID, at, 86400))
	noErr(t, "RollKey at the limit", err) // a roll is never refused for the limit

	wantOld := old
	wantOld.ReplacedBy, wantOld.ExpiresAt = succ.ID, graceEnd
	wantNew := succ
	wantNew.Label, wantNew.Scopes, wantNew.AllowedIPs, wantNew.ExpiresAt, wantNew.Replaces =
		old.Label, old.Scopes, old.AllowedIPs, old.ExpiresAt, old.ID
	checkKey(t, "RollKey old", gotOld, wantOld)
	checkKey(t, "RollKey successor", gotNew, wantNew)
	for _, k := range []keyservice.Key{wantOld, wantNew} {
		checkStored(t, s, "stored after roll", k)
	}
	keys, err := s.ListKeys(ctx, firm, "", 10)
	noErr(t, "ListKeys", err)
	checkIDs(t, "keys after roll", keys, wantNew, wantOld)
	checkAudit(t, s, firm, []keyservice.AuditRecord{generateAudit(old), rollAudit(old, succ.ID, at, 86400)})
}

func testRollEarlierExpiry(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	firm := NewFirmID(t)
	t0 := baseTime()
	old, _ := newKey(t, firm, t0)
	old.ExpiresAt = t0.Add(2 * time.Hour)
	mustCreate(t, s, old, 5)
	at := t0.Add(time.Hour)
	succ := successorOf(t, old, at)
	gotOld, gotNew, err := s.RollKey(ctx, firm, old.ID, succ, at.Add(7*24*time.Hour), rollAudit(old, succ.ID, at, 604800))
	noErr(t, "RollKey", err)
	if !gotOld.ExpiresAt.Equal(old.ExpiresAt) || !gotNew.ExpiresAt.Equal(old.ExpiresAt) {
		t.Fatalf("old expires %v, successor %v; want both the old key's own %v", gotOld.ExpiresAt, gotNew.ExpiresAt, old.ExpiresAt)
	}
	// Grace 0: the old key expires at once.
	k2, _ := newKey(t, firm, t0)
	mustCreate(t, s, k2, 5)
	succ2 := successorOf(t, k2, at)
	gotOld, _, err = s.RollKey(ctx, firm, k2.ID, succ2, at, rollAudit(k2, succ2.ID, at, 0))
	noErr(t, "RollKey grace 0", err)
	if !gotOld.ExpiresAt.Equal(at) || gotOld.StatusAt(at) != keyservice.StatusExpired {
		t.Fatalf("grace 0: old key expires %v (status %s), want %v, expired", gotOld.ExpiresAt, gotOld.StatusAt(at), at)
	}
	cred, err := s.FindCredential(ctx, k2.Digest)
	noErr(t, "FindCredential", err)
	if !cred.ExpiresAt.Equal(at) {
		t.Fatalf("grace 0: credential expires %v, want %v", cred.ExpiresAt, at)
	}
}

func testRollNotActive(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	n := newNotActive(t, s)
	firm, other, t0, revoked, expired, rolled := n.firm, n.other, n.t0, n.revoked, n.expired, n.third
	var err error
	at := t0.Add(time.Minute)
	first := successorOf(t, rolled, at)
	_, _, err = s.RollKey(ctx, firm, rolled.ID, first, at.Add(time.Hour), rollAudit(rolled, first.ID, at, 3600))
	noErr(t, "RollKey", err)

	for _, k := range []keyservice.Key{revoked, expired, rolled} {
		succ := successorOf(t, k, at)
		_, _, err := s.RollKey(ctx, firm, k.ID, succ, at.Add(time.Hour), rollAudit(k, succ.ID, at, 3600))
		wantErr(t, "RollKey of a revoked, expired or rolled key", err, keyservice.ErrNotActive)
		_, err = s.GetKey(ctx, firm, succ.ID)
		wantErr(t, "GetKey of the refused successor", err, keyservice.ErrNotFound)
		_, err = s.FindCredential(ctx, succ.Digest)
		wantErr(t, "FindCredential of the refused successor", err, keyservice.ErrNotFound)
	}
	succ := successorOf(t, rolled, at)
	_, _, err = s.RollKey(ctx, firm, NewID(t, t0), succ, at, rollAudit(rolled, succ.ID, at, 0))
	wantErr(t, "RollKey of an unknown key", err, keyservice.ErrNotFound)
	succ = successorOf(t, rolled, at)
	succ.FirmID = other
	_, _, err = s.RollKey(ctx, other, first.ID, succ, at, rollAudit(rolled, succ.ID, at, 0))
	wantErr(t, "RollKey of another firm's key", err, keyservice.ErrNotFound)
	checkAudit(t, s, other, nil)

	// The successor may be rolled in turn; a successor id or digest that
	// exists is a conflict that writes nothing.
	clash := successorOf(t, first, at)
	clash.Digest = rolled.Digest
	_, _, err = s.RollKey(ctx, firm, first.ID, clash, at.Add(time.Hour), rollAudit(first, clash.ID, at, 3600))
	wantErr(t, "RollKey with an existing digest", err, keyservice.ErrConflict)
	second := successorOf(t, first, at)
	_, _, err = s.RollKey(ctx, firm, first.ID, second, at.Add(time.Hour), rollAudit(first, second.ID, at, 3600))
	noErr(t, "RollKey of the successor", err)
}

// testRollSlot: the successor takes a slot beyond the limit; once the old
// key expires its slot is released and the count is exact again.
func testRollSlot(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	firm := NewFirmID(t)
	t0 := baseTime()
	a, _ := newKey(t, firm, t0)
	b, _ := newKey(t, firm, t0)
	mustCreate(t, s, a, 2)
	mustCreate(t, s, b, 2)
	at := t0.Add(time.Minute)
	succ := successorOf(t, a, at)
	_, _, err := s.RollKey(ctx, firm, a.ID, succ, at.Add(time.Hour), rollAudit(a, succ.ID, at, 3600))
	noErr(t, "RollKey at the limit", err)
	c, _ := newKey(t, firm, at)
	wantErr(t, "CreateKey during the grace period", s.CreateKey(ctx, c, 2, generateAudit(c)), keyservice.ErrLimitReached)
	n, err := s.ReleaseExpired(ctx, firm, at.Add(59*time.Minute))
	noErr(t, "ReleaseExpired before the grace ends", err)
	if n != 0 {
		t.Fatalf("ReleaseExpired during the grace period released %d", n)
	}
	n, err = s.ReleaseExpired(ctx, firm, at.Add(time.Hour))
	noErr(t, "ReleaseExpired", err)
	if n != 1 {
		t.Fatalf("ReleaseExpired after the grace period released %d, want 1", n)
	}
	assertFree(t, s, firm, 2, 0) // successor and b hold the two slots
	assertFree(t, s, firm, 3, 1)
}

// testListAuditPages: newest first, paging strictly below an id, one key's
// events as full pages among many others, firms apart.
func testListAuditPages(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	firm, other := NewFirmID(t), NewFirmID(t)
	t0 := baseTime()
	target, _ := newKey(t, firm, t0)
	mustCreate(t, s, target, 50)
	want := []keyservice.AuditRecord{generateAudit(target)}
	var all []keyservice.AuditRecord
	all = append(all, generateAudit(target))
	// Other keys' events interleaved with the target's updates: a filter
	// over the firm's events would give short pages.
	for i := 1; i <= 12; i++ {
		for j := 0; j < 3; j++ {
			k, _ := newKey(t, firm, t0.Add(time.Duration(i)*time.Second+time.Duration(j)*time.Millisecond))
			mustCreate(t, s, k, 50)
			all = append(all, generateAudit(k))
		}
		at := t0.Add(time.Duration(i)*time.Second + 10*time.Millisecond)
		label := "Label " + string(rune('A'+i))
		u := keyservice.KeyUpdate{Label: &label}
		_, _, err := s.UpdateKey(ctx, firm, target.ID, at, u, updateAudit(target, at, "bob"))
		noErr(t, "UpdateKey", err)
		target.Label = label
		a := updateAudit(target, at, "bob", "label")
		want = append(want, a)
		all = append(all, a)
	}
	x, _ := newKey(t, other, t0)
	mustCreate(t, s, x, 50)

	slices.Reverse(want)
	slices.Reverse(all)
	pageThrough := func(keyID string, limit int, want []keyservice.AuditRecord) {
		t.Helper()
		before := ""
		for from := 0; ; from += limit {
			got, err := s.ListAudit(ctx, firm, keyID, before, limit)
			noErr(t, "ListAudit", err)
			end := min(from+limit, len(want))
			if len(got) != end-from {
				t.Fatalf("ListAudit(key %q, limit %d) page at %d: %d records, want %d (full pages)", keyID, limit, from, len(got), end-from)
			}
			for i := range got {
				if d := diffAudit(got[i], want[from+i]); d != "" {
					t.Fatalf("ListAudit(key %q) record %d (-want +got):\n%s", keyID, from+i, d)
				}
			}
			if len(got) < limit {
				return
			}
			before = got[len(got)-1].ID
		}
	}
	pageThrough(target.ID, 5, want)
	pageThrough(target.ID, 1, want)
	pageThrough(target.ID, 13, want)
	pageThrough("", 7, all)
	pageThrough(x.ID, 5, nil) // another firm's key: nothing in this firm

	got, err := s.ListAudit(ctx, other, "", "", 0)
	noErr(t, "ListAudit of the other firm", err)
	if len(got) != 1 || got[0].KeyID != x.ID {
		t.Fatalf("other firm's events: %+v", got)
	}
	got, err = s.ListAudit(ctx, other, target.ID, "", 0)
	noErr(t, "ListAudit of the other firm for this firm's key", err)
	if len(got) != 0 {
		t.Fatalf("other firm sees %d events of this firm's key", len(got))
	}
	// A position that is no event: listing resumes strictly below it.
	mid := NewID(t, t0.Add(6*time.Second+5*time.Millisecond))
	got, err = s.ListAudit(ctx, firm, target.ID, mid, 0)
	noErr(t, "ListAudit below a position", err)
	if len(got) != 6 { // the generate and updates 1..5
		t.Fatalf("ListAudit below a position: %d records, want 6", len(got))
	}
}

func testConcurrentRoll(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	firm := NewFirmID(t)
	t0 := baseTime()
	k, _ := newKey(t, firm, t0)
	mustCreate(t, s, k, 1)
	const n = 8
	at := t0.Add(time.Second)
	succs := make([]keyservice.Key, n)
	for i := range succs {
		succs[i] = successorOf(t, k, at)
	}
	errs := make([]error, n)
	run(n, func(i int) {
		_, _, errs[i] = s.RollKey(ctx, firm, k.ID, succs[i], at.Add(time.Hour), rollAudit(k, succs[i].ID, at, 3600))
	})
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Fatalf("rolls #%d and #%d both succeeded", won, i)
		case err == nil:
			won = i
		case !errors.Is(err, keyservice.ErrNotActive):
			t.Fatalf("racing RollKey #%d: %v, want success or ErrNotActive", i, err)
		}
	}
	if won < 0 {
		t.Fatalf("no racing roll succeeded")
	}
	keys, err := s.ListKeys(ctx, firm, "", 100)
	noErr(t, "ListKeys", err)
	if len(keys) != 2 {
		t.Fatalf("%d keys after %d racing rolls, want 2 (one successor)", len(keys), n)
	}
	stored, err := s.GetKey(ctx, firm, k.ID)
	noErr(t, "GetKey", err)
	if stored.ReplacedBy != succs[won].ID {
		t.Fatalf("old key replaced by %q, want the winner %q", stored.ReplacedBy, succs[won].ID)
	}
	for i := range succs {
		if i != won {
			_, err := s.FindCredential(ctx, succs[i].Digest)
			wantErr(t, "credential of a losing roll", err, keyservice.ErrNotFound)
		}
	}
	checkAudit(t, s, firm, []keyservice.AuditRecord{generateAudit(k), rollAudit(k, succs[won].ID, at, 3600)})
	// One extra slot, held until the old key expires.
	n2, err := s.ReleaseExpired(ctx, firm, at.Add(time.Hour))
	noErr(t, "ReleaseExpired", err)
	if n2 != 1 {
		t.Fatalf("ReleaseExpired released %d, want 1", n2)
	}
	assertFree(t, s, firm, 2, 1)
}

func testConcurrentUpdateRevoke(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	firm := NewFirmID(t)
	t0 := baseTime()
	const rounds, updaters = 3, 4
	for r := 0; r < rounds; r++ {
		k, _ := newKey(t, firm, t0)
		mustCreate(t, s, k, 100)
		revokeAt := t0.Add(time.Duration(r+1) * time.Second)
		errs := make([]error, updaters+1)
		var revoked keyservice.Key
		run(updaters+1, func(i int) {
			if i == updaters {
				revoked, errs[i] = s.RevokeKey(ctx, firm, k.ID, revokeAt, "bob", revokeAudit(k, revokeAt, "bob"))
				return
			}
			at := t0.Add(time.Duration(i+1) * time.Millisecond)
			label := "Update " + string(rune('a'+i))
			_, _, err := s.UpdateKey(ctx, firm, k.ID, at, keyservice.KeyUpdate{Label: &label, Scopes: ptr(keyservice.ScopeRead)},
				updateAudit(k, at, label))
			if errors.Is(err, keyservice.ErrNotActive) {
				err = nil // the revoke came first
			}
			errs[i] = err
		})
		for _, err := range errs {
			noErr(t, "update racing revoke", err)
		}
		got, err := s.GetKey(ctx, firm, k.ID)
		noErr(t, "GetKey", err)
		cred, err := s.FindCredential(ctx, k.Digest)
		noErr(t, "FindCredential", err)
		if !got.RevokedAt.Equal(revokeAt) || !cred.RevokedAt.Equal(revokeAt) || !revoked.RevokedAt.Equal(revokeAt) {
			t.Fatalf("revoke lost to a concurrent update: key %v, credential %v", got.RevokedAt, cred.RevokedAt)
		}
		if got.Label != cred.Label || got.Scopes != cred.Scopes {
			t.Fatalf("key and credential differ: %q/%v vs %q/%v", got.Label, got.Scopes, cred.Label, cred.Scopes)
		}
	}
}

func testConcurrentUpdateRoll(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	firm := NewFirmID(t)
	t0 := baseTime()
	k, _ := newKey(t, firm, t0)
	mustCreate(t, s, k, 100)
	at := t0.Add(time.Second)
	succ := successorOf(t, k, at)
	var rollErr error
	updErrs := make([]error, 4)
	run(5, func(i int) {
		if i == 4 {
			_, _, rollErr = s.RollKey(ctx, firm, k.ID, succ, at.Add(time.Hour), rollAudit(k, succ.ID, at, 3600))
			return
		}
		_, _, updErrs[i] = s.UpdateKey(ctx, firm, k.ID, at, keyservice.KeyUpdate{Scopes: ptr(keyservice.ScopeRead)},
			updateAudit(k, at, "carol"+string(rune('a'+i))))
	})
	noErr(t, "RollKey racing updates", rollErr)
	for _, err := range updErrs {
		noErr(t, "UpdateKey racing a roll", err)
	}
	// The scopes change reached the old key; the successor copied the old
	// key's scopes as they were when the roll committed, whichever came
	// first, and the old key's grace expiry survived the updates.
	old, err := s.GetKey(ctx, firm, k.ID)
	noErr(t, "GetKey", err)
	if old.Scopes != keyservice.ScopeRead || old.ReplacedBy != succ.ID || !old.ExpiresAt.Equal(at.Add(time.Hour)) {
		t.Fatalf("old key after the race: scopes %v, replaced by %q, expires %v", old.Scopes, old.ReplacedBy, old.ExpiresAt)
	}
	cred, err := s.FindCredential(ctx, k.Digest)
	noErr(t, "FindCredential", err)
	checkCred(t, "old credential after the race", cred, credOf(old))
}
