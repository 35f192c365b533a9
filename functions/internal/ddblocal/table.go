package ddblocal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	cfndynamodb "github.com/awslabs/goformation/v7/cloudformation/dynamodb"
	"github.com/awslabs/goformation/v7/intrinsics"
)

// TableResource is the logical id of the keys table in template.yaml.
const TableResource = "KeysTable"

// TemplatePath returns the path of template.yaml at the repository root.
func TemplatePath() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "template.yaml"), nil
}

var (
	templateOnce sync.Once
	template     *cloudformation.Template
	templateErr  error
)

// Template returns template.yaml parsed by goformation, with conditions
// left unevaluated (goformation's condition evaluation turns a resource's
// own Condition attribute into a boolean and then cannot read the
// resource; an !If it cannot evaluate becomes null). It parses once per process and
// returns the same value to every caller, who must not modify it: goformation
// keeps global state while parsing and is not safe for concurrent use, so
// tests (parallel ones especially) should go through here.
func Template() (*cloudformation.Template, error) {
	templateOnce.Do(func() {
		path, err := TemplatePath()
		if err != nil {
			templateErr = err
			return
		}
		template, err = goformation.OpenWithOptions(path, &intrinsics.ProcessorOptions{})
		if err != nil {
			templateErr = fmt.Errorf("ddblocal: parse %s: %w", path, err)
		}
	})
	return template, templateErr
}

// TemplateTable returns the KeysTable resource of template.yaml.
func TemplateTable() (*cfndynamodb.Table, error) {
	tpl, err := Template()
	if err != nil {
		return nil, err
	}
	table, err := tpl.GetDynamoDBTableWithName(TableResource)
	if err != nil {
		return nil, fmt.Errorf("ddblocal: template.yaml: %w", err)
	}
	return table, nil
}

// CreateTableInput converts the template's KeysTable into a CreateTable
// request for name: attribute definitions, key schema, secondary indexes
// (with their projections) and the change stream. Billing is on demand, as in the template;
// settings DynamoDB Local ignores (PITR, SSE, deletion protection) are left
// out.
func CreateTableInput(table *cfndynamodb.Table, name string) (*dynamodb.CreateTableInput, error) {
	if len(table.KeySchema) == 0 {
		return nil, errors.New("ddblocal: KeysTable has no KeySchema")
	}
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		KeySchema:   keySchema(table.KeySchema),
	}
	for _, a := range table.AttributeDefinitions {
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{
			AttributeName: aws.String(a.AttributeName),
			AttributeType: types.ScalarAttributeType(a.AttributeType),
		})
	}
	if ss := table.StreamSpecification; ss != nil && ss.StreamViewType != "" {
		in.StreamSpecification = &types.StreamSpecification{
			StreamEnabled:  aws.Bool(true),
			StreamViewType: types.StreamViewType(ss.StreamViewType),
		}
	}
	for _, g := range table.GlobalSecondaryIndexes {
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, types.GlobalSecondaryIndex{
			IndexName:  aws.String(g.IndexName),
			KeySchema:  keySchema(g.KeySchema),
			Projection: projection(g.Projection),
		})
	}
	for _, l := range table.LocalSecondaryIndexes {
		in.LocalSecondaryIndexes = append(in.LocalSecondaryIndexes, types.LocalSecondaryIndex{
			IndexName:  aws.String(l.IndexName),
			KeySchema:  keySchema(l.KeySchema),
			Projection: projection(l.Projection),
		})
	}
	return in, nil
}

func keySchema(ks []cfndynamodb.Table_KeySchema) []types.KeySchemaElement {
	out := make([]types.KeySchemaElement, 0, len(ks))
	for _, k := range ks {
		out = append(out, types.KeySchemaElement{AttributeName: aws.String(k.AttributeName), KeyType: types.KeyType(k.KeyType)})
	}
	return out
}

func projection(p *cfndynamodb.Table_Projection) *types.Projection {
	if p == nil {
		return &types.Projection{ProjectionType: types.ProjectionTypeAll}
	}
	out := &types.Projection{ProjectionType: types.ProjectionType(aws.ToString(p.ProjectionType)), NonKeyAttributes: p.NonKeyAttributes}
	if out.ProjectionType == "" {
		out.ProjectionType = types.ProjectionTypeAll
	}
	return out
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// NewTable creates a uniquely named table on DynamoDB Local, defined by the
// KeysTable resource of template.yaml, and deletes it when t ends. It fails
// t (never skips) when DynamoDB Local or the template is unavailable.
func NewTable(t testing.TB) (client *dynamodb.Client, tableName string) {
	t.Helper()
	client = NewClient(t)
	table, err := TemplateTable()
	if err != nil {
		t.Fatal(err)
	}
	tableName = uniqueName(t.Name())
	in, err := CreateTableInput(table, tableName)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := client.CreateTable(ctx, in); err != nil {
		t.Fatalf("ddblocal: create table %s: %v", tableName, err)
	}
	t.Cleanup(func() {
		// t's context is already cancelled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(tableName)}); err != nil {
			t.Errorf("ddblocal: delete table %s: %v", tableName, err)
		}
	})
	// DynamoDB Local creates tables ACTIVE, but wait like for the real
	// service so the harness stays correct either way.
	for {
		out, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(tableName)})
		if err != nil {
			t.Fatalf("ddblocal: describe table %s: %v", tableName, err)
		}
		if out.Table.TableStatus == types.TableStatusActive {
			return client, tableName
		}
		select {
		case <-ctx.Done():
			t.Fatalf("ddblocal: table %s not active: %v", tableName, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// uniqueName makes a valid table name (3-255 of [A-Za-z0-9_.-]) from a test
// name plus a random suffix.
func uniqueName(testName string) string {
	base := unsafeName.ReplaceAllString(testName, "-")
	if len(base) > 200 {
		base = base[:200]
	}
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "keys-" + base + "-" + hex.EncodeToString(b[:])
}
