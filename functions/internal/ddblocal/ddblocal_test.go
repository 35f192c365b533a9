package ddblocal_test

import (
	"context"
	"os"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kudurrustone/apikeys/functions/internal/ddblocal"
)

func TestMain(m *testing.M) { os.Exit(ddblocal.Main(m)) }

func TestTemplateTableParses(t *testing.T) {
	table, err := ddblocal.TemplateTable()
	if err != nil {
		t.Fatal(err)
	}
	if table.BillingMode == nil || *table.BillingMode != "PAY_PER_REQUEST" {
		t.Errorf("BillingMode = %v, want PAY_PER_REQUEST", table.BillingMode)
	}
	if table.PointInTimeRecoverySpecification == nil || !aws.ToBool(table.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled) {
		t.Error("point-in-time recovery is not enabled")
	}
	if table.SSESpecification == nil || !table.SSESpecification.SSEEnabled {
		t.Error("SSE is not enabled")
	}
	if !aws.ToBool(table.DeletionProtectionEnabled) {
		t.Error("deletion protection is off by default")
	}
}

func TestNewTableMatchesTemplate(t *testing.T) {
	client, name := ddblocal.NewTable(t)
	out, err := client.DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	table, err := ddblocal.TemplateTable()
	if err != nil {
		t.Fatal(err)
	}
	want, err := ddblocal.CreateTableInput(table, name)
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(out.Table.KeySchema); !slices.Equal(got, keys(want.KeySchema)) {
		t.Errorf("key schema = %v, want %v", got, keys(want.KeySchema))
	}
	if got, w := len(out.Table.GlobalSecondaryIndexes), len(want.GlobalSecondaryIndexes); got != w {
		t.Errorf("%d GSIs, want %d", got, w)
	}
	if out.Table.TableStatus != types.TableStatusActive {
		t.Errorf("status %s", out.Table.TableStatus)
	}
}

func TestNewTableNamesAreUnique(t *testing.T) {
	_, a := ddblocal.NewTable(t)
	_, b := ddblocal.NewTable(t)
	if a == b {
		t.Fatalf("two tables named %s", a)
	}
}

func keys(ks []types.KeySchemaElement) []string {
	var out []string
	for _, k := range ks {
		out = append(out, aws.ToString(k.AttributeName)+":"+string(k.KeyType))
	}
	return out
}
