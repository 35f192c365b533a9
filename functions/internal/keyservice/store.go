package keyservice

import (
	"context"
	"net/netip"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
)

// Status is the state of a key as users see it.
type Status string

// The three statuses of SPEC section 3.
const (
	StatusActive  Status = "active"
	StatusRevoked Status = "revoked"
	StatusExpired Status = "expired"
)

// Key is a stored API key: everything but the key itself, which is never
// stored. Zero times, an invalid LastUsedIP and empty ids mean "not set".
type Key struct {
	ID            string
	FirmID        string
	Label         string
	Hint          string
	CreatedAt     time.Time
	CreatedBy     string
	ExpiresAt     time.Time
	RevokedAt     time.Time
	RevokedBy     string
	LastUsedAt    time.Time
	LastUsedIP    netip.Addr     // the source address of the use that set LastUsedAt
	Scopes        Scopes         // never empty once stored; a record without scopes reads as AllScopes
	AllowedIPs    []netip.Prefix // canonical; empty: any address
	Replaces      string         // the id of the key this one was rolled from
	ReplacedBy    string         // the id of the key this one was rolled to
	Digest        apikey.Digest  // HMAC-SHA-256(pepper, key)
	PepperVersion string

	// Unreadable is set, by ListKeys only, on a stored record that could not
	// be decoded; then only ID and FirmID are set. It holds the decoding
	// error, which names attributes, never their values' key material.
	Unreadable error
}

// StatusAt returns the key's status at time now.
func (k *Key) StatusAt(now time.Time) Status {
	switch {
	case !k.RevokedAt.IsZero():
		return StatusRevoked
	case !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt):
		return StatusExpired
	default:
		return StatusActive
	}
}

// Credential is what the authorizer needs to decide on a presented key. The
// store keeps it under the key's digest, so one strongly consistent read by
// digest finds it.
type Credential struct {
	FirmID        string
	KeyID         string
	Label         string
	ExpiresAt     time.Time
	RevokedAt     time.Time
	LastUsedAt    time.Time
	Scopes        Scopes         // as on the key
	AllowedIPs    []netip.Prefix // as on the key
	PepperVersion string
}

// Audit actions: the action member of SPEC's AuditEvent object, as stored.
const (
	ActionGenerate = "key.generated"
	ActionUpdate   = "key.updated"
	ActionRoll     = "key.rolled"
	ActionRevoke   = "key.revoked"
)

// AuditRecord is one audit event: who did what to which key, when and from
// where. It never holds key material beyond the key's hint.
type AuditRecord struct {
	ID       string    // the event's id: a key-id-shaped ULID of At, so ids sort by time
	At       time.Time // when the change was made
	Action   string    // one of the Action constants
	FirmID   string
	KeyID    string // the key changed (for a roll, the key rolled)
	Label    string // the key's label after the change
	Hint     string // the key's hint (kst_… and its last 4 characters)
	Actor    string // the administrator's subject
	SourceIP string // the administrator's source address

	// Changed names the Key members an update changed (key.updated).
	Changed []string
	// NewKeyID and GracePeriodSeconds describe a roll (key.rolled).
	NewKeyID           string
	GracePeriodSeconds int
}

// KeyUpdate is a change to a key's label, expiry, scopes or allowed
// addresses; a nil member is left as it is. A non-nil ExpiresAt holding the
// zero time clears the expiry.
type KeyUpdate struct {
	Label      *string
	ExpiresAt  *time.Time
	Scopes     *Scopes
	AllowedIPs *[]netip.Prefix
}

// Store is the persistence the service needs. Every implementation must pass
// the conformance suite in package storetest, including its concurrency
// cases. All reads are strongly consistent. RevokeKey and TouchLastUsed must
// not fail merely because of a concurrent write: a store retries (or, for a
// touch that lost the race, returns false).
//
// Active-key accounting: a store keeps, per firm, a count of keys that are
// neither revoked nor released. CreateKey increments it atomically with the
// limit check; RevokeKey decrements it when it revokes a key that was
// counted; ReleaseExpired decrements it for expired keys, once each.
type Store interface {
	// CreateKey stores k, its credential under k.Digest, the audit record
	// and the firm's active count +1, all or nothing. It returns
	// ErrLimitReached when the firm already has maxActive counted keys and
	// ErrConflict when the id or digest already exists.
	CreateKey(ctx context.Context, k Key, maxActive int, audit AuditRecord) error

	// GetKey returns the key with that id in that firm, or ErrNotFound.
	GetKey(ctx context.Context, firmID, keyID string) (Key, error)

	// ListKeys returns up to limit keys of the firm, ordered by id
	// descending (ids sort by creation time, so newest first), starting
	// strictly after the id afterID ("" starts at the newest). A record it
	// cannot decode is returned in its place with Unreadable set, so one
	// damaged record never fails a whole listing.
	ListKeys(ctx context.Context, firmID, afterID string, limit int) ([]Key, error)

	// RevokeKey marks the key and its credential revoked at `at` by `by`,
	// writes the audit record (with Label filled in from the key) and
	// releases the key's count, all or nothing.
	// Revoking a revoked key changes nothing (no audit record either) and
	// returns the key as it is. Unknown key: ErrNotFound.
	RevokeKey(ctx context.Context, firmID, keyID string, at time.Time, by string, audit AuditRecord) (Key, error)

	// ReleaseExpired releases the count of every counted, unrevoked key of
	// the firm that expired at or before now, and returns how many it
	// released. Each key is released at most once, even under races.
	// A record it cannot decode is left as it is.
	ReleaseExpired(ctx context.Context, firmID string, now time.Time) (int, error)

	// FindCredential returns the credential stored under digest, or
	// ErrNotFound, with one strongly consistent read.
	FindCredential(ctx context.Context, digest apikey.Digest) (Credential, error)

	// TouchLastUsed sets the last-used time of the key (on its credential
	// and on its key record) to `at` and the key's last-used address to ip
	// (an invalid ip clears it: that use had no address), in one write, but
	// only if the time is unset or before staleBefore; it reports whether it
	// wrote. It never changes anything else, so it cannot undo a revoke or
	// an update.
	TouchLastUsed(ctx context.Context, digest apikey.Digest, firmID, keyID string, at time.Time, ip netip.Addr, staleBefore time.Time) (bool, error)

	// UpdateKey applies u to the key, on the key and its credential alike,
	// and writes the audit record (with Label and Hint filled in from the
	// key as updated, and Changed naming the members whose value changed,
	// see Changes), all or nothing. It returns the key as updated and the
	// names of the members that changed. The key must be active at `at`
	// (not revoked, not expired), else ErrNotActive; unknown key:
	// ErrNotFound. An update that changes nothing writes nothing (no audit
	// record either) and returns the key as it is and no names.
	UpdateKey(ctx context.Context, firmID, keyID string, at time.Time, u KeyUpdate, audit AuditRecord) (Key, []string, error)

	// RollKey replaces the key oldID by successor, all or nothing: it
	// stores successor (its credential under successor.Digest, and +1 on
	// the firm's active count with no limit check) with the old key's
	// label, scopes, allowed addresses and expiry as they are when the
	// roll commits and Replaces = oldID; sets the old key's ReplacedBy and
	// shortens its expiry (and its credential's) to graceEnd unless it
	// expires earlier; and writes the audit record (Label and Hint filled
	// in from the old key). The old key must be active at
	// successor.CreatedAt and have no successor, else ErrNotActive: of two
	// racing rolls exactly one succeeds. Unknown key: ErrNotFound; an id
	// or digest that exists: ErrConflict. It returns the old key and the
	// successor as stored.
	RollKey(ctx context.Context, firmID, oldID string, successor Key, graceEnd time.Time, audit AuditRecord) (old, succ Key, err error)

	// ListAudit returns up to limit (0: all) of the firm's audit records,
	// newest first (by ID, descending), only those of the key keyID when
	// it is not "", starting strictly after (older than) the record with
	// the id beforeID ("" starts at the newest). A page is full whenever
	// enough records exist.
	ListAudit(ctx context.Context, firmID, keyID, beforeID string, limit int) ([]AuditRecord, error)
}
