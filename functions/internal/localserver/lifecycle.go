package localserver

import (
	"context"
	"log/slog"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/expiry"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
	"github.com/kudurrustone/apikeys/functions/internal/lifecycle"
)

// eventStore stands in for the table's stream and the publisher: it passes
// every call to the store and, after each write that recorded a change,
// writes the change's lifecycle event as a JSON log line
// ("msg":"lifecycle event"), as the publisher would put it on EventBridge.
// Locally a crash between the write and the line loses the line; in AWS the
// stream makes delivery at least once.
type eventStore struct {
	keyservice.Store
	sink lifecycle.Sink
	log  *slog.Logger
}

func (s *eventStore) CreateKey(ctx context.Context, k keyservice.Key, maxActive int, audit keyservice.AuditRecord) error {
	err := s.Store.CreateKey(ctx, k, maxActive, audit)
	if err == nil {
		s.emit(ctx, audit)
	}
	return err
}

func (s *eventStore) RevokeKey(ctx context.Context, firmID, keyID string, at time.Time, by string, audit keyservice.AuditRecord) (keyservice.Key, error) {
	k, err := s.Store.RevokeKey(ctx, firmID, keyID, at, by, audit)
	// A repeated revoke returns the key as it was and records nothing.
	if err == nil && k.RevokedAt.Equal(at) && k.RevokedBy == by {
		audit.Label = k.Label
		s.emit(ctx, audit)
	}
	return k, err
}

func (s *eventStore) UpdateKey(ctx context.Context, firmID, keyID string, at time.Time, u keyservice.KeyUpdate, audit keyservice.AuditRecord) (keyservice.Key, []string, error) {
	k, changed, err := s.Store.UpdateKey(ctx, firmID, keyID, at, u, audit)
	// An update that changed nothing records nothing.
	if err == nil && len(changed) > 0 {
		audit.Label, audit.Hint, audit.Changed = k.Label, k.Hint, changed
		s.emit(ctx, audit)
	}
	return k, changed, err
}

func (s *eventStore) RollKey(ctx context.Context, firmID, oldID string, successor keyservice.Key, graceEnd time.Time, audit keyservice.AuditRecord) (keyservice.Key, keyservice.Key, error) {
	old, succ, err := s.Store.RollKey(ctx, firmID, oldID, successor, graceEnd, audit)
	if err == nil {
		audit.Label, audit.Hint = old.Label, old.Hint
		s.emit(ctx, audit)
	}
	return old, succ, err
}

func (s *eventStore) emit(ctx context.Context, a keyservice.AuditRecord) {
	c := lifecycle.Change{AuditRecord: a, ID: a.At.UTC().Format(lifecycle.TimeLayout) + "#" + a.KeyID + "#" + a.Action}
	s.send(ctx, c)
}

func (s *eventStore) send(ctx context.Context, c lifecycle.Change) {
	ev, err := lifecycle.Build(ctx, s.Store, c)
	if err != nil {
		s.log.WarnContext(ctx, "lifecycle event not built", "keyId", c.KeyID, "action", c.Action, "err", err)
		return
	}
	s.sink.Send(ctx, []lifecycle.Event{ev})
}

// warned logs the "API Key Expiring" event of a warning the expiry check
// claimed.
func (s *eventStore) warned(ctx context.Context, k keyservice.Key, at time.Time) {
	c := lifecycle.Change{ID: k.ID + "#" + k.ExpiresAt.UTC().Format(lifecycle.TimeLayout), ExpiresAt: k.ExpiresAt}
	c.Action, c.FirmID, c.KeyID, c.Label, c.At = lifecycle.ActionExpiring, k.FirmID, k.ID, k.Label, at
	s.send(ctx, c)
}

// runExpiryChecks runs the expiry-warning check now and then every
// interval until ctx ends, as the hourly ExpiryFunction does in AWS.
func runExpiryChecks(ctx context.Context, c *expiry.Checker, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := c.Run(ctx); err != nil && ctx.Err() == nil {
			log.WarnContext(ctx, "expiry check failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
