package boltstore

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

// decodeCred decodes a stored credential record on the authorizer's hot
// path. Records are written by json.Marshal(credRecord): a flat object of
// string members. The common case — no escape sequences — is read by hand
// into one copied string that every field slices (one allocation, no
// reflection); anything else (escapes, unexpected shape) goes through
// encoding/json, so the result is the same either way.
func decodeCred(raw []byte) (keyservice.Credential, error) {
	if c, ok := decodeCredFast(raw); ok {
		return c, nil
	}
	var rec credRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return keyservice.Credential{}, fmt.Errorf("boltstore: decode credential: %w", err)
	}
	return rec.credential()
}

func decodeCredFast(raw []byte) (keyservice.Credential, bool) {
	var c keyservice.Credential
	s := string(raw) // raw is only valid in the transaction: copy once
	i := skipSpace(s, 0)
	if i >= len(s) || s[i] != '{' {
		return c, false
	}
	i = skipSpace(s, i+1)
	if i < len(s) && s[i] == '}' {
		return c, false // an empty record is not a credential; let json say so
	}
	for {
		name, j, ok := plainString(s, i)
		if !ok {
			return c, false
		}
		j = skipSpace(s, j)
		if j >= len(s) || s[j] != ':' {
			return c, false
		}
		val, k, ok := plainString(s, skipSpace(s, j+1))
		if !ok {
			return c, false
		}
		switch name {
		case "firmId":
			c.FirmID = val
		case "keyId":
			c.KeyID = val
		case "label":
			c.Label = val
		case "pepperVersion":
			c.PepperVersion = val
		case "expiresAt", "revokedAt", "lastUsedAt":
			t, ok := parseFixedTime(val)
			if !ok {
				return c, false
			}
			switch name {
			case "expiresAt":
				c.ExpiresAt = t
			case "revokedAt":
				c.RevokedAt = t
			default:
				c.LastUsedAt = t
			}
		default:
			return c, false // not ours: let encoding/json decide
		}
		i = skipSpace(s, k)
		if i >= len(s) {
			return c, false
		}
		switch s[i] {
		case ',':
			i = skipSpace(s, i+1)
		case '}':
			return c, skipSpace(s, i+1) == len(s)
		default:
			return c, false
		}
	}
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// plainString reads a JSON string at s[i] that has no escape sequence and
// no control character, and returns its contents (a slice of s) and the
// index after its closing quote.
func plainString(s string, i int) (string, int, bool) {
	if i >= len(s) || s[i] != '"' {
		return "", 0, false
	}
	for j := i + 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"':
			return s[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20:
			return "", 0, false
		}
	}
	return "", 0, false
}

// parseFixedTime reads timeLayout ("2006-01-02T15:04:05.000000000Z") by
// position; "" is the zero time. Anything else is left to time.Parse.
func parseFixedTime(v string) (time.Time, bool) {
	if v == "" {
		return time.Time{}, true
	}
	if len(v) != len(timeLayout) || v[4] != '-' || v[7] != '-' || v[10] != 'T' || v[13] != ':' || v[16] != ':' || v[19] != '.' || v[29] != 'Z' {
		t, err := parseTime(v)
		return t, err == nil
	}
	n := func(from, to int) (int, bool) {
		x := 0
		for i := from; i < to; i++ {
			d := v[i] - '0'
			if d > 9 {
				return 0, false
			}
			x = x*10 + int(d)
		}
		return x, true
	}
	year, ok1 := n(0, 4)
	month, ok2 := n(5, 7)
	day, ok3 := n(8, 10)
	hour, ok4 := n(11, 13)
	minute, ok5 := n(14, 16)
	sec, ok6 := n(17, 19)
	nsec, ok7 := n(20, 29)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 59 {
		t, err := parseTime(v) // let time.Parse reject it with its message
		return t, err == nil
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if t.Day() != day { // 31 February and the like: time.Parse rejects them
		return time.Time{}, false
	}
	return t, true
}
