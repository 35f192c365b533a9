// Package keyservice holds the rules of KudurruStone API keys: who may list,
// generate and revoke keys, what a label and a cursor may be, the active-key
// limit, and how a presented key is authorized. It works over a Store and a
// PepperSource, both defined here where they are used.
package keyservice

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
)

// PepperSource supplies the current pepper set. An error (or an empty set)
// means no key can be generated or authorized: callers deny.
type PepperSource interface {
	Peppers(ctx context.Context) (apikey.PepperSet, error)
}

// Admin is the caller of a management route, as established by the admin
// identity token (API Gateway's JWT authorizer, or the local server).
type Admin struct {
	Subject   string
	FirmID    string
	IsAdmin   bool
	IsPremier bool
	SourceIP  string
}

// Principal is who a valid API key speaks for, and what it may do.
type Principal struct {
	FirmID string
	KeyID  string
	Label  string
	Scopes Scopes
}

// Config tunes the service. Zero values take the defaults.
type Config struct {
	MaxActiveKeys    int           // default 50
	LastUsedInterval time.Duration // default 1 minute
	Now              func() time.Time
	Rand             io.Reader // entropy for keys and ids; default crypto/rand
	Logger           *slog.Logger
}

// Defaults of Config.
const (
	DefaultMaxActiveKeys    = 50
	DefaultLastUsedInterval = time.Minute
	DefaultListLimit        = 50
	MaxListLimit            = 100
)

// Service applies the rules. It is safe for concurrent use.
type Service struct {
	store   Store
	peppers PepperSource
	cfg     Config
	log     *slog.Logger
	// touching holds, per key id, the time (unix ms) this process last
	// claimed the key's last-used write, so that a burst of concurrent uses
	// in one process sends one write, not one per request.
	touching sync.Map // string -> *atomic.Int64
	ids      idSource // key and audit event ids, increasing within the process
}

// New returns a service over store and peppers.
func New(store Store, peppers PepperSource, cfg Config) *Service {
	if cfg.MaxActiveKeys <= 0 {
		cfg.MaxActiveKeys = DefaultMaxActiveKeys
	}
	if cfg.LastUsedInterval <= 0 {
		cfg.LastUsedInterval = DefaultLastUsedInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Service{store: store, peppers: peppers, cfg: cfg, log: log}
}

// now is the service clock, in UTC and truncated to the millisecond so every
// store round-trips it exactly.
func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

// RequireAdmin is the rule of every management route: a known subject of a
// known firm, with the administrator role. Handlers call it before reading
// input, so a caller who may not use a route learns nothing about its input.
func RequireAdmin(a Admin) error {
	if a.Subject == "" || a.FirmID == "" {
		return Errorf(CodeUnauthorized, "A valid administrator token is required.")
	}
	if !a.IsAdmin {
		return Errorf(CodeNotFirmAdmin, "Only firm administrators can manage API keys.")
	}
	return nil
}

// RequirePremier is the extra rule of generate: a firm that left Premier can
// still list and revoke its keys, but not create new ones.
func RequirePremier(a Admin) error {
	if err := RequireAdmin(a); err != nil {
		return err
	}
	if !a.IsPremier {
		return Errorf(CodePremierRequired, "API keys require the Premier subscription.")
	}
	return nil
}

// GenerateInput is the body of POST /v1/api-keys. A nil Scopes or
// AllowedIPs means the member was absent (both scopes, any address); an
// empty non-nil Scopes is refused.
type GenerateInput struct {
	Label      string
	ExpiresAt  *time.Time
	Scopes     []string
	AllowedIPs []string
}

// Generate creates a key for the admin's firm. The plaintext key is returned
// once, here, and exists nowhere else.
func (s *Service) Generate(ctx context.Context, admin Admin, in GenerateInput) (Key, string, error) {
	if err := RequirePremier(admin); err != nil {
		return Key{}, "", err
	}
	label, err := NormalizeLabel(in.Label)
	if err != nil {
		return Key{}, "", err
	}
	now := s.now()
	var expires time.Time
	if in.ExpiresAt != nil {
		if expires, err = CheckExpiresAt(*in.ExpiresAt, now); err != nil {
			return Key{}, "", err
		}
	}
	scopes := AllScopes
	if in.Scopes != nil {
		if scopes, err = ParseScopes(in.Scopes); err != nil {
			return Key{}, "", err
		}
	}
	allowed, err := ParseAllowedIPs(in.AllowedIPs)
	if err != nil {
		return Key{}, "", err
	}
	set, err := s.peppers.Peppers(ctx)
	if err != nil || set.Empty() {
		if err == nil {
			err = errors.New("empty pepper set")
		}
		return Key{}, "", Internal(fmt.Errorf("load pepper: %w", err))
	}
	pepper := set.Current()

	released := false
	for {
		plaintext, err := apikey.Generate(s.cfg.Rand)
		if err != nil {
			return Key{}, "", Internal(err)
		}
		id, err := s.ids.next(now, s.cfg.Rand)
		if err != nil {
			return Key{}, "", Internal(err)
		}
		eventID, err := s.ids.next(now, s.cfg.Rand)
		if err != nil {
			return Key{}, "", Internal(err)
		}
		k := Key{
			ID: id, FirmID: admin.FirmID, Label: label, Hint: apikey.Hint(plaintext),
			CreatedAt: now, CreatedBy: admin.Subject, ExpiresAt: expires,
			Scopes: scopes, AllowedIPs: allowed,
			Digest: pepper.Hash(plaintext), PepperVersion: pepper.Version,
		}
		audit := AuditRecord{ID: eventID, At: now, Action: ActionGenerate, FirmID: admin.FirmID, KeyID: id,
			Label: label, Hint: k.Hint, Actor: admin.Subject, SourceIP: admin.SourceIP}
		err = s.store.CreateKey(ctx, k, s.cfg.MaxActiveKeys, audit)
		switch {
		case err == nil:
			s.logAudit(ctx, audit)
			return k, plaintext, nil
		case errors.Is(err, ErrLimitReached) && !released:
			// Expired keys still hold a slot until released; free them
			// once and try again before refusing.
			released = true
			n, rerr := s.store.ReleaseExpired(ctx, admin.FirmID, now)
			if rerr != nil {
				return Key{}, "", Internal(fmt.Errorf("release expired keys: %w", rerr))
			}
			if n == 0 {
				return Key{}, "", s.limitError()
			}
		case errors.Is(err, ErrLimitReached):
			return Key{}, "", s.limitError()
		default:
			// Retrying a lost race is the store's job (one retry layer);
			// what reaches here is a failure.
			return Key{}, "", Internal(fmt.Errorf("create key: %w", err))
		}
	}
}

func (s *Service) limitError() error {
	return Errorf(CodeKeyLimitReached, "This firm already has the maximum of %d active API keys. Revoke a key before generating a new one.", s.cfg.MaxActiveKeys)
}

// ListInput is the query of GET /v1/api-keys.
type ListInput struct {
	Status string // "", all, active, revoked, expired
	Limit  int    // 0 means the default
	Cursor string
}

// Page is one page of a listing. NextCursor is "" on the last page.
type Page struct {
	Items      []Key
	NextCursor string
}

// List returns the admin's firm's keys, newest first.
func (s *Service) List(ctx context.Context, admin Admin, in ListInput) (Page, error) {
	if err := RequireAdmin(admin); err != nil {
		return Page{}, err
	}
	status := in.Status
	switch status {
	case "":
		status = "all"
	case "all", string(StatusActive), string(StatusRevoked), string(StatusExpired):
	default:
		return Page{}, Errorf(CodeInvalidRequest, "status must be one of active, revoked, expired, all.")
	}
	limit := in.Limit
	if limit == 0 {
		limit = DefaultListLimit
	}
	if limit < 1 || limit > MaxListLimit {
		return Page{}, Errorf(CodeInvalidRequest, "limit must be between 1 and %d.", MaxListLimit)
	}
	after := ""
	if in.Cursor != "" {
		var err error
		after, err = decodeCursor(in.Cursor, admin.FirmID, status)
		if err != nil {
			return Page{}, Errorf(CodeInvalidRequest, "cursor is invalid.")
		}
	}
	now := s.now()
	items := make([]Key, 0, limit)
	batch := limit + 1
	for {
		keys, err := s.store.ListKeys(ctx, admin.FirmID, after, batch)
		if err != nil {
			return Page{}, Internal(fmt.Errorf("list keys: %w", err))
		}
		for i := range keys {
			if keys[i].Unreadable != nil {
				// Skipped, not fatal: the rest of the firm's keys stay
				// listable. Logged with ids only, never a label.
				s.log.ErrorContext(ctx, "unreadable key record skipped", "firmId", admin.FirmID,
					"keyId", keys[i].ID, "error", keys[i].Unreadable)
				continue
			}
			if status != "all" && string(keys[i].StatusAt(now)) != status {
				continue
			}
			if len(items) == limit {
				// One more match exists: this page is not the last.
				return Page{Items: items, NextCursor: encodeCursor(admin.FirmID, status, items[len(items)-1].ID)}, nil
			}
			items = append(items, keys[i])
		}
		if len(keys) < batch {
			return Page{Items: items}, nil
		}
		after = keys[len(keys)-1].ID
		batch = MaxListLimit
	}
}

// Revoke revokes a key of the admin's firm. Revoking again returns the key
// as it was revoked the first time.
func (s *Service) Revoke(ctx context.Context, admin Admin, keyID string) (Key, error) {
	if err := RequireAdmin(admin); err != nil {
		return Key{}, err
	}
	if !validID(keyID) {
		return Key{}, notFound()
	}
	now := s.now()
	eventID, err := s.ids.next(now, s.cfg.Rand)
	if err != nil {
		return Key{}, Internal(err)
	}
	audit := AuditRecord{ID: eventID, At: now, Action: ActionRevoke, FirmID: admin.FirmID, KeyID: keyID,
		Actor: admin.Subject, SourceIP: admin.SourceIP}
	k, err := s.store.RevokeKey(ctx, admin.FirmID, keyID, now, admin.Subject, audit)
	if errors.Is(err, ErrNotFound) {
		return Key{}, notFound()
	}
	if err != nil {
		return Key{}, Internal(fmt.Errorf("revoke key: %w", err))
	}
	audit.Label, audit.Hint = k.Label, k.Hint
	if k.RevokedAt.Equal(now) && k.RevokedBy == admin.Subject {
		s.logAudit(ctx, audit)
	} else {
		s.log.InfoContext(ctx, "api key already revoked", "action", ActionRevoke, "firmId", admin.FirmID,
			"keyId", keyID, "actor", admin.Subject, "sourceIp", admin.SourceIP, "revokedAt", k.RevokedAt)
	}
	return k, nil
}

func notFound() error { return Errorf(CodeNotFound, "No such API key.") }

// logAudit writes the audit record as a structured log line (SPEC section
// 5: in structured logs and in the store).
func (s *Service) logAudit(ctx context.Context, a AuditRecord) {
	attrs := []any{"id", a.ID, "action", a.Action, "firmId", a.FirmID, "keyId", a.KeyID,
		"label", a.Label, "hint", a.Hint, "actor", a.Actor, "sourceIp", a.SourceIP, "at", a.At}
	switch a.Action {
	case ActionUpdate:
		attrs = append(attrs, "changed", a.Changed)
	case ActionRoll:
		attrs = append(attrs, "newKeyId", a.NewKeyID, "gracePeriodSeconds", a.GracePeriodSeconds)
	}
	s.log.InfoContext(ctx, "audit", attrs...)
}

// Authorize decides on a presented key used from no known address (a REST
// TOKEN event): AuthorizeFrom with an invalid address.
func (s *Service) Authorize(ctx context.Context, presented string) (Principal, error) {
	return s.AuthorizeFrom(ctx, presented, netip.Addr{})
}

// AuthorizeFrom decides on a presented key used from the source address
// source (invalid when the event carries none). A deny is one of
// ErrKeyMalformed, ErrKeyUnknown, ErrKeyRevoked, ErrKeyExpired or
// ErrAddressNotAllowed (all match ErrDenied; a key with allowed addresses is
// denied when source is invalid); any other error means it could not decide
// (store or pepper failure), and the caller must not allow. The principal's Scopes say which
// methods the key may call; the caller enforces them. A use that is let in
// records its time and source address (throttled: see
// Config.LastUsedInterval).
func (s *Service) AuthorizeFrom(ctx context.Context, presented string, source netip.Addr) (Principal, error) {
	if err := apikey.Validate(presented); err != nil {
		return Principal{}, ErrKeyMalformed
	}
	set, err := s.peppers.Peppers(ctx)
	if err != nil {
		return Principal{}, fmt.Errorf("load pepper: %w", err)
	}
	if set.Empty() {
		return Principal{}, errors.New("load pepper: empty pepper set")
	}
	peppers := set.All()
	for i := range peppers {
		digest := peppers[i].Hash(presented)
		cred, err := s.store.FindCredential(ctx, digest)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return Principal{}, fmt.Errorf("find credential: %w", err)
		}
		now := s.now()
		if !cred.RevokedAt.IsZero() {
			return Principal{}, ErrKeyRevoked
		}
		if !cred.ExpiresAt.IsZero() && !now.Before(cred.ExpiresAt) {
			return Principal{}, ErrKeyExpired
		}
		if !AddrAllowed(cred.AllowedIPs, source) {
			return Principal{}, ErrAddressNotAllowed
		}
		if !cred.Scopes.Valid() {
			return Principal{}, ErrKeyWithoutScopes
		}
		staleBefore := now.Add(-s.cfg.LastUsedInterval)
		if cred.LastUsedAt.IsZero() || !cred.LastUsedAt.After(staleBefore) {
			if err := s.touch(ctx, digest, &cred, now, source, staleBefore); err != nil {
				return Principal{}, err
			}
		}
		return Principal{FirmID: cred.FirmID, KeyID: cred.KeyID, Label: cred.Label, Scopes: cred.Scopes}, nil
	}
	return Principal{}, ErrKeyUnknown
}

// touch writes the key's last-used time unless another request of this
// process has claimed that write within the interval. The store's condition
// still arbitrates between processes. A failed write denies (fail closed)
// and gives the claim back, so the next use tries again.
func (s *Service) touch(ctx context.Context, digest apikey.Digest, cred *Credential, now time.Time, source netip.Addr, staleBefore time.Time) error {
	claim, ok := s.touching.Load(cred.KeyID)
	if !ok {
		claim, _ = s.touching.LoadOrStore(cred.KeyID, new(atomic.Int64))
	}
	last := claim.(*atomic.Int64)
	prev := last.Load()
	if prev > staleBefore.UnixMilli() || !last.CompareAndSwap(prev, now.UnixMilli()) {
		return nil // another request is writing, or has just written, it
	}
	if _, err := s.store.TouchLastUsed(ctx, digest, cred.FirmID, cred.KeyID, now, source.WithZone("").Unmap(), staleBefore.Add(time.Millisecond)); err != nil {
		last.CompareAndSwap(now.UnixMilli(), prev)
		return fmt.Errorf("touch last used: %w", err)
	}
	return nil
}
