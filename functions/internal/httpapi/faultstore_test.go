package httpapi_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/boltstore"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

// faultStore is the embedded bbolt store with failures a test can switch
// on; everything not overridden is the real store.
type faultStore struct {
	*boltstore.Store
	failList   func() error
	failCreate func() error
	failRevoke func() error
	failAll    bool // UpdateKey and ListAudit fail
}

var _ keyservice.Store = (*faultStore)(nil)

func openStore(t testing.TB) *faultStore {
	t.Helper()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "keys.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return &faultStore{Store: s}
}

func (s *faultStore) CreateKey(ctx context.Context, k keyservice.Key, maxActive int, a keyservice.AuditRecord) error {
	if s.failCreate != nil {
		if err := s.failCreate(); err != nil {
			return err
		}
	}
	return s.Store.CreateKey(ctx, k, maxActive, a)
}

func (s *faultStore) ListKeys(ctx context.Context, firm, after string, limit int) ([]keyservice.Key, error) {
	if s.failList != nil {
		if err := s.failList(); err != nil {
			return nil, err
		}
	}
	return s.Store.ListKeys(ctx, firm, after, limit)
}

func (s *faultStore) RevokeKey(ctx context.Context, firm, id string, at time.Time, by string, a keyservice.AuditRecord) (keyservice.Key, error) {
	if s.failRevoke != nil {
		if err := s.failRevoke(); err != nil {
			return keyservice.Key{}, err
		}
	}
	return s.Store.RevokeKey(ctx, firm, id, at, by, a)
}

func (s *faultStore) UpdateKey(ctx context.Context, firm, id string, at time.Time, u keyservice.KeyUpdate, a keyservice.AuditRecord) (keyservice.Key, []string, error) {
	if s.failAll {
		return keyservice.Key{}, nil, errors.New("dynamodb: connection refused to table secret-table")
	}
	return s.Store.UpdateKey(ctx, firm, id, at, u, a)
}

func (s *faultStore) ListAudit(ctx context.Context, firm, keyID, before string, limit int) ([]keyservice.AuditRecord, error) {
	if s.failAll {
		return nil, errors.New("dynamodb: connection refused to table secret-table")
	}
	return s.Store.ListAudit(ctx, firm, keyID, before, limit)
}
