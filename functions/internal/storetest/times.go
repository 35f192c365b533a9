package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

// randomExpiresAt returns an RFC 3339 text for a random instant after now
// and no later than keyservice.MaxExpiresAt, written in a random offset
// (±23:59), with 0 to 9 fraction digits and T and Z in either case, and
// the instant it denotes. Every tenth draw is an edge: the last accepted
// second, the first millisecond after now, or an offset that crosses a
// year boundary.
func randomExpiresAt(rng *rand.Rand, now time.Time, i int) (string, time.Time) {
	lo, hi := now.Add(time.Millisecond).UnixMilli(), keyservice.MaxExpiresAt.UnixMilli()
	var inst time.Time
	switch i % 10 {
	case 0:
		inst = keyservice.MaxExpiresAt
	case 1:
		inst = time.UnixMilli(lo).Add(time.Millisecond)
	case 2:
		inst = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Add(-time.Duration(rng.IntN(3600)) * time.Second)
	default:
		// Uniform in milliseconds over the range, then a random sub-ms part.
		ms := lo + 1 + rng.Int64N(hi-lo)
		inst = time.UnixMilli(ms).Add(time.Duration(rng.IntN(1e6)))
		if inst.After(keyservice.MaxExpiresAt) {
			inst = keyservice.MaxExpiresAt
		}
	}
	inst = inst.UTC()
	off := rng.IntN(2*(23*60+59)+1) - (23*60 + 59)
	if i%7 == 0 {
		off = 0
	}
	digits := rng.IntN(10)
	if i%10 == 1 {
		digits = 3 + rng.IntN(7) // fewer digits could round it into the past
	}
	inst = inst.Truncate(time.Duration(pow10(9 - digits)))
	local := inst.In(time.FixedZone("", off*60))
	if local.Year() > 9999 { // RFC 3339 has four-digit years: write it west of UTC
		off = -max(off, -off)
		local = inst.In(time.FixedZone("", off*60))
	}
	text := local.Format("2006-01-02T15:04:05")
	if digits > 0 {
		text += "." + fmt.Sprintf("%09d", local.Nanosecond())[:digits]
	}
	switch {
	case off == 0 && rng.IntN(2) == 0:
		text += "Z"
	default:
		sign := "+"
		if off < 0 || (off == 0 && rng.IntN(2) == 0) {
			sign = "-"
		}
		a := max(off, -off)
		text += fmt.Sprintf("%s%02d:%02d", sign, a/60, a%60)
	}
	if rng.IntN(2) == 0 {
		text = strings.ToLower(text)
	}
	return text, inst
}

func pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}

// testServiceExpiresAtRoundTrip is a property test: every expiresAt the
// service accepts is stored, read back exactly (to the millisecond) by
// GetKey, ListKeys and the authorizer's credential, prints as RFC 3339 with
// a four-digit year, and leaves listing, revoking and the limit working.
func testServiceExpiresAtRoundTrip(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	const n = 40
	e := newEnv(t, s, n, TestPepperSet(t, "1"))
	now := e.clock.Now()

	want := map[string]time.Time{}
	var keys []keyservice.Key
	var plains []string
	for i := range n {
		text, inst := randomExpiresAt(rng, now, i)
		parsed, err := keyservice.ParseExpiresAt(text)
		if err != nil {
			t.Fatalf("ParseExpiresAt(%q): %v", text, err)
		}
		if !parsed.Equal(inst) || parsed.Location() != time.UTC {
			t.Fatalf("ParseExpiresAt(%q) = %v, want %v in UTC", text, parsed, inst)
		}
		k, plain := e.generate(t, "Times", &parsed)
		stored := inst.Truncate(time.Millisecond)
		if !k.ExpiresAt.Equal(stored) {
			t.Fatalf("%q: generated expiresAt %v, want %v", text, k.ExpiresAt, stored)
		}
		want[k.ID] = stored
		keys = append(keys, k)
		plains = append(plains, plain)
	}

	checkStored := func(what string, k keyservice.Key) {
		t.Helper()
		if k.Unreadable != nil {
			t.Fatalf("%s: key %s unreadable: %v", what, k.ID, k.Unreadable)
		}
		w, ok := want[k.ID]
		if !ok {
			return
		}
		if !k.ExpiresAt.Equal(w) {
			t.Fatalf("%s: key %s expiresAt %v, want %v", what, k.ID, k.ExpiresAt, w)
		}
		for _, ts := range []time.Time{k.ExpiresAt, k.CreatedAt, k.RevokedAt, k.LastUsedAt} {
			if ts.IsZero() {
				continue
			}
			f := ts.UTC().Format(time.RFC3339Nano)
			back, err := time.Parse(time.RFC3339Nano, f)
			if len(f) < 5 || f[4] != '-' || err != nil || !back.Equal(ts) {
				t.Fatalf("%s: %v does not print as RFC 3339 with a four-digit year: %q", what, ts, f)
			}
		}
	}
	for _, k := range keys {
		got, err := s.GetKey(ctx, e.admin.FirmID, k.ID)
		noErr(t, "GetKey", err)
		checkStored("GetKey", got)
	}
	for i, plain := range plains {
		if _, err := e.svc.Authorize(ctx, plain); err != nil {
			t.Fatalf("Authorize key %d (expires %v): %v", i, keys[i].ExpiresAt, err)
		}
	}
	// At the limit, the service releases expired slots (the keys of edge
	// case 1 expire two milliseconds after now), reading every record.
	e.clock.Advance(time.Second)
	_, _, err := e.svc.Generate(ctx, e.admin, keyservice.GenerateInput{Label: "x"})
	noErr(t, "Generate at the limit with expired keys", err)
	for i := 0; i < n; i += 3 {
		k, err := e.svc.Revoke(ctx, e.admin, keys[i].ID)
		noErr(t, "Revoke", err)
		checkStored("Revoke", k)
	}
	listed := 0
	for cursor := ""; ; {
		page, err := e.svc.List(ctx, e.admin, keyservice.ListInput{Limit: 7, Cursor: cursor})
		noErr(t, "List", err)
		for _, k := range page.Items {
			checkStored("List", k)
			listed++
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if listed != n+1 {
		t.Fatalf("List returned %d keys, want %d", listed, n+1)
	}

	// Just past the last storable second, in any offset, is refused.
	for _, text := range []string{
		"9999-12-31T23:59:59.001Z", "9999-12-31T23:59:60Z", "9999-12-31T23:30:00-01:00",
		"9999-12-31t23:59:59.000000001z", "10000-01-01T00:00:00Z",
	} {
		parsed, err := keyservice.ParseExpiresAt(text)
		if err == nil {
			_, err = keyservice.CheckExpiresAt(parsed, now)
		}
		if keyservice.CodeOf(err) != keyservice.CodeInvalidRequest {
			t.Errorf("expiresAt %q: err = %v, want invalid_request", text, err)
		}
	}
}

// RawTimeWriter overwrites, by a store's own means and bypassing its
// encoding, the stored expiresAt of key k (its key record and its
// credential) with raw: how a test plants a record that an older version
// wrote, or a damaged one.
type RawTimeWriter func(t *testing.T, s keyservice.Store, k keyservice.Key, raw string)

// RunStoredTimes checks what a store and the service do with stored times
// they did not write: a year past 9999 (what the service accepted before it
// refused such times) reads as keyservice.MaxExpiresAt, so its key stays
// listable, usable and revocable; an undecodable record is skipped by List
// (and logged with ids only), never failing the firm's listing, its paging
// or the active-key limit.
func RunStoredTimes(t *testing.T, newStore func(t *testing.T) keyservice.Store, write RawTimeWriter) {
	t.Run("YearPast9999", func(t *testing.T) {
		ctx := context.Background()
		s := newStore(t)
		e := newEnv(t, s, 3, TestPepperSet(t, "1"))
		far := e.clock.Now().Add(time.Hour)
		k, plain := e.generate(t, "Far future", &far)
		write(t, s, k, "10000-01-01T00:30:00.000Z")
		page, err := e.svc.List(ctx, e.admin, keyservice.ListInput{})
		noErr(t, "List", err)
		if len(page.Items) != 1 || !page.Items[0].ExpiresAt.Equal(keyservice.MaxExpiresAt) {
			t.Fatalf("List = %+v, want the key expiring at %v", page.Items, keyservice.MaxExpiresAt)
		}
		if _, err := e.svc.Authorize(ctx, plain); err != nil {
			t.Fatalf("Authorize: %v", err)
		}
		e.generate(t, "filler", nil)
		e.generate(t, "filler", nil)
		_, _, err = e.svc.Generate(ctx, e.admin, keyservice.GenerateInput{Label: "over"})
		wantCode(t, "Generate at the limit", err, keyservice.CodeKeyLimitReached)
		r, err := e.svc.Revoke(ctx, e.admin, k.ID)
		noErr(t, "Revoke", err)
		if r.RevokedAt.IsZero() {
			t.Fatalf("Revoke returned an unrevoked key")
		}
		wantDenied(t, "Authorize after revoke", authorizeErr(e, plain))
	})
	t.Run("Undecodable", func(t *testing.T) {
		ctx := context.Background()
		s := newStore(t)
		const n = 6
		e := newEnv(t, s, n, TestPepperSet(t, "1"))
		keys := make([]keyservice.Key, n)
		for i := range keys {
			keys[i], _ = e.generate(t, fmt.Sprintf("Key %d", i), nil)
			e.clock.Advance(time.Millisecond)
		}
		bad := keys[2]
		write(t, s, bad, "not a time")
		var good []keyservice.Key
		for i := n - 1; i >= 0; i-- {
			if i != 2 {
				good = append(good, keys[i])
			}
		}
		for _, limit := range []int{1, 2, 3, 100} {
			var got []keyservice.Key
			for cursor, pages := "", 0; ; pages++ {
				if pages > n {
					t.Fatalf("limit %d: more than %d pages", limit, n)
				}
				page, err := e.svc.List(ctx, e.admin, keyservice.ListInput{Limit: limit, Cursor: cursor})
				noErr(t, "List with an unreadable record", err)
				got = append(got, page.Items...)
				if cursor = page.NextCursor; cursor == "" {
					break
				}
			}
			checkIDs(t, fmt.Sprintf("List limit %d", limit), got, good...)
		}
		logs := string(e.logs.Bytes())
		if !strings.Contains(logs, "unreadable key record skipped") || !strings.Contains(logs, bad.ID) {
			t.Errorf("the skipped record was not logged with its id:\n%s", logs)
		}
		for line := range strings.SplitSeq(logs, "\n") {
			if strings.Contains(line, "unreadable") && strings.Contains(line, bad.Label) {
				t.Errorf("the log line of a skipped record holds its label: %s", line)
			}
		}
		// The firm is at its limit; the unreadable record neither fails
		// the release of expired slots nor the 409.
		_, _, err := e.svc.Generate(ctx, e.admin, keyservice.GenerateInput{Label: "over"})
		wantCode(t, "Generate at the limit", err, keyservice.CodeKeyLimitReached)
		_, err = e.svc.Revoke(ctx, e.admin, keys[0].ID)
		noErr(t, "Revoke another key", err)
		e.generate(t, "after revoke", nil)
	})
}

func authorizeErr(e *env, plain string) error {
	_, err := e.svc.Authorize(context.Background(), plain)
	return err
}
