package ddbstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

// ExpiryIndex is the sparse global secondary index of keys by expiry:
// hash "type", range "expiresAt". Only items with an expiresAt are in it,
// so a query for the keys expiring in the next days reads those keys and
// nothing else, however large the table. Its projection (see Indexes)
// leaves out lastUsedAt, so the last-used writes of authorizations cost it
// nothing.
const ExpiryIndex = "ExpiryIndex"

// Expiry-warning bookkeeping.
const (
	// attrWarnedFor on a key item: the expiresAt its expiry warning was
	// for. A key is warned again only when its expiry moved later.
	attrWarnedFor     = "expiryWarnedFor"
	typeExpiryWarning = "expiry-warning"
	expiringPrefix    = "EXPIRING#"
	// attrTTL: epoch seconds after which DynamoDB's TTL deletes an
	// expiry-warning item (the table's TimeToLiveSpecification).
	attrTTL = "ttl"
	// warningKeep is how long an expiry-warning item outlives the expiry.
	warningKeep = 7 * 24 * time.Hour
)

// ExpiringKeys returns the keys, not revoked and not yet warned about their
// current expiry, whose expiresAt is in [from, to], soonest first. The keys
// carry FirmID, ID, Label, Hint and ExpiresAt only. It queries ExpiryIndex
// (eventually consistent: ClaimExpiryWarning checks again), so its cost
// grows with the keys expiring in the window, not with the table.
func (s *Store) ExpiringKeys(ctx context.Context, from, to time.Time) ([]keyservice.Key, error) {
	in := &dynamodb.QueryInput{
		TableName:              s.table,
		IndexName:              aws.String(ExpiryIndex),
		KeyConditionExpression: aws.String("#t = :key AND #e BETWEEN :from AND :to"),
		FilterExpression:       aws.String("attribute_not_exists(#r)"),
		ExpressionAttributeNames: map[string]string{
			"#t": attrType, "#e": attrExpires, "#r": attrRevoked,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":key": str(typeKey), ":from": str(formatTime(from)), ":to": str(formatTime(to)),
		},
	}
	var out []keyservice.Key
	for {
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("ddbstore: expiring keys: %w", err)
		}
		for _, it := range page.Items {
			d := decoder{it: it}
			k := keyservice.Key{FirmID: d.str(attrFirmID), ID: d.str(attrKeyID), Label: d.str(attrLabel),
				Hint: d.str(attrHint), ExpiresAt: d.time(attrExpires)}
			// A filter expression cannot compare with the index's range
			// key, so the warned keys are dropped here (read all the same).
			warned := d.str(attrWarnedFor)
			if d.err != nil {
				return nil, fmt.Errorf("ddbstore: expiring keys: %w", d.err)
			}
			if warned == "" || warned < formatTime(k.ExpiresAt) {
				out = append(out, k)
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// ClaimExpiryWarning records that k (FirmID, ID, Label, Hint, ExpiresAt
// as ExpiringKeys returns it) is being warned about at `at`, and reports
// whether this call did so. One transaction marks the key item (on
// condition that its expiry is still k.ExpiresAt, it is not revoked and it
// was not warned about this or a later expiry) and writes an
// expiry-warning item, which the publisher turns into an "API Key
// Expiring" event from the table's stream. Of overlapping runs exactly one
// claims a key; the others get false.
func (s *Store) ClaimExpiryWarning(ctx context.Context, k keyservice.Key, at time.Time) (bool, error) {
	exp := formatTime(k.ExpiresAt)
	warning := pk(firmPK(k.FirmID), expiringPrefix+k.ID+"#"+exp)
	warning[attrType] = str(typeExpiryWarning)
	warning[attrFirmID] = str(k.FirmID)
	warning[attrKeyID] = str(k.ID)
	setIf(warning, attrLabel, k.Label)
	setIf(warning, attrHint, k.Hint)
	warning[attrAt] = str(formatTime(at))
	warning[attrExpires] = str(exp)
	warning[attrTTL] = &types.AttributeValueMemberN{Value: strconv.FormatInt(k.ExpiresAt.Add(warningKeep).Unix(), 10)}
	_, err := s.transact(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: &types.Update{
			TableName:           s.table,
			Key:                 keyPrimary(k.FirmID, k.ID),
			UpdateExpression:    aws.String("SET #w = :e"),
			ConditionExpression: aws.String("#e = :e AND attribute_not_exists(#r) AND (attribute_not_exists(#w) OR #w < :e)"),
			ExpressionAttributeNames: map[string]string{
				"#e": attrExpires, "#r": attrRevoked, "#w": attrWarnedFor,
			},
			ExpressionAttributeValues: map[string]types.AttributeValue{":e": str(exp)},
		}},
		{Put: &types.Put{
			TableName:                s.table,
			Item:                     warning,
			ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
			ExpressionAttributeNames: map[string]string{"#pk": PartitionKey},
		}},
	}})
	if err == nil {
		return true, nil
	}
	if c, ok := cancelled(err); ok && len(c.conditionFailed) > 0 {
		return false, nil // changed, revoked or already warned: nothing to do
	}
	return false, fmt.Errorf("ddbstore: claim expiry warning: %w", err)
}
