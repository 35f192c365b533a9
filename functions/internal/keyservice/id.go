package keyservice

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Key ids are 26 Crockford base32 characters: 48 bits of milliseconds, then
// 80 random bits (the ULID layout). They sort by creation time, so a store
// lists newest first by sorting ids descending.
const idLen = 26

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

func newID(now time.Time, r io.Reader) (string, error) {
	var rnd [10]byte
	if _, err := io.ReadFull(r, rnd[:]); err != nil {
		return "", fmt.Errorf("read entropy: %w", err)
	}
	return encodeID(uint64(now.UnixMilli()), rnd), nil
}

// idSource makes ids that increase strictly within this process, also
// within one millisecond (the monotonic ULID rule: the random part of the
// previous id plus one), so a firm's audit events list in the order they
// happened even when two fall in the same millisecond.
type idSource struct {
	mu     sync.Mutex
	lastMs uint64
	last   [10]byte
}

func (g *idSource) next(now time.Time, r io.Reader) (string, error) {
	ms := uint64(now.UnixMilli())
	g.mu.Lock()
	defer g.mu.Unlock()
	if ms <= g.lastMs {
		ms = g.lastMs // same millisecond, or the clock stepped back
		for i := len(g.last) - 1; i >= 0; i-- {
			g.last[i]++
			if g.last[i] != 0 {
				break
			}
		}
	} else if _, err := io.ReadFull(r, g.last[:]); err != nil {
		return "", fmt.Errorf("read entropy: %w", err)
	}
	g.lastMs = ms
	return encodeID(ms, g.last), nil
}

func encodeID(ms uint64, rnd [10]byte) string {
	var b [16]byte
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	copy(b[6:], rnd[:])
	// 128 bits as 26 base32 digits: the first digit carries the top 3 bits.
	var out [idLen]byte
	hi := uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
	lo := uint64(b[8])<<56 | uint64(b[9])<<48 | uint64(b[10])<<40 | uint64(b[11])<<32 |
		uint64(b[12])<<24 | uint64(b[13])<<16 | uint64(b[14])<<8 | uint64(b[15])
	for i := idLen - 1; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// validID reports whether s has the shape of a key id, so that junk from a
// URL never reaches the store.
func validID(s string) bool {
	if len(s) != idLen || s[0] > '7' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9') && !('A' <= c && c <= 'Z' && c != 'I' && c != 'L' && c != 'O' && c != 'U') {
			return false
		}
	}
	return true
}

// ValidID reports whether s has the shape of a key id.
func ValidID(s string) bool { return validID(s) }
