package boltstore

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

// bucketWarned records the expiry warnings claimed:
// expiry-warned/<firmId>/<keyId> → the expiresAt warned about (formatTime).
var bucketWarned = []byte("expiry-warned")

// warnedFor returns the expiry a warning was claimed for, zero if none.
func warnedFor(tx *bolt.Tx, firmID, keyID string) (time.Time, error) {
	b := tx.Bucket(bucketWarned)
	if b == nil || b.Bucket([]byte(firmID)) == nil {
		return time.Time{}, nil
	}
	return parseTime(string(b.Bucket([]byte(firmID)).Get([]byte(keyID))))
}

// due reports whether k is to be warned about for an expiry in [from, to]:
// not revoked, and not warned about this or a later expiry.
func due(tx *bolt.Tx, k keyservice.Key, from, to time.Time) (bool, error) {
	if k.ExpiresAt.IsZero() || !k.RevokedAt.IsZero() || k.ExpiresAt.Before(from) || k.ExpiresAt.After(to) {
		return false, nil
	}
	w, err := warnedFor(tx, k.FirmID, k.ID)
	return w.IsZero() || w.Before(k.ExpiresAt), err
}

// ExpiringKeys implements expiry.Store. The embedded store of the local
// server reads every key (it holds few); the DynamoDB store queries a
// sparse index instead.
func (s *Store) ExpiringKeys(ctx context.Context, from, to time.Time) ([]keyservice.Key, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []keyservice.Key
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketKeys).ForEachBucket(func(firm []byte) error {
			return tx.Bucket(bucketKeys).Bucket(firm).ForEach(func(_, raw []byte) error {
				var rec keyRecord
				if err := json.Unmarshal(raw, &rec); err != nil {
					return fmt.Errorf("boltstore: decode key of %s: %w", firm, err)
				}
				k, err := rec.key()
				if err != nil {
					return err
				}
				ok, err := due(tx, k, from, to)
				if ok {
					out = append(out, k)
				}
				return err
			})
		})
	})
	slices.SortStableFunc(out, func(a, b keyservice.Key) int { return cmp.Compare(formatTime(a.ExpiresAt), formatTime(b.ExpiresAt)) })
	return out, err
}

// ClaimExpiryWarning implements expiry.Store, in one transaction.
func (s *Store) ClaimExpiryWarning(ctx context.Context, k keyservice.Key, at time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	claimed := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		var rec keyRecord
		ok, err := getJSON(firmKeys(tx, k.FirmID), []byte(k.ID), &rec)
		if err != nil || !ok {
			return err
		}
		cur, err := rec.key()
		if err != nil {
			return err
		}
		if !cur.ExpiresAt.Equal(k.ExpiresAt) {
			return nil
		}
		if ok, err := due(tx, cur, cur.ExpiresAt, cur.ExpiresAt); err != nil || !ok {
			return err
		}
		b, err := tx.CreateBucketIfNotExists(bucketWarned)
		if err != nil {
			return err
		}
		firm, err := b.CreateBucketIfNotExists([]byte(k.FirmID))
		if err != nil {
			return err
		}
		claimed = true
		return firm.Put([]byte(k.ID), []byte(formatTime(cur.ExpiresAt)))
	})
	return claimed, err
}
