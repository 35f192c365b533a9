package faults_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/kudurrustone/apikeys/functions/internal/ddblocal"
	"github.com/kudurrustone/apikeys/functions/internal/faults"
)

func TestMain(m *testing.M) { os.Exit(ddblocal.Main(m)) }

// client talks to DynamoDB Local through p, without SDK retries so every
// fault surfaces.
func client(p *faults.Proxy) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:           ddblocal.Region,
		Credentials:      credentials.NewStaticCredentialsProvider(ddblocal.AccessKeyID, ddblocal.SecretAccessKey, ""),
		BaseEndpoint:     aws.String(p.URL()),
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Timeout: 5 * time.Second},
	})
}

func TestProxy(t *testing.T) {
	direct, table := ddblocal.NewTable(t)
	p := faults.Start(t, ddblocal.Endpoint(t))
	db := client(p)
	ctx := context.Background()
	key := map[string]types.AttributeValue{
		"PK": &types.AttributeValueMemberS{Value: "T#1"}, "SK": &types.AttributeValueMemberS{Value: "X"},
	}
	get := func(ctx context.Context) error {
		_, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
		return err
	}
	exists := func() bool {
		out, err := direct.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatalf("direct GetItem: %v", err)
		}
		return len(out.Item) > 0
	}
	apiCode := func(err error) string {
		var ae smithy.APIError
		if errors.As(err, &ae) {
			return ae.ErrorCode()
		}
		return ""
	}

	t.Run("pass through and count", func(t *testing.T) {
		p.ResetCounts()
		for range 3 {
			if err := get(ctx); err != nil {
				t.Fatalf("GetItem: %v", err)
			}
		}
		if n := p.Count("GetItem"); n != 3 {
			t.Fatalf("Count(GetItem) = %d, want 3", n)
		}
	})
	t.Run("throughput exceeded is the SDK's typed error", func(t *testing.T) {
		p.Inject(faults.Fault{Kind: faults.ThroughputExceeded, Op: "GetItem"})
		defer p.Clear()
		var pte *types.ProvisionedThroughputExceededException
		if err := get(ctx); !errors.As(err, &pte) {
			t.Fatalf("err = %v, want ProvisionedThroughputExceededException", err)
		}
	})
	t.Run("throttling", func(t *testing.T) {
		p.Inject(faults.Fault{Kind: faults.Throttling})
		defer p.Clear()
		if err := get(ctx); apiCode(err) != "ThrottlingException" {
			t.Fatalf("err = %v, want ThrottlingException", err)
		}
	})
	t.Run("only the Nth request of an operation", func(t *testing.T) {
		p.Inject(faults.Fault{Kind: faults.InternalError, Op: "GetItem", Nth: 2})
		defer p.Clear()
		got := []bool{get(ctx) == nil, get(ctx) == nil, get(ctx) == nil}
		if !got[0] || got[1] || !got[2] {
			t.Fatalf("successes = %v, want [true false true]", got)
		}
	})
	t.Run("another operation is not affected", func(t *testing.T) {
		p.Inject(faults.Fault{Kind: faults.Drop, Op: "TransactWriteItems"})
		defer p.Clear()
		if err := get(ctx); err != nil {
			t.Fatalf("GetItem: %v", err)
		}
	})
	t.Run("drop", func(t *testing.T) {
		p.Inject(faults.Fault{Kind: faults.Drop})
		defer p.Clear()
		if err := get(ctx); err == nil || apiCode(err) != "" {
			t.Fatalf("err = %v, want a transport error", err)
		}
	})
	t.Run("drop after forward applies the write", func(t *testing.T) {
		p.Inject(faults.Fault{Kind: faults.DropAfterForward, Op: "PutItem"})
		defer p.Clear()
		item := map[string]types.AttributeValue{"PK": key["PK"], "SK": key["SK"]}
		_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item})
		if err == nil {
			t.Fatal("PutItem succeeded, want a transport error")
		}
		if !exists() {
			t.Fatal("the write was not applied")
		}
	})
	t.Run("delay past the client's deadline", func(t *testing.T) {
		p.Inject(faults.Fault{Kind: faults.Delay, Delay: 2 * time.Second})
		defer p.Clear()
		ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		if err := get(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want DeadlineExceeded", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("took %v", d)
		}
	})
	t.Run("stopped then restarted", func(t *testing.T) {
		p.Stop()
		if err := get(ctx); err == nil {
			t.Fatal("GetItem through a stopped endpoint succeeded")
		}
		if err := p.Restart(); err != nil {
			t.Fatal(err)
		}
		if err := get(ctx); err != nil {
			t.Fatalf("after restart: %v", err)
		}
	})
	if len(p.Injected()) == 0 {
		t.Fatal("no fault recorded")
	}
}
