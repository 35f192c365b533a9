package boltstore

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

// SetStoredExpiresAt overwrites the stored expiresAt of k's key record and
// credential with raw, bypassing the store's encoding (storetest's
// RawTimeWriter).
func SetStoredExpiresAt(s *Store, k keyservice.Key, raw string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		keys := firmKeys(tx, k.FirmID)
		if keys == nil {
			return fmt.Errorf("no keys bucket for firm %s", k.FirmID)
		}
		for _, rec := range []struct {
			b  *bolt.Bucket
			id []byte
		}{{keys, []byte(k.ID)}, {tx.Bucket(bucketCreds), []byte(k.Digest.String())}} {
			var m map[string]any
			if err := json.Unmarshal(rec.b.Get(rec.id), &m); err != nil {
				return err
			}
			m["expiresAt"] = raw
			b, err := json.Marshal(m)
			if err != nil {
				return err
			}
			if err := rec.b.Put(rec.id, b); err != nil {
				return err
			}
		}
		return nil
	})
}
