package perf_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kudurrustone/apikeys/functions/internal/authorizer"
)

var errNotFound = errors.New("credential not found")

// boltAuthorize: a warm Service.Authorize of a valid key over the embedded
// store (checksum, HMAC, one credential read, no write: the clock stands
// still and last-used is fresh).
func boltAuthorize(tb testing.TB) op {
	f := newBoltFixture(tb)
	ctx := context.Background()
	return func() error {
		_, err := f.svc.Authorize(ctx, f.plain)
		return err
	}
}

// boltFind: the store's own FindCredential, as Authorize calls it: the
// allocations Authorize may not exceed.
func boltFind(tb testing.TB) op {
	f := newBoltFixture(tb)
	ctx := context.Background()
	return func() error {
		_, err := f.store.FindCredential(ctx, f.key.Digest)
		return err
	}
}

// boltFloor is the physical floor under boltAuthorize: a bare crypto/hmac
// HMAC-SHA-256 of the key and one raw bbolt View+Get of the same credential
// item in the same kind of file.
func boltFloor(tb testing.TB) op {
	f := newBoltFixture(tb)
	f.close(tb) // bbolt locks the file: read it raw, alone
	db, err := bolt.Open(f.path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	key := []byte(f.plain)
	creds := []byte("creds")
	return func() error {
		m := hmac.New(sha256.New, pepperSecret)
		m.Write(key)
		var sum [sha256.Size]byte
		var id [2 * sha256.Size]byte
		hex.Encode(id[:], m.Sum(sum[:0]))
		return db.View(func(tx *bolt.Tx) error {
			if tx.Bucket(creds).Get(id[:]) == nil {
				return errNotFound
			}
			return nil
		})
	}
}

// boltInvoke: the authorizer's Lambda entry point in process (HTTP API
// payload 2.0 event JSON in, simple response JSON out) over the embedded
// store: Authorize plus the event parse and the response marshal.
func boltInvoke(tb testing.TB) op {
	f := newBoltFixture(tb)
	h := authorizer.New(f.svc, discardLog())
	ev := httpEvent(tb, f.plain)
	ctx := context.Background()
	return func() error {
		out, err := h.Invoke(ctx, ev)
		if err != nil {
			return err
		}
		if !allowed(out) {
			return fmt.Errorf("not allowed: %s", out)
		}
		return nil
	}
}

func BenchmarkBoltAuthorize(b *testing.B)      { bench(b, boltAuthorize(b)) }
func BenchmarkBoltFindCredential(b *testing.B) { bench(b, boltFind(b)) }
func BenchmarkBoltFloor(b *testing.B)          { bench(b, boltFloor(b)) }
func BenchmarkBoltInvokeHTTP(b *testing.B)     { bench(b, boltInvoke(b)) }
