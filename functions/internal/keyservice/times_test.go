package keyservice_test

import (
	"testing"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

func TestParseExpiresAt(t *testing.T) {
	utc := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			panic(err)
		}
		return t.UTC()
	}
	ok := []struct{ in, want string }{
		{"2030-01-01T00:00:00Z", "2030-01-01T00:00:00Z"},
		{"2030-01-01t00:00:00z", "2030-01-01T00:00:00Z"},
		{"2030-01-01T00:00:00z", "2030-01-01T00:00:00Z"},
		{"2030-01-01t00:00:00+01:00", "2029-12-31T23:00:00Z"},
		{"2030-01-01T00:00:00.5-23:59", "2030-01-01T23:59:00.5Z"},
		{"2030-01-01T00:00:00.123456789Z", "2030-01-01T00:00:00.123456789Z"},
		{"2030-01-01T00:00:00-00:00", "2030-01-01T00:00:00Z"},
		{"9999-12-31T23:59:59Z", "9999-12-31T23:59:59Z"},
		{"2030-06-30T23:59:60Z", "2030-07-01T00:00:00Z"},      // leap second
		{"2030-07-01T01:59:60+02:00", "2030-07-01T00:00:00Z"}, // the same, east of UTC
		{"2028-02-29T12:00:00Z", "2028-02-29T12:00:00Z"},
	}
	for _, tt := range ok {
		got, err := keyservice.ParseExpiresAt(tt.in)
		if err != nil || !got.Equal(utc(tt.want)) || got.Location() != time.UTC {
			t.Errorf("ParseExpiresAt(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{
		"", "2030-01-01", "2030-01-01T00:00Z", "2030-01-01T00:00:00", "2030-01-01 00:00:00Z",
		"2030-01-01T00:00:00,5Z", "2030-01-01T00:00:00.Z", "2030-01-01T00:00:00+0100",
		"2030-01-01T00:00:00+01", "2030-01-01T00:00:00+24:00", "2030-01-01T00:00:00+01:60",
		"2030-02-30T00:00:00Z", "2030-13-01T00:00:00Z", "2030-01-01T24:00:00Z", "2030-01-01T00:60:00Z",
		"2030-01-01T12:00:60Z", "10000-01-01T00:00:00Z", "+2030-01-01T00:00:00Z", " 2030-01-01T00:00:00Z",
		"2030-01-01T00:00:00Z ", "2030-01-01T00:00:00UTC", "2030-01-01T00:00:00ZZ", "２０３０-01-01T00:00:00Z",
	} {
		if got, err := keyservice.ParseExpiresAt(in); keyservice.CodeOf(err) != keyservice.CodeInvalidRequest {
			t.Errorf("ParseExpiresAt(%q) = %v, %v; want invalid_request", in, got, err)
		}
	}
}

func TestCheckExpiresAt(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	max := keyservice.MaxExpiresAt
	for _, tt := range []struct {
		in   time.Time
		want time.Time // zero: refused
	}{
		{now.Add(time.Millisecond), now.Add(time.Millisecond)},
		{now.Add(1500 * time.Microsecond), now.Add(time.Millisecond)},
		{now.Add(999 * time.Microsecond), time.Time{}}, // stored as now
		{now, time.Time{}},
		{now.Add(-time.Hour), time.Time{}},
		{max, max},
		{max.Add(time.Nanosecond), time.Time{}},
		{max.Add(time.Second), time.Time{}},
		{max.In(time.FixedZone("", -3600)), max},
	} {
		got, err := keyservice.CheckExpiresAt(tt.in, now)
		if tt.want.IsZero() {
			if keyservice.CodeOf(err) != keyservice.CodeInvalidRequest {
				t.Errorf("CheckExpiresAt(%v) = %v, %v; want invalid_request", tt.in, got, err)
			}
			continue
		}
		if err != nil || !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("CheckExpiresAt(%v) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestLegacyTime(t *testing.T) {
	for _, s := range []string{"10000-01-01T00:30:00.000Z", "10000-01-01T00:30:00.000000000Z", "123456-01-01T00:00:00Z"} {
		if got, ok := keyservice.LegacyTime(s); !ok || !got.Equal(keyservice.MaxExpiresAt) {
			t.Errorf("LegacyTime(%q) = %v, %v", s, got, ok)
		}
	}
	for _, s := range []string{"", "not a time", "2030-01-01T00:00:00Z", "01000-01-01T00:00:00Z", "10000"} {
		if _, ok := keyservice.LegacyTime(s); ok {
			t.Errorf("LegacyTime(%q) accepted", s)
		}
	}
}
