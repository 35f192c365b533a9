// Package apikey defines the KudurruStone API key: its format, its checksum,
// its non-secret hint and its keyed hash. It has no AWS dependency so that the
// rules are the same in every function, the local server and the tests.
//
// A key is "kst_" + 43 base62 characters drawn uniformly from crypto/rand
// (43 × log2(62) ≈ 256.03 bits) + a 6-character base62 CRC-32 checksum of
// everything before it: 53 characters in all, always.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

const (
	// Prefix starts every key, so that secret scanners can find leaked keys.
	Prefix      = "kst_"
	secretLen   = 43
	checksumLen = 6
	// Len is the fixed length of every key.
	Len = len(Prefix) + secretLen + checksumLen
	// hintChars is how many characters of the key's end the hint reveals:
	// 4 base62 characters are 23.8 bits, under the spec's 24-bit ceiling.
	hintChars = 4
)

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// crcTable is CRC-32 (IEEE), computed by hand in putChecksum: the library's
// dispatch makes its argument escape, which would cost an allocation on
// every Validate.
var crcTable = crc32.MakeTable(crc32.IEEE)

// ErrMalformed is returned for anything that is not a well-formed key: wrong
// prefix, length, alphabet or checksum. It never carries the input.
var ErrMalformed = errors.New("apikey: malformed key")

// Generate returns a new key using entropy from r (crypto/rand.Reader when r
// is nil). Each character is drawn by rejection sampling, so every character
// is uniform over the 62-symbol alphabet.
func Generate(r io.Reader) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	var out [Len]byte
	copy(out[:], Prefix)
	var buf [64]byte
	n := 0
	for n < secretLen {
		if _, err := io.ReadFull(r, buf[:]); err != nil {
			return "", fmt.Errorf("apikey: read entropy: %w", err)
		}
		for _, b := range buf {
			// 248 = 4×62: values at or above it would bias the alphabet.
			if b >= 248 {
				continue
			}
			out[len(Prefix)+n] = alphabet[b%62]
			n++
			if n == secretLen {
				break
			}
		}
	}
	putChecksum(out[len(Prefix)+secretLen:], out[:len(Prefix)+secretLen])
	return string(out[:]), nil
}

// putChecksum writes the checksum of body (a []byte or the key string itself,
// so that Validate neither copies nor allocates).
func putChecksum[T string | []byte](dst []byte, body T) {
	c := ^uint32(0)
	for i := 0; i < len(body); i++ {
		c = crcTable[byte(c)^body[i]] ^ (c >> 8)
	}
	c = ^c
	for i := checksumLen - 1; i >= 0; i-- {
		dst[i] = alphabet[c%62]
		c /= 62
	}
}

// Validate reports whether s is a well-formed key with a correct checksum.
// It does no I/O, so a mistyped, truncated or padded key is rejected before
// any store read.
func Validate(s string) error {
	if len(s) != Len || s[:len(Prefix)] != Prefix {
		return ErrMalformed
	}
	for i := len(Prefix); i < Len; i++ {
		if !isBase62(s[i]) {
			return ErrMalformed
		}
	}
	var want [checksumLen]byte
	putChecksum(want[:], s[:len(Prefix)+secretLen])
	var got [checksumLen]byte
	copy(got[:], s[len(Prefix)+secretLen:])
	if subtle.ConstantTimeCompare(want[:], got[:]) != 1 {
		return ErrMalformed
	}
	return nil
}

func isBase62(c byte) bool {
	return ('0' <= c && c <= '9') || ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z')
}

// Hint returns the non-secret reminder of a key, such as "kst_…a1B2": the
// last four characters of the key as issued (SPEC section 3), so a key in a
// configuration file can be matched with the list by how it ends. Those
// are checksum characters: at most 23.8 bits, derived from the secret. It
// assumes a valid key. Hints stored before this rule keep their value.
func Hint(key string) string {
	if len(key) != Len {
		return Prefix + "…"
	}
	return Prefix + "…" + key[Len-hintChars:]
}

// Digest is the keyed hash of a key: HMAC-SHA-256(pepper, key).
type Digest [sha256.Size]byte

// String returns the digest in lower-case hex.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// Equal compares two digests in constant time.
func (d Digest) Equal(o Digest) bool { return subtle.ConstantTimeCompare(d[:], o[:]) == 1 }

// ParseDigest decodes a hex digest.
func ParseDigest(s string) (Digest, error) {
	var d Digest
	if hex.DecodedLen(len(s)) != len(d) {
		return d, errors.New("apikey: bad digest length")
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return d, fmt.Errorf("apikey: bad digest: %w", err)
	}
	return d, nil
}
