package boltstore

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// TestDecodeCredMatchesEncodingJSON: the hand-rolled decoder of the hot
// path returns exactly what encoding/json returns, for every record shape
// we write and for odd ones (escapes, spacing, unknown members), and fails
// where encoding/json fails.
func TestDecodeCredMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2026, 11, 25, 18, 0, 1, 234000000, time.UTC)
	full := credRecord{FirmID: "acme", KeyID: "01JZ0000000000000000000000", Label: "Production Integration",
		ExpiresAt: formatTime(at.Add(time.Hour)), RevokedAt: formatTime(at), LastUsedAt: formatTime(at.Add(-time.Minute)), PepperVersion: "2"}
	marshal := func(r credRecord) string {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	cases := map[string]credRecord{
		"full":           full,
		"minimal":        credRecord{FirmID: "f", KeyID: "k", PepperVersion: "1"},
		"unicode label":  credRecord{FirmID: "f", KeyID: "k", Label: "Buchhaltung – Export ✓", PepperVersion: "1"},
		"escaped label":  credRecord{FirmID: "f", KeyID: "k", Label: `say "hi" \ <b>&`, PepperVersion: "1"},
		"last used only": credRecord{FirmID: "f", KeyID: "k", LastUsedAt: formatTime(at), PepperVersion: "1"},
	}
	inputs := map[string]string{}
	for name, r := range cases {
		inputs[name] = marshal(r)
	}
	for name, raw := range map[string]string{
		"spacing":           ` { "firmId" : "f" ,"keyId":"k", "pepperVersion":"1" } `,
		"unknown member":    `{"firmId":"f","keyId":"k","extra":"x"}`,
		"number member":     `{"firmId":"f","keyId":"k","n":1}`,
		"upper-case name":   `{"FirmId":"f","keyId":"k"}`,
		"bad time":          `{"firmId":"f","keyId":"k","revokedAt":"yesterday"}`,
		"31 February":       `{"firmId":"f","keyId":"k","revokedAt":"2026-02-31T00:00:00.000000000Z"}`,
		"other time layout": `{"firmId":"f","keyId":"k","revokedAt":"2026-02-03T04:05:06Z"}`,
		"truncated":         `{"firmId":"f","keyId":"k"`,
		"trailing junk":     `{"firmId":"f","keyId":"k"}x`,
		"empty object":      `{}`,
		"not an object":     `["firmId"]`,
		"empty":             ``,
	} {
		inputs[name] = raw
	}
	for name, raw := range inputs {
		t.Run(name, func(t *testing.T) {
			got, gotErr := decodeCred([]byte(raw))
			var rec credRecord
			wantErr := json.Unmarshal([]byte(raw), &rec)
			if wantErr == nil {
				want, err := rec.credential()
				wantErr = err
				if err == nil && !reflect.DeepEqual(got, want) {
					t.Errorf("decodeCred(%s)\n got %+v\nwant %+v", raw, got, want)
				}
			}
			if (gotErr == nil) != (wantErr == nil) {
				t.Errorf("decodeCred(%s): error %v, encoding/json: %v", raw, gotErr, wantErr)
			}
		})
	}
}

func TestDecodeCredFastPathTakesOurRecords(t *testing.T) {
	raw, _ := json.Marshal(credRecord{FirmID: "acme", KeyID: "k", Label: "Office Sync Tool",
		LastUsedAt: formatTime(time.Now()), PepperVersion: "1"})
	if _, ok := decodeCredFast(raw); !ok {
		t.Fatalf("the fast path declined a record we wrote: %s", raw)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = decodeCredFast(raw) }); n > 1 {
		t.Errorf("decodeCredFast allocates %.0f times, want at most 1", n)
	}
}
