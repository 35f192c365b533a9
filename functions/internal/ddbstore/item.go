package ddbstore

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

type item = map[string]types.AttributeValue

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func num(n int) types.AttributeValue { return &types.AttributeValueMemberN{Value: strconv.Itoa(n)} }

func formatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

func firmPK(firmID string) string             { return firmPrefix + firmID }
func keySK(keyID string) string               { return keyPrefix + keyID }
func credPK(d apikey.Digest) string           { return credPrefix + d.String() }
func pk(p, s string) item                     { return item{PartitionKey: str(p), SortKey: str(s)} }
func keyPrimary(firmID, keyID string) item    { return pk(firmPK(firmID), keySK(keyID)) }
func credPrimary(d apikey.Digest) item        { return pk(credPK(d), credSK) }
func counterPrimary(firmID string) item       { return pk(firmPK(firmID), counterSK) }
func eventSK(eventID string) string           { return eventPrefix + eventID }
func keyEventSK(keyID, eventID string) string { return keyEventPrefix + keyID + "#" + eventID }
func setIf(it item, name, v string) {
	if v != "" {
		it[name] = str(v)
	}
}
func setTime(it item, name string, t time.Time) {
	if !t.IsZero() {
		it[name] = str(formatTime(t))
	}
}

func strList(vs []string) types.AttributeValue {
	l := make([]types.AttributeValue, len(vs))
	for i, v := range vs {
		l[i] = str(v)
	}
	return &types.AttributeValueMemberL{Value: l}
}

// setAccess writes scopes (always, as a list of names, read before write)
// and allowedIps (a list of canonical CIDR blocks, only when not empty).
func setAccess(it item, scopes keyservice.Scopes, allowed []netip.Prefix) {
	it[attrScopes] = strList(scopes.Names())
	if len(allowed) > 0 {
		it[attrAllowed] = strList(keyservice.FormatAllowedIPs(allowed))
	}
}

func keyItem(k keyservice.Key) item {
	it := keyPrimary(k.FirmID, k.ID)
	it[attrType] = str(typeKey)
	it[attrFirmID] = str(k.FirmID)
	it[attrKeyID] = str(k.ID)
	setIf(it, attrLabel, k.Label)
	setIf(it, attrHint, k.Hint)
	setTime(it, attrCreated, k.CreatedAt)
	setIf(it, attrCreator, k.CreatedBy)
	setTime(it, attrExpires, k.ExpiresAt)
	setTime(it, attrRevoked, k.RevokedAt)
	setIf(it, attrRevoker, k.RevokedBy)
	setTime(it, attrLastUsed, k.LastUsedAt)
	if k.LastUsedIP.IsValid() {
		it[attrLastIP] = str(k.LastUsedIP.String())
	}
	setAccess(it, k.Scopes, k.AllowedIPs)
	setIf(it, attrReplaces, k.Replaces)
	setIf(it, attrReplaced, k.ReplacedBy)
	it[attrDigest] = str(k.Digest.String())
	setIf(it, attrPepper, k.PepperVersion)
	return it
}

func credItem(k keyservice.Key) item {
	it := credPrimary(k.Digest)
	it[attrType] = str(typeCred)
	it[attrFirmID] = str(k.FirmID)
	it[attrKeyID] = str(k.ID)
	setIf(it, attrLabel, k.Label)
	setTime(it, attrExpires, k.ExpiresAt)
	setTime(it, attrRevoked, k.RevokedAt)
	setTime(it, attrLastUsed, k.LastUsedAt)
	setAccess(it, k.Scopes, k.AllowedIPs)
	setIf(it, attrPepper, k.PepperVersion)
	return it
}

// auditItems returns the audit event's item and its copy under the key
// (schema.go).
func auditItems(a keyservice.AuditRecord) (event, byKey item) {
	event = pk(firmPK(a.FirmID), eventSK(a.ID))
	event[attrType] = str(typeAudit)
	event[attrEventID] = str(a.ID)
	event[attrAt] = str(formatTime(a.At))
	event[attrAction] = str(a.Action)
	event[attrFirmID] = str(a.FirmID)
	event[attrKeyID] = str(a.KeyID)
	setIf(event, attrLabel, a.Label)
	setIf(event, attrHint, a.Hint)
	setIf(event, attrActor, a.Actor)
	setIf(event, attrSourceIP, a.SourceIP)
	switch a.Action {
	case keyservice.ActionUpdate:
		event[attrChanged] = strList(a.Changed)
	case keyservice.ActionRoll:
		event[attrNewKeyID] = str(a.NewKeyID)
		event[attrGrace] = num(a.GracePeriodSeconds)
	}
	byKey = make(item, len(event))
	for k, v := range event {
		byKey[k] = v
	}
	byKey[SortKey] = str(keyEventSK(a.KeyID, a.ID))
	byKey[attrType] = str(typeAuditByKey)
	return event, byKey
}

// decoder reads attributes of one item and keeps the first error.
type decoder struct {
	it  item
	err error
}

func (d *decoder) str(name string) string {
	v, ok := d.it[name]
	if !ok {
		return ""
	}
	s, ok := v.(*types.AttributeValueMemberS)
	if !ok {
		d.fail(fmt.Errorf("attribute %s is %T, want S", name, v))
		return ""
	}
	return s.Value
}

func (d *decoder) time(name string) time.Time {
	s := d.str(name)
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(TimeLayout, s)
	if err != nil {
		if lt, ok := keyservice.LegacyTime(s); ok {
			return lt
		}
		d.fail(fmt.Errorf("attribute %s: %w", name, err))
	}
	return t
}

func (d *decoder) int(name string) int {
	v, ok := d.it[name]
	if !ok {
		return 0
	}
	n, ok := v.(*types.AttributeValueMemberN)
	if !ok {
		d.fail(fmt.Errorf("attribute %s is %T, want N", name, v))
		return 0
	}
	i, err := strconv.Atoi(n.Value)
	if err != nil {
		d.fail(fmt.Errorf("attribute %s: %w", name, err))
	}
	return i
}

func (d *decoder) bool(name string) bool {
	v, ok := d.it[name]
	if !ok {
		return false
	}
	b, ok := v.(*types.AttributeValueMemberBOOL)
	if !ok {
		d.fail(fmt.Errorf("attribute %s is %T, want BOOL", name, v))
		return false
	}
	return b.Value
}

func (d *decoder) strs(name string) []string {
	v, ok := d.it[name]
	if !ok {
		return nil
	}
	l, ok := v.(*types.AttributeValueMemberL)
	if !ok {
		d.fail(fmt.Errorf("attribute %s is %T, want L", name, v))
		return nil
	}
	out := make([]string, len(l.Value))
	for i, e := range l.Value {
		s, ok := e.(*types.AttributeValueMemberS)
		if !ok {
			d.fail(fmt.Errorf("attribute %s[%d] is %T, want S", name, i, e))
			return nil
		}
		out[i] = s.Value
	}
	return out
}

// scopes reads the scopes list; an item written before keys had scopes has
// none and reads as both.
func (d *decoder) scopes() keyservice.Scopes {
	names := d.strs(attrScopes)
	if names == nil {
		return keyservice.AllScopes
	}
	s, err := keyservice.ParseScopes(names)
	if err != nil {
		d.fail(fmt.Errorf("attribute %s: %w", attrScopes, err))
	}
	return s
}

func (d *decoder) allowed() []netip.Prefix {
	vs := d.strs(attrAllowed)
	if len(vs) == 0 {
		return nil
	}
	out := make([]netip.Prefix, len(vs))
	for i, v := range vs {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			d.fail(fmt.Errorf("attribute %s: %w", attrAllowed, err))
			return nil
		}
		out[i] = p
	}
	return out
}

func (d *decoder) addr(name string) netip.Addr {
	s := d.str(name)
	if s == "" {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		d.fail(fmt.Errorf("attribute %s: %w", name, err))
	}
	return a
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// storedKey is a key item with the store's own bookkeeping.
type storedKey struct {
	keyservice.Key
	Released bool // its count was released by ReleaseExpired
	Rev      int  // updates and rolls so far (attrRev)
}

func decodeKey(it item) (storedKey, error) {
	d := decoder{it: it}
	k := storedKey{Key: keyservice.Key{
		ID:            d.str(attrKeyID),
		FirmID:        d.str(attrFirmID),
		Label:         d.str(attrLabel),
		Hint:          d.str(attrHint),
		CreatedAt:     d.time(attrCreated),
		CreatedBy:     d.str(attrCreator),
		ExpiresAt:     d.time(attrExpires),
		RevokedAt:     d.time(attrRevoked),
		RevokedBy:     d.str(attrRevoker),
		LastUsedAt:    d.time(attrLastUsed),
		LastUsedIP:    d.addr(attrLastIP),
		Scopes:        d.scopes(),
		AllowedIPs:    d.allowed(),
		Replaces:      d.str(attrReplaces),
		ReplacedBy:    d.str(attrReplaced),
		PepperVersion: d.str(attrPepper),
	}}
	k.Released = d.bool(attrReleased)
	k.Rev = d.int(attrRev)
	digest, err := apikey.ParseDigest(d.str(attrDigest))
	if err != nil {
		d.fail(err)
	}
	k.Digest = digest
	if d.err != nil {
		return storedKey{}, fmt.Errorf("decode key item: %w", d.err)
	}
	return k, nil
}

func decodeCred(it item) (keyservice.Credential, error) {
	d := decoder{it: it}
	c := keyservice.Credential{
		FirmID:        d.str(attrFirmID),
		KeyID:         d.str(attrKeyID),
		Label:         d.str(attrLabel),
		ExpiresAt:     d.time(attrExpires),
		RevokedAt:     d.time(attrRevoked),
		LastUsedAt:    d.time(attrLastUsed),
		Scopes:        d.scopes(),
		AllowedIPs:    d.allowed(),
		PepperVersion: d.str(attrPepper),
	}
	if d.err == nil && (c.FirmID == "" || c.KeyID == "") {
		d.fail(fmt.Errorf("credential item without firm or key id"))
	}
	if d.err != nil {
		return keyservice.Credential{}, fmt.Errorf("decode credential item: %w", d.err)
	}
	return c, nil
}

func decodeAudit(it item) (keyservice.AuditRecord, error) {
	d := decoder{it: it}
	a := keyservice.AuditRecord{
		ID:       d.str(attrEventID),
		At:       d.time(attrAt),
		Action:   d.str(attrAction),
		FirmID:   d.str(attrFirmID),
		KeyID:    d.str(attrKeyID),
		Label:    d.str(attrLabel),
		Hint:     d.str(attrHint),
		Actor:    d.str(attrActor),
		SourceIP: d.str(attrSourceIP),
	}
	switch a.Action {
	case "generate", "revoke":
		// Written before events had ids and the spec's action names.
		a.Action = map[string]string{"generate": keyservice.ActionGenerate, "revoke": keyservice.ActionRevoke}[a.Action]
	case keyservice.ActionUpdate:
		a.Changed = d.strs(attrChanged)
		if a.Changed == nil {
			a.Changed = []string{}
		}
	case keyservice.ActionRoll:
		a.NewKeyID = d.str(attrNewKeyID)
		a.GracePeriodSeconds = d.int(attrGrace)
	}
	if d.err != nil {
		return keyservice.AuditRecord{}, fmt.Errorf("decode audit item: %w", d.err)
	}
	return a, nil
}
