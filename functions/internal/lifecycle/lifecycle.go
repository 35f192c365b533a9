// Package lifecycle turns what the store recorded about a key (an audit
// record, or an expiry warning the expiry check claimed) into the lifecycle
// events of SPEC section 5, and sends them to Amazon EventBridge or, on the
// local server, to the log.
//
// Events are built from the store's records, never from the request path:
// in AWS the publisher function reads them from the table's change stream,
// so a function that dies right after its write still has its event
// delivered. Delivery is at least once; an event delivered twice carries the
// same detail "id", by which consumers drop the repeat.
//
// An event's detail holds the firm, the key id, label and hint, the actor
// and source address, and times — never key material (a hint shows at most
// the last 4 characters of a key, and labels holding key material are
// refused when written).
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

// Source is the EventBridge source of every lifecycle event.
const Source = "kudurrustone.api-keys"

// Detail types (EventBridge detail-type) of the lifecycle events.
const (
	DetailGenerated = "API Key Generated"
	DetailUpdated   = "API Key Updated"
	DetailRolled    = "API Key Rolled"
	DetailRevoked   = "API Key Revoked"
	DetailExpiring  = "API Key Expiring"
)

// ActionExpiring is the action of a Change recording an expiry warning. It
// is not an audit action: warnings are not in the audit trail.
const ActionExpiring = "key.expiring"

// detailTypes maps a change's action to its detail type.
var detailTypes = map[string]string{
	keyservice.ActionGenerate: DetailGenerated,
	keyservice.ActionRevoke:   DetailRevoked,
	// The audit actions of PATCH and roll (SPEC AuditEvent.action).
	"key.updated":  DetailUpdated,
	"key.rolled":   DetailRolled,
	ActionExpiring: DetailExpiring,
}

// DetailType returns the detail type of an action, and false for an action
// that is published as no event.
func DetailType(action string) (string, bool) {
	dt, ok := detailTypes[action]
	return dt, ok
}

// Change is one recorded change of a key: an audit record, or an expiry
// warning (Action ActionExpiring, ExpiresAt the expiry warned about).
type Change struct {
	keyservice.AuditRecord
	// ID identifies the change: the same record read twice (a redelivery)
	// gives the same ID.
	ID string
	// ExpiresAt is the key's expiry an expiry warning is about.
	ExpiresAt time.Time
	// Details holds the audit record's details (SPEC AuditEvent.details):
	// JSON values only.
	Details map[string]any
}

// Detail is the "detail" of a lifecycle event. Times are RFC 3339 UTC with
// milliseconds; a null time is not set. Key fields (hint, createdAt,
// expiresAt, revokedAt) are the key as it is when the event is built, except
// that an API Key Expiring event carries the expiry it warns about.
type Detail struct {
	ID        string         `json:"id"`
	Action    string         `json:"action"`
	FirmID    string         `json:"firmId"`
	KeyID     string         `json:"keyId"`
	Label     string         `json:"label"`
	Hint      string         `json:"hint"`
	Actor     *string        `json:"actor"`
	SourceIP  *string        `json:"sourceIp"`
	At        string         `json:"at"`
	CreatedAt *string        `json:"createdAt"`
	ExpiresAt *string        `json:"expiresAt"`
	RevokedAt *string        `json:"revokedAt"`
	Details   map[string]any `json:"details"`
}

// Event is one lifecycle event: its EventBridge detail-type and detail.
type Event struct {
	DetailType string
	Detail     Detail
	// Time is when the change happened (the event's "time").
	Time time.Time
}

// Keys reads the key an event is about, for its hint and times
// (keyservice.Store implementations satisfy it).
type Keys interface {
	GetKey(ctx context.Context, firmID, keyID string) (keyservice.Key, error)
}

// ErrNoEvent is returned by Build for a change that is published as no
// event (an unknown action).
var ErrNoEvent = errors.New("lifecycle: no event for this action")

// TimeLayout is how event times are written: RFC 3339, UTC, milliseconds.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// Build returns the event of c, with the key's hint and times read through
// keys (a strongly consistent read in both stores). A key that no longer
// exists gives an event without them rather than none: the change happened.
// An action without an event is ErrNoEvent.
func Build(ctx context.Context, keys Keys, c Change) (Event, error) {
	dt, ok := DetailType(c.Action)
	if !ok {
		return Event{}, fmt.Errorf("%w: %q", ErrNoEvent, c.Action)
	}
	d := Detail{
		ID: c.ID, Action: c.Action, FirmID: c.FirmID, KeyID: c.KeyID, Label: c.Label,
		Actor: optional(c.Actor), SourceIP: optional(c.SourceIP), At: formatTime(c.At),
		Details: c.Details,
	}
	if d.Details == nil {
		d.Details = auditDetails(c.AuditRecord)
	}
	k, err := keys.GetKey(ctx, c.FirmID, c.KeyID)
	switch {
	case errors.Is(err, keyservice.ErrNotFound):
	case err != nil:
		return Event{}, fmt.Errorf("lifecycle: read key for its event: %w", err)
	default:
		d.Hint = k.Hint
		d.CreatedAt = optionalTime(k.CreatedAt)
		d.ExpiresAt = optionalTime(k.ExpiresAt)
		d.RevokedAt = optionalTime(k.RevokedAt)
		if d.Label == "" {
			d.Label = k.Label
		}
	}
	if c.Action == ActionExpiring {
		d.ExpiresAt = optionalTime(c.ExpiresAt)
	}
	return Event{DetailType: dt, Detail: d, Time: c.At}, nil
}

func formatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func optionalTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := formatTime(t)
	return &s
}

// auditDetails is SPEC's AuditEvent.details of a record: the changed
// members of an update, the successor and grace period of a roll, else {}.
func auditDetails(a keyservice.AuditRecord) map[string]any {
	switch {
	case len(a.Changed) > 0:
		return map[string]any{"changed": a.Changed}
	case a.NewKeyID != "":
		return map[string]any{"newKeyId": a.NewKeyID, "gracePeriodSeconds": a.GracePeriodSeconds}
	default:
		return map[string]any{}
	}
}
