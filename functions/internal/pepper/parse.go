package pepper

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
)

var (
	// ErrMalformed means the pepper secret is not a valid pepper set. The
	// error says what is wrong, never what the value is.
	ErrMalformed = errors.New("pepper: malformed pepper secret")
	// ErrUnavailable means there is no usable pepper set: callers deny.
	ErrUnavailable = errors.New("pepper: no usable pepper set")
)

const currentMember = "current"

// maxVersionLen keeps version names far shorter than a pepper
// (apikey.MinPepperLen), so quoting a version name in an error can never
// reveal a pepper that was put in the wrong place.
const maxVersionLen = 12

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// Parse reads a pepper secret value (see the package comment).
func Parse(value string) (apikey.PepperSet, error) {
	if len(value) == 0 {
		return apikey.PepperSet{}, malformed("the value is empty")
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal([]byte(value), &members); err != nil {
		// json's messages quote the offending character; report the
		// offset only.
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return apikey.PepperSet{}, malformed("the value is not valid JSON (syntax error at byte %d)", syn.Offset)
		}
		return apikey.PepperSet{}, malformed("the value is not a JSON object")
	}
	if members == nil {
		return apikey.PepperSet{}, malformed("the value is not a JSON object")
	}

	rawCurrent, ok := members[currentMember]
	if !ok {
		return apikey.PepperSet{}, malformed("member %q is missing", currentMember)
	}
	var current string
	if err := json.Unmarshal(rawCurrent, &current); err != nil {
		return apikey.PepperSet{}, malformed("member %q is not a string", currentMember)
	}
	if current == "" {
		return apikey.PepperSet{}, malformed("member %q is empty", currentMember)
	}
	if !validVersion(current) {
		return apikey.PepperSet{}, malformed("member %q is not a valid version name (1-%d characters of A-Z a-z 0-9 . _ -)", currentMember, maxVersionLen)
	}

	names := make([]string, 0, len(members))
	for name := range members {
		if name != currentMember {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return apikey.PepperSet{}, malformed("no pepper version is present")
	}
	sort.Strings(names) // deterministic error messages
	secrets := make(map[string][]byte, len(names))
	for _, name := range names {
		if !validVersion(name) {
			return apikey.PepperSet{}, malformed("a member name is not a valid version name (1-%d characters of A-Z a-z 0-9 . _ -)", maxVersionLen)
		}
		var p string
		if err := json.Unmarshal(members[name], &p); err != nil {
			return apikey.PepperSet{}, malformed("version %q is not a string", name)
		}
		if p == "" {
			return apikey.PepperSet{}, malformed("version %q is empty", name)
		}
		if len(p) < apikey.MinPepperLen {
			return apikey.PepperSet{}, malformed("version %q is shorter than %d bytes", name, apikey.MinPepperLen)
		}
		secrets[name] = []byte(p)
	}
	if _, ok := secrets[current]; !ok {
		return apikey.PepperSet{}, malformed("current version %q has no pepper", current)
	}
	set, err := apikey.NewPepperSet(current, secrets)
	if err != nil {
		// apikey's messages name versions, never peppers.
		return apikey.PepperSet{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return set, nil
}

func validVersion(v string) bool {
	if len(v) == 0 || len(v) > maxVersionLen {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// versions lists the version names of a set, current first, for logs.
func versions(set apikey.PepperSet) []string {
	all := set.All()
	out := make([]string, len(all))
	for i := range all {
		out[i] = all[i].Version
	}
	return out
}
