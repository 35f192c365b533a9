package perf_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kudurrustone/apikeys/functions/internal/ddblocal"
	"github.com/kudurrustone/apikeys/functions/internal/ddbstore"
	"github.com/kudurrustone/apikeys/functions/internal/faults"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

// ddbFixture is a fresh DynamoDB Local table (defined by template.yaml)
// holding one used key, with a store whose client goes through a counting
// proxy when counted is set.
type ddbFixture struct {
	client *dynamodb.Client
	table  string
	proxy  *faults.Proxy
	clock  *testkit.Clock
	svc    *keyservice.Service
	key    keyservice.Key
	plain  string
}

func newDDBFixture(tb testing.TB, counted bool) *ddbFixture {
	tb.Helper()
	f := &ddbFixture{clock: testkit.NewClock(start)}
	f.client, f.table = ddblocal.NewTable(tb)
	client := f.client
	if counted {
		f.proxy = faults.Start(tb, ddblocal.Endpoint(tb))
		client = ddblocal.ClientFor(f.proxy.URL())
	}
	f.svc = newService(tb, ddbstore.New(client, f.table), f.clock)
	f.key, f.plain = generate(tb, f.svc)
	return f
}

// ddbAuthorize: a warm authorization against DynamoDB Local (one consistent
// GetItem; last-used is fresh, so no write).
func ddbAuthorize(tb testing.TB, f *ddbFixture) op {
	ctx := context.Background()
	return func() error {
		_, err := f.svc.Authorize(ctx, f.plain)
		return err
	}
}

// ddbGetItem is its floor: the bare SDK GetItem of the same credential item
// with the same client.
func ddbGetItem(tb testing.TB, f *ddbFixture) op {
	ctx := context.Background()
	in := &dynamodb.GetItemInput{
		TableName: aws.String(f.table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{
			"PK": &types.AttributeValueMemberS{Value: "CRED#" + f.key.Digest.String()},
			"SK": &types.AttributeValueMemberS{Value: "CRED"},
		},
	}
	return func() error {
		out, err := f.client.GetItem(ctx, in)
		if err == nil && len(out.Item) == 0 {
			err = errNotFound
		}
		return err
	}
}

func BenchmarkDynamoDBAuthorize(b *testing.B) { bench(b, ddbAuthorize(b, newDDBFixture(b, false))) }
func BenchmarkDynamoDBGetItem(b *testing.B)   { bench(b, ddbGetItem(b, newDDBFixture(b, false))) }

// usesPerMinute is the load of the request-count figure: one key used
// this many times within one minute of the injected clock.
const usesPerMinute = 1000

// wireCounts is what the proxy saw for usesPerMinute authorizations.
type wireCounts struct {
	reads, writes, other int
}

// countRequests authorizes one key usesPerMinute times, evenly over one
// minute of the injected clock, and returns the DynamoDB requests counted
// at the wire (by operation, in the proxy in front of DynamoDB Local).
func countRequests(tb testing.TB, f *ddbFixture) wireCounts {
	tb.Helper()
	ctx := context.Background()
	// The fixture used the key at start: begin a fresh minute, whose first
	// use must write last-used once.
	f.clock.Advance(time.Minute)
	f.proxy.ResetCounts()
	step := time.Minute / usesPerMinute
	for i := range usesPerMinute {
		if _, err := f.svc.Authorize(ctx, f.plain); err != nil {
			tb.Fatalf("use %d: %v", i, err)
		}
		f.clock.Advance(step - time.Nanosecond) // all inside the minute
	}
	var c wireCounts
	for op, n := range f.proxy.Counts() {
		switch op {
		case "GetItem":
			c.reads += n
		case "TransactWriteItems", "UpdateItem", "PutItem":
			c.writes += n
		default:
			c.other += n
		}
	}
	return c
}

// TestDynamoDBRequestsPerAuthorization: a key used 1,000 times in a minute
// costs exactly one read per use and one write (last-used) in all.
func TestDynamoDBRequestsPerAuthorization(t *testing.T) {
	f := newDDBFixture(t, true)
	c := countRequests(t, f)
	t.Logf("%d uses in one minute: %d GetItem, %d writes, %d other requests", usesPerMinute, c.reads, c.writes, c.other)
	if c.reads != usesPerMinute || c.writes != 1 || c.other != 0 {
		t.Errorf("want %d reads, 1 write, 0 other; got %+v", usesPerMinute, c)
	}
	// The next minute costs one more write, at its first use.
	f.clock.Advance(time.Minute)
	f.proxy.ResetCounts()
	if _, err := f.svc.Authorize(context.Background(), f.plain); err != nil {
		t.Fatal(err)
	}
	if w := f.proxy.Count("TransactWriteItems"); w != 1 {
		t.Errorf("first use of the next minute: %d writes, want 1", w)
	}
}

// TestStoreCallsPerAuthorization is the same count in process, over the
// embedded store: one credential read per use, one last-used write per
// minute.
func TestStoreCallsPerAuthorization(t *testing.T) {
	f := newBoltFixture(t)
	c := &counting{Store: f.store}
	svc := newService(t, c, f.clock)
	f.clock.Advance(time.Minute)
	step := time.Minute / usesPerMinute
	for i := range usesPerMinute {
		if _, err := svc.Authorize(context.Background(), f.plain); err != nil {
			t.Fatalf("use %d: %v", i, err)
		}
		f.clock.Advance(step - time.Nanosecond)
	}
	finds, writes := c.counts()
	if finds != usesPerMinute || writes != 1 {
		t.Errorf("%d uses in one minute: %d reads, %d writes; want %d and 1", usesPerMinute, finds, writes, usesPerMinute)
	}
}
