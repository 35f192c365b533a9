package keyservice

import (
	"time"
)

// MaxExpiresAt is the latest expiresAt the service accepts (SPEC section 3,
// Times): the last second of year 9999 UTC. Every instant up to it is
// storable by both stores and prints as RFC 3339 with a four-digit year;
// year 10000 would not.
var MaxExpiresAt = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)

const expiresAtMessage = "expiresAt must be an RFC 3339 time, such as 2030-01-31T00:00:00Z."

// ParseExpiresAt parses an expiresAt value by RFC 3339 section 5.6: date,
// "T", time with optional fraction, and "Z" or a ±hh:mm offset, where "T"
// and "Z" may be lower case (section 5.6, note) and a leap second (":60")
// is taken as the next second. The result is in UTC. Anything else (Go's
// time.Parse extensions such as a comma before the fraction included) is
// invalid_request. It does not check the range: see CheckExpiresAt.
func ParseExpiresAt(s string) (time.Time, error) {
	if !rfc3339Syntax(s) {
		return time.Time{}, Errorf(CodeInvalidRequest, expiresAtMessage)
	}
	b := []byte(s)
	b[10] = 'T'
	if last := len(b) - 1; b[last] == 'z' {
		b[last] = 'Z'
	}
	leap := b[17] == '6' && b[18] == '0'
	if leap {
		b[17] = '5'
		b[18] = '9'
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return time.Time{}, Errorf(CodeInvalidRequest, expiresAtMessage)
	}
	t = t.UTC()
	if leap {
		// A leap second exists only as the last second of a UTC month.
		if t.Hour() != 23 || t.Minute() != 59 || t.Add(time.Second).Day() != 1 {
			return time.Time{}, Errorf(CodeInvalidRequest, expiresAtMessage)
		}
		t = t.Add(time.Second)
	}
	return t, nil
}

// CheckExpiresAt applies the range rule to an expiresAt instant: no later
// than MaxExpiresAt, and still in the future at now once truncated to the
// millisecond the stores keep. It returns the instant as stored (UTC,
// milliseconds), or invalid_request.
func CheckExpiresAt(t, now time.Time) (time.Time, error) {
	if t.After(MaxExpiresAt) {
		return time.Time{}, Errorf(CodeInvalidRequest, "expiresAt must be no later than 9999-12-31T23:59:59Z.")
	}
	t = t.UTC().Truncate(time.Millisecond)
	if !t.After(now) {
		return time.Time{}, Errorf(CodeInvalidRequest, "expiresAt must be in the future.")
	}
	return t, nil
}

// rfc3339Syntax checks the shape of RFC 3339's date-time production:
// YYYY-MM-DD[Tt]hh:mm:ss[.f+]([Zz]|[+-]hh:mm). time.Parse checks the
// ranges of each field.
func rfc3339Syntax(s string) bool {
	const head = "dddd-dd-ddTdd:dd:dd"
	if len(s) < len(head)+1 {
		return false
	}
	for i := 0; i < len(head); i++ {
		c := s[i]
		switch head[i] {
		case 'd':
			if c < '0' || c > '9' {
				return false
			}
		case 'T':
			if c != 'T' && c != 't' {
				return false
			}
		default:
			if c != head[i] {
				return false
			}
		}
	}
	rest := s[len(head):]
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n == 1 {
			return false
		}
		rest = rest[n:]
	}
	switch {
	case rest == "Z" || rest == "z":
		return true
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		// time.Parse takes +24:00 and +01:60; RFC 3339 does not.
		return isDigits(rest[1:3]) && isDigits(rest[4:6]) && rest[1:3] <= "23" && rest[4:6] <= "59"
	}
	return false
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// LegacyTime reads a stored time whose year has more than four digits, as
// written before the service refused expiresAt past MaxExpiresAt: such a
// record reads as MaxExpiresAt, so its key stays listable, revocable and
// releasable instead of failing every listing of its firm. ok is false for
// anything else.
func LegacyTime(s string) (t time.Time, ok bool) {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	if n <= 4 || s[0] == '0' || n >= len(s) || s[n] != '-' {
		return time.Time{}, false
	}
	return MaxExpiresAt, true
}
