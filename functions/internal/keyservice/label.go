package keyservice

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
)

// MaxLabelLen is the longest label, in Unicode code points, after trimming.
const MaxLabelLen = 64

// The refusal messages name the rule that was broken and never echo the
// label, which may hold key material.
const (
	msgLabelUTF8      = "The label must be valid UTF-8 text."
	msgLabelEmpty     = "The label must not be empty."
	msgLabelLong      = "The label must be at most 64 characters."
	msgLabelControl   = "The label must not contain control characters (such as line breaks or tabs) or invisible formatting characters other than the zero-width joiner and non-joiner."
	msgLabelBidi      = "The label must not contain bidirectional embeddings, overrides or isolates (U+202A to U+202E, U+2066 to U+2069)."
	msgLabelInvisible = "The label must contain at least one visible character."
	msgLabelKey       = "The label must not contain an API key or part of one: 24 or more letters and digits in a row that mix upper case, lower case and digits as a key does. Break such a run with a space or a hyphen."
)

// NormalizeLabel trims a label (Unicode white space) and checks it by
// SPEC section 3, Labels: 1 to 64 code points with at least one visible
// character; any letter, mark, number, punctuation, symbol or space of any
// script, including the zero-width joiner and non-joiner (emoji sequences,
// Persian) and emoji tag characters (subdivision flags); no control
// character, line or paragraph separator, other invisible format character,
// or bidirectional embedding, override or isolate; and no key material
// (see KeyMaterial). The error is invalid_label, with a message that says
// which rule was broken and never echoes the label.
func NormalizeLabel(label string) (string, error) {
	if !utf8.ValidString(label) {
		return "", Errorf(CodeInvalidLabel, msgLabelUTF8)
	}
	label = strings.TrimSpace(label)
	if label == "" {
		return "", Errorf(CodeInvalidLabel, msgLabelEmpty)
	}
	if utf8.RuneCountInString(label) > MaxLabelLen {
		return "", Errorf(CodeInvalidLabel, msgLabelLong)
	}
	visible := false
	for _, r := range label {
		switch {
		case isBidiControl(r):
			return "", Errorf(CodeInvalidLabel, msgLabelBidi)
		case unicode.IsControl(r), r == '\u2028', r == '\u2029',
			unicode.Is(unicode.Cf, r) && !allowedFormat(r):
			return "", Errorf(CodeInvalidLabel, msgLabelControl)
		}
		visible = visible || isVisible(r)
	}
	if !visible {
		return "", Errorf(CodeInvalidLabel, msgLabelInvisible)
	}
	if KeyMaterial(label) {
		return "", Errorf(CodeInvalidLabel, msgLabelKey)
	}
	return label, nil
}

// isBidiControl reports the explicit directional embeddings, overrides and
// isolates (Unicode UAX #9, section 2): they reorder the text around them,
// so a label could read differently in the console than in a log.
func isBidiControl(r rune) bool {
	return ('\u202a' <= r && r <= '\u202e') || ('\u2066' <= r && r <= '\u2069')
}

// allowedFormat is the format characters (category Cf) a label may hold:
// the zero-width non-joiner and joiner, which Persian and other scripts and
// emoji ZWJ sequences need, and the tag characters of emoji subdivision
// flags (Unicode TR 51, section 2.8).
func allowedFormat(r rune) bool {
	return r == '\u200c' || r == '\u200d' || ('\U000E0020' <= r && r <= '\U000E007F')
}

// isVisible reports whether r shows as something by itself: not white
// space, not a mark (which only decorates another character), not a format
// or control character, and not a default-ignorable or blank-looking code
// point (Hangul fillers, variation selectors, the blank Braille pattern).
func isVisible(r rune) bool {
	return !unicode.IsSpace(r) && !unicode.In(r, unicode.M, unicode.Cc, unicode.Cf,
		unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point) && r != '\u2800'
}

// keyRun is the shortest run of characters copied from a key that counts as
// key material (SPEC: "any run of 24 or more characters copied from a key").
const keyRun = 24

// KeyMaterial reports whether s holds key material by SPEC section 3: a
// whole key in any letter case, with or without its prefix, or any run of
// 24 or more characters copied from a key. Only digests are stored, so the
// test is on the shape of the text, after NFKC folding (full-width letters
// count as their ASCII forms):
//
//   - "kst_" in any case followed by 20 or more letters and digits: a key's
//     first 24 characters or more.
//   - Any 24 consecutive ASCII letters and digits that mix cases and digits
//     as a random base62 string does. A window is let through only when it
//     is plainly not random: hexadecimal (letters all a-f, or all A-F), at
//     least 17 digits (an order or invoice number), or at most one
//     character outside one letter case (a word such as
//     "Kraftfahrzeughaftpflichtversicherung", or one in capitals). A random
//     base62 window falls into those classes with probability below 1e-7;
//     a CamelCase identifier of 24 or more characters with two capitals in
//     24 is refused (a space or hyphen makes it a label).
//   - A key's end after its prefix's "_", "t_" or "st_" (21 to 23 letters
//     and digits that are not one case of letters only).
//   - A run of 49 or more letters and digits (a whole key without its
//     prefix, case changed) that holds a digit or reads unlike a word (under
//     30% vowels).
func KeyMaterial(s string) bool {
	s = norm.NFKC.String(s)
	lower := strings.ToLower(s)
	prefix := strings.ToLower(apikey.Prefix)
	for i := strings.Index(lower, prefix); i >= 0; {
		if alnumRun(s[i+len(prefix):]) >= keyRun-len(prefix) {
			return true
		}
		j := strings.Index(lower[i+1:], prefix)
		if j < 0 {
			break
		}
		i += 1 + j
	}
	for i := 0; i < len(s); {
		n := alnumRun(s[i:])
		if n == 0 {
			i++
			continue
		}
		run := s[i : i+n]
		if n >= keyRun {
			for w := 0; w+keyRun <= n; w++ {
				if looksRandom(run[w : w+keyRun]) {
					return true
				}
			}
		}
		if n >= apikey.Len-len(apikey.Prefix) && !longRunOK(run) {
			return true
		}
		if n < keyRun && i > 0 && s[i-1] == '_' && prefixTail(lower[:i-1]) >= keyRun-1-n && !oneCase(run) {
			return true
		}
		i += n
	}
	return false
}

// alnumRun returns the length of the run of ASCII letters and digits that
// starts s.
func alnumRun(s string) int {
	n := 0
	for n < len(s) && isAlnum(s[n]) {
		n++
	}
	return n
}

func isAlnum(c byte) bool {
	return ('0' <= c && c <= '9') || ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z')
}

// prefixTail returns how many characters at the end of before (lower
// case) continue the key prefix up to its "_": 2 for "…st", 1 for "…t".
func prefixTail(before string) int {
	p := strings.TrimSuffix(strings.ToLower(apikey.Prefix), "_")
	for n := len(p); n > 0; n-- {
		if strings.HasSuffix(before, p[len(p)-n:]) {
			return n
		}
	}
	return 0
}

type classCounts struct{ upper, lower, digit, hexUpper, hexLower, vowel int }

func count(s string) classCounts {
	var c classCounts
	for i := 0; i < len(s); i++ {
		switch b := s[i]; {
		case '0' <= b && b <= '9':
			c.digit++
		case 'A' <= b && b <= 'Z':
			c.upper++
			if b <= 'F' {
				c.hexUpper++
			}
		default:
			c.lower++
			if b <= 'f' {
				c.hexLower++
			}
		}
		if strings.IndexByte("aeiouyAEIOUY", s[i]) >= 0 {
			c.vowel++
		}
	}
	return c
}

// looksRandom is the window test of KeyMaterial.
func looksRandom(w string) bool {
	c := count(w)
	switch {
	case hexOrNumber(c, len(w)): // 17 digits of 24
		return false
	case c.upper+c.digit <= 1, c.lower+c.digit <= 1:
		return false // a word, or a word in capitals
	}
	return true
}

// oneCase reports a run of letters of one case only.
func oneCase(s string) bool {
	c := count(s)
	return c.digit == 0 && (c.upper == 0 || c.lower == 0)
}

// longRunOK is the test for runs as long as a key without its prefix:
// hexadecimal, mostly digits, or a word: no digit and at least 30% vowels
// (random base62 letters have about 23%).
func longRunOK(s string) bool {
	c := count(s)
	return hexOrNumber(c, len(s)) || (c.digit == 0 && 10*c.vowel >= 3*len(s))
}

// hexOrNumber: letters all a-f or all A-F, or at least 70% digits.
func hexOrNumber(c classCounts, n int) bool {
	return (c.upper == 0 && c.lower == c.hexLower) || (c.lower == 0 && c.upper == c.hexUpper) || 10*c.digit >= 7*n
}
