package storetest

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

// RunService runs keyservice.Service over stores from newStore: the rules of
// SPEC sections 3-5 end to end, including the concurrency cases.
func RunService(t *testing.T, newStore func(t *testing.T) keyservice.Store) {
	t.Helper()
	runCases(t, []storeCase{
		{"EndToEnd", testServiceEndToEnd},
		{"Rules", testServiceRules},
		{"Isolation", testServiceIsolation},
		{"ListFilterAndPaging", testServiceList},
		{"ExpiryReleasesSlot", testServiceExpiry},
		{"ExpiresAtRoundTrip", testServiceExpiresAtRoundTrip},
		{"NoPlaintextInAudit", testServiceNoPlaintextInAudit},
		{"LastUsedThrottle", testServiceLastUsed},
		{"ScopesAndAddresses", testServiceAccess},
		{"UpdateNarrowsAtOnce", testServiceUpdate},
		{"RollGracePeriod", testServiceRoll},
		{"PepperRotation", testServicePepperRotation},
		{"Concurrent/GenerateLimit", testServiceConcurrentGenerate},
		{"Concurrent/Authorize", testServiceConcurrentAuthorize},
		{"Concurrent/RevokeVsAuthorize", testServiceRevokeVsAuthorize},
		{"Concurrent/Revoke", testServiceConcurrentRevoke},
	}, newStore)
}

type env struct {
	store keyservice.Store
	clock *testkit.Clock
	logs  *testkit.SyncBuffer
	svc   *keyservice.Service
	admin keyservice.Admin
}

func newEnv(t testing.TB, s keyservice.Store, maxActive int, set apikey.PepperSet) *env {
	t.Helper()
	e := &env{store: s, clock: testkit.NewClock(baseTime().Add(7 * time.Millisecond)), logs: &testkit.SyncBuffer{}}
	e.svc = keyservice.New(s, testkit.Peppers{Set: set}, keyservice.Config{
		MaxActiveKeys: maxActive,
		Now:           e.clock.Now,
		Logger:        slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	e.admin = keyservice.Admin{Subject: "alice", FirmID: NewFirmID(t), IsAdmin: true, IsPremier: true, SourceIP: testSourceIP}
	return e
}

func (e *env) generate(t testing.TB, label string, expiresAt *time.Time) (keyservice.Key, string) {
	t.Helper()
	k, plain, err := e.svc.Generate(context.Background(), e.admin, keyservice.GenerateInput{Label: label, ExpiresAt: expiresAt})
	if err != nil {
		t.Fatalf("Generate(%q): %v", label, err)
	}
	return k, plain
}

func wantCode(t testing.TB, what string, err error, code keyservice.Code) {
	t.Helper()
	if err == nil || keyservice.CodeOf(err) != code {
		t.Fatalf("%s: err = %v, want code %s", what, err, code)
	}
}

func wantDenied(t testing.TB, what string, err error) {
	t.Helper()
	if !errors.Is(err, keyservice.ErrDenied) {
		t.Fatalf("%s: Authorize err = %v, want ErrDenied", what, err)
	}
}

func testServiceEndToEnd(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	e := newEnv(t, s, 50, TestPepperSet(t, "1"))
	created := e.clock.Now()

	k, plain := e.generate(t, "  Production Integration\t", nil)
	if err := apikey.Validate(plain); err != nil {
		t.Fatalf("generated key does not validate: %v", err)
	}
	if k.Label != "Production Integration" || k.Hint != apikey.Hint(plain) || k.CreatedBy != "alice" ||
		!k.CreatedAt.Equal(created) || k.StatusAt(created) != keyservice.StatusActive {
		t.Fatalf("generated key = %+v", k)
	}

	page, err := e.svc.List(ctx, e.admin, keyservice.ListInput{})
	noErr(t, "List", err)
	if len(page.Items) != 1 || page.NextCursor != "" {
		t.Fatalf("List = %d items, cursor %q; want 1 item, no cursor", len(page.Items), page.NextCursor)
	}
	checkKey(t, "listed key", page.Items[0], k)

	e.clock.Advance(time.Second)
	p, err := e.svc.Authorize(ctx, plain)
	noErr(t, "Authorize", err)
	if p != (keyservice.Principal{FirmID: e.admin.FirmID, KeyID: k.ID, Label: k.Label, Scopes: keyservice.AllScopes}) {
		t.Fatalf("Authorize = %+v", p)
	}

	// Mistyped, unknown: denied without ever being found.
	mistyped := []byte(plain)
	mistyped[10] ^= 1
	_, err = e.svc.Authorize(ctx, string(mistyped))
	wantDenied(t, "mistyped key", err)
	other, err := apikey.Generate(nil)
	noErr(t, "apikey.Generate", err)
	_, err = e.svc.Authorize(ctx, other)
	wantDenied(t, "unknown key", err)

	e.clock.Advance(time.Second)
	revokedAt := e.clock.Now()
	r, err := e.svc.Revoke(ctx, e.admin, k.ID)
	noErr(t, "Revoke", err)
	if !r.RevokedAt.Equal(revokedAt) || r.RevokedBy != "alice" || r.StatusAt(revokedAt) != keyservice.StatusRevoked {
		t.Fatalf("revoked key = %+v", r)
	}
	_, err = e.svc.Authorize(ctx, plain)
	wantDenied(t, "revoked key", err)

	e.clock.Advance(time.Minute)
	bob := e.admin
	bob.Subject = "bob"
	again, err := e.svc.Revoke(ctx, bob, k.ID)
	noErr(t, "Revoke again", err)
	if !again.RevokedAt.Equal(revokedAt) || again.RevokedBy != "alice" {
		t.Fatalf("second revoke = revokedAt %v by %q, want %v by alice", again.RevokedAt, again.RevokedBy, revokedAt)
	}

	audits, err := allAudit(s, e.admin.FirmID)
	noErr(t, "ListAudit", err)
	if len(audits) != 2 {
		t.Fatalf("ListAudit: %d records, want 2 (generate, revoke)", len(audits))
	}
	for i, want := range []keyservice.AuditRecord{
		{At: created, Action: keyservice.ActionGenerate, FirmID: e.admin.FirmID, KeyID: k.ID, Label: k.Label, Hint: k.Hint, Actor: "alice", SourceIP: testSourceIP},
		// The service does not know the label when it revokes; the store
		// fills it in from the key record (Store.RevokeKey's contract).
		{At: revokedAt, Action: keyservice.ActionRevoke, FirmID: e.admin.FirmID, KeyID: k.ID, Label: k.Label, Hint: k.Hint, Actor: "alice", SourceIP: testSourceIP},
	} {
		if d := diffAudit(audits[i], want); d != "" {
			t.Errorf("audit[%d] (-want +got):\n%s", i, d)
		}
	}
	AssertNoPlaintext(t, e.logs.Bytes(), []string{plain})
}

func testServiceRules(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	e := newEnv(t, s, 50, TestPepperSet(t, "1"))
	k, _ := e.generate(t, "Office Sync Tool", nil)

	anon := keyservice.Admin{FirmID: e.admin.FirmID, IsAdmin: true, IsPremier: true}
	member := e.admin
	member.IsAdmin = false
	basic := e.admin
	basic.IsPremier = false

	_, _, err := e.svc.Generate(ctx, anon, keyservice.GenerateInput{Label: "x"})
	wantCode(t, "Generate without a subject", err, keyservice.CodeUnauthorized)
	_, _, err = e.svc.Generate(ctx, member, keyservice.GenerateInput{Label: "x"})
	wantCode(t, "Generate by a non-admin", err, keyservice.CodeNotFirmAdmin)
	_, err = e.svc.List(ctx, member, keyservice.ListInput{})
	wantCode(t, "List by a non-admin", err, keyservice.CodeNotFirmAdmin)
	_, err = e.svc.Revoke(ctx, member, k.ID)
	wantCode(t, "Revoke by a non-admin", err, keyservice.CodeNotFirmAdmin)
	_, _, err = e.svc.Generate(ctx, basic, keyservice.GenerateInput{Label: "x"})
	wantCode(t, "Generate outside Premier", err, keyservice.CodePremierRequired)
	for _, label := range []string{"", "   ", strings.Repeat("a", 65), "a\x00b", "tab\tinside"} {
		_, _, err = e.svc.Generate(ctx, e.admin, keyservice.GenerateInput{Label: label})
		wantCode(t, "Generate with label "+label, err, keyservice.CodeInvalidLabel)
	}
	past := e.clock.Now()
	_, _, err = e.svc.Generate(ctx, e.admin, keyservice.GenerateInput{Label: "x", ExpiresAt: &past})
	wantCode(t, "Generate with expiresAt now", err, keyservice.CodeInvalidRequest)
	_, err = e.svc.Revoke(ctx, e.admin, "not-an-id")
	wantCode(t, "Revoke of a malformed id", err, keyservice.CodeNotFound)
	_, err = e.svc.Revoke(ctx, e.admin, NewID(t, e.clock.Now()))
	wantCode(t, "Revoke of an unknown id", err, keyservice.CodeNotFound)
	for _, in := range []keyservice.ListInput{{Status: "gone"}, {Limit: -1}, {Limit: 101}, {Cursor: "%%%"}} {
		_, err = e.svc.List(ctx, e.admin, in)
		wantCode(t, "List with bad input", err, keyservice.CodeInvalidRequest)
	}

	// A firm that left Premier can still list and revoke.
	page, err := e.svc.List(ctx, basic, keyservice.ListInput{})
	noErr(t, "List outside Premier", err)
	checkIDs(t, "List outside Premier", page.Items, k)
	_, err = e.svc.Revoke(ctx, basic, k.ID)
	noErr(t, "Revoke outside Premier", err)

	// No pepper: nothing is generated, nothing is let in.
	broken := keyservice.New(s, testkit.Peppers{Err: errors.New("secret unreachable")}, keyservice.Config{Now: e.clock.Now,
		Logger: slog.New(slog.NewJSONHandler(e.logs, nil))})
	_, _, err = broken.Generate(ctx, e.admin, keyservice.GenerateInput{Label: "x"})
	wantCode(t, "Generate without pepper", err, keyservice.CodeInternal)
	_, plain := e.generate(t, "still good", nil)
	if _, err := broken.Authorize(ctx, plain); err == nil {
		t.Fatalf("Authorize without pepper succeeded")
	}
}

func testServiceIsolation(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	set := TestPepperSet(t, "1")
	a := newEnv(t, s, 50, set)
	b := newEnv(t, s, 50, set)
	b.svc = a.svc // one service, two firms
	b.clock = a.clock

	var keys []keyservice.Key
	for i := 0; i < 3; i++ {
		k, _ := a.generate(t, "A key", nil)
		keys = append(keys, k)
		a.clock.Advance(time.Second)
	}
	_, plain := a.generate(t, "A key", nil)

	_, err := a.svc.Revoke(ctx, b.admin, keys[0].ID)
	wantCode(t, "Revoke of another firm's key", err, keyservice.CodeNotFound)
	page, err := a.svc.List(ctx, b.admin, keyservice.ListInput{})
	noErr(t, "List", err)
	checkIDs(t, "other firm's list", page.Items)
	aPage, err := a.svc.List(ctx, a.admin, keyservice.ListInput{Limit: 1})
	noErr(t, "List", err)
	if aPage.NextCursor == "" {
		t.Fatalf("List limit 1 of 4 keys gave no cursor")
	}
	_, err = a.svc.List(ctx, b.admin, keyservice.ListInput{Limit: 1, Cursor: aPage.NextCursor})
	wantCode(t, "List with another firm's cursor", err, keyservice.CodeInvalidRequest)

	p, err := a.svc.Authorize(ctx, plain)
	noErr(t, "Authorize after the other firm's attempts", err)
	if p.FirmID != a.admin.FirmID {
		t.Fatalf("Authorize firm = %q, want %q", p.FirmID, a.admin.FirmID)
	}
	audits, err := allAudit(s, b.admin.FirmID)
	noErr(t, "ListAudit", err)
	if len(audits) != 0 {
		t.Fatalf("other firm has %d audit records, want 0", len(audits))
	}
}

func testServiceList(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	e := newEnv(t, s, 50, TestPepperSet(t, "1"))
	const n = 9
	keys := make([]keyservice.Key, n)
	for i := range keys {
		var exp *time.Time
		if i == 2 || i == 5 {
			x := e.clock.Now().Add(30 * time.Minute)
			exp = &x
		}
		keys[i], _ = e.generate(t, "Key", exp)
		e.clock.Advance(time.Second)
	}
	for _, i := range []int{1, 4, 7} {
		_, err := e.svc.Revoke(ctx, e.admin, keys[i].ID)
		noErr(t, "Revoke", err)
	}
	e.clock.Advance(time.Hour) // keys 2 and 5 expire

	pick := func(idx ...int) []keyservice.Key {
		out := make([]keyservice.Key, len(idx))
		for i, j := range idx {
			out[i] = keys[j]
		}
		return out
	}
	want := map[string][]keyservice.Key{
		"":        pick(8, 7, 6, 5, 4, 3, 2, 1, 0),
		"all":     pick(8, 7, 6, 5, 4, 3, 2, 1, 0),
		"active":  pick(8, 6, 3, 0),
		"revoked": pick(7, 4, 1),
		"expired": pick(5, 2),
	}
	for status, wantKeys := range want {
		for _, limit := range []int{1, 2, 3, 100} {
			var got []keyservice.Key
			cursor := ""
			for pages := 0; ; pages++ {
				if pages > n {
					t.Fatalf("status %q limit %d: more than %d pages", status, limit, n)
				}
				page, err := e.svc.List(ctx, e.admin, keyservice.ListInput{Status: status, Limit: limit, Cursor: cursor})
				noErr(t, "List", err)
				if page.NextCursor != "" && len(page.Items) != limit {
					t.Fatalf("status %q limit %d: a page with a cursor has %d items", status, limit, len(page.Items))
				}
				got = append(got, page.Items...)
				if page.NextCursor == "" {
					break
				}
				cursor = page.NextCursor
			}
			checkIDs(t, "List status "+status, got, wantKeys...)
			for _, k := range got {
				if status != "" && status != "all" && string(k.StatusAt(e.clock.Now())) != status {
					t.Fatalf("List status %q returned a %s key", status, k.StatusAt(e.clock.Now()))
				}
			}
		}
	}

	// A cursor is bound to its status filter.
	page, err := e.svc.List(ctx, e.admin, keyservice.ListInput{Status: "active", Limit: 1})
	noErr(t, "List", err)
	_, err = e.svc.List(ctx, e.admin, keyservice.ListInput{Status: "revoked", Limit: 1, Cursor: page.NextCursor})
	wantCode(t, "List with a cursor of another status", err, keyservice.CodeInvalidRequest)
}

func testServiceExpiry(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	e := newEnv(t, s, 2, TestPepperSet(t, "1"))
	exp := e.clock.Now().Add(time.Minute)
	_, a := e.generate(t, "expiring", &exp)
	e.generate(t, "lasting", nil)
	_, _, err := e.svc.Generate(ctx, e.admin, keyservice.GenerateInput{Label: "third"})
	wantCode(t, "Generate over the limit", err, keyservice.CodeKeyLimitReached)

	_, err = e.svc.Authorize(ctx, a)
	noErr(t, "Authorize before expiry", err)
	e.clock.Advance(time.Minute)
	_, err = e.svc.Authorize(ctx, a)
	wantDenied(t, "expired key", err)

	e.generate(t, "third", nil) // the expired key's slot is released
	_, _, err = e.svc.Generate(ctx, e.admin, keyservice.GenerateInput{Label: "fourth"})
	wantCode(t, "Generate over the limit", err, keyservice.CodeKeyLimitReached)
}

// touchCounter counts the last-used writes a store reports.
type touchCounter struct {
	keyservice.Store
	writes atomic.Int64
}

func (c *touchCounter) TouchLastUsed(ctx context.Context, d apikey.Digest, firmID, keyID string, at time.Time, ip netip.Addr, staleBefore time.Time) (bool, error) {
	wrote, err := c.Store.TouchLastUsed(ctx, d, firmID, keyID, at, ip, staleBefore)
	if wrote {
		c.writes.Add(1)
	}
	return wrote, err
}

func testServiceLastUsed(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	counter := &touchCounter{Store: s}
	e := newEnv(t, counter, 50, TestPepperSet(t, "1"))
	k, plain := e.generate(t, "busy", nil)

	lastUsed := func() time.Time {
		t.Helper()
		got, err := s.GetKey(ctx, e.admin.FirmID, k.ID)
		noErr(t, "GetKey", err)
		cred, err := s.FindCredential(ctx, k.Digest)
		noErr(t, "FindCredential", err)
		if !got.LastUsedAt.Equal(cred.LastUsedAt) {
			t.Fatalf("last used: key %v, credential %v", got.LastUsedAt, cred.LastUsedAt)
		}
		return got.LastUsedAt
	}
	if !lastUsed().IsZero() {
		t.Fatalf("a new key has a last-used time")
	}

	first := e.clock.Now().Add(time.Second)
	e.clock.Advance(time.Second)
	for i := 0; i < 100; i++ {
		_, err := e.svc.Authorize(ctx, plain)
		noErr(t, "Authorize", err)
		e.clock.Advance(590 * time.Millisecond) // 100 uses in 59 s
	}
	if w := counter.writes.Load(); w != 1 {
		t.Fatalf("100 uses within a minute wrote last-used %d times, want 1", w)
	}
	if got := lastUsed(); !got.Equal(first) {
		t.Fatalf("last used = %v, want the first use %v", got, first)
	}

	e.clock.Advance(61 * time.Second)
	second := e.clock.Now()
	_, err := e.svc.Authorize(ctx, plain)
	noErr(t, "Authorize", err)
	if w := counter.writes.Load(); w != 2 {
		t.Fatalf("a use 61 s later: %d last-used writes in all, want 2", w)
	}
	if got := lastUsed(); !got.Equal(second) {
		t.Fatalf("last used = %v, want %v", got, second)
	}
	page, err := e.svc.List(ctx, e.admin, keyservice.ListInput{})
	noErr(t, "List", err)
	if len(page.Items) != 1 || !page.Items[0].LastUsedAt.Equal(second) {
		t.Fatalf("List does not show the last use %v: %+v", second, page.Items)
	}
}

func testServicePepperRotation(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	before := newEnv(t, s, 50, TestPepperSet(t, "1"))
	k1, plain1 := before.generate(t, "issued before rotation", nil)
	if k1.PepperVersion != "1" {
		t.Fatalf("PepperVersion = %q, want 1", k1.PepperVersion)
	}

	after := newEnv(t, s, 50, TestPepperSet(t, "2", "1"))
	after.admin = before.admin
	p, err := after.svc.Authorize(ctx, plain1)
	noErr(t, "Authorize an old key after rotation", err)
	if p.KeyID != k1.ID {
		t.Fatalf("Authorize = %+v, want key %s", p, k1.ID)
	}
	k2, plain2 := after.generate(t, "issued after rotation", nil)
	if k2.PepperVersion != "2" {
		t.Fatalf("PepperVersion = %q, want 2", k2.PepperVersion)
	}
	_, err = after.svc.Authorize(ctx, plain2)
	noErr(t, "Authorize a new key", err)
	_, err = before.svc.Authorize(ctx, plain2)
	wantDenied(t, "new key without its pepper", err)
}

func testServiceConcurrentGenerate(t *testing.T, s keyservice.Store) {
	e := newEnv(t, s, 5, TestPepperSet(t, "1"))
	const n = 20
	errs := make([]error, n)
	plains := make([]string, n)
	run(n, func(i int) {
		_, plains[i], errs[i] = e.svc.Generate(context.Background(), e.admin, keyservice.GenerateInput{Label: "racer"})
	})
	ok, limited := 0, 0
	var issued []string
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
			issued = append(issued, plains[i])
		case keyservice.CodeOf(err) == keyservice.CodeKeyLimitReached:
			limited++
		default:
			t.Errorf("Generate #%d: %v", i, err)
		}
	}
	if ok != 5 || limited != 15 {
		t.Fatalf("20 concurrent generates with limit 5: %d succeeded, %d got key_limit_reached; want 5 and 15", ok, limited)
	}
	page, err := e.svc.List(context.Background(), e.admin, keyservice.ListInput{Status: "active"})
	noErr(t, "List", err)
	if len(page.Items) != 5 {
		t.Fatalf("List active: %d keys, want 5", len(page.Items))
	}
	AssertNoPlaintext(t, e.logs.Bytes(), issued)
}

func testServiceConcurrentAuthorize(t *testing.T, s keyservice.Store) {
	e := newEnv(t, s, 50, TestPepperSet(t, "1"))
	k, plain := e.generate(t, "popular", nil)
	const n = 20
	errs := make([]error, n)
	run(n, func(i int) { _, errs[i] = e.svc.Authorize(context.Background(), plain) })
	for _, err := range errs {
		noErr(t, "concurrent Authorize of a valid key", err)
	}
	got, err := s.GetKey(context.Background(), e.admin.FirmID, k.ID)
	noErr(t, "GetKey", err)
	if !got.LastUsedAt.Equal(e.clock.Now().UTC().Truncate(time.Millisecond)) {
		t.Fatalf("last used = %v, want %v", got.LastUsedAt, e.clock.Now())
	}
}

func testServiceRevokeVsAuthorize(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	e := newEnv(t, s, 50, TestPepperSet(t, "1"))
	k, plain := e.generate(t, "doomed", nil)
	var revokeErr error
	var stop atomic.Bool
	errs := make([]error, 4)
	run(5, func(i int) {
		if i == 4 {
			time.Sleep(2 * time.Millisecond)
			_, revokeErr = e.svc.Revoke(ctx, e.admin, k.ID)
			stop.Store(true)
			return
		}
		for j := 0; j < 50 && !stop.Load(); j++ {
			e.clock.Advance(time.Minute) // every use is due a last-used write
			if _, err := e.svc.Authorize(ctx, plain); err != nil && !errors.Is(err, keyservice.ErrDenied) {
				errs[i] = err
				return
			}
		}
	})
	noErr(t, "Revoke racing Authorize", revokeErr)
	for _, err := range errs {
		noErr(t, "Authorize racing Revoke", err)
	}
	_, err := e.svc.Authorize(ctx, plain)
	wantDenied(t, "key after the revoke returned", err)
	got, err := s.GetKey(ctx, e.admin.FirmID, k.ID)
	noErr(t, "GetKey", err)
	if got.RevokedAt.IsZero() {
		t.Fatalf("revoke lost: key is not revoked")
	}
}

func testServiceConcurrentRevoke(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	e := newEnv(t, s, 50, TestPepperSet(t, "1"))
	k, _ := e.generate(t, "double click", nil)
	const n = 8
	results := make([]keyservice.Key, n)
	errs := make([]error, n)
	run(n, func(i int) {
		admin := e.admin
		admin.Subject = "admin-" + string(rune('a'+i))
		results[i], errs[i] = e.svc.Revoke(ctx, admin, k.ID)
	})
	for i := range errs {
		noErr(t, "concurrent Revoke", errs[i])
		if !results[i].RevokedAt.Equal(results[0].RevokedAt) || results[i].RevokedBy != results[0].RevokedBy {
			t.Fatalf("Revoke #%d = %v by %q; #0 = %v by %q", i, results[i].RevokedAt, results[i].RevokedBy,
				results[0].RevokedAt, results[0].RevokedBy)
		}
	}
	audits, err := allAudit(s, e.admin.FirmID)
	noErr(t, "ListAudit", err)
	revokes := 0
	for _, a := range audits {
		if a.Action == keyservice.ActionRevoke {
			revokes++
			if a.Actor != results[0].RevokedBy {
				t.Errorf("revoke audit actor %q, key revoked by %q", a.Actor, results[0].RevokedBy)
			}
		}
	}
	if revokes != 1 {
		t.Fatalf("%d concurrent revokes left %d revoke audit records, want 1", n, revokes)
	}
}

// testServiceAccess: scopes and allowed addresses set at generate reach
// the authorizer through the credential alone, a use from an address the
// key does not allow is denied (and not recorded), and an allowed use
// records its address.
func testServiceAccess(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	e := newEnv(t, s, 10, TestPepperSet(t, "1"))
	k, plain, err := e.svc.Generate(ctx, e.admin, keyservice.GenerateInput{Label: "Office Sync Tool",
		Scopes: []string{"read"}, AllowedIPs: []string{"203.0.113.0/24", "2001:db8::/32"}})
	noErr(t, "Generate", err)
	if k.Scopes != keyservice.ScopeRead || len(k.AllowedIPs) != 2 {
		t.Fatalf("Generate = scopes %v, allowed %v", k.Scopes, k.AllowedIPs)
	}
	stored, err := s.GetKey(ctx, e.admin.FirmID, k.ID)
	noErr(t, "GetKey", err)
	checkKey(t, "stored key", stored, k)

	for _, bad := range []netip.Addr{{}, netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("2001:db9::1")} {
		_, err := e.svc.AuthorizeFrom(ctx, plain, bad)
		wantDenied(t, "a use from "+bad.String(), err)
	}
	_, err = e.svc.Authorize(ctx, plain) // a REST TOKEN event: no address
	wantDenied(t, "a use without an address", err)
	stored, err = s.GetKey(ctx, e.admin.FirmID, k.ID)
	noErr(t, "GetKey", err)
	if !stored.LastUsedAt.IsZero() || stored.LastUsedIP.IsValid() {
		t.Fatalf("a denied use was recorded: last used %v from %v", stored.LastUsedAt, stored.LastUsedIP)
	}

	e.clock.Advance(time.Second)
	p, err := e.svc.AuthorizeFrom(ctx, plain, netip.MustParseAddr("::ffff:203.0.113.9"))
	noErr(t, "AuthorizeFrom an allowed (IPv4-mapped) address", err)
	if p != (keyservice.Principal{FirmID: e.admin.FirmID, KeyID: k.ID, Label: k.Label, Scopes: keyservice.ScopeRead}) {
		t.Fatalf("AuthorizeFrom = %+v", p)
	}
	stored, err = s.GetKey(ctx, e.admin.FirmID, k.ID)
	noErr(t, "GetKey", err)
	if !stored.LastUsedAt.Equal(e.clock.Now().UTC().Truncate(time.Millisecond)) || stored.LastUsedIP != netip.MustParseAddr("203.0.113.9") {
		t.Fatalf("last used %v from %v; want now from 203.0.113.9", stored.LastUsedAt, stored.LastUsedIP)
	}

	// Bad scopes or addresses are refused before anything is written.
	for _, in := range []keyservice.GenerateInput{
		{Label: "x", Scopes: []string{}},
		{Label: "x", Scopes: []string{"admin"}},
		{Label: "x", AllowedIPs: []string{"10.0.0.1", "10.0.0.1/32"}},
	} {
		_, _, err := e.svc.Generate(ctx, e.admin, in)
		wantCode(t, "Generate with bad access", err, keyservice.CodeInvalidRequest)
	}
	keys, err := s.ListKeys(ctx, e.admin.FirmID, "", 10)
	noErr(t, "ListKeys", err)
	checkIDs(t, "keys after refused generates", keys, k)
}

// testServiceUpdate: a narrowing update is felt on the very next
// authorization (the credential changes in the same write), and the audit
// trail reads back through AuditEvents.
func testServiceUpdate(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	e := newEnv(t, s, 10, TestPepperSet(t, "1"))
	k, plain := e.generate(t, "Office Sync Tool", nil)
	from := netip.MustParseAddr("198.51.100.7")
	p, err := e.svc.AuthorizeFrom(ctx, plain, from)
	noErr(t, "AuthorizeFrom", err)
	if p.Scopes != keyservice.AllScopes {
		t.Fatalf("scopes %v", p.Scopes)
	}
	_, access, err := e.svc.Update(ctx, e.admin, k.ID, keyservice.UpdateInput{Scopes: []string{"read"}})
	noErr(t, "Update scopes", err)
	if !access {
		t.Fatalf("a scopes change must report an access change")
	}
	p, err = e.svc.AuthorizeFrom(ctx, plain, from)
	noErr(t, "AuthorizeFrom after narrowing scopes", err)
	if p.Scopes != keyservice.ScopeRead {
		t.Fatalf("scopes after narrowing %v, want read", p.Scopes)
	}
	_, _, err = e.svc.Update(ctx, e.admin, k.ID, keyservice.UpdateInput{AllowedIPs: []string{"203.0.113.0/24"}})
	noErr(t, "Update allowedIps", err)
	_, err = e.svc.AuthorizeFrom(ctx, plain, from)
	wantDenied(t, "a use from outside the new allowed addresses", err)
	exp := e.clock.Now().Add(time.Second)
	_, _, err = e.svc.Update(ctx, e.admin, k.ID, keyservice.UpdateInput{ExpiresAtSet: true, ExpiresAt: &exp, AllowedIPs: []string{}})
	noErr(t, "Update expiresAt", err)
	_, err = e.svc.AuthorizeFrom(ctx, plain, from)
	noErr(t, "AuthorizeFrom before the new expiry", err)
	e.clock.Advance(time.Second)
	_, err = e.svc.AuthorizeFrom(ctx, plain, from)
	wantDenied(t, "a use after the new expiry", err)
	_, _, err = e.svc.Update(ctx, e.admin, k.ID, keyservice.UpdateInput{ExpiresAtSet: true})
	wantCode(t, "Update of an expired key", err, keyservice.CodeKeyNotActive)

	page, err := e.svc.AuditEvents(ctx, e.admin, keyservice.AuditInput{KeyID: k.ID})
	noErr(t, "AuditEvents", err)
	var got []string
	for _, a := range page.Items {
		got = append(got, a.Action+" "+strings.Join(a.Changed, ","))
	}
	want := []string{"key.updated expiresAt,allowedIps", "key.updated allowedIps", "key.updated scopes", "key.generated "}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("audit events %q, want %q", got, want)
	}
}

// testServiceRoll: both keys work during the grace period, the old one
// not after it; a roll at the limit succeeds; a second roll is refused.
func testServiceRoll(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	e := newEnv(t, s, 1, TestPepperSet(t, "1"))
	old, oldPlain := e.generate(t, "Production Integration", nil)
	grace := 60
	gotOld, succ, plain, err := e.svc.Roll(ctx, e.admin, old.ID, &grace)
	noErr(t, "Roll at the limit", err)
	if succ.Replaces != old.ID || gotOld.ReplacedBy != succ.ID || succ.Label != old.Label || succ.Scopes != old.Scopes {
		t.Fatalf("Roll = old %+v, successor %+v", gotOld, succ)
	}
	for _, k := range []string{oldPlain, plain} {
		_, err := e.svc.Authorize(ctx, k)
		noErr(t, "Authorize during the grace period", err)
	}
	_, _, _, err = e.svc.Roll(ctx, e.admin, old.ID, &grace)
	wantCode(t, "second Roll", err, keyservice.CodeKeyNotActive)
	e.clock.Advance(time.Minute)
	_, err = e.svc.Authorize(ctx, oldPlain)
	wantDenied(t, "the old key after the grace period", err)
	_, err = e.svc.Authorize(ctx, plain)
	noErr(t, "the new key after the grace period", err)
	// The old key's slot comes back once it expired: the limit of 1 is
	// held by the successor alone.
	_, _, err = e.svc.Generate(ctx, e.admin, keyservice.GenerateInput{Label: "x"})
	wantCode(t, "Generate at the limit", err, keyservice.CodeKeyLimitReached)
	for _, g := range []int{-1, 604801} {
		_, _, _, err = e.svc.Roll(ctx, e.admin, succ.ID, &g)
		wantCode(t, "Roll with a grace out of range", err, keyservice.CodeInvalidRequest)
	}
	e.admin.IsPremier = false
	_, _, _, err = e.svc.Roll(ctx, e.admin, succ.ID, nil)
	wantCode(t, "Roll without Premier", err, keyservice.CodePremierRequired)
}
