package httpapi

import (
	"net/netip"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

// TimeFormat is how every timestamp is written: RFC 3339, UTC, fixed
// millisecond precision.
const TimeFormat = "2006-01-02T15:04:05.000Z"

// keyJSON is the Key object of SPEC section 3. Unset values are null.
type keyJSON struct {
	ID         string   `json:"id"`
	Label      string   `json:"label"`
	Hint       string   `json:"hint"`
	Status     string   `json:"status"`
	CreatedAt  string   `json:"createdAt"`
	CreatedBy  string   `json:"createdBy"`
	LastUsedAt *string  `json:"lastUsedAt"`
	LastUsedIP *string  `json:"lastUsedIp"`
	ExpiresAt  *string  `json:"expiresAt"`
	RevokedAt  *string  `json:"revokedAt"`
	RevokedBy  *string  `json:"revokedBy"`
	Scopes     []string `json:"scopes"`
	AllowedIPs []string `json:"allowedIps"`
	Replaces   *string  `json:"replaces"`
	ReplacedBy *string  `json:"replacedBy"`
}

// createdJSON is the 201 body: the Key plus the plaintext key, once.
type createdJSON struct {
	keyJSON
	Key string `json:"key"`
}

type listJSON struct {
	Items      []keyJSON `json:"items"`
	NextCursor *string   `json:"nextCursor"`
}

type whoamiJSON struct {
	FirmID string   `json:"firmId"`
	KeyID  string   `json:"keyId"`
	Label  string   `json:"label"`
	Scopes []string `json:"scopes"`
}

// toJSON renders k, with its status computed at now.
func toJSON(k *keyservice.Key, now time.Time) keyJSON {
	return keyJSON{
		ID:         k.ID,
		Label:      k.Label,
		Hint:       k.Hint,
		Status:     string(k.StatusAt(now)),
		CreatedAt:  formatTime(k.CreatedAt),
		CreatedBy:  k.CreatedBy,
		LastUsedAt: optTime(k.LastUsedAt),
		LastUsedIP: optAddr(k.LastUsedIP),
		ExpiresAt:  optTime(k.ExpiresAt),
		RevokedAt:  optTime(k.RevokedAt),
		RevokedBy:  optString(k.RevokedBy),
		Scopes:     k.Scopes.Names(),
		AllowedIPs: keyservice.FormatAllowedIPs(k.AllowedIPs),
		Replaces:   optString(k.Replaces),
		ReplacedBy: optString(k.ReplacedBy),
	}
}

func optAddr(a netip.Addr) *string {
	if !a.IsValid() {
		return nil
	}
	s := a.String()
	return &s
}

func formatTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

func optTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := formatTime(t)
	return &s
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// auditEventJSON is the AuditEvent object of SPEC section 3.
type auditEventJSON struct {
	ID       string  `json:"id"`
	Action   string  `json:"action"`
	KeyID    string  `json:"keyId"`
	KeyLabel string  `json:"keyLabel"`
	Actor    string  `json:"actor"`
	SourceIP *string `json:"sourceIp"`
	At       string  `json:"at"`
	Details  any     `json:"details"`
}

type auditPageJSON struct {
	Items      []auditEventJSON `json:"items"`
	NextCursor *string          `json:"nextCursor"`
}

type updatedDetails struct {
	Changed []string `json:"changed"`
}

type rolledDetails struct {
	NewKeyID           string `json:"newKeyId"`
	GracePeriodSeconds int    `json:"gracePeriodSeconds"`
}

// toAuditJSON renders an audit record; details by action, {} otherwise.
func toAuditJSON(a *keyservice.AuditRecord) auditEventJSON {
	var details any = struct{}{}
	switch a.Action {
	case keyservice.ActionUpdate:
		changed := a.Changed
		if changed == nil {
			changed = []string{}
		}
		details = updatedDetails{Changed: changed}
	case keyservice.ActionRoll:
		details = rolledDetails{NewKeyID: a.NewKeyID, GracePeriodSeconds: a.GracePeriodSeconds}
	}
	return auditEventJSON{ID: a.ID, Action: a.Action, KeyID: a.KeyID, KeyLabel: a.Label, Actor: a.Actor,
		SourceIP: optString(a.SourceIP), At: formatTime(a.At), Details: details}
}
