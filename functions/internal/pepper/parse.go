package pepper

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
)

var (
	// ErrMalformed means the pepper secret is not a valid pepper set. The
	// error says what is wrong, never what the value is.
	ErrMalformed = errors.New("pepper: malformed pepper secret")
	// ErrUnavailable means there is no usable pepper set: callers deny.
	ErrUnavailable = errors.New("pepper: no usable pepper set")
)

// Reserved member names of the secret value; every other member is a
// version.
const (
	currentMember  = "current"
	nextMember     = "next"
	nextFromMember = "nextFrom"
)

// maxVersionLen keeps version names far shorter than a pepper
// (apikey.MinPepperLen), so quoting a version name in an error can never
// reveal a pepper that was put in the wrong place.
const maxVersionLen = 12

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// Document is a pepper secret value, parsed and checked:
//
//	{"current":"1","next":"2","nextFrom":"2026-11-30T10:05:00Z","1":"<pepper>","2":"<pepper>"}
//
// Current names the version that hashes new keys; Next, when set, names the
// version that takes over from NextFrom on. Every version verifies keys at
// once, so a rotation that publishes Next with NextFrom later than the
// longest time any process may keep an old copy of the secret never issues
// a key that some process cannot verify.
//
// A Document holds peppers: it formats as its version names only, never
// log or print its Peppers.
type Document struct {
	Current  string
	Next     string    // "" when no version is scheduled
	NextFrom time.Time // zero when Next is ""
	Peppers  map[string]string
}

// String names the versions and nothing else, so a Document that reaches a
// log line by mistake reveals no pepper.
func (d Document) String() string {
	s := fmt.Sprintf("pepper.Document{current=%s versions=%s", d.Current, strings.Join(d.Versions(), ","))
	if d.Next != "" {
		s += fmt.Sprintf(" next=%s from %s", d.Next, d.NextFrom.UTC().Format(time.RFC3339))
	}
	return s + "}"
}

// GoString is String, for %#v.
func (d Document) GoString() string { return d.String() }

// Versions returns the version names in ascending order.
func (d Document) Versions() []string {
	out := make([]string, 0, len(d.Peppers))
	for v := range d.Peppers {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// CurrentAt is the version that hashes new keys at t.
func (d Document) CurrentAt(t time.Time) string {
	if d.Next != "" && !t.Before(d.NextFrom) {
		return d.Next
	}
	return d.Current
}

// SetAt returns the pepper set in force at t: every version, the one that
// hashes new keys first.
func (d Document) SetAt(t time.Time) (apikey.PepperSet, error) {
	return d.set(d.CurrentAt(t))
}

func (d Document) set(current string) (apikey.PepperSet, error) {
	secrets := make(map[string][]byte, len(d.Peppers))
	for v, p := range d.Peppers {
		secrets[v] = []byte(p)
	}
	set, err := apikey.NewPepperSet(current, secrets)
	if err != nil {
		// apikey's messages name versions, never peppers.
		return apikey.PepperSet{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return set, nil
}

// Validate checks the document as ParseDocument does.
func (d Document) Validate() error {
	if d.Current == "" {
		return malformed("member %q is empty", currentMember)
	}
	if !validVersion(d.Current) {
		return malformed("member %q is not a valid version name (1-%d characters of A-Z a-z 0-9 . _ -)", currentMember, maxVersionLen)
	}
	if len(d.Peppers) == 0 {
		return malformed("no pepper version is present")
	}
	for _, name := range d.Versions() {
		if !validVersion(name) || reserved(name) {
			return malformed("a member name is not a valid version name (1-%d characters of A-Z a-z 0-9 . _ -)", maxVersionLen)
		}
		p := d.Peppers[name]
		if p == "" {
			return malformed("version %q is empty", name)
		}
		if len(p) < apikey.MinPepperLen {
			return malformed("version %q is shorter than %d bytes", name, apikey.MinPepperLen)
		}
	}
	if _, ok := d.Peppers[d.Current]; !ok {
		return malformed("current version %q has no pepper", d.Current)
	}
	switch {
	case d.Next == "" && !d.NextFrom.IsZero():
		return malformed("member %q is set without %q", nextFromMember, nextMember)
	case d.Next == "":
	case !validVersion(d.Next):
		return malformed("member %q is not a valid version name (1-%d characters of A-Z a-z 0-9 . _ -)", nextMember, maxVersionLen)
	case d.Next == d.Current:
		return malformed("member %q names the current version", nextMember)
	case d.NextFrom.IsZero():
		return malformed("member %q is set without %q", nextMember, nextFromMember)
	default:
		if _, ok := d.Peppers[d.Next]; !ok {
			return malformed("next version %q has no pepper", d.Next)
		}
	}
	return nil
}

func reserved(name string) bool {
	return name == currentMember || name == nextMember || name == nextFromMember
}

// Marshal encodes a valid document as the secret value.
func (d Document) Marshal() (string, error) {
	if err := d.Validate(); err != nil {
		return "", err
	}
	m := make(map[string]string, len(d.Peppers)+3)
	for v, p := range d.Peppers {
		m[v] = p
	}
	m[currentMember] = d.Current
	if d.Next != "" {
		m[nextMember] = d.Next
		m[nextFromMember] = d.NextFrom.UTC().Format(time.RFC3339)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", malformed("cannot encode the document")
	}
	return string(b), nil
}

// Parse reads a pepper secret value (see Document) and returns the set in
// force now. Sources that cache the value use ParseDocument and SetAt, so
// a scheduled version takes over on time without a new read.
func Parse(value string) (apikey.PepperSet, error) {
	d, err := ParseDocument(value)
	if err != nil {
		return apikey.PepperSet{}, err
	}
	return d.SetAt(time.Now())
}

// ParseDocument reads and checks a pepper secret value. Its errors wrap
// ErrMalformed and say what is wrong, never what the value is.
func ParseDocument(value string) (Document, error) {
	if len(value) == 0 {
		return Document{}, malformed("the value is empty")
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal([]byte(value), &members); err != nil {
		// json's messages quote the offending character; report the
		// offset only.
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return Document{}, malformed("the value is not valid JSON (syntax error at byte %d)", syn.Offset)
		}
		return Document{}, malformed("the value is not a JSON object")
	}
	if members == nil {
		return Document{}, malformed("the value is not a JSON object")
	}
	var d Document
	str := func(name string, dst *string) error {
		raw, ok := members[name]
		if !ok {
			return nil
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return malformed("member %q is not a string", name)
		}
		return nil
	}
	if _, ok := members[currentMember]; !ok {
		return Document{}, malformed("member %q is missing", currentMember)
	}
	if err := str(currentMember, &d.Current); err != nil {
		return Document{}, err
	}
	if d.Current == "" {
		return Document{}, malformed("member %q is empty", currentMember)
	}
	if !validVersion(d.Current) {
		return Document{}, malformed("member %q is not a valid version name (1-%d characters of A-Z a-z 0-9 . _ -)", currentMember, maxVersionLen)
	}
	if err := str(nextMember, &d.Next); err != nil {
		return Document{}, err
	}
	var from string
	if err := str(nextFromMember, &from); err != nil {
		return Document{}, err
	}
	if from != "" {
		t, err := time.Parse(time.RFC3339, from)
		if err != nil {
			return Document{}, malformed("member %q is not an RFC 3339 time", nextFromMember)
		}
		d.NextFrom = t.UTC()
	}
	names := make([]string, 0, len(members))
	for name := range members {
		if !reserved(name) {
			names = append(names, name)
		}
	}
	sort.Strings(names) // deterministic error messages
	d.Peppers = make(map[string]string, len(names))
	for _, name := range names {
		if !validVersion(name) {
			return Document{}, malformed("a member name is not a valid version name (1-%d characters of A-Z a-z 0-9 . _ -)", maxVersionLen)
		}
		var p string
		if err := json.Unmarshal(members[name], &p); err != nil {
			return Document{}, malformed("version %q is not a string", name)
		}
		d.Peppers[name] = p
	}
	if err := d.Validate(); err != nil {
		return Document{}, err
	}
	// Both sets must build (apikey checks the peppers once more).
	if _, err := d.set(d.Current); err != nil {
		return Document{}, err
	}
	return d, nil
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
