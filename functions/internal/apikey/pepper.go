package apikey

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
)

// Pepper is one version of the server-side secret mixed into every key hash.
// The HMAC pads are computed once, so hashing a key does not allocate.
type Pepper struct {
	Version string
	ipad    [sha256.BlockSize]byte
	opad    [sha256.BlockSize]byte
}

// MinPepperLen is the shortest pepper accepted (128 bits).
const MinPepperLen = 16

// NewPepper prepares a pepper for hashing.
func NewPepper(version string, secret []byte) (Pepper, error) {
	if version == "" {
		return Pepper{}, errors.New("apikey: pepper version is empty")
	}
	if len(secret) < MinPepperLen {
		return Pepper{}, fmt.Errorf("apikey: pepper %q is shorter than %d bytes", version, MinPepperLen)
	}
	p := Pepper{Version: version}
	k := secret
	if len(k) > sha256.BlockSize {
		s := sha256.Sum256(k)
		k = s[:]
	}
	copy(p.ipad[:], k)
	copy(p.opad[:], k)
	for i := range p.ipad {
		p.ipad[i] ^= 0x36
		p.opad[i] ^= 0x5c
	}
	return p, nil
}

// Hash returns HMAC-SHA-256(pepper, key) without allocating. It is standard
// HMAC (RFC 2104), checked against crypto/hmac in the tests.
func (p *Pepper) Hash(key string) Digest {
	var inner [sha256.BlockSize + Len]byte
	var buf []byte
	if len(key) <= Len {
		copy(inner[:], p.ipad[:])
		n := copy(inner[sha256.BlockSize:], key)
		buf = inner[:sha256.BlockSize+n]
	} else {
		buf = append(append(make([]byte, 0, sha256.BlockSize+len(key)), p.ipad[:]...), key...)
	}
	ih := sha256.Sum256(buf)
	var outer [sha256.BlockSize + sha256.Size]byte
	copy(outer[:], p.opad[:])
	copy(outer[sha256.BlockSize:], ih[:])
	return Digest(sha256.Sum256(outer[:]))
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
