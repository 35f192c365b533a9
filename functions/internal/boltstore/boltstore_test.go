package boltstore_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
	"github.com/kudurrustone/apikeys/functions/internal/boltstore"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
	"github.com/kudurrustone/apikeys/functions/internal/storetest"
	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

func openStore(t testing.TB, path string) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) keyservice.Store {
		return openStore(t, filepath.Join(t.TempDir(), "keys.db"))
	})
}

func TestExpiryConformance(t *testing.T) {
	storetest.RunExpiry(t, func(t *testing.T) storetest.ExpiryStore {
		return openStore(t, filepath.Join(t.TempDir(), "keys.db"))
	})
}

func TestStoredTimes(t *testing.T) {
	storetest.RunStoredTimes(t, func(t *testing.T) keyservice.Store {
		return openStore(t, filepath.Join(t.TempDir(), "keys.db"))
	}, func(t *testing.T, s keyservice.Store, k keyservice.Key, raw string) {
		if err := boltstore.SetStoredExpiresAt(s.(*boltstore.Store), k, raw); err != nil {
			t.Fatalf("SetStoredExpiresAt: %v", err)
		}
	})
}

// TestSharedStore runs the suite again with every sub-test on one file, as
// the local server runs: firms must not see each other.
func TestSharedStore(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "shared.db"))
	storetest.RunService(t, func(*testing.T) keyservice.Store { return s })
}

func TestOpenPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", ".data")
	path := filepath.Join(dir, "keys.db")
	openStore(t, path)
	for _, c := range []struct {
		path string
		mode os.FileMode
	}{{dir, 0o700}, {path, 0o600}} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != c.mode {
			t.Errorf("%s: mode %o, want %o", c.path, got, c.mode)
		}
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.db")
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	svc := keyservice.New(s, testkit.Peppers{Set: storetest.TestPepperSet(t, "1")}, keyservice.Config{Logger: slog.New(slog.DiscardHandler)})
	admin := keyservice.Admin{Subject: "alice", FirmID: storetest.NewFirmID(t), IsAdmin: true, IsPremier: true}
	k, plain, err := svc.Generate(context.Background(), admin, keyservice.GenerateInput{Label: "kept"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := openStore(t, path)
	svc2 := keyservice.New(s2, testkit.Peppers{Set: storetest.TestPepperSet(t, "1")}, keyservice.Config{Logger: slog.New(slog.DiscardHandler)})
	p, err := svc2.Authorize(context.Background(), plain)
	if err != nil || p.KeyID != k.ID {
		t.Fatalf("Authorize after reopen = %+v, %v", p, err)
	}
}

// TestNoPlaintextInFile generates keys through the service, then scans the
// raw bbolt file for them.
func TestNoPlaintextInFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.db")
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	svc := keyservice.New(s, testkit.Peppers{Set: storetest.TestPepperSet(t, "1")}, keyservice.Config{Logger: slog.New(slog.DiscardHandler)})
	admin := keyservice.Admin{Subject: "alice", FirmID: storetest.NewFirmID(t), IsAdmin: true, IsPremier: true, SourceIP: "198.51.100.1"}
	var plains []string
	for i := 0; i < 20; i++ {
		k, plain, err := svc.Generate(context.Background(), admin, keyservice.GenerateInput{Label: "scan me"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Authorize(context.Background(), plain); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			if _, err := svc.Revoke(context.Background(), admin, k.ID); err != nil {
				t.Fatal(err)
			}
		}
		plains = append(plains, plain)
	}
	live, err := s.Dump()
	if err != nil {
		t.Fatal(err)
	}
	storetest.AssertNoPlaintext(t, live, plains)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The file itself, free pages included.
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	storetest.AssertNoPlaintext(t, file, plains)
}

func BenchmarkHMACBaseline(b *testing.B) { storetest.BenchHMACBaseline(b) }

func BenchmarkAuthorize(b *testing.B) {
	storetest.BenchAuthorize(b, openStore(b, filepath.Join(b.TempDir(), "bench.db")))
}

func BenchmarkGenerate(b *testing.B) {
	storetest.BenchGenerate(b, openStore(b, filepath.Join(b.TempDir(), "bench.db")))
}

func TestOpenTightensExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.db")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	openStore(t, path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Fatalf("mode %o, want 600", got)
	}
}

func TestOpenErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("not a folder"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := boltstore.Open(filepath.Join(file, "keys.db")); err == nil {
		t.Fatalf("Open under a file succeeded")
	}
	garbage := filepath.Join(t.TempDir(), "garbage.db")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("not a bolt file "), 1024), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := boltstore.Open(garbage); err == nil {
		t.Fatalf("Open of a non-bbolt file succeeded")
	}
}

func TestCanceledContext(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "keys.db"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	firm := storetest.NewFirmID(t)
	id := storetest.NewID(t, time.Now())
	var d apikey.Digest
	now := time.Now()
	for name, err := range map[string]error{
		"CreateKey":      s.CreateKey(ctx, keyservice.Key{ID: id, FirmID: firm}, 1, keyservice.AuditRecord{}),
		"GetKey":         second(s.GetKey(ctx, firm, id)),
		"ListKeys":       second(s.ListKeys(ctx, firm, "", 1)),
		"RevokeKey":      second(s.RevokeKey(ctx, firm, id, now, "x", keyservice.AuditRecord{})),
		"ReleaseExpired": second(s.ReleaseExpired(ctx, firm, now)),
		"FindCredential": second(s.FindCredential(ctx, d)),
		"TouchLastUsed":  second(s.TouchLastUsed(ctx, d, firm, id, now, netip.Addr{}, now)),
		"ListAudit":      second(s.ListAudit(ctx, firm, "", "", 10)),
		"UpdateKey":      third(s.UpdateKey(ctx, firm, id, now, keyservice.KeyUpdate{}, keyservice.AuditRecord{})),
		"RollKey":        third(s.RollKey(ctx, firm, id, keyservice.Key{}, now, keyservice.AuditRecord{})),
	} {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context: err = %v", name, err)
		}
	}
	if _, err := s.GetKey(context.Background(), firm, id); !errors.Is(err, keyservice.ErrNotFound) {
		t.Fatalf("a canceled CreateKey wrote: GetKey err = %v", err)
	}
}

func second[T any](_ T, err error) error { return err }

func third[T, U any](_ T, _ U, err error) error { return err }

// TestRecordsWithoutScopes: records written before keys had scopes and
// allowed addresses read as both scopes and any address.
func TestRecordsWithoutScopes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	const digest = "5f2b9c1e0d4a3b6c7d8e9f00112233445566778899aabbccddeeff0011223344"
	err = db.Update(func(tx *bolt.Tx) error {
		keys, err := tx.CreateBucketIfNotExists([]byte("keys"))
		if err != nil {
			return err
		}
		firm, err := keys.CreateBucket([]byte("acme"))
		if err != nil {
			return err
		}
		if err := firm.Put([]byte("01JZ0000000000000000000000"), []byte(`{"id":"01JZ0000000000000000000000","firmId":"acme","label":"Old","hint":"kst_…abcd","createdAt":"2026-11-25T09:30:00.000000000Z","createdBy":"alice","digest":"`+digest+`","pepperVersion":"1"}`)); err != nil {
			return err
		}
		creds, err := tx.CreateBucketIfNotExists([]byte("creds"))
		if err != nil {
			return err
		}
		return creds.Put([]byte(digest), []byte(`{"firmId":"acme","keyId":"01JZ0000000000000000000000","label":"Old","pepperVersion":"1"}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, path)
	k, err := s.GetKey(context.Background(), "acme", "01JZ0000000000000000000000")
	if err != nil || k.Scopes != keyservice.AllScopes || k.AllowedIPs != nil || k.LastUsedIP.IsValid() {
		t.Errorf("GetKey = %+v, %v; want scopes read write, no allowed addresses", k, err)
	}
	d, err := apikey.ParseDigest(digest)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.FindCredential(context.Background(), d)
	if err != nil || c.Scopes != keyservice.AllScopes || c.AllowedIPs != nil {
		t.Errorf("FindCredential = %+v, %v; want scopes read write, no allowed addresses", c, err)
	}
}
