package keyservice

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// decodeIDTime returns the milliseconds encoded in the first 10 characters
// of an id.
func decodeIDTime(t *testing.T, id string) int64 {
	t.Helper()
	var ms int64
	for i := 0; i < 10; i++ {
		ms = ms<<5 | int64(strings.IndexByte(crockford, id[i]))
	}
	return ms
}

func TestNewIDSortsByTime(t *testing.T) {
	base := time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC)
	var ids []string
	for i := 0; i < 200; i++ {
		at := base.Add(time.Duration(i*i) * time.Millisecond)
		id, err := newID(at, rand.Reader)
		if err != nil {
			t.Fatalf("newID: %v", err)
		}
		if !validID(id) || !ValidID(id) || len(id) != idLen {
			t.Fatalf("newID made an invalid id %q", id)
		}
		if got := decodeIDTime(t, id); got != at.UnixMilli() {
			t.Fatalf("id %q encodes %d ms, want %d", id, got, at.UnixMilli())
		}
		ids = append(ids, id)
	}
	// Shuffled ids sort back into time order.
	shuffled := slices.Clone(ids)
	slices.Reverse(shuffled)
	slices.Sort(shuffled)
	if !slices.Equal(shuffled, ids) {
		t.Fatalf("ids do not sort by creation time")
	}

	// Far-future and epoch times stay valid.
	for _, at := range []time.Time{time.UnixMilli(0), time.Date(10889, 8, 2, 5, 31, 50, 0, time.UTC)} {
		id, err := newID(at, rand.Reader)
		if err != nil || !validID(id) {
			t.Fatalf("newID(%v) = %q, %v", at, id, err)
		}
	}
}

func TestNewIDRandomPart(t *testing.T) {
	at := time.Now()
	zero, err := newID(at, bytes.NewReader(make([]byte, 10)))
	if err != nil {
		t.Fatal(err)
	}
	ones, err := newID(at, bytes.NewReader(bytes.Repeat([]byte{0xff}, 10)))
	if err != nil {
		t.Fatal(err)
	}
	if zero[:10] != ones[:10] || zero[10:] != strings.Repeat("0", 16) || ones[10:] != strings.Repeat("Z", 16) {
		t.Fatalf("random part: %q and %q", zero, ones)
	}
	boom := errors.New("no entropy")
	if _, err := newID(at, iotest.ErrReader(boom)); !errors.Is(err, boom) {
		t.Fatalf("newID with a failing reader: err = %v", err)
	}
}

func TestValidID(t *testing.T) {
	good, err := newID(time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		id string
		ok bool
	}{
		{good, true},
		{"01M89ZP4GRA4DGRRF4VD3FWD44", true},
		{"7ZZZZZZZZZZZZZZZZZZZZZZZZZ", true},
		{"8ZZZZZZZZZZZZZZZZZZZZZZZZZ", false}, // over 128 bits
		{"", false},
		{good[:25], false},
		{good + "0", false},
		{strings.ToLower(good), false},
		{"01M89ZP4GRA4DGRRF4VD3FWD4I", false},
		{"01M89ZP4GRA4DGRRF4VD3FWD4L", false},
		{"01M89ZP4GRA4DGRRF4VD3FWD4O", false},
		{"01M89ZP4GRA4DGRRF4VD3FWD4U", false},
		{"01M89ZP4GRA4DGRRF4VD3FWD4-", false},
		{"../../../../etc/passwd0000", false},
	} {
		if got := ValidID(c.id); got != c.ok {
			t.Errorf("ValidID(%q) = %v, want %v", c.id, got, c.ok)
		}
	}
}

func TestCursor(t *testing.T) {
	id, err := newID(time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := encodeCursor("acme", "active", id)
	if strings.Contains(c, id) || strings.Contains(c, "acme") {
		t.Fatalf("cursor %q shows its content", c)
	}
	got, err := decodeCursor(c, "acme", "active")
	if err != nil || got != id {
		t.Fatalf("decodeCursor = %q, %v; want %q", got, err, id)
	}
	for _, bad := range []struct {
		name, cursor, firm, status string
	}{
		{"other firm", c, "globex", "active"},
		{"other status", c, "acme", "all"},
		{"not base64", "%%%", "acme", "active"},
		{"padded base64", c + "=", "acme", "active"},
		{"too long", strings.Repeat("A", 129), "acme", "active"},
		{"bad id", encodeCursor("acme", "active", "not-an-id"), "acme", "active"},
		{"wrong version", rawCursor("v2." + firmTag("acme") + ".active." + id), "acme", "active"},
		{"extra part", rawCursor("v1." + firmTag("acme") + ".active." + id + ".x"), "acme", "active"},
		{"empty", "", "acme", "active"},
	} {
		if _, err := decodeCursor(bad.cursor, bad.firm, bad.status); err == nil {
			t.Errorf("%s: decodeCursor accepted it", bad.name)
		}
	}
	if firmTag("a.b") == firmTag("a") {
		t.Fatalf("firm tags collide")
	}
}

func rawCursor(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
