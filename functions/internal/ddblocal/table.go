package ddblocal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
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
	"gopkg.in/yaml.v3"

	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

// TableResource is the logical id of the keys table in template.yaml.
const TableResource = "KeysTable"

// TemplatePath returns the path of template.yaml at the repository root.
func TemplatePath() (string, error) {
	root, err := testkit.RepoRoot()
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

// Template returns the part of template.yaml the harness needs, the keys
// table with the parameters and conditions, parsed by goformation with
// conditions evaluated against parameter defaults (so !If/!Equals over
// parameters resolve as in a default deployment). The other resources are
// left out: goformation does not know every property SAM and
// CloudFormation have (LoggingConfig, for one), nor a resource's own
// Condition. It parses once per process and returns the same value to
// every caller, who must not modify it: goformation keeps global state
// while parsing and is not safe for concurrent use, so tests (parallel
// ones especially) should go through here.
func Template() (*cloudformation.Template, error) {
	templateOnce.Do(func() {
		path, err := TemplatePath()
		if err != nil {
			templateErr = err
			return
		}
		b, err := tableOnly(path)
		if err == nil {
			template, err = goformation.ParseYAMLWithOptions(b, &intrinsics.ProcessorOptions{EvaluateConditions: true})
		}
		if err != nil {
			templateErr = fmt.Errorf("ddblocal: parse %s: %w", path, err)
		}
	})
	return template, templateErr
}

// tableOnly returns the template's YAML with Parameters, Conditions and
// the TableResource, and nothing else (short-form tags kept).
func tableOnly(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("not a YAML mapping")
	}
	top := doc.Content[0]
	var kept []*yaml.Node
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		switch k.Value {
		case "AWSTemplateFormatVersion", "Parameters", "Conditions":
			kept = append(kept, k, v)
		case "Resources":
			res := &yaml.Node{Kind: yaml.MappingNode}
			for j := 0; j+1 < len(v.Content); j += 2 {
				if v.Content[j].Value == TableResource {
					res.Content = append(res.Content, v.Content[j], v.Content[j+1])
				}
			}
			kept = append(kept, k, res)
		}
	}
	top.Content = kept
	return yaml.Marshal(&doc)
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
