package lifecycle_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/kudurrustone/apikeys/functions/internal/eventbus"
	"github.com/kudurrustone/apikeys/functions/internal/lifecycle"
	"github.com/kudurrustone/apikeys/functions/internal/motoserver"
)

// refuse passes PutEvents to moto but refuses the entries whose Detail
// holds one of the key ids in refused, answering for them as EventBridge
// does in a partly failed call (FailedEntryCount, an ErrorCode per entry).
// moto itself never refuses a well-formed entry.
type refuse struct {
	next    eventbus.PutEventsAPI
	refused []string
	calls   [][]string // detail types per call
}

func (r *refuse) PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	var pass []types.PutEventsRequestEntry
	var call []string
	refusedAt := map[int]bool{}
	for i, e := range in.Entries {
		call = append(call, aws.ToString(e.DetailType))
		var d lifecycle.Detail
		if err := json.Unmarshal([]byte(aws.ToString(e.Detail)), &d); err != nil {
			return nil, err
		}
		if slices.Contains(r.refused, d.KeyID) {
			refusedAt[i] = true
			continue
		}
		pass = append(pass, e)
	}
	r.calls = append(r.calls, call)
	out := &eventbridge.PutEventsOutput{}
	if len(pass) > 0 {
		got, err := r.next.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: pass}, opts...)
		if err != nil {
			return nil, err
		}
		out.FailedEntryCount = got.FailedEntryCount
		out.Entries = got.Entries
	}
	var entries []types.PutEventsResultEntry
	for i := range in.Entries {
		if refusedAt[i] {
			entries = append(entries, types.PutEventsResultEntry{ErrorCode: aws.String("InternalFailure"), ErrorMessage: aws.String("try again")})
			out.FailedEntryCount++
			continue
		}
		entries, out.Entries = append(entries, out.Entries[0]), out.Entries[1:]
	}
	out.Entries = entries
	return out, nil
}

// TestPartialFailureFailsOnlyThoseRecords: 12 keys give 12 events in two
// PutEvents calls (10 + 2); EventBridge refuses two of them; exactly their
// stream records are reported as batch item failures, and the other ten
// events are delivered.
func TestPartialFailureFailsOnlyThoseRecords(t *testing.T) {
	w := newWorld(t, "")
	var ids []string
	for range 12 {
		ids = append(ids, w.generate(t, "Integration").ID)
	}
	api := &refuse{next: motoserver.EventBridge(t), refused: []string{ids[3], ids[11]}}
	w.handler.Sink = &eventbus.Sink{API: api, Bus: w.capture.Bus}

	raw, resp := w.publish(t)
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, r := range ev.Records {
		if r.Change.NewImage["type"].String() == "audit" && slices.Contains(api.refused, r.Change.NewImage["keyId"].String()) {
			want = append(want, r.Change.SequenceNumber)
		}
	}
	var failed []string
	for _, f := range resp.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	if len(want) != 2 || !slices.Equal(failed, want) {
		t.Errorf("failures %v, want %v", failed, want)
	}
	if len(api.calls) != 2 || len(api.calls[0]) != 10 || len(api.calls[1]) != 2 {
		t.Errorf("PutEvents calls %v, want 10 then 2 entries", api.calls)
	}
	got, _ := w.receive(t, 10)
	for _, e := range got {
		if slices.Contains(api.refused, e.Detail.KeyID) {
			t.Errorf("a refused event was delivered: %s", e.Detail.KeyID)
		}
	}
}

// TestUndecodableRecordFails: an audit item the store cannot decode is a
// failure of that record alone (retried, then sent to the on-failure
// destination), never silently dropped.
func TestUndecodableRecordFails(t *testing.T) {
	w := newWorld(t, "")
	w.generate(t, "Accounting Export")
	raw := w.stream.Event(t)
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	var broken string
	for i, r := range ev.Records {
		if r.Change.NewImage["type"].String() == "audit" {
			ev.Records[i].Change.NewImage["at"] = events.NewStringAttribute("not a time")
			broken = r.Change.SequenceNumber
		}
	}
	resp, err := w.handler.Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != broken {
		t.Errorf("failures %v, want [%s]", resp.BatchItemFailures, broken)
	}
}

// TestSendErrors: a call EventBridge rejects fails every entry in it.
func TestSendErrors(t *testing.T) {
	failing := apiFunc(func(context.Context, *eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error) {
		return nil, errors.New("connection reset")
	})
	sink := &eventbus.Sink{API: failing}
	evs := []lifecycle.Event{{DetailType: lifecycle.DetailGenerated, Time: time.Now()}, {DetailType: lifecycle.DetailRevoked, Time: time.Now()}}
	for i, err := range sink.Send(context.Background(), evs) {
		if err == nil {
			t.Errorf("event %d: no error", i)
		}
	}
}

type apiFunc func(context.Context, *eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error)

func (f apiFunc) PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	return f(ctx, in)
}
