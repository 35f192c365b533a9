package pepper_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/pepper"
	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

var scheduled = fmt.Sprintf(`{"current":"1","next":"2","nextFrom":"2026-11-25T13:00:00Z","1":%q,"2":%q}`, testkit.Pepper1, testkit.Pepper2)

func TestParseDocumentSchedule(t *testing.T) {
	d, err := pepper.ParseDocument(scheduled)
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC)
	if d.Current != "1" || d.Next != "2" || !d.NextFrom.Equal(from) {
		t.Fatalf("document %v", d)
	}
	for _, tc := range []struct {
		at   time.Time
		want string
	}{{from.Add(-time.Nanosecond), "1"}, {from, "2"}, {from.Add(time.Hour), "2"}} {
		set, err := d.SetAt(tc.at)
		if err != nil || set.Current().Version != tc.want || len(set.All()) != 2 {
			t.Errorf("SetAt(%v) = %v, %v; want current %s of both versions", tc.at, versionOf(set), err, tc.want)
		}
	}
	// The encoding round-trips.
	v, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if again, err := pepper.ParseDocument(v); err != nil || again.String() != d.String() {
		t.Errorf("round trip: %v, %v", again, err)
	}
	// Formatting names versions, never peppers.
	for _, s := range []string{d.String(), fmt.Sprintf("%v %+v %#v", d, d, d)} {
		if strings.Contains(s, testkit.Pepper1) || strings.Contains(s, testkit.Pepper2) {
			t.Errorf("formatted document holds a pepper: %s", s)
		}
	}
}

func TestParseDocumentScheduleErrors(t *testing.T) {
	for _, tc := range []struct{ name, value, want string }{
		{"next without nextFrom", fmt.Sprintf(`{"current":"1","next":"2","1":%q,"2":%q}`, testkit.Pepper1, testkit.Pepper2), `"next" is set without "nextFrom"`},
		{"nextFrom without next", fmt.Sprintf(`{"current":"1","nextFrom":"2026-11-25T13:00:00Z","1":%q}`, testkit.Pepper1), `"nextFrom" is set without "next"`},
		{"next is current", fmt.Sprintf(`{"current":"1","next":"1","nextFrom":"2026-11-25T13:00:00Z","1":%q}`, testkit.Pepper1), `"next" names the current version`},
		{"next has no pepper", fmt.Sprintf(`{"current":"1","next":"2","nextFrom":"2026-11-25T13:00:00Z","1":%q}`, testkit.Pepper1), `next version "2" has no pepper`},
		{"bad time", fmt.Sprintf(`{"current":"1","next":"2","nextFrom":"soon","1":%q,"2":%q}`, testkit.Pepper1, testkit.Pepper2), `"nextFrom" is not an RFC 3339 time`},
		{"next not a string", fmt.Sprintf(`{"current":"1","next":2,"nextFrom":"2026-11-25T13:00:00Z","1":%q,"2":%q}`, testkit.Pepper1, testkit.Pepper2), `"next" is not a string`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pepper.ParseDocument(tc.value)
			if !errors.Is(err, pepper.ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrMalformed saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), testkit.Pepper1) || strings.Contains(err.Error(), testkit.Pepper2) {
				t.Errorf("error holds a pepper: %v", err)
			}
		})
	}
}

// TestSecretsManagerScheduledVersion: a cached secret that schedules a
// version switches to it at nextFrom without another fetch, and verifies
// keys under both versions before and after.
func TestSecretsManagerScheduledVersion(t *testing.T) {
	f := newFixture(t, pepper.SecretsManagerConfig{Refresh: 2 * time.Hour})
	f.fake.SetSecret(secretName, scheduled) // the fixture's clock starts at 12:00, nextFrom is 13:00
	if err := f.src.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := testkit.LoadPeppers(t, f.src); got.Current().Version != "1" || len(got.All()) != 2 {
		t.Errorf("before nextFrom: current %s of %d versions, want 1 of 2", got.Current().Version, len(got.All()))
	}
	f.clock.Advance(time.Hour)
	if got := testkit.LoadPeppers(t, f.src); got.Current().Version != "2" || len(got.All()) != 2 {
		t.Errorf("at nextFrom: current %s of %d versions, want 2 of 2", got.Current().Version, len(got.All()))
	}
	if f.fake.Calls() != 1 {
		t.Errorf("fetches = %d, want 1: the switch needs no fetch", f.fake.Calls())
	}
	if got := (pepper.SecretsManagerConfig{Refresh: 5 * time.Minute}).MaxStaleness(); got != 65*time.Minute {
		t.Errorf("MaxStaleness with the default grace = %v, want 65m", got)
	}
	if got := (pepper.SecretsManagerConfig{Refresh: time.Minute, Grace: -1}).MaxStaleness(); got != time.Minute {
		t.Errorf("MaxStaleness without grace = %v, want 1m", got)
	}
}
