package ddbstore

import (
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kudurrustone/apikeys/functions/internal/lifecycle"
)

// DecodeChange reads the change an item of the table records, for the
// publisher function that reads the table's change stream: an audit item
// (written in the same transaction as the generate, update, roll or revoke
// it records) or an expiry-warning item (written by ClaimExpiryWarning).
// Any other item records no change: ok is false.
func DecodeChange(it map[string]types.AttributeValue) (c lifecycle.Change, ok bool, err error) {
	d := decoder{it: it}
	typ := d.str(attrType)
	if d.err != nil {
		return lifecycle.Change{}, false, fmt.Errorf("decode change: %w", d.err)
	}
	switch typ {
	case typeAudit:
		a, err := decodeAudit(it)
		if err != nil {
			return lifecycle.Change{}, false, err
		}
		// The event id is unique within the firm. The event's copy under
		// its key (type auditByKey) records no change of its own.
		id := a.ID
		if id == "" {
			// An item written before events had ids: its sort key
			// (AUDIT#<at>#<keyId>#<action>) is unique within the firm.
			id = strings.TrimPrefix(d.str(SortKey), "AUDIT#")
		}
		return lifecycle.Change{AuditRecord: a, ID: id}, true, nil
	case typeExpiryWarning:
		c := lifecycle.Change{ID: strings.TrimPrefix(d.str(SortKey), expiringPrefix), ExpiresAt: d.time(attrExpires)}
		c.Action = lifecycle.ActionExpiring
		c.FirmID, c.KeyID, c.Label, c.At = d.str(attrFirmID), d.str(attrKeyID), d.str(attrLabel), d.time(attrAt)
		if d.err == nil && (c.FirmID == "" || c.KeyID == "" || c.ExpiresAt.IsZero()) {
			d.fail(fmt.Errorf("expiry-warning item without firm, key or expiry"))
		}
		if d.err != nil {
			return lifecycle.Change{}, false, fmt.Errorf("decode expiry warning: %w", d.err)
		}
		return c, true, nil
	}
	return lifecycle.Change{}, false, nil
}

var _ lifecycle.DecodeFunc = DecodeChange
