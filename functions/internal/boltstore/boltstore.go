// Package boltstore is the embedded keyservice.Store, on a single bbolt
// file: the default store of the local server. It mirrors the DynamoDB data
// model so both stores behave alike, and each method is one bbolt
// transaction, which gives the all-or-nothing and race guarantees the store
// contract asks for (bbolt runs one writer at a time).
//
// Layout (bucket → key → JSON value):
//
//	keys/<firmId>/<keyId>                          key record
//	creds/<hex digest>                             credential record
//	counters/<firmId>                              active count, decimal
//	events/<firmId>/<eventId>                      audit event
//	keyevents/<firmId>/<keyId>#<eventId>           the event's id, to list one key's events
//
// Event ids sort by time, so a reverse cursor lists events newest first.
// The audit bucket of records written before events had ids is kept but
// not listed.
//
// Times are stored as fixed-width RFC 3339 UTC with nanoseconds, so byte
// order equals time order. The plaintext key is never stored.
package boltstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

var (
	bucketKeys     = []byte("keys")
	bucketCreds    = []byte("creds")
	bucketCounters = []byte("counters")
	bucketAudit    = []byte("audit") // records from before events had ids: kept, not listed
	bucketEvents   = []byte("events")
	bucketKeyEvts  = []byte("keyevents")
)

// Store is a keyservice.Store on a bbolt file. It is safe for concurrent
// use; only one process may open the file at a time.
type Store struct {
	db   *bolt.DB
	path string
}

var _ keyservice.Store = (*Store)(nil)

// Open opens (or creates) the store file at path. Missing parent folders
// are created with mode 0700 and the file with mode 0600: it holds key
// digests and audit records.
func Open(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("boltstore: create folder: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	// A file made by someone else may be wider open than ours would be.
	if err := os.Chmod(path, 0o600); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("boltstore: chmod %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketKeys, bucketCreds, bucketCounters, bucketAudit, bucketEvents, bucketKeyEvts} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("boltstore: create buckets: %w", err)
	}
	return &Store{db: db, path: path}, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// Path returns the file's path.
func (s *Store) Path() string { return s.path }

// Dump returns a consistent copy of the whole database file, for tests that
// scan the raw bytes (no plaintext key may be in them).
func (s *Store) Dump() ([]byte, error) {
	var buf bytes.Buffer
	err := s.db.View(func(tx *bolt.Tx) error {
		_, err := tx.WriteTo(&buf)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: dump: %w", err)
	}
	return buf.Bytes(), nil
}

// timeLayout is fixed-width, so that stored times compare as strings.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		if lt, ok := keyservice.LegacyTime(s); ok {
			return lt, nil
		}
		return time.Time{}, fmt.Errorf("boltstore: bad stored time: %w", err)
	}
	return t.UTC(), nil
}

type keyRecord struct {
	ID         string `json:"id"`
	FirmID     string `json:"firmId"`
	Label      string `json:"label"`
	Hint       string `json:"hint"`
	CreatedAt  string `json:"createdAt"`
	CreatedBy  string `json:"createdBy"`
	ExpiresAt  string `json:"expiresAt,omitempty"`
	RevokedAt  string `json:"revokedAt,omitempty"`
	RevokedBy  string `json:"revokedBy,omitempty"`
	LastUsedAt string `json:"lastUsedAt,omitempty"`
	LastUsedIP string `json:"lastUsedIp,omitempty"`
	// Scopes is never empty once written; a record written before keys
	// had scopes has none and reads as both.
	Scopes        []string `json:"scopes,omitempty"`
	AllowedIPs    []string `json:"allowedIps,omitempty"`
	Replaces      string   `json:"replaces,omitempty"`
	ReplacedBy    string   `json:"replacedBy,omitempty"`
	Digest        string   `json:"digest"`
	PepperVersion string   `json:"pepperVersion"`
	// Released: the key expired and no longer holds a slot in the count.
	Released bool `json:"released,omitempty"`
}

func toKeyRecord(k keyservice.Key) keyRecord {
	r := keyRecord{
		ID: k.ID, FirmID: k.FirmID, Label: k.Label, Hint: k.Hint,
		CreatedAt: formatTime(k.CreatedAt), CreatedBy: k.CreatedBy,
		ExpiresAt: formatTime(k.ExpiresAt), RevokedAt: formatTime(k.RevokedAt), RevokedBy: k.RevokedBy,
		LastUsedAt: formatTime(k.LastUsedAt), Scopes: k.Scopes.Names(),
		AllowedIPs: formatAllowed(k.AllowedIPs), Replaces: k.Replaces, ReplacedBy: k.ReplacedBy,
		Digest: k.Digest.String(), PepperVersion: k.PepperVersion,
	}
	if k.LastUsedIP.IsValid() {
		r.LastUsedIP = k.LastUsedIP.String()
	}
	return r
}

func formatAllowed(ps []netip.Prefix) []string {
	if len(ps) == 0 {
		return nil
	}
	return keyservice.FormatAllowedIPs(ps)
}

// parseScopes reads stored scope names; none (an older record) is both.
func parseScopes(names []string) (keyservice.Scopes, error) {
	if names == nil {
		return keyservice.AllScopes, nil
	}
	s, err := keyservice.ParseScopes(names)
	if err != nil {
		return 0, fmt.Errorf("boltstore: bad stored scopes: %w", err)
	}
	return s, nil
}

func parseAllowed(vs []string) ([]netip.Prefix, error) {
	if len(vs) == 0 {
		return nil, nil
	}
	out := make([]netip.Prefix, len(vs))
	for i, v := range vs {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return nil, fmt.Errorf("boltstore: bad stored allowed address: %w", err)
		}
		out[i] = p
	}
	return out, nil
}

func (r keyRecord) key() (keyservice.Key, error) {
	k := keyservice.Key{ID: r.ID, FirmID: r.FirmID, Label: r.Label, Hint: r.Hint, CreatedBy: r.CreatedBy,
		RevokedBy: r.RevokedBy, Replaces: r.Replaces, ReplacedBy: r.ReplacedBy, PepperVersion: r.PepperVersion}
	var err error
	if k.Digest, err = apikey.ParseDigest(r.Digest); err != nil {
		return keyservice.Key{}, fmt.Errorf("boltstore: key %s: %w", r.ID, err)
	}
	if k.Scopes, err = parseScopes(r.Scopes); err != nil {
		return keyservice.Key{}, err
	}
	if k.AllowedIPs, err = parseAllowed(r.AllowedIPs); err != nil {
		return keyservice.Key{}, err
	}
	if r.LastUsedIP != "" {
		if k.LastUsedIP, err = netip.ParseAddr(r.LastUsedIP); err != nil {
			return keyservice.Key{}, fmt.Errorf("boltstore: key %s: bad last used address: %w", r.ID, err)
		}
	}
	for _, f := range []struct {
		dst *time.Time
		src string
	}{{&k.CreatedAt, r.CreatedAt}, {&k.ExpiresAt, r.ExpiresAt}, {&k.RevokedAt, r.RevokedAt}, {&k.LastUsedAt, r.LastUsedAt}} {
		if *f.dst, err = parseTime(f.src); err != nil {
			return keyservice.Key{}, err
		}
	}
	return k, nil
}

type credRecord struct {
	FirmID        string   `json:"firmId"`
	KeyID         string   `json:"keyId"`
	Label         string   `json:"label"`
	ExpiresAt     string   `json:"expiresAt,omitempty"`
	RevokedAt     string   `json:"revokedAt,omitempty"`
	LastUsedAt    string   `json:"lastUsedAt,omitempty"`
	Scopes        []string `json:"scopes,omitempty"`
	AllowedIPs    []string `json:"allowedIps,omitempty"`
	PepperVersion string   `json:"pepperVersion"`
}

func toCredRecord(k keyservice.Key) credRecord {
	return credRecord{FirmID: k.FirmID, KeyID: k.ID, Label: k.Label, ExpiresAt: formatTime(k.ExpiresAt),
		RevokedAt: formatTime(k.RevokedAt), LastUsedAt: formatTime(k.LastUsedAt),
		Scopes: k.Scopes.Names(), AllowedIPs: formatAllowed(k.AllowedIPs), PepperVersion: k.PepperVersion}
}

func (r credRecord) credential() (keyservice.Credential, error) {
	c := keyservice.Credential{FirmID: r.FirmID, KeyID: r.KeyID, Label: r.Label, PepperVersion: r.PepperVersion}
	var err error
	if c.Scopes, err = parseScopes(r.Scopes); err != nil {
		return keyservice.Credential{}, err
	}
	if c.AllowedIPs, err = parseAllowed(r.AllowedIPs); err != nil {
		return keyservice.Credential{}, err
	}
	for _, f := range []struct {
		dst *time.Time
		src string
	}{{&c.ExpiresAt, r.ExpiresAt}, {&c.RevokedAt, r.RevokedAt}, {&c.LastUsedAt, r.LastUsedAt}} {
		if *f.dst, err = parseTime(f.src); err != nil {
			return keyservice.Credential{}, err
		}
	}
	return c, nil
}

type auditRecord struct {
	ID       string   `json:"id"`
	At       string   `json:"at"`
	Action   string   `json:"action"`
	FirmID   string   `json:"firmId"`
	KeyID    string   `json:"keyId"`
	Label    string   `json:"label,omitempty"`
	Hint     string   `json:"hint,omitempty"`
	Actor    string   `json:"actor"`
	SourceIP string   `json:"sourceIp,omitempty"`
	Changed  []string `json:"changed,omitempty"`
	NewKeyID string   `json:"newKeyId,omitempty"`
	Grace    int      `json:"gracePeriodSeconds,omitempty"`
}

func (r auditRecord) record() (keyservice.AuditRecord, error) {
	at, err := parseTime(r.At)
	if err != nil {
		return keyservice.AuditRecord{}, err
	}
	a := keyservice.AuditRecord{ID: r.ID, At: at, Action: r.Action, FirmID: r.FirmID, KeyID: r.KeyID,
		Label: r.Label, Hint: r.Hint, Actor: r.Actor, SourceIP: r.SourceIP}
	switch a.Action {
	case keyservice.ActionUpdate:
		a.Changed = r.Changed
		if a.Changed == nil {
			a.Changed = []string{}
		}
	case keyservice.ActionRoll:
		a.NewKeyID, a.GracePeriodSeconds = r.NewKeyID, r.Grace
	}
	return a, nil
}

func getJSON(b *bolt.Bucket, key []byte, v any) (bool, error) {
	if b == nil {
		return false, nil
	}
	raw := b.Get(key)
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("boltstore: decode %s: %w", key, err)
	}
	return true, nil
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("boltstore: encode: %w", err)
	}
	return b.Put(key, raw)
}

func firmKeys(tx *bolt.Tx, firmID string) *bolt.Bucket {
	return tx.Bucket(bucketKeys).Bucket([]byte(firmID))
}

func readCount(tx *bolt.Tx, firmID string) (int, error) {
	raw := tx.Bucket(bucketCounters).Get([]byte(firmID))
	if raw == nil {
		return 0, nil
	}
	n, err := strconv.Atoi(string(raw))
	if err != nil {
		return 0, fmt.Errorf("boltstore: bad counter of firm %s: %w", firmID, err)
	}
	return n, nil
}

func addCount(tx *bolt.Tx, firmID string, delta int) error {
	n, err := readCount(tx, firmID)
	if err != nil {
		return err
	}
	n = max(n+delta, 0)
	return tx.Bucket(bucketCounters).Put([]byte(firmID), []byte(strconv.Itoa(n)))
}

// putAudit writes the audit event and its entry under the key.
func putAudit(tx *bolt.Tx, a keyservice.AuditRecord) error {
	events, err := tx.Bucket(bucketEvents).CreateBucketIfNotExists([]byte(a.FirmID))
	if err != nil {
		return fmt.Errorf("boltstore: events bucket: %w", err)
	}
	byKey, err := tx.Bucket(bucketKeyEvts).CreateBucketIfNotExists([]byte(a.FirmID))
	if err != nil {
		return fmt.Errorf("boltstore: key events bucket: %w", err)
	}
	if a.ID == "" || events.Get([]byte(a.ID)) != nil {
		return fmt.Errorf("boltstore: audit event id %q missing or taken: %w", a.ID, keyservice.ErrConflict)
	}
	rec := auditRecord{ID: a.ID, At: formatTime(a.At), Action: a.Action, FirmID: a.FirmID, KeyID: a.KeyID,
		Label: a.Label, Hint: a.Hint, Actor: a.Actor, SourceIP: a.SourceIP}
	switch a.Action {
	case keyservice.ActionUpdate:
		rec.Changed = a.Changed
	case keyservice.ActionRoll:
		rec.NewKeyID, rec.Grace = a.NewKeyID, a.GracePeriodSeconds
	}
	if err := putJSON(events, []byte(a.ID), rec); err != nil {
		return err
	}
	return byKey.Put([]byte(a.KeyID+"#"+a.ID), []byte(a.ID))
}

// CreateKey implements keyservice.Store.
func (s *Store) CreateKey(ctx context.Context, k keyservice.Key, maxActive int, audit keyservice.AuditRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !k.Scopes.Valid() {
		return errors.New("boltstore: create key: a key needs at least one scope")
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		keys, err := tx.Bucket(bucketKeys).CreateBucketIfNotExists([]byte(k.FirmID))
		if err != nil {
			return fmt.Errorf("boltstore: keys bucket: %w", err)
		}
		digest := []byte(k.Digest.String())
		if keys.Get([]byte(k.ID)) != nil || tx.Bucket(bucketCreds).Get(digest) != nil {
			return keyservice.ErrConflict
		}
		n, err := readCount(tx, k.FirmID)
		if err != nil {
			return err
		}
		if n >= maxActive {
			return keyservice.ErrLimitReached
		}
		if err := putJSON(keys, []byte(k.ID), toKeyRecord(k)); err != nil {
			return err
		}
		if err := putJSON(tx.Bucket(bucketCreds), digest, toCredRecord(k)); err != nil {
			return err
		}
		if err := addCount(tx, k.FirmID, 1); err != nil {
			return err
		}
		return putAudit(tx, audit)
	})
}

// GetKey implements keyservice.Store.
func (s *Store) GetKey(ctx context.Context, firmID, keyID string) (keyservice.Key, error) {
	if err := ctx.Err(); err != nil {
		return keyservice.Key{}, err
	}
	var k keyservice.Key
	err := s.db.View(func(tx *bolt.Tx) error {
		var rec keyRecord
		ok, err := getJSON(firmKeys(tx, firmID), []byte(keyID), &rec)
		if err != nil {
			return err
		}
		if !ok {
			return keyservice.ErrNotFound
		}
		k, err = rec.key()
		return err
	})
	return k, err
}

// ListKeys implements keyservice.Store.
func (s *Store) ListKeys(ctx context.Context, firmID, afterID string, limit int) ([]keyservice.Key, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := []keyservice.Key{}
	err := s.db.View(func(tx *bolt.Tx) error {
		b := firmKeys(tx, firmID)
		if b == nil || limit <= 0 {
			return nil
		}
		c := b.Cursor()
		var id, raw []byte
		if afterID == "" {
			id, raw = c.Last()
		} else if id, _ = c.Seek([]byte(afterID)); id == nil {
			id, raw = c.Last() // every id is below afterID
		} else {
			id, raw = c.Prev() // Seek lands at or above afterID
		}
		for ; id != nil && len(out) < limit; id, raw = c.Prev() {
			var rec keyRecord
			err := json.Unmarshal(raw, &rec)
			var k keyservice.Key
			if err == nil {
				k, err = rec.key()
			}
			if err != nil {
				k = keyservice.Key{ID: string(id), FirmID: firmID, Unreadable: fmt.Errorf("boltstore: decode key: %w", err)}
			}
			out = append(out, k)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RevokeKey implements keyservice.Store.
func (s *Store) RevokeKey(ctx context.Context, firmID, keyID string, at time.Time, by string, audit keyservice.AuditRecord) (keyservice.Key, error) {
	if err := ctx.Err(); err != nil {
		return keyservice.Key{}, err
	}
	var k keyservice.Key
	err := s.db.Update(func(tx *bolt.Tx) error {
		keys := firmKeys(tx, firmID)
		var rec keyRecord
		ok, err := getJSON(keys, []byte(keyID), &rec)
		if err != nil {
			return err
		}
		if !ok {
			return keyservice.ErrNotFound
		}
		if rec.RevokedAt != "" {
			k, err = rec.key()
			return err
		}
		rec.RevokedAt, rec.RevokedBy = formatTime(at), by
		if err := putJSON(keys, []byte(keyID), rec); err != nil {
			return err
		}
		creds := tx.Bucket(bucketCreds)
		var cred credRecord
		ok, err = getJSON(creds, []byte(rec.Digest), &cred)
		if err != nil {
			return err
		}
		if ok {
			cred.RevokedAt = rec.RevokedAt
			if err := putJSON(creds, []byte(rec.Digest), cred); err != nil {
				return err
			}
		}
		if !rec.Released {
			if err := addCount(tx, firmID, -1); err != nil {
				return err
			}
		}
		audit.Label, audit.Hint = rec.Label, rec.Hint
		if err := putAudit(tx, audit); err != nil {
			return err
		}
		k, err = rec.key()
		return err
	})
	return k, err
}

// ReleaseExpired implements keyservice.Store.
func (s *Store) ReleaseExpired(ctx context.Context, firmID string, now time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	released := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		released = 0 // a retried function starts over
		keys := firmKeys(tx, firmID)
		if keys == nil {
			return nil
		}
		var updates []keyRecord
		err := keys.ForEach(func(id, raw []byte) error {
			var rec keyRecord
			if err := json.Unmarshal(raw, &rec); err != nil {
				return nil // unreadable: left as it is, like an unexpired key
			}
			if rec.Released || rec.RevokedAt != "" || rec.ExpiresAt == "" {
				return nil
			}
			exp, err := parseTime(rec.ExpiresAt)
			if err != nil {
				return nil
			}
			if exp.After(now) {
				return nil
			}
			rec.Released = true
			updates = append(updates, rec)
			return nil
		})
		if err != nil {
			return err
		}
		// Written after the scan: a bucket must not change under ForEach.
		for _, rec := range updates {
			if err := putJSON(keys, []byte(rec.ID), rec); err != nil {
				return err
			}
		}
		if len(updates) > 0 {
			if err := addCount(tx, firmID, -len(updates)); err != nil {
				return err
			}
		}
		released = len(updates)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return released, nil
}

// FindCredential implements keyservice.Store.
func (s *Store) FindCredential(ctx context.Context, digest apikey.Digest) (keyservice.Credential, error) {
	if err := ctx.Err(); err != nil {
		return keyservice.Credential{}, err
	}
	var rec credRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		ok, err := getJSON(tx.Bucket(bucketCreds), []byte(digest.String()), &rec)
		if err == nil && !ok {
			err = keyservice.ErrNotFound
		}
		return err
	})
	if err != nil {
		return keyservice.Credential{}, err
	}
	return rec.credential()
}

// TouchLastUsed implements keyservice.Store.
func (s *Store) TouchLastUsed(ctx context.Context, digest apikey.Digest, firmID, keyID string, at time.Time, ip netip.Addr, staleBefore time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	wrote := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		wrote = false
		creds := tx.Bucket(bucketCreds)
		dk := []byte(digest.String())
		var cred credRecord
		ok, err := getJSON(creds, dk, &cred)
		if err != nil || !ok {
			return err
		}
		if cred.FirmID != firmID || cred.KeyID != keyID {
			return nil // not this key's credential: write nothing
		}
		if cred.LastUsedAt != "" {
			last, err := parseTime(cred.LastUsedAt)
			if err != nil {
				return err
			}
			if !last.Before(staleBefore) {
				return nil
			}
		}
		cred.LastUsedAt = formatTime(at)
		if err := putJSON(creds, dk, cred); err != nil {
			return err
		}
		keys := firmKeys(tx, firmID)
		var rec keyRecord
		ok, err = getJSON(keys, []byte(keyID), &rec)
		if err != nil {
			return err
		}
		if ok {
			rec.LastUsedAt, rec.LastUsedIP = cred.LastUsedAt, ""
			if ip.IsValid() {
				rec.LastUsedIP = ip.String()
			}
			if err := putJSON(keys, []byte(keyID), rec); err != nil {
				return err
			}
		}
		wrote = true
		return nil
	})
	if err != nil {
		return false, err
	}
	return wrote, nil
}

// ListAudit implements keyservice.Store: a reverse cursor over the firm's
// events, or over one key's entries.
func (s *Store) ListAudit(ctx context.Context, firmID, keyID, beforeID string, limit int) ([]keyservice.AuditRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := []keyservice.AuditRecord{}
	err := s.db.View(func(tx *bolt.Tx) error {
		events := tx.Bucket(bucketEvents).Bucket([]byte(firmID))
		if events == nil {
			return nil
		}
		b, prefix := events, ""
		if keyID != "" {
			if b = tx.Bucket(bucketKeyEvts).Bucket([]byte(firmID)); b == nil {
				return nil
			}
			prefix = keyID + "#"
		}
		c := b.Cursor()
		var k, v []byte
		if beforeID == "" {
			// The last entry of the prefix: seek past it, step back.
			if k, _ = c.Seek([]byte(prefix + "\xff")); k == nil {
				k, v = c.Last()
			} else {
				k, v = c.Prev()
			}
		} else if k, _ = c.Seek([]byte(prefix + beforeID)); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev() // Seek lands at or above beforeID
		}
		for ; k != nil && bytes.HasPrefix(k, []byte(prefix)) && (limit <= 0 || len(out) < limit); k, v = c.Prev() {
			raw := v
			if keyID != "" {
				if raw = events.Get(v); raw == nil {
					return fmt.Errorf("boltstore: key event %s has no event", k)
				}
			}
			var rec auditRecord
			if err := json.Unmarshal(raw, &rec); err != nil {
				return fmt.Errorf("boltstore: decode audit event %s: %w", k, err)
			}
			a, err := rec.record()
			if err != nil {
				return err
			}
			out = append(out, a)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// activeAt reports whether the key record may be updated or rolled at `at`.
func (r keyRecord) activeAt(at time.Time) (bool, error) {
	if r.RevokedAt != "" {
		return false, nil
	}
	if r.ExpiresAt == "" {
		return true, nil
	}
	exp, err := parseTime(r.ExpiresAt)
	if err != nil {
		return false, err
	}
	return at.Before(exp), nil
}

// setAccess writes label, expiry, scopes and allowed addresses of k on the
// key record and its credential record.
func setAccess(rec *keyRecord, cred *credRecord, k keyservice.Key) {
	rec.Label, cred.Label = k.Label, k.Label
	rec.ExpiresAt, cred.ExpiresAt = formatTime(k.ExpiresAt), formatTime(k.ExpiresAt)
	rec.Scopes, cred.Scopes = k.Scopes.Names(), k.Scopes.Names()
	rec.AllowedIPs, cred.AllowedIPs = formatAllowed(k.AllowedIPs), formatAllowed(k.AllowedIPs)
}

// UpdateKey implements keyservice.Store.
func (s *Store) UpdateKey(ctx context.Context, firmID, keyID string, at time.Time, u keyservice.KeyUpdate, audit keyservice.AuditRecord) (keyservice.Key, []string, error) {
	if err := ctx.Err(); err != nil {
		return keyservice.Key{}, nil, err
	}
	var out keyservice.Key
	var changed []string
	err := s.db.Update(func(tx *bolt.Tx) error {
		keys := firmKeys(tx, firmID)
		var rec keyRecord
		ok, err := getJSON(keys, []byte(keyID), &rec)
		if err != nil {
			return err
		}
		if !ok {
			return keyservice.ErrNotFound
		}
		if ok, err := rec.activeAt(at); err != nil || !ok {
			if err == nil {
				err = keyservice.ErrNotActive
			}
			return err
		}
		k, err := rec.key()
		if err != nil {
			return err
		}
		changed = keyservice.Changes(u, k)
		if len(changed) == 0 {
			out, changed = k, nil
			return nil
		}
		next := u.Apply(k)
		creds := tx.Bucket(bucketCreds)
		var cred credRecord
		if ok, err := getJSON(creds, []byte(rec.Digest), &cred); err != nil || !ok {
			if err == nil {
				err = fmt.Errorf("boltstore: key %s has no credential", keyID)
			}
			return err
		}
		setAccess(&rec, &cred, next)
		if err := putJSON(keys, []byte(keyID), rec); err != nil {
			return err
		}
		if err := putJSON(creds, []byte(rec.Digest), cred); err != nil {
			return err
		}
		audit.Label, audit.Hint, audit.Changed = next.Label, next.Hint, changed
		if err := putAudit(tx, audit); err != nil {
			return err
		}
		out, err = rec.key()
		return err
	})
	if err != nil {
		return keyservice.Key{}, nil, err
	}
	return out, changed, nil
}

// RollKey implements keyservice.Store.
func (s *Store) RollKey(ctx context.Context, firmID, oldID string, succ keyservice.Key, graceEnd time.Time, audit keyservice.AuditRecord) (keyservice.Key, keyservice.Key, error) {
	if err := ctx.Err(); err != nil {
		return keyservice.Key{}, keyservice.Key{}, err
	}
	var old, next keyservice.Key
	err := s.db.Update(func(tx *bolt.Tx) error {
		keys := firmKeys(tx, firmID)
		var rec keyRecord
		ok, err := getJSON(keys, []byte(oldID), &rec)
		if err != nil {
			return err
		}
		if !ok {
			return keyservice.ErrNotFound
		}
		if ok, err := rec.activeAt(succ.CreatedAt); err != nil || !ok || rec.ReplacedBy != "" {
			if err == nil {
				err = keyservice.ErrNotActive
			}
			return err
		}
		k, err := rec.key()
		if err != nil {
			return err
		}
		creds := tx.Bucket(bucketCreds)
		digest := []byte(succ.Digest.String())
		if keys.Get([]byte(succ.ID)) != nil || creds.Get(digest) != nil {
			return keyservice.ErrConflict
		}
		next = succ
		next.FirmID, next.Replaces = firmID, oldID
		next.Label, next.Scopes, next.AllowedIPs, next.ExpiresAt = k.Label, k.Scopes, k.AllowedIPs, k.ExpiresAt
		if err := putJSON(keys, []byte(next.ID), toKeyRecord(next)); err != nil {
			return err
		}
		if err := putJSON(creds, digest, toCredRecord(next)); err != nil {
			return err
		}

		old = k
		old.ReplacedBy = succ.ID
		if old.ExpiresAt.IsZero() || graceEnd.Before(old.ExpiresAt) {
			old.ExpiresAt = graceEnd.UTC()
		}
		var cred credRecord
		if ok, err := getJSON(creds, []byte(rec.Digest), &cred); err != nil || !ok {
			if err == nil {
				err = fmt.Errorf("boltstore: key %s has no credential", oldID)
			}
			return err
		}
		rec.ReplacedBy = succ.ID
		setAccess(&rec, &cred, old)
		if err := putJSON(keys, []byte(oldID), rec); err != nil {
			return err
		}
		if err := putJSON(creds, []byte(rec.Digest), cred); err != nil {
			return err
		}
		// No limit check: a roll is never refused for the limit; the old
		// key's slot is released once it expires (ReleaseExpired).
		if err := addCount(tx, firmID, 1); err != nil {
			return err
		}
		audit.Label, audit.Hint = k.Label, k.Hint
		return putAudit(tx, audit)
	})
	if err != nil {
		return keyservice.Key{}, keyservice.Key{}, err
	}
	return old, next, nil
}
