package ddbstore

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The table's key attributes. template.yaml (resource KeysTable) must define
// exactly these; a contract test compares them.
const (
	PartitionKey = "PK"
	SortKey      = "SK"
)

// Item layout (one table, see README "Data model"):
//
//	key           PK=FIRM#<firmId>       SK=KEY#<keyId>
//	credential    PK=CRED#<hex digest>   SK=CRED
//	counter       PK=FIRM#<firmId>       SK=COUNTER                    activeCount (N)
//	audit event   PK=FIRM#<firmId>       SK=EVENT#<eventId>            type "audit"
//	  its copy    PK=FIRM#<firmId>       SK=KEYEVENT#<keyId>#<eventId> type "auditByKey"
//
// Audit events. Every generate, update, roll and revoke writes one event
// in the same transaction as the change, as two items with the same
// attributes: the event itself (type "audit"), which lists the firm's
// events newest first by a key-condition query on EVENT#, and a copy
// (type "auditByKey") under the key's id, so that one key's events are a
// key-condition query too (full pages, no filter expression). Consumers of
// the table's stream (the lifecycle-event publisher) take the "audit"
// items and skip the copies. An audit item is self-describing and holds no
// key material beyond the hint:
//
//	type                "audit" (or "auditByKey" for the copy)
//	eventId       S     the event's id: a ULID of its time (sorts by time)
//	action        S     key.generated | key.updated | key.rolled | key.revoked
//	at            S     when, TimeLayout (UTC, milliseconds)
//	firmId        S     the firm
//	keyId         S     the key changed (for a roll: the key rolled)
//	label         S     the key's label after the change
//	hint          S     the key's hint, kst_… and its last 4 characters
//	actor         S     the administrator's subject
//	sourceIp      S     the administrator's source address (absent if unknown)
//	changed       L(S)  key.updated: the members that changed (label, expiresAt, scopes, allowedIps)
//	newKeyId      S     key.rolled: the successor's id
//	gracePeriodSeconds N key.rolled: the grace period given
//
// Audit items written before events had ids (SK=AUDIT#<at>#<keyId>#<action>,
// actions "generate"/"revoke") are left as they are and not listed.
const (
	firmPrefix     = "FIRM#"
	keyPrefix      = "KEY#"
	credPrefix     = "CRED#"
	credSK         = "CRED"
	counterSK      = "COUNTER"
	eventPrefix    = "EVENT#"
	keyEventPrefix = "KEYEVENT#"
	activeCount    = "activeCount"
	typeKey        = "key"
	typeCred       = "credential"
	typeAudit      = "audit"
	typeAuditByKey = "auditByKey"
	typeCounter    = "counter"
	attrType       = "type"
	attrFirmID     = "firmId"
	attrKeyID      = "keyId"
	attrLabel      = "label"
	attrHint       = "hint"
	attrCreated    = "createdAt"
	attrCreator    = "createdBy"
	attrExpires    = "expiresAt"
	attrRevoked    = "revokedAt"
	attrRevoker    = "revokedBy"
	attrLastUsed   = "lastUsedAt"
	attrLastIP     = "lastUsedIp"
	attrScopes     = "scopes"
	attrAllowed    = "allowedIps"
	attrReplaces   = "replaces"
	attrReplaced   = "replacedBy"
	attrDigest     = "digest"
	attrPepper     = "pepperVersion"
	attrReleased   = "released"
	// attrRev counts a key's updates and rolls: each writes it on the
	// condition that it is still what was read (optimistic concurrency).
	attrRev      = "rev"
	attrEventID  = "eventId"
	attrAt       = "at"
	attrAction   = "action"
	attrActor    = "actor"
	attrSourceIP = "sourceIp"
	attrChanged  = "changed"
	attrNewKeyID = "newKeyId"
	attrGrace    = "gracePeriodSeconds"
)

// Attribute names of the audit item, for consumers of the table's stream.
const (
	AuditItemType   = typeAudit
	AttrType        = attrType
	AttrEventID     = attrEventID
	AttrAction      = attrAction
	AttrAt          = attrAt
	AttrFirmID      = attrFirmID
	AttrKeyID       = attrKeyID
	AttrLabel       = attrLabel
	AttrHint        = attrHint
	AttrActor       = attrActor
	AttrSourceIP    = attrSourceIP
	AttrChanged     = attrChanged
	AttrNewKeyID    = attrNewKeyID
	AttrGracePeriod = attrGrace
)

// TimeLayout is how times are stored: UTC, fixed width, millisecond
// precision, so comparing the strings (in condition expressions) compares
// the times. The service truncates its clock to the millisecond.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// KeySchema returns the table's key schema and the attribute definitions
// of the table and its index: PK (S) hash, SK (S) range; "type" (S) and
// "expiresAt" (S), the keys of ExpiryIndex.
func KeySchema() ([]types.KeySchemaElement, []types.AttributeDefinition) {
	return []types.KeySchemaElement{
			{AttributeName: aws.String(PartitionKey), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(SortKey), KeyType: types.KeyTypeRange},
		}, []types.AttributeDefinition{
			{AttributeName: aws.String(PartitionKey), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(SortKey), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrType), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrExpires), AttributeType: types.ScalarAttributeTypeS},
		}
}

// Indexes returns the table's global secondary indexes: ExpiryIndex, hash
// "type", range "expiresAt", projecting what the expiry check reads.
func Indexes() []types.GlobalSecondaryIndex {
	return []types.GlobalSecondaryIndex{{
		IndexName: aws.String(ExpiryIndex),
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(attrType), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(attrExpires), KeyType: types.KeyTypeRange},
		},
		Projection: &types.Projection{
			ProjectionType:   types.ProjectionTypeInclude,
			NonKeyAttributes: []string{attrFirmID, attrKeyID, attrLabel, attrHint, attrRevoked, attrWarnedFor},
		},
	}}
}
