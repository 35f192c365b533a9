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
//	key         PK=FIRM#<firmId>       SK=KEY#<keyId>
//	credential  PK=CRED#<hex digest>   SK=CRED
//	counter     PK=FIRM#<firmId>       SK=COUNTER     activeCount (N)
//	audit       PK=FIRM#<firmId>       SK=AUDIT#<at>#<keyId>#<action>
const (
	firmPrefix   = "FIRM#"
	keyPrefix    = "KEY#"
	credPrefix   = "CRED#"
	credSK       = "CRED"
	counterSK    = "COUNTER"
	auditPrefix  = "AUDIT#"
	activeCount  = "activeCount"
	typeKey      = "key"
	typeCred     = "credential"
	typeAudit    = "audit"
	typeCounter  = "counter"
	attrType     = "type"
	attrFirmID   = "firmId"
	attrKeyID    = "keyId"
	attrLabel    = "label"
	attrHint     = "hint"
	attrCreated  = "createdAt"
	attrCreator  = "createdBy"
	attrExpires  = "expiresAt"
	attrRevoked  = "revokedAt"
	attrRevoker  = "revokedBy"
	attrLastUsed = "lastUsedAt"
	attrLastIP   = "lastUsedIp"
	attrScopes   = "scopes"
	attrAllowed  = "allowedIps"
	attrReplaces = "replaces"
	attrReplaced = "replacedBy"
	attrDigest   = "digest"
	attrPepper   = "pepperVersion"
	attrReleased = "released"
	attrAt       = "at"
	attrAction   = "action"
	attrActor    = "actor"
	attrSourceIP = "sourceIp"
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
