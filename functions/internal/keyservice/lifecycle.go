package keyservice

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
)

// UpdateInput is the body of PATCH /v1/api-keys/{id}. A nil member was
// absent and stays as it is. ExpiresAtSet with a nil ExpiresAt is an
// explicit null: the key no longer expires.
type UpdateInput struct {
	Label        *string
	ExpiresAtSet bool
	ExpiresAt    *time.Time
	Scopes       []string // nil: absent; empty: refused
	AllowedIPs   []string // nil: absent; empty: any address
}

// Empty reports whether the body named no member.
func (in UpdateInput) Empty() bool {
	return in.Label == nil && !in.ExpiresAtSet && in.Scopes == nil && in.AllowedIPs == nil
}

// Update changes the label, expiry, scopes or allowed addresses of an active
// key of the admin's firm (Premier only). The credential changes in the same
// write, so a narrowing change is felt on the next authorization. It
// returns the key as updated and whether its access changed (expiry, scopes
// or allowed addresses), after which callers reset the authorizer cache.
// An update that changes nothing writes nothing and records no event.
// Errors: invalid_request (empty or bad input), invalid_label, not_found,
// key_not_active (revoked or expired).
func (s *Service) Update(ctx context.Context, admin Admin, keyID string, in UpdateInput) (Key, bool, error) {
	if err := RequirePremier(admin); err != nil {
		return Key{}, false, err
	}
	if in.Empty() {
		return Key{}, false, Errorf(CodeInvalidRequest, "The body must name at least one of label, expiresAt, scopes and allowedIps.")
	}
	now := s.now()
	var u KeyUpdate
	if in.Label != nil {
		label, err := NormalizeLabel(*in.Label)
		if err != nil {
			return Key{}, false, err
		}
		u.Label = &label
	}
	if in.ExpiresAtSet {
		var exp time.Time // zero: no expiry
		if in.ExpiresAt != nil {
			var err error
			if exp, err = CheckExpiresAt(*in.ExpiresAt, now); err != nil {
				return Key{}, false, err
			}
		}
		u.ExpiresAt = &exp
	}
	if in.Scopes != nil {
		sc, err := ParseScopes(in.Scopes)
		if err != nil {
			return Key{}, false, err
		}
		u.Scopes = &sc
	}
	if in.AllowedIPs != nil {
		allowed, err := ParseAllowedIPs(in.AllowedIPs)
		if err != nil {
			return Key{}, false, err
		}
		u.AllowedIPs = &allowed
	}
	if !validID(keyID) {
		return Key{}, false, notFound()
	}
	id, err := s.ids.next(now, s.cfg.Rand)
	if err != nil {
		return Key{}, false, Internal(err)
	}
	audit := AuditRecord{ID: id, At: now, Action: ActionUpdate, FirmID: admin.FirmID, KeyID: keyID,
		Actor: admin.Subject, SourceIP: admin.SourceIP}
	k, changed, err := s.store.UpdateKey(ctx, admin.FirmID, keyID, now, u, audit)
	switch {
	case errors.Is(err, ErrNotFound):
		return Key{}, false, notFound()
	case errors.Is(err, ErrNotActive):
		return Key{}, false, notActive()
	case err != nil:
		return Key{}, false, Internal(fmt.Errorf("update key: %w", err))
	}
	if len(changed) == 0 {
		return k, false, nil // nothing changed: nothing written, no event
	}
	audit.Label, audit.Hint, audit.Changed = k.Label, k.Hint, changed
	s.logAudit(ctx, audit)
	access := slices.ContainsFunc(changed, func(m string) bool { return m != "label" })
	return k, access, nil
}

// Changes names the members of u whose value differs from before, the key
// as it was. Stores use it to fill an update's audit record; names follow
// SPEC's Key object, in its order.
func Changes(u KeyUpdate, before Key) []string {
	changed := []string{}
	if u.Label != nil && *u.Label != before.Label {
		changed = append(changed, "label")
	}
	if u.ExpiresAt != nil && !u.ExpiresAt.Equal(before.ExpiresAt) {
		changed = append(changed, "expiresAt")
	}
	if u.Scopes != nil && *u.Scopes != before.Scopes {
		changed = append(changed, "scopes")
	}
	if u.AllowedIPs != nil && !slices.Equal(*u.AllowedIPs, before.AllowedIPs) {
		changed = append(changed, "allowedIps")
	}
	return changed
}

// Apply returns k with u applied.
func (u KeyUpdate) Apply(k Key) Key {
	if u.Label != nil {
		k.Label = *u.Label
	}
	if u.ExpiresAt != nil {
		k.ExpiresAt = *u.ExpiresAt
	}
	if u.Scopes != nil {
		k.Scopes = *u.Scopes
	}
	if u.AllowedIPs != nil {
		k.AllowedIPs = slices.Clone(*u.AllowedIPs)
		if len(k.AllowedIPs) == 0 {
			k.AllowedIPs = nil
		}
	}
	return k
}

// Grace periods of a roll, in seconds (SPEC section 3).
const (
	DefaultGracePeriodSeconds = 86400
	MaxGracePeriodSeconds     = 604800
)

// Roll replaces an active key of the admin's firm (Premier only) by a new
// key with the same label, scopes, allowed addresses and expiry, and makes
// the old key expire at the earlier of its own expiry and now plus
// graceSeconds (nil: DefaultGracePeriodSeconds). The new key's plaintext is
// returned once, here. A roll is never refused for the active-key limit.
// Errors: invalid_request (grace out of range), not_found, key_not_active
// (revoked, expired or already rolled).
func (s *Service) Roll(ctx context.Context, admin Admin, keyID string, graceSeconds *int) (old, succ Key, plaintext string, err error) {
	if err := RequirePremier(admin); err != nil {
		return Key{}, Key{}, "", err
	}
	grace := DefaultGracePeriodSeconds
	if graceSeconds != nil {
		grace = *graceSeconds
	}
	if grace < 0 || grace > MaxGracePeriodSeconds {
		return Key{}, Key{}, "", Errorf(CodeInvalidRequest, "gracePeriodSeconds must be an integer from 0 to %d.", MaxGracePeriodSeconds)
	}
	if !validID(keyID) {
		return Key{}, Key{}, "", notFound()
	}
	set, err := s.peppers.Peppers(ctx)
	if err != nil || set.Empty() {
		if err == nil {
			err = errors.New("empty pepper set")
		}
		return Key{}, Key{}, "", Internal(fmt.Errorf("load pepper: %w", err))
	}
	pepper := set.Current()
	now := s.now()
	graceEnd := now.Add(time.Duration(grace) * time.Second)
	for attempt := 0; ; attempt++ {
		plaintext, err := apikey.Generate(s.cfg.Rand)
		if err != nil {
			return Key{}, Key{}, "", Internal(err)
		}
		id, err := s.ids.next(now, s.cfg.Rand)
		if err != nil {
			return Key{}, Key{}, "", Internal(err)
		}
		eventID, err := s.ids.next(now, s.cfg.Rand)
		if err != nil {
			return Key{}, Key{}, "", Internal(err)
		}
		next := Key{ID: id, FirmID: admin.FirmID, Hint: apikey.Hint(plaintext), CreatedAt: now,
			CreatedBy: admin.Subject, Replaces: keyID, Digest: pepper.Hash(plaintext), PepperVersion: pepper.Version}
		audit := AuditRecord{ID: eventID, At: now, Action: ActionRoll, FirmID: admin.FirmID, KeyID: keyID,
			Actor: admin.Subject, SourceIP: admin.SourceIP, NewKeyID: id, GracePeriodSeconds: grace}
		old, succ, err := s.store.RollKey(ctx, admin.FirmID, keyID, next, graceEnd, audit)
		switch {
		case err == nil:
			audit.Label, audit.Hint = old.Label, old.Hint
			s.logAudit(ctx, audit)
			return old, succ, plaintext, nil
		case errors.Is(err, ErrNotFound):
			return Key{}, Key{}, "", notFound()
		case errors.Is(err, ErrNotActive):
			return Key{}, Key{}, "", notActive()
		case errors.Is(err, ErrConflict) && attempt < 3:
			// An id or digest collision, or a transaction that kept
			// losing races: nothing was written; try with a fresh key.
		default:
			return Key{}, Key{}, "", Internal(fmt.Errorf("roll key: %w", err))
		}
	}
}

func notActive() error {
	return Errorf(CodeKeyNotActive, "This API key is revoked, expired or already rolled; only an active key can be changed or rolled.")
}

// AuditInput is the query of GET /v1/audit-events.
type AuditInput struct {
	KeyID  string // "": every key
	Limit  int    // 0 means the default
	Cursor string
}

// AuditPage is one page of audit events. NextCursor is "" on the last page.
type AuditPage struct {
	Items      []AuditRecord
	NextCursor string
}

// AuditEvents returns the admin's firm's audit events, newest first, only
// those of one key when in.KeyID is set. Any firm administrator may read
// them, Premier or not. Errors: invalid_request (bad key id shape, limit
// or cursor; a cursor is bound to the firm and the key filter).
func (s *Service) AuditEvents(ctx context.Context, admin Admin, in AuditInput) (AuditPage, error) {
	if err := RequireAdmin(admin); err != nil {
		return AuditPage{}, err
	}
	if in.KeyID != "" && !validID(in.KeyID) {
		return AuditPage{}, Errorf(CodeInvalidRequest, "keyId is not a key id.")
	}
	limit := in.Limit
	if limit == 0 {
		limit = DefaultListLimit
	}
	if limit < 1 || limit > MaxListLimit {
		return AuditPage{}, Errorf(CodeInvalidRequest, "limit must be between 1 and %d.", MaxListLimit)
	}
	before := ""
	if in.Cursor != "" {
		var ok bool
		if before, ok = decodeAuditCursor(in.Cursor, admin.FirmID, in.KeyID); !ok {
			return AuditPage{}, Errorf(CodeInvalidRequest, "cursor is invalid.")
		}
	}
	recs, err := s.store.ListAudit(ctx, admin.FirmID, in.KeyID, before, limit+1)
	if err != nil {
		return AuditPage{}, Internal(fmt.Errorf("list audit events: %w", err))
	}
	page := AuditPage{Items: recs}
	if len(recs) > limit {
		page.Items = recs[:limit]
		page.NextCursor = encodeAuditCursor(admin.FirmID, in.KeyID, recs[limit-1].ID)
	}
	return page, nil
}

// An audit cursor is opaque to clients: base64url("a1.<firm tag>.<key
// filter tag>.<event id>"). The tags bind it to the firm and the keyId
// filter it was issued for; the store query is scoped to the caller's firm
// in any case, so no cursor can reach another firm's events.
func encodeAuditCursor(firmID, keyID, afterID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("a1." + firmTag(firmID) + "." + filterTag(keyID) + "." + afterID))
}

func decodeAuditCursor(c, firmID, keyID string) (string, bool) {
	if len(c) > 128 {
		return "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", false
	}
	parts := strings.Split(string(raw), ".")
	if len(parts) != 4 || parts[0] != "a1" || parts[1] != firmTag(firmID) || parts[2] != filterTag(keyID) || !validID(parts[3]) {
		return "", false
	}
	return parts[3], true
}

func filterTag(keyID string) string {
	s := sha256.Sum256([]byte("cursor-key:" + keyID))
	return hex.EncodeToString(s[:6])
}
