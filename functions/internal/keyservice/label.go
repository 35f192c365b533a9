package keyservice

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
)

// MaxLabelLen is the longest label, in characters, after trimming.
const MaxLabelLen = 64

// NormalizeLabel trims a label and checks it: not empty, at most 64
// characters, valid UTF-8 and free of control and invisible format
// characters (which could hide text in the console or the logs).
func NormalizeLabel(label string) (string, error) {
	if !utf8.ValidString(label) {
		return "", Errorf(CodeInvalidLabel, "The label must be valid UTF-8 text.")
	}
	label = strings.TrimSpace(label)
	if label == "" {
		return "", Errorf(CodeInvalidLabel, "The label must not be empty.")
	}
	if utf8.RuneCountInString(label) > MaxLabelLen {
		return "", Errorf(CodeInvalidLabel, "The label must be at most %d characters.", MaxLabelLen)
	}
	for _, r := range label {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' {
			return "", Errorf(CodeInvalidLabel, "The label must not contain control characters.")
		}
	}
	if containsKey(label) {
		// A key pasted as a label would be stored, listed and logged in
		// the clear. The message does not echo the label.
		return "", Errorf(CodeInvalidLabel, "The label must not contain an API key.")
	}
	return label, nil
}

// containsKey reports whether s holds a well-formed API key (the checksum
// makes an accidental match practically impossible).
func containsKey(s string) bool {
	for i := strings.Index(s, apikey.Prefix); i >= 0 && len(s)-i >= apikey.Len; {
		if apikey.Validate(s[i:i+apikey.Len]) == nil {
			return true
		}
		j := strings.Index(s[i+1:], apikey.Prefix)
		if j < 0 {
			return false
		}
		i += 1 + j
	}
	return false
}
