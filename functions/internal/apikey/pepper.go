package apikey

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sort"
)

// Pepper is one version of the server-side secret mixed into every key hash.
type Pepper struct {
	Version string
	secret  []byte
}

// MinPepperLen is the shortest pepper accepted (128 bits).
const MinPepperLen = 16

// NewPepper prepares a pepper for hashing. It keeps its own copy of secret.
func NewPepper(version string, secret []byte) (Pepper, error) {
	if version == "" {
		return Pepper{}, errors.New("apikey: pepper version is empty")
	}
	if len(secret) < MinPepperLen {
		return Pepper{}, fmt.Errorf("apikey: pepper %q is shorter than %d bytes", version, MinPepperLen)
	}
	return Pepper{Version: version, secret: bytes.Clone(secret)}, nil
}

// Hash returns HMAC-SHA-256(pepper, key) (RFC 2104, crypto/hmac).
func (p *Pepper) Hash(key string) Digest {
	m := hmac.New(sha256.New, p.secret)
	_, _ = io.WriteString(m, key) // a hash.Hash never fails to write
	var d Digest
	m.Sum(d[:0])
	return d
}

// PepperSet holds every pepper version still in use. The current one hashes
// new keys; the others keep keys issued before a rotation working.
type PepperSet struct {
	ordered []Pepper // current first, then the others by version
}

// NewPepperSet builds a set from secrets by version, current naming the
// version used for new keys.
func NewPepperSet(current string, secrets map[string][]byte) (PepperSet, error) {
	cur, ok := secrets[current]
	if !ok {
		return PepperSet{}, fmt.Errorf("apikey: current pepper version %q is missing", current)
	}
	p, err := NewPepper(current, cur)
	if err != nil {
		return PepperSet{}, err
	}
	set := PepperSet{ordered: []Pepper{p}}
	others := make([]string, 0, len(secrets))
	for v := range secrets {
		if v != current {
			others = append(others, v)
		}
	}
	// Newest first, so a key from the previous rotation is found on the
	// second read: versions compare by length, then text ("10" after "9").
	sort.Slice(others, func(i, j int) bool {
		if len(others[i]) != len(others[j]) {
			return len(others[i]) > len(others[j])
		}
		return others[i] > others[j]
	})
	for _, v := range others {
		p, err := NewPepper(v, secrets[v])
		if err != nil {
			return PepperSet{}, err
		}
		set.ordered = append(set.ordered, p)
	}
	return set, nil
}

// Current returns the pepper that hashes new keys.
func (s PepperSet) Current() *Pepper {
	if len(s.ordered) == 0 {
		return nil
	}
	return &s.ordered[0]
}

// All returns every pepper, current first. The caller must not modify it.
func (s PepperSet) All() []Pepper { return s.ordered }

// Lookup returns the pepper of the given version.
func (s PepperSet) Lookup(version string) (*Pepper, bool) {
	for i := range s.ordered {
		if s.ordered[i].Version == version {
			return &s.ordered[i], true
		}
	}
	return nil, false
}

// Empty reports whether the set has no pepper at all.
func (s PepperSet) Empty() bool { return len(s.ordered) == 0 }

// String names the version only: the HMAC pads hold the pepper (masked), so
// a Pepper printed by mistake must not show them.
func (p Pepper) String() string { return "apikey.Pepper{" + p.Version + "}" }

// GoString is String, for %#v.
func (p Pepper) GoString() string { return p.String() }

// String names the versions only, current first (see Pepper.String).
func (s PepperSet) String() string {
	out := "apikey.PepperSet{"
	for i := range s.ordered {
		if i > 0 {
			out += " "
		}
		out += s.ordered[i].Version
	}
	return out + "}"
}

// GoString is String, for %#v.
func (s PepperSet) GoString() string { return s.String() }
