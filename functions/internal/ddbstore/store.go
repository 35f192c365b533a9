// Package ddbstore is the DynamoDB implementation of keyservice.Store: one
// table (defined once, in template.yaml), multi-item writes as transactions
// with condition expressions, strongly consistent reads, and one GetItem to
// find a credential by its key digest.
//
// Retries have one layer each: the SDK's retryer retries a failed request
// (throttling, 5xx, transport); a transaction DynamoDB cancels for a
// TransactionConflict or a throttled item (nothing was written), which the
// SDK does not retry, is retried here with jittered backoff a few times
// before it becomes keyservice.ErrConflict; the service retries nothing. A
// failed condition is never retried blindly, it is mapped to the
// keyservice error it means.
package ddbstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

// API is the part of the DynamoDB client the store uses (*dynamodb.Client
// satisfies it).
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

var _ API = (*dynamodb.Client)(nil)

// Store keeps keys in one DynamoDB table. It is safe for concurrent use.
type Store struct {
	db    API
	table *string
}

var _ keyservice.Store = (*Store)(nil)

// New returns a store over the table.
func New(db API, table string) *Store {
	return &Store{db: db, table: aws.String(table)}
}

// maxAttempts bounds the store's own retries of transactions that DynamoDB
// cancelled for a TransactionConflict (another transaction was writing the
// same item; nothing was written). The SDK does not retry those.
const maxAttempts = 8

// backoff sleeps before retry attempt n (1-based): full jitter over an
// exponential window of 4 ms, 8 ms, … capped at 128 ms.
func backoff(ctx context.Context, n int) error {
	window := 4 * time.Millisecond << min(n-1, 5)
	timer := time.NewTimer(rand.N(window) + time.Millisecond)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// Cancellation reason codes of TransactionCanceledException.
// https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html
const (
	reasonConditionalCheckFailed = "ConditionalCheckFailed"
	reasonTransactionConflict    = "TransactionConflict"
	reasonThrottling             = "ThrottlingError"
	reasonThroughputExceeded     = "ProvisionedThroughputExceeded"
)

// cancellation classifies a failed TransactWriteItems. cancelled reports
// that DynamoDB cancelled it (nothing was written); conditionFailed lists the
// indexes of items whose condition failed; conflict reports a
// TransactionConflict (a concurrent write, safe to retry), throttled a
// throttled item (safe to retry too, but not a lost race). ok is false when
// err is not a cancellation.
type cancellation struct {
	cancelled       bool
	conditionFailed []int
	conflict        bool
	throttled       bool // an item was throttled: nothing written, safe to retry
}

func (c cancellation) failed(i int) bool {
	for _, f := range c.conditionFailed {
		if f == i {
			return true
		}
	}
	return false
}

func cancelled(err error) (cancellation, bool) {
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		// A conflict with a concurrent transaction can also surface as its
		// own exception (e.g. from an ongoing transaction on the item).
		var tc *types.TransactionConflictException
		if errors.As(err, &tc) {
			return cancellation{cancelled: true, conflict: true}, true
		}
		return cancellation{}, false
	}
	c := cancellation{cancelled: true}
	for i, r := range tce.CancellationReasons {
		switch aws.ToString(r.Code) {
		case reasonConditionalCheckFailed:
			c.conditionFailed = append(c.conditionFailed, i)
		case reasonTransactionConflict:
			c.conflict = true
		case reasonThrottling, reasonThroughputExceeded:
			c.throttled = true
		}
	}
	return c, true
}

// transact writes in, retrying a TransactionConflict (nothing was written)
// with jittered backoff up to maxAttempts. On failure it returns the
// cancellation (zero when err is not one) for the caller to map: a failed
// condition is returned at once, never retried blindly.
func (s *Store) transact(ctx context.Context, in *dynamodb.TransactWriteItemsInput) (cancellation, error) {
	for attempt := 1; ; attempt++ {
		_, err := s.db.TransactWriteItems(ctx, in)
		if err == nil {
			return cancellation{}, nil
		}
		c, ok := cancelled(err)
		if !ok || len(c.conditionFailed) > 0 || !(c.conflict || c.throttled) || attempt >= maxAttempts {
			return c, err
		}
		if err := backoff(ctx, attempt); err != nil {
			return cancellation{}, err
		}
	}
}

// Item positions in CreateKey's transaction.
const (
	createKeyItem = iota
	createCredItem
	createCounterItem
	createAuditItem
)

// CreateKey implements keyservice.Store: one transaction puts the key, its
// credential and the audit record, and increments the firm's active count
// under the limit.
func (s *Store) CreateKey(ctx context.Context, k keyservice.Key, maxActive int, audit keyservice.AuditRecord) error {
	if maxActive <= 0 {
		return fmt.Errorf("ddbstore: create key: %w", keyservice.ErrLimitReached)
	}
	if !k.Scopes.Valid() {
		return errors.New("ddbstore: create key: a key needs at least one scope")
	}
	items := make([]types.TransactWriteItem, 4)
	items[createKeyItem] = types.TransactWriteItem{Put: &types.Put{
		TableName: s.table, Item: keyItem(k),
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": PartitionKey},
	}}
	items[createCredItem] = types.TransactWriteItem{Put: &types.Put{
		TableName: s.table, Item: credItem(k),
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": PartitionKey},
	}}
	items[createCounterItem] = types.TransactWriteItem{Update: &types.Update{
		TableName: s.table, Key: counterPrimary(k.FirmID),
		UpdateExpression:         aws.String("SET #n = if_not_exists(#n, :zero) + :one, #t = :type"),
		ConditionExpression:      aws.String("attribute_not_exists(#n) OR #n < :max"),
		ExpressionAttributeNames: map[string]string{"#n": activeCount, "#t": attrType},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":zero": num(0), ":one": num(1), ":max": num(maxActive), ":type": str(typeCounter),
		},
	}}
	items[createAuditItem] = types.TransactWriteItem{Put: &types.Put{
		TableName: s.table, Item: auditItem(audit),
		// Never overwrite an audit record.
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": PartitionKey},
	}}
	c, err := s.transact(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	switch {
	case err == nil:
		return nil
	case c.failed(createCounterItem):
		return fmt.Errorf("ddbstore: create key: %w", keyservice.ErrLimitReached)
	case len(c.conditionFailed) > 0:
		return fmt.Errorf("ddbstore: create key: id, digest or audit record exists: %w", keyservice.ErrConflict)
	case c.conflict:
		return fmt.Errorf("ddbstore: create key: %w: %w", keyservice.ErrConflict, err)
	default: // e.g. throttling or validation: not a lost race
		return fmt.Errorf("ddbstore: create key: %w", err)
	}
}

// getKey reads a key item with a strongly consistent read.
func (s *Store) getKey(ctx context.Context, firmID, keyID string) (storedKey, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: s.table, Key: keyPrimary(firmID, keyID), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return storedKey{}, err
	}
	if len(out.Item) == 0 {
		return storedKey{}, keyservice.ErrNotFound
	}
	return decodeKey(out.Item)
}

// GetKey implements keyservice.Store.
func (s *Store) GetKey(ctx context.Context, firmID, keyID string) (keyservice.Key, error) {
	k, err := s.getKey(ctx, firmID, keyID)
	if err != nil {
		return keyservice.Key{}, fmt.Errorf("ddbstore: get key: %w", err)
	}
	return k.Key, nil
}

// query runs a strongly consistent query over the firm's partition for sort
// keys starting with prefix, following pages until limit items (0: all).
func (s *Store) query(ctx context.Context, firmID, prefix string, forward bool, start map[string]types.AttributeValue, limit int, each func(item) error) error {
	in := &dynamodb.QueryInput{
		TableName:                s.table,
		KeyConditionExpression:   aws.String("#pk = :pk AND begins_with(#sk, :prefix)"),
		ExpressionAttributeNames: map[string]string{"#pk": PartitionKey, "#sk": SortKey},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(firmPK(firmID)), ":prefix": str(prefix),
		},
		ScanIndexForward:  aws.Bool(forward),
		ConsistentRead:    aws.Bool(true),
		ExclusiveStartKey: start,
	}
	n := 0
	for {
		if limit > 0 {
			in.Limit = aws.Int32(int32(min(limit-n, 1000)))
		}
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return err
		}
		for _, it := range out.Items {
			if err := each(it); err != nil {
				return err
			}
			n++
		}
		if len(out.LastEvaluatedKey) == 0 || (limit > 0 && n >= limit) {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// ListKeys implements keyservice.Store: a query of the firm's KEY# items,
// newest (highest ULID) first.
func (s *Store) ListKeys(ctx context.Context, firmID, afterID string, limit int) ([]keyservice.Key, error) {
	if limit <= 0 {
		return nil, nil
	}
	var start map[string]types.AttributeValue
	if afterID != "" {
		// A position, not necessarily an existing item: the query resumes
		// strictly below it.
		start = keyPrimary(firmID, afterID)
	}
	keys := make([]keyservice.Key, 0, min(limit, 100))
	err := s.query(ctx, firmID, keyPrefix, false, start, limit, func(it item) error {
		k, err := decodeKey(it)
		if err != nil {
			id, _ := it[SortKey].(*types.AttributeValueMemberS)
			k = storedKey{Key: keyservice.Key{FirmID: firmID, Unreadable: err}}
			if id != nil {
				k.ID = strings.TrimPrefix(id.Value, keyPrefix)
			}
		}
		keys = append(keys, k.Key)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ddbstore: list keys: %w", err)
	}
	return keys, nil
}

// Item positions in RevokeKey's transaction.
const (
	revokeKeyItem = iota
	revokeCredItem
)

// RevokeKey implements keyservice.Store. It reads the key, then revokes key
// and credential, writes the audit record and (if the key still held a
// slot) decrements the counter in one transaction whose conditions make a
// lost race visible; after one it reads again.
func (s *Store) RevokeKey(ctx context.Context, firmID, keyID string, at time.Time, by string, audit keyservice.AuditRecord) (keyservice.Key, error) {
	for attempt := 1; ; attempt++ {
		k, err := s.getKey(ctx, firmID, keyID)
		if err != nil {
			return keyservice.Key{}, fmt.Errorf("ddbstore: revoke key: %w", err)
		}
		if !k.RevokedAt.IsZero() {
			return k.Key, nil // already revoked: nothing changes, no audit
		}
		_, err = s.db.TransactWriteItems(ctx, s.revokeTx(k, at, by, audit))
		if err == nil {
			k.RevokedAt, k.RevokedBy = at.UTC().Truncate(time.Millisecond), by // as stored
			return k.Key, nil
		}
		c, ok := cancelled(err)
		if !ok || (len(c.conditionFailed) == 0 && !c.conflict && !c.throttled) {
			return keyservice.Key{}, fmt.Errorf("ddbstore: revoke key: %w", err)
		}
		if attempt >= maxAttempts {
			return keyservice.Key{}, fmt.Errorf("ddbstore: revoke key: %w: %w", keyservice.ErrConflict, err)
		}
		// A condition failed (revoked or released meanwhile) or another
		// transaction was writing the key: read again and decide anew.
		if !c.failed(revokeKeyItem) {
			if err := backoff(ctx, attempt); err != nil {
				return keyservice.Key{}, fmt.Errorf("ddbstore: revoke key: %w", err)
			}
		}
	}
}

func (s *Store) revokeTx(k storedKey, at time.Time, by string, audit keyservice.AuditRecord) *dynamodb.TransactWriteItemsInput {
	audit.Label = k.Label
	set := map[string]types.AttributeValue{":at": str(formatTime(at)), ":by": str(by)}
	names := map[string]string{"#pk": PartitionKey, "#ra": attrRevoked, "#rb": attrRevoker}
	keyCond := "attribute_exists(#pk) AND attribute_not_exists(#ra)"
	if !k.Released {
		// We decrement the counter below; ReleaseExpired must not have
		// done so meanwhile.
		keyCond += " AND attribute_not_exists(#rel)"
		names["#rel"] = attrReleased
	}
	items := []types.TransactWriteItem{
		revokeKeyItem: {Update: &types.Update{
			TableName: s.table, Key: keyPrimary(k.FirmID, k.ID),
			UpdateExpression:          aws.String("SET #ra = :at, #rb = :by"),
			ConditionExpression:       aws.String(keyCond),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: set,
		}},
		revokeCredItem: {Update: &types.Update{
			TableName: s.table, Key: credPrimary(k.Digest),
			UpdateExpression:          aws.String("SET #ra = :at, #rb = :by"),
			ConditionExpression:       aws.String("attribute_exists(#pk)"),
			ExpressionAttributeNames:  map[string]string{"#pk": PartitionKey, "#ra": attrRevoked, "#rb": attrRevoker},
			ExpressionAttributeValues: set,
		}},
		{Put: &types.Put{
			TableName: s.table, Item: auditItem(audit),
			ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
			ExpressionAttributeNames: map[string]string{"#pk": PartitionKey},
		}},
	}
	if !k.Released {
		items = append(items, decrementCounter(s.table, k.FirmID))
	}
	return &dynamodb.TransactWriteItemsInput{TransactItems: items}
}

func decrementCounter(table *string, firmID string) types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{
		TableName: table, Key: counterPrimary(firmID),
		UpdateExpression:          aws.String("ADD #n :minus"),
		ExpressionAttributeNames:  map[string]string{"#n": activeCount},
		ExpressionAttributeValues: map[string]types.AttributeValue{":minus": num(-1)},
	}}
}

// ReleaseExpired implements keyservice.Store: for each counted, unrevoked
// key that expired at or before now, one transaction marks it released
// (conditionally, so each key is released once) and decrements the counter.
func (s *Store) ReleaseExpired(ctx context.Context, firmID string, now time.Time) (int, error) {
	var due []storedKey
	err := s.query(ctx, firmID, keyPrefix, true, nil, 0, func(it item) error {
		k, err := decodeKey(it)
		if err != nil {
			return nil // unreadable: left as it is, like an unexpired key
		}
		if !k.Released && k.RevokedAt.IsZero() && !k.ExpiresAt.IsZero() && !k.ExpiresAt.After(now) {
			due = append(due, k)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("ddbstore: release expired: %w", err)
	}
	released := 0
	for _, k := range due {
		ok, err := s.release(ctx, k)
		if err != nil {
			return released, fmt.Errorf("ddbstore: release expired: %w", err)
		}
		if ok {
			released++
		}
	}
	return released, nil
}

func (s *Store) release(ctx context.Context, k storedKey) (bool, error) {
	in := &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: &types.Update{
			TableName: s.table, Key: keyPrimary(k.FirmID, k.ID),
			UpdateExpression:         aws.String("SET #rel = :true"),
			ConditionExpression:      aws.String("attribute_exists(#pk) AND attribute_not_exists(#rel) AND attribute_not_exists(#ra)"),
			ExpressionAttributeNames: map[string]string{"#pk": PartitionKey, "#rel": attrReleased, "#ra": attrRevoked},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":true": &types.AttributeValueMemberBOOL{Value: true},
			},
		}},
		decrementCounter(s.table, k.FirmID),
	}}
	c, err := s.transact(ctx, in)
	switch {
	case err == nil:
		return true, nil
	case len(c.conditionFailed) > 0:
		return false, nil // released or revoked by someone else
	case c.conflict:
		return false, fmt.Errorf("%w: %w", keyservice.ErrConflict, err)
	default:
		return false, err
	}
}

// FindCredential implements keyservice.Store with one strongly consistent
// GetItem.
func (s *Store) FindCredential(ctx context.Context, digest apikey.Digest) (keyservice.Credential, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: s.table, Key: credPrimary(digest), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return keyservice.Credential{}, fmt.Errorf("ddbstore: find credential: %w", err)
	}
	if len(out.Item) == 0 {
		return keyservice.Credential{}, fmt.Errorf("ddbstore: find credential: %w", keyservice.ErrNotFound)
	}
	c, err := decodeCred(out.Item)
	if err != nil {
		return keyservice.Credential{}, fmt.Errorf("ddbstore: find credential: %w", err)
	}
	return c, nil
}

// TouchLastUsed implements keyservice.Store: one transaction sets lastUsedAt
// on the credential (only if unset or older than staleBefore), and
// lastUsedAt with lastUsedIp on the key. The updates only SET those (or
// REMOVE lastUsedIp for a use without an address), so they cannot undo a
// revoke or an update.
func (s *Store) TouchLastUsed(ctx context.Context, digest apikey.Digest, firmID, keyID string, at time.Time, ip netip.Addr, staleBefore time.Time) (bool, error) {
	keyNames := map[string]string{"#pk": PartitionKey, "#lu": attrLastUsed, "#ip": attrLastIP}
	keyValues := map[string]types.AttributeValue{":at": str(formatTime(at))}
	keyUpdate := "SET #lu = :at REMOVE #ip"
	if ip.IsValid() {
		keyUpdate = "SET #lu = :at, #ip = :ip"
		keyValues[":ip"] = str(ip.String())
	}
	in := &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: &types.Update{
			TableName: s.table, Key: credPrimary(digest),
			// Only the key and the last-used attributes appear, so the
			// authorizer's IAM policy can allow exactly those
			// (dynamodb:Attributes); the credential was just read by its
			// digest and is never rewritten, so it is this key's.
			UpdateExpression:         aws.String("SET #lu = :at"),
			ConditionExpression:      aws.String("attribute_exists(#pk) AND (attribute_not_exists(#lu) OR #lu < :stale)"),
			ExpressionAttributeNames: map[string]string{"#pk": PartitionKey, "#lu": attrLastUsed},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":at": str(formatTime(at)), ":stale": str(formatTime(staleBefore)),
			},
		}},
		{Update: &types.Update{
			TableName: s.table, Key: keyPrimary(firmID, keyID),
			UpdateExpression:          aws.String(keyUpdate),
			ConditionExpression:       aws.String("attribute_exists(#pk)"),
			ExpressionAttributeNames:  keyNames,
			ExpressionAttributeValues: keyValues,
		}},
	}}
	c, err := s.transact(ctx, in)
	switch {
	case err == nil:
		return true, nil
	case len(c.conditionFailed) > 0:
		return false, nil // fresh enough already, or no such key
	case c.conflict || c.cancelled:
		// Last-used is throttled and best effort: a write that keeps
		// losing races (or is cancelled for another reason) must not fail
		// the authorization it serves.
		return false, nil
	default:
		return false, fmt.Errorf("ddbstore: touch last used: %w", err)
	}
}

// ListAudit implements keyservice.Store: the firm's AUDIT# items in sort key
// order, which is time order (fixed-width timestamps).
func (s *Store) ListAudit(ctx context.Context, firmID string) ([]keyservice.AuditRecord, error) {
	var out []keyservice.AuditRecord
	err := s.query(ctx, firmID, auditPrefix, true, nil, 0, func(it item) error {
		a, err := decodeAudit(it)
		if err != nil {
			return err
		}
		out = append(out, a)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ddbstore: list audit: %w", err)
	}
	return out, nil
}
