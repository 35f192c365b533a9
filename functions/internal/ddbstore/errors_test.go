package ddbstore_test

import (
	"context"
	"errors"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kudurrustone/apikeys/functions/internal/ddbstore"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

// scripted is a ddbstore.API whose TransactWriteItems returns errs in turn
// (nil once they run out); reads find nothing.
type scripted struct {
	errs  []error
	calls atomic.Int32
}

func (f *scripted) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return &dynamodb.GetItemOutput{}, nil
}

func (f *scripted) Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return &dynamodb.QueryOutput{}, nil
}

func (f *scripted) TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	n := int(f.calls.Add(1)) - 1
	if n < len(f.errs) {
		return nil, f.errs[n]
	}
	return &dynamodb.TransactWriteItemsOutput{}, nil
}

// cancel builds the exception DynamoDB returns for a cancelled transaction,
// one reason code per item ("None" for items that were fine).
func cancel(codes ...string) error {
	reasons := make([]types.CancellationReason, len(codes))
	for i, c := range codes {
		reasons[i] = types.CancellationReason{Code: aws.String(c)}
	}
	return &types.TransactionCanceledException{Message: aws.String("Transaction cancelled"), CancellationReasons: reasons}
}

func repeat(err error, n int) []error {
	out := make([]error, n)
	for i := range out {
		out[i] = err
	}
	return out
}

// errThrottled marks a case whose error must be the cancellation itself.
var errThrottled = errors.New("throttled")

const (
	none     = "None"
	ccf      = "ConditionalCheckFailed"
	conflict = "TransactionConflict"
)

func TestCreateKeyCancellationReasons(t *testing.T) {
	// CreateKey's transaction: key, credential, counter, audit.
	boom := errors.New("connection reset")
	tests := []struct {
		name      string
		errs      []error
		want      error // nil: success
		wantCalls int
	}{
		{"counter condition is the limit", []error{cancel(none, none, ccf, none)}, keyservice.ErrLimitReached, 1},
		{"limit wins over a duplicate", []error{cancel(ccf, none, ccf, none)}, keyservice.ErrLimitReached, 1},
		{"duplicate id", []error{cancel(ccf, none, none, none)}, keyservice.ErrConflict, 1},
		{"duplicate digest", []error{cancel(none, ccf, none, none)}, keyservice.ErrConflict, 1},
		{"duplicate audit record", []error{cancel(none, none, none, ccf)}, keyservice.ErrConflict, 1},
		{"conflict is retried", []error{cancel(none, none, conflict, none), cancel(conflict, none, none, none)}, nil, 3},
		{"conflict then limit", []error{cancel(none, none, conflict, none), cancel(none, none, ccf, none)}, keyservice.ErrLimitReached, 2},
		{"endless conflict", repeat(cancel(none, none, conflict, none), 100), keyservice.ErrConflict, 8},
		{"conflict exception", repeat(&types.TransactionConflictException{Message: aws.String("x")}, 100), keyservice.ErrConflict, 8},
		{"other failure", []error{boom}, boom, 1},
		{"throttled item is retried", []error{cancel(none, none, "ThrottlingError", none)}, nil, 2},
		{"endless throttling is no conflict", repeat(cancel(none, "ProvisionedThroughputExceeded", none, none), 100), errThrottled, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &scripted{errs: tt.errs}
			s := ddbstore.New(api, "keys")
			k := testKey(t, "acme", t0)
			err := s.CreateKey(context.Background(), k, 5, audit(k, keyservice.ActionGenerate, t0))
			switch {
			case tt.want == nil && err != nil:
				t.Fatalf("CreateKey: %v", err)
			case tt.want != nil && err == nil:
				t.Fatalf("CreateKey succeeded, want %v", tt.want)
			}
			if tt.want == errThrottled {
				var tce *types.TransactionCanceledException
				if !errors.As(err, &tce) || errors.Is(err, keyservice.ErrConflict) {
					t.Fatalf("CreateKey: %v, want the cancellation itself", err)
				}
			} else if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("CreateKey: %v, want %v", err, tt.want)
			}
			if tt.want != keyservice.ErrLimitReached && errors.Is(err, keyservice.ErrLimitReached) {
				t.Fatalf("CreateKey: %v must not be ErrLimitReached", err)
			}
			if got := int(api.calls.Load()); got != tt.wantCalls {
				t.Errorf("%d TransactWriteItems calls, want %d", got, tt.wantCalls)
			}
		})
	}
}

func TestTouchLastUsedCancellation(t *testing.T) {
	boom := errors.New("connection reset")
	tests := []struct {
		name      string
		errs      []error
		wrote     bool
		wantErr   error
		wantCalls int
	}{
		{"written", nil, true, nil, 1},
		{"fresh enough", []error{cancel(ccf, none)}, false, nil, 1},
		{"conflict retried", []error{cancel(conflict, none)}, true, nil, 2},
		{"endless conflict is not an authorization failure", repeat(cancel(none, conflict), 100), false, nil, 8},
		{"other failure", []error{boom}, false, boom, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &scripted{errs: tt.errs}
			k := testKey(t, "acme", t0)
			wrote, err := ddbstore.New(api, "keys").TouchLastUsed(context.Background(), k.Digest, "acme", k.ID, t0, netip.Addr{}, t0)
			if wrote != tt.wrote || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("TouchLastUsed = %v, %v; want %v, %v", wrote, err, tt.wrote, tt.wantErr)
			}
			if got := int(api.calls.Load()); got != tt.wantCalls {
				t.Errorf("%d TransactWriteItems calls, want %d", got, tt.wantCalls)
			}
		})
	}
}

func TestRetriesStopWithTheContext(t *testing.T) {
	api := &scripted{errs: repeat(cancel(none, none, conflict, none), 100)}
	ctx, cancelCtx := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancelCtx()
	k := testKey(t, "acme", t0)
	err := ddbstore.New(api, "keys").CreateKey(ctx, k, 5, audit(k, keyservice.ActionGenerate, t0))
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, keyservice.ErrConflict) {
		t.Fatalf("CreateKey: %v", err)
	}
}

func TestNotFound(t *testing.T) {
	s := ddbstore.New(&scripted{}, "keys")
	ctx := context.Background()
	k := testKey(t, "acme", t0)
	if _, err := s.GetKey(ctx, "acme", k.ID); !errors.Is(err, keyservice.ErrNotFound) {
		t.Errorf("GetKey: %v", err)
	}
	if _, err := s.FindCredential(ctx, k.Digest); !errors.Is(err, keyservice.ErrNotFound) {
		t.Errorf("FindCredential: %v", err)
	}
	if _, err := s.RevokeKey(ctx, "acme", k.ID, t0, "bob", audit(k, keyservice.ActionRevoke, t0)); !errors.Is(err, keyservice.ErrNotFound) {
		t.Errorf("RevokeKey: %v", err)
	}
}
