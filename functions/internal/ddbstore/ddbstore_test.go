package ddbstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kudurrustone/apikeys/functions/internal/ddblocal"
	"github.com/kudurrustone/apikeys/functions/internal/ddbstore"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
	"github.com/kudurrustone/apikeys/functions/internal/storetest"
	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(ddblocal.Main(m)) }

// newStore returns a store over a fresh DynamoDB Local table created from
// template.yaml, plus the raw client and table name for inspection.
func newStore(t testing.TB) (*ddbstore.Store, *dynamodb.Client, string) {
	t.Helper()
	client, table := ddblocal.NewTable(t)
	return ddbstore.New(client, table), client, table
}

func TestConformance(t *testing.T) {
	t.Logf("DynamoDB Local at %s", ddblocal.Endpoint(t))
	storetest.Run(t, func(t *testing.T) keyservice.Store {
		s, _, _ := newStore(t)
		return s
	})
}

func TestExpiryConformance(t *testing.T) {
	storetest.RunExpiry(t, func(t *testing.T) storetest.ExpiryStore {
		s, _, _ := newStore(t)
		return s
	})
}

func TestStoredTimes(t *testing.T) {
	tables := map[keyservice.Store]storedTable{}
	storetest.RunStoredTimes(t, func(t *testing.T) keyservice.Store {
		s, client, table := newStore(t)
		tables[s] = storedTable{client, table}
		return s
	}, func(t *testing.T, s keyservice.Store, k keyservice.Key, raw string) {
		st := tables[s]
		for _, key := range []map[string]types.AttributeValue{
			{ddbstore.PartitionKey: &types.AttributeValueMemberS{Value: "FIRM#" + k.FirmID}, ddbstore.SortKey: &types.AttributeValueMemberS{Value: "KEY#" + k.ID}},
			{ddbstore.PartitionKey: &types.AttributeValueMemberS{Value: "CRED#" + k.Digest.String()}, ddbstore.SortKey: &types.AttributeValueMemberS{Value: "CRED"}},
		} {
			_, err := st.client.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
				TableName: aws.String(st.table), Key: key,
				UpdateExpression:          aws.String("SET expiresAt = :v"),
				ConditionExpression:       aws.String("attribute_exists(" + ddbstore.PartitionKey + ")"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberS{Value: raw}},
			})
			if err != nil {
				t.Fatalf("UpdateItem: %v", err)
			}
		}
	})
}

type storedTable struct {
	client *dynamodb.Client
	table  string
}

// TestTemplateMatchesStore is the contract between template.yaml and the
// code: the KeysTable key schema is exactly the one the store relies on.
func TestTemplateMatchesStore(t *testing.T) {
	table, err := ddblocal.TemplateTable()
	if err != nil {
		t.Fatal(err)
	}
	wantKeys, wantAttrs := ddbstore.KeySchema()
	var gotKeys, want []string
	for _, k := range table.KeySchema {
		gotKeys = append(gotKeys, k.AttributeName+" "+k.KeyType)
	}
	for _, k := range wantKeys {
		want = append(want, aws.ToString(k.AttributeName)+" "+string(k.KeyType))
	}
	if !slices.Equal(gotKeys, want) {
		t.Errorf("template KeySchema %v, store needs %v", gotKeys, want)
	}
	var gotAttrs, wantA []string
	for _, a := range table.AttributeDefinitions {
		gotAttrs = append(gotAttrs, a.AttributeName+" "+a.AttributeType)
	}
	for _, a := range wantAttrs {
		wantA = append(wantA, aws.ToString(a.AttributeName)+" "+string(a.AttributeType))
	}
	slices.Sort(gotAttrs)
	slices.Sort(wantA)
	if !slices.Equal(gotAttrs, wantA) {
		t.Errorf("template AttributeDefinitions %v, store needs %v", gotAttrs, wantA)
	}
	var gotIdx, wantIdx []string
	for _, g := range table.GlobalSecondaryIndexes {
		desc := g.IndexName
		for _, k := range g.KeySchema {
			desc += " " + k.AttributeName + ":" + k.KeyType
		}
		if g.Projection != nil {
			desc += " " + aws.ToString(g.Projection.ProjectionType) + fmt.Sprint(g.Projection.NonKeyAttributes)
		}
		gotIdx = append(gotIdx, desc)
	}
	for _, g := range ddbstore.Indexes() {
		desc := aws.ToString(g.IndexName)
		for _, k := range g.KeySchema {
			desc += " " + aws.ToString(k.AttributeName) + ":" + string(k.KeyType)
		}
		desc += " " + string(g.Projection.ProjectionType) + fmt.Sprint(g.Projection.NonKeyAttributes)
		wantIdx = append(wantIdx, desc)
	}
	if !slices.Equal(gotIdx, wantIdx) {
		t.Errorf("template indexes %v, store needs %v", gotIdx, wantIdx)
	}
	if ddbstore.PartitionKey != "PK" || ddbstore.SortKey != "SK" {
		t.Errorf("key attributes %s/%s", ddbstore.PartitionKey, ddbstore.SortKey)
	}
}

var t0 = time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)

func testKey(t testing.TB, firm string, at time.Time) keyservice.Key {
	t.Helper()
	set := storetest.TestPepperSet(t, "1")
	return keyservice.Key{
		ID: storetest.NewID(t, at), FirmID: firm, Label: "Office Sync Tool", Hint: "kst_…abcd",
		CreatedAt: at, CreatedBy: "alice", Digest: set.Current().Hash(storetest.NewID(t, at) + firm),
		PepperVersion: "1", Scopes: keyservice.AllScopes,
	}
}

func audit(k keyservice.Key, action string, at time.Time) keyservice.AuditRecord {
	return keyservice.AuditRecord{ID: storetest.EventID(at, action+" "+k.ID), At: at, Action: action, FirmID: k.FirmID, KeyID: k.ID,
		Label: k.Label, Hint: k.Hint, Actor: "alice", SourceIP: "203.0.113.7"}
}

func getItem(t testing.TB, client *dynamodb.Client, table, pk, sk string) map[string]types.AttributeValue {
	t.Helper()
	out, err := client.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{
			"PK": &types.AttributeValueMemberS{Value: pk}, "SK": &types.AttributeValueMemberS{Value: sk},
		},
	})
	if err != nil {
		t.Fatalf("GetItem %s/%s: %v", pk, sk, err)
	}
	return out.Item
}

func attrS(it map[string]types.AttributeValue, name string) string {
	if s, ok := it[name].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

// TestItemLayout pins the data model of the README (and of PLAN.md): where
// each item lives and how times are written.
func TestItemLayout(t *testing.T) {
	s, client, table := newStore(t)
	ctx := context.Background()
	k := testKey(t, "acme", t0)
	k.ExpiresAt = t0.Add(90 * 24 * time.Hour)
	if err := s.CreateKey(ctx, k, 5, audit(k, keyservice.ActionGenerate, t0)); err != nil {
		t.Fatal(err)
	}

	key := getItem(t, client, table, "FIRM#acme", "KEY#"+k.ID)
	if attrS(key, "createdAt") != "2026-11-25T09:30:00.000Z" || attrS(key, "digest") != k.Digest.String() {
		t.Errorf("key item %v", key)
	}
	cred := getItem(t, client, table, "CRED#"+k.Digest.String(), "CRED")
	if attrS(cred, "firmId") != "acme" || attrS(cred, "keyId") != k.ID || attrS(cred, "expiresAt") != "2027-02-23T09:30:00.000Z" {
		t.Errorf("credential item %v", cred)
	}
	counter := getItem(t, client, table, "FIRM#acme", "COUNTER")
	if n, ok := counter["activeCount"].(*types.AttributeValueMemberN); !ok || n.Value != "1" {
		t.Errorf("counter item %v", counter)
	}
	a := audit(k, keyservice.ActionGenerate, t0)
	a.ID = "01JZ0000000000000000000ZZZ"
	k2 := testKey(t, "acme", t0)
	if err := s.CreateKey(ctx, k2, 5, keyservice.AuditRecord{ID: a.ID, At: t0, Action: keyservice.ActionGenerate,
		FirmID: "acme", KeyID: k2.ID, Label: k2.Label, Hint: k2.Hint, Actor: "alice", SourceIP: "203.0.113.7"}); err != nil {
		t.Fatal(err)
	}
	// The audit event and its copy under the key: self-describing items
	// that the stream publisher reads (schema.go lists the attributes).
	for sk, typ := range map[string]string{"EVENT#" + a.ID: "audit", "KEYEVENT#" + k2.ID + "#" + a.ID: "auditByKey"} {
		it := getItem(t, client, table, "FIRM#acme", sk)
		for name, want := range map[string]string{"type": typ, "eventId": a.ID, "action": "key.generated",
			"at": "2026-11-25T09:30:00.000Z", "firmId": "acme", "keyId": k2.ID, "label": k2.Label, "hint": k2.Hint,
			"actor": "alice", "sourceIp": "203.0.113.7"} {
			if got := attrS(it, name); got != want {
				t.Errorf("audit item %s: %s = %q, want %q", sk, name, got, want)
			}
		}
	}
}

func TestListKeysAfterMissingID(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	var keys []keyservice.Key
	for i := range 3 {
		k := testKey(t, "acme", t0.Add(time.Duration(i)*time.Hour))
		if err := s.CreateKey(ctx, k, 5, audit(k, keyservice.ActionGenerate, k.CreatedAt)); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	// An id between the second and third key that was never stored.
	after := storetest.NewID(t, t0.Add(90*time.Minute))
	got, err := s.ListKeys(ctx, "acme", after, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != keys[1].ID || got[1].ID != keys[0].ID {
		t.Fatalf("ListKeys after a missing id: %d keys", len(got))
	}
}

func TestRevokeMissingCredentialIsAnError(t *testing.T) {
	// A key whose credential item vanished cannot be revoked silently: the
	// authorizer reads the credential, so the revoke must reach it.
	s, client, table := newStore(t)
	ctx := context.Background()
	k := testKey(t, "acme", t0)
	if err := s.CreateKey(ctx, k, 5, audit(k, keyservice.ActionGenerate, t0)); err != nil {
		t.Fatal(err)
	}
	_, err := client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{
		"PK": &types.AttributeValueMemberS{Value: "CRED#" + k.Digest.String()}, "SK": &types.AttributeValueMemberS{Value: "CRED"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.RevokeKey(ctx, "acme", k.ID, t0.Add(time.Hour), "bob", audit(k, keyservice.ActionRevoke, t0.Add(time.Hour)))
	if !errors.Is(err, keyservice.ErrConflict) {
		t.Fatalf("RevokeKey without credential: %v, want ErrConflict", err)
	}
	got, err := s.GetKey(ctx, "acme", k.ID)
	if err != nil || !got.RevokedAt.IsZero() {
		t.Fatalf("key after a failed revoke: %+v, %v", got, err)
	}
}

// TestNoPlaintextInTable generates keys through the service, uses and
// revokes some, then scans the whole table: no key, and no run of a key's
// secret longer than its hint, may appear anywhere.
func TestNoPlaintextInTable(t *testing.T) {
	s, client, table := newStore(t)
	ctx := context.Background()
	var logs bytes.Buffer
	svc := keyservice.New(s, testkit.Peppers{Set: storetest.TestPepperSet(t, "2", "1")},
		keyservice.Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	admin := keyservice.Admin{Subject: "alice", FirmID: "acme", IsAdmin: true, IsPremier: true, SourceIP: "203.0.113.7"}
	var plaintexts []string
	for i := range 12 {
		k, plain, err := svc.Generate(ctx, admin, keyservice.GenerateInput{Label: "Integration " + string(rune('A'+i))})
		if err != nil {
			t.Fatal(err)
		}
		plaintexts = append(plaintexts, plain)
		if _, err := svc.Authorize(ctx, plain); err != nil {
			t.Fatalf("Authorize key #%d: %v", i, err)
		}
		if i%3 == 0 {
			if _, err := svc.Revoke(ctx, admin, k.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	dump := scanAll(t, client, table)
	if !strings.Contains(string(dump), "CRED#") {
		t.Fatal("the scan found no credential item; the dump is not the table")
	}
	storetest.AssertNoPlaintext(t, dump, plaintexts)
	if logs.Len() == 0 {
		t.Fatal("no audit log lines")
	}
	storetest.AssertNoPlaintext(t, logs.Bytes(), plaintexts)
}

// scanAll returns every attribute name and value in the table as text.
func scanAll(t testing.TB, client *dynamodb.Client, table string) []byte {
	t.Helper()
	var b strings.Builder
	p := dynamodb.NewScanPaginator(client, &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	items := 0
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range out.Items {
			items++
			for name, v := range it {
				b.WriteString(name)
				b.WriteByte('=')
				b.WriteString(ddblocal.AttributeText(v))
				b.WriteByte('\n')
			}
		}
	}
	if items == 0 {
		t.Fatal("empty table")
	}
	return []byte(b.String())
}

// TestItemsWithoutScopes: items written before keys had scopes and allowed
// addresses read as both scopes and any address, on the key and on the
// credential the authorizer reads.
func TestItemsWithoutScopes(t *testing.T) {
	s, client, table := newStore(t)
	ctx := context.Background()
	k := testKey(t, "acme", t0)
	k.Scopes = keyservice.ScopeRead
	if err := s.CreateKey(ctx, k, 5, audit(k, keyservice.ActionGenerate, t0)); err != nil {
		t.Fatal(err)
	}
	for _, key := range []map[string]types.AttributeValue{
		{"PK": &types.AttributeValueMemberS{Value: "FIRM#acme"}, "SK": &types.AttributeValueMemberS{Value: "KEY#" + k.ID}},
		{"PK": &types.AttributeValueMemberS{Value: "CRED#" + k.Digest.String()}, "SK": &types.AttributeValueMemberS{Value: "CRED"}},
	} {
		_, err := client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(table), Key: key, UpdateExpression: aws.String("REMOVE scopes, allowedIps"),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.GetKey(ctx, "acme", k.ID)
	if err != nil || got.Scopes != keyservice.AllScopes || got.AllowedIPs != nil {
		t.Errorf("GetKey = scopes %v, allowed %v, %v; want read write, none", got.Scopes, got.AllowedIPs, err)
	}
	cred, err := s.FindCredential(ctx, k.Digest)
	if err != nil || cred.Scopes != keyservice.AllScopes || cred.AllowedIPs != nil {
		t.Errorf("FindCredential = scopes %v, allowed %v, %v; want read write, none", cred.Scopes, cred.AllowedIPs, err)
	}
}
