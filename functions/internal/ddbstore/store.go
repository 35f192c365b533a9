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
	createAuditByKeyItem
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
	items := make([]types.TransactWriteItem, 5)
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
	items[createAuditItem], items[createAuditByKeyItem] = s.auditPuts(audit)
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
	audit.Label, audit.Hint = k.Label, k.Hint
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
	}
	event, byKey := s.auditPuts(audit)
	items = append(items, event, byKey)
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

// auditPuts returns the puts of an audit event's two items (schema.go),
// each refusing to overwrite an existing item.
func (s *Store) auditPuts(a keyservice.AuditRecord) (event, byKey types.TransactWriteItem) {
	e, k := auditItems(a)
	put := func(it item) types.TransactWriteItem {
		return types.TransactWriteItem{Put: &types.Put{
			TableName: s.table, Item: it,
			ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
			ExpressionAttributeNames: map[string]string{"#pk": PartitionKey},
		}}
	}
	return put(e), put(k)
}

// ListAudit implements keyservice.Store: a key-condition query, newest
// first, over the firm's EVENT# items or, for one key, its KEYEVENT#<keyId>#
// copies, so every page is full when enough events exist.
func (s *Store) ListAudit(ctx context.Context, firmID, keyID, beforeID string, limit int) ([]keyservice.AuditRecord, error) {
	prefix := eventPrefix
	if keyID != "" {
		prefix = keyEventPrefix + keyID + "#"
	}
	var start map[string]types.AttributeValue
	if beforeID != "" {
		// A position, not necessarily an existing item: the query resumes
		// strictly below it.
		start = pk(firmPK(firmID), prefix+beforeID)
	}
	out := []keyservice.AuditRecord{}
	err := s.query(ctx, firmID, prefix, false, start, max(limit, 0), func(it item) error {
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

// active reports whether the key may be updated or rolled at `at`.
func active(k storedKey, at time.Time) bool {
	return k.RevokedAt.IsZero() && (k.ExpiresAt.IsZero() || at.Before(k.ExpiresAt))
}

// revCondition is the optimistic-concurrency condition on a key read with
// revision rev: nobody updated or rolled it since.
func revCondition(rev int, names map[string]string, values map[string]types.AttributeValue) string {
	names["#rev"] = attrRev
	if rev == 0 {
		return "attribute_not_exists(#rev)"
	}
	values[":rev"] = num(rev)
	return "#rev = :rev"
}

// UpdateKey implements keyservice.Store: it reads the key, then in one
// transaction updates the key (on the condition that it is unrevoked and
// its revision unchanged since the read) and its credential, and writes
// the audit items. A lost race reads again and decides anew.
func (s *Store) UpdateKey(ctx context.Context, firmID, keyID string, at time.Time, u keyservice.KeyUpdate, audit keyservice.AuditRecord) (keyservice.Key, []string, error) {
	for attempt := 1; ; attempt++ {
		k, err := s.getKey(ctx, firmID, keyID)
		if err != nil {
			return keyservice.Key{}, nil, fmt.Errorf("ddbstore: update key: %w", err)
		}
		if !active(k, at) {
			return keyservice.Key{}, nil, fmt.Errorf("ddbstore: update key: %w", keyservice.ErrNotActive)
		}
		changed := keyservice.Changes(u, k.Key)
		if len(changed) == 0 {
			return k.Key, nil, nil
		}
		next := u.Apply(k.Key)
		audit.Label, audit.Hint, audit.Changed = next.Label, next.Hint, changed
		_, err = s.db.TransactWriteItems(ctx, s.updateTx(k, next, changed, audit))
		if err == nil {
			return next, changed, nil
		}
		c, ok := cancelled(err)
		if !ok || (len(c.conditionFailed) == 0 && !c.conflict) {
			return keyservice.Key{}, nil, fmt.Errorf("ddbstore: update key: %w", err)
		}
		if attempt >= maxAttempts {
			return keyservice.Key{}, nil, fmt.Errorf("ddbstore: update key: %w: %w", keyservice.ErrConflict, err)
		}
		if err := backoff(ctx, attempt); err != nil {
			return keyservice.Key{}, nil, fmt.Errorf("ddbstore: update key: %w", err)
		}
	}
}

// accessUpdate returns the SET and REMOVE clauses that write the changed
// members of next (label, expiresAt, scopes, allowedIps) on a key or
// credential item.
func accessUpdate(next keyservice.Key, changed []string, names map[string]string, values map[string]types.AttributeValue) (set, remove []string) {
	for _, m := range changed {
		switch m {
		case "label":
			names["#label"] = attrLabel
			values[":label"] = str(next.Label)
			set = append(set, "#label = :label")
		case "expiresAt":
			names["#exp"] = attrExpires
			if next.ExpiresAt.IsZero() {
				remove = append(remove, "#exp")
			} else {
				values[":exp"] = str(formatTime(next.ExpiresAt))
				set = append(set, "#exp = :exp")
			}
		case "scopes":
			names["#scopes"] = attrScopes
			values[":scopes"] = strList(next.Scopes.Names())
			set = append(set, "#scopes = :scopes")
		case "allowedIps":
			names["#allowed"] = attrAllowed
			if len(next.AllowedIPs) == 0 {
				remove = append(remove, "#allowed")
			} else {
				values[":allowed"] = strList(keyservice.FormatAllowedIPs(next.AllowedIPs))
				set = append(set, "#allowed = :allowed")
			}
		}
	}
	return set, remove
}

func updateExpression(set, remove []string) string {
	var b strings.Builder
	if len(set) > 0 {
		b.WriteString("SET " + strings.Join(set, ", "))
	}
	if len(remove) > 0 {
		if b.Len() > 0 {
			b.WriteString(" ")
		}
		b.WriteString("REMOVE " + strings.Join(remove, ", "))
	}
	return b.String()
}

func (s *Store) updateTx(k storedKey, next keyservice.Key, changed []string, audit keyservice.AuditRecord) *dynamodb.TransactWriteItemsInput {
	keyNames := map[string]string{"#pk": PartitionKey, "#ra": attrRevoked}
	keyValues := map[string]types.AttributeValue{":newrev": num(k.Rev + 1)}
	cond := "attribute_exists(#pk) AND attribute_not_exists(#ra) AND " + revCondition(k.Rev, keyNames, keyValues)
	set, remove := accessUpdate(next, changed, keyNames, keyValues)
	set = append(set, "#rev = :newrev")

	credNames := map[string]string{"#pk": PartitionKey}
	credValues := map[string]types.AttributeValue{}
	cset, cremove := accessUpdate(next, changed, credNames, credValues)
	credUpdate := &types.Update{
		TableName: s.table, Key: credPrimary(k.Digest),
		UpdateExpression:         aws.String(updateExpression(cset, cremove)),
		ConditionExpression:      aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames: credNames,
	}
	if len(credValues) > 0 {
		credUpdate.ExpressionAttributeValues = credValues
	}
	event, byKey := s.auditPuts(audit)
	return &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: &types.Update{
			TableName: s.table, Key: keyPrimary(k.FirmID, k.ID),
			UpdateExpression:          aws.String(updateExpression(set, remove)),
			ConditionExpression:       aws.String(cond),
			ExpressionAttributeNames:  keyNames,
			ExpressionAttributeValues: keyValues,
		}},
		{Update: credUpdate},
		event, byKey,
	}}
}

// Item positions in RollKey's transaction.
const (
	rollOldKeyItem = iota
	rollOldCredItem
	rollNewKeyItem
	rollNewCredItem
)

// RollKey implements keyservice.Store: it reads the old key, then in one
// transaction shortens and links it (on the condition that it is
// unrevoked, has no successor and its revision is unchanged), shortens its
// credential, puts the successor and its credential, counts the successor
// (no limit check) and writes the audit items. Of two racing rolls, the
// second's condition fails; it reads again and finds a successor.
func (s *Store) RollKey(ctx context.Context, firmID, oldID string, succ keyservice.Key, graceEnd time.Time, audit keyservice.AuditRecord) (keyservice.Key, keyservice.Key, error) {
	at := succ.CreatedAt
	graceEnd = graceEnd.UTC().Truncate(time.Millisecond)
	for attempt := 1; ; attempt++ {
		old, err := s.getKey(ctx, firmID, oldID)
		if err != nil {
			return keyservice.Key{}, keyservice.Key{}, fmt.Errorf("ddbstore: roll key: %w", err)
		}
		if !active(old, at) || old.ReplacedBy != "" {
			return keyservice.Key{}, keyservice.Key{}, fmt.Errorf("ddbstore: roll key: %w", keyservice.ErrNotActive)
		}
		next := succ
		next.FirmID, next.Replaces = firmID, oldID
		next.Label, next.Scopes, next.AllowedIPs, next.ExpiresAt = old.Label, old.Scopes, old.AllowedIPs, old.ExpiresAt
		rolled := old.Key
		rolled.ReplacedBy = succ.ID
		if rolled.ExpiresAt.IsZero() || graceEnd.Before(rolled.ExpiresAt) {
			rolled.ExpiresAt = graceEnd
		}
		audit.Label, audit.Hint = old.Label, old.Hint
		_, err = s.db.TransactWriteItems(ctx, s.rollTx(old, rolled, next, audit))
		if err == nil {
			return rolled, next, nil
		}
		c, ok := cancelled(err)
		switch {
		case !ok || (len(c.conditionFailed) == 0 && !c.conflict):
			return keyservice.Key{}, keyservice.Key{}, fmt.Errorf("ddbstore: roll key: %w", err)
		case c.failed(rollNewKeyItem) || c.failed(rollNewCredItem):
			return keyservice.Key{}, keyservice.Key{}, fmt.Errorf("ddbstore: roll key: id or digest exists: %w", keyservice.ErrConflict)
		case attempt >= maxAttempts:
			return keyservice.Key{}, keyservice.Key{}, fmt.Errorf("ddbstore: roll key: %w: %w", keyservice.ErrConflict, err)
		}
		// The old key changed meanwhile (revoked, rolled, updated) or
		// another transaction was writing it: read again and decide anew.
		if !c.failed(rollOldKeyItem) {
			if err := backoff(ctx, attempt); err != nil {
				return keyservice.Key{}, keyservice.Key{}, fmt.Errorf("ddbstore: roll key: %w", err)
			}
		}
	}
}

func (s *Store) rollTx(old storedKey, rolled, next keyservice.Key, audit keyservice.AuditRecord) *dynamodb.TransactWriteItemsInput {
	names := map[string]string{"#pk": PartitionKey, "#ra": attrRevoked, "#rb": attrReplaced, "#exp": attrExpires}
	values := map[string]types.AttributeValue{
		":succ": str(next.ID), ":exp": str(formatTime(rolled.ExpiresAt)), ":newrev": num(old.Rev + 1),
	}
	cond := "attribute_exists(#pk) AND attribute_not_exists(#ra) AND attribute_not_exists(#rb) AND " +
		revCondition(old.Rev, names, values)
	notExists := func(it item) types.TransactWriteItem {
		return types.TransactWriteItem{Put: &types.Put{
			TableName: s.table, Item: it,
			ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
			ExpressionAttributeNames: map[string]string{"#pk": PartitionKey},
		}}
	}
	event, byKey := s.auditPuts(audit)
	items := []types.TransactWriteItem{
		rollOldKeyItem: {Update: &types.Update{
			TableName: s.table, Key: keyPrimary(old.FirmID, old.ID),
			UpdateExpression:          aws.String("SET #rb = :succ, #exp = :exp, #rev = :newrev"),
			ConditionExpression:       aws.String(cond),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
		}},
		rollOldCredItem: {Update: &types.Update{
			TableName: s.table, Key: credPrimary(old.Digest),
			UpdateExpression:          aws.String("SET #exp = :exp"),
			ConditionExpression:       aws.String("attribute_exists(#pk)"),
			ExpressionAttributeNames:  map[string]string{"#pk": PartitionKey, "#exp": attrExpires},
			ExpressionAttributeValues: map[string]types.AttributeValue{":exp": str(formatTime(rolled.ExpiresAt))},
		}},
		rollNewKeyItem:  notExists(keyItem(next)),
		rollNewCredItem: notExists(credItem(next)),
		{Update: &types.Update{
			// The successor is counted with no limit check: a roll is
			// never refused for the limit; the old key's slot is released
			// once it expires (ReleaseExpired).
			TableName: s.table, Key: counterPrimary(old.FirmID),
			UpdateExpression:         aws.String("SET #n = if_not_exists(#n, :zero) + :one, #t = :type"),
			ExpressionAttributeNames: map[string]string{"#n": activeCount, "#t": attrType},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":zero": num(0), ":one": num(1), ":type": str(typeCounter),
			},
		}},
		event, byKey,
	}
	return &dynamodb.TransactWriteItemsInput{TransactItems: items}
}
