package lifecycle_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/kudurrustone/apikeys/functions/internal/ddblocal"
	"github.com/kudurrustone/apikeys/functions/internal/ddbstore"
	"github.com/kudurrustone/apikeys/functions/internal/eventbus"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
	"github.com/kudurrustone/apikeys/functions/internal/lifecycle"
	"github.com/kudurrustone/apikeys/functions/internal/motoserver"
	"github.com/kudurrustone/apikeys/functions/internal/storetest"
	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

func TestMain(m *testing.M) {
	code := ddblocal.Main(m)
	motoserver.Stop()
	os.Exit(code)
}

const pattern = `{"source":["kudurrustone.api-keys"]}`

// world is a keys table on DynamoDB Local with its stream, the service over
// it, and a publisher to a moto event bus whose events land in a queue.
type world struct {
	store   *ddbstore.Store
	svc     *keyservice.Service
	stream  *ddblocal.Stream
	capture *motoserver.Capture
	handler *lifecycle.StreamHandler
	logs    *testkit.SyncBuffer
	admin   keyservice.Admin
	keys    []string // plaintext keys, for the leak scans
}

func newWorld(t *testing.T, bus string) *world {
	t.Helper()
	client, table := ddblocal.NewTable(t)
	w := &world{logs: &testkit.SyncBuffer{}, stream: ddblocal.OpenStream(t, table)}
	w.store = ddbstore.New(client, table)
	log := slog.New(slog.NewJSONHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w.svc = keyservice.New(w.store, testkit.Peppers{Set: storetest.TestPepperSet(t, "1")}, keyservice.Config{Logger: log})
	w.capture = motoserver.NewCapture(t, "", pattern)
	if bus == "" {
		bus = w.capture.Bus
	}
	w.handler = &lifecycle.StreamHandler{
		Decode: ddbstore.DecodeChange,
		Keys:   w.store,
		Sink:   &eventbus.Sink{API: motoserver.EventBridge(t), Bus: bus},
		Logger: log,
	}
	w.admin = keyservice.Admin{Subject: "alice", FirmID: "acme", IsAdmin: true, IsPremier: true, SourceIP: "203.0.113.7"}
	return w
}

func (w *world) generate(t *testing.T, label string) keyservice.Key {
	t.Helper()
	k, plain, err := w.svc.Generate(context.Background(), w.admin, keyservice.GenerateInput{Label: label})
	if err != nil {
		t.Fatal(err)
	}
	w.keys = append(w.keys, plain)
	return k
}

func (w *world) revoke(t *testing.T, id string) {
	t.Helper()
	if _, err := w.svc.Revoke(context.Background(), w.admin, id); err != nil {
		t.Fatal(err)
	}
}

// publish hands the stream's new records to the handler, as the event
// source mapping would, and returns the raw event and the response.
func (w *world) publish(t *testing.T) ([]byte, events.DynamoDBEventResponse) {
	t.Helper()
	raw := w.stream.Event(t)
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	resp, err := w.handler.Handle(context.Background(), ev)
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	return raw, resp
}

// received is what a consumer of the bus sees of one event.
type received struct {
	DetailType string
	Detail     lifecycle.Detail
	Time       string
}

func (w *world) receive(t *testing.T, n int) ([]received, []byte) {
	t.Helper()
	var out []received
	var all []byte
	for _, e := range w.capture.Receive(t, n+1, 3*time.Second) {
		if e.Source != lifecycle.Source {
			t.Errorf("source %q", e.Source)
		}
		var d lifecycle.Detail
		dec := json.NewDecoder(bytes.NewReader(e.Detail))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&d); err != nil {
			t.Fatalf("detail %s: %v", e.Detail, err)
		}
		out = append(out, received{DetailType: e.DetailType, Detail: d, Time: e.Time})
		all = append(all, e.Detail...)
	}
	if len(out) != n {
		t.Fatalf("received %d events, want %d: %+v", len(out), n, out)
	}
	return out, all
}

func ptr(s string) *string { return &s }

func ms(t time.Time) string { return t.UTC().Format(lifecycle.TimeLayout) }

// TestPublishFromStream: generate and revoke through the service on
// DynamoDB Local; the stream's records, handed to the publisher, become
// "API Key Generated" and "API Key Revoked" on a moto event bus, which a
// rule delivers to an SQS queue: received, they carry firm, key, label,
// hint, actor and times, and no key material anywhere (stream records,
// events, logs). A repeated revoke publishes nothing.
func TestPublishFromStream(t *testing.T) {
	w := newWorld(t, "")
	k := w.generate(t, "Production Integration")
	w.revoke(t, k.ID)
	w.revoke(t, k.ID) // idempotent: no audit record, no event

	raw, resp := w.publish(t)
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("batch item failures %v; logs:\n%s", resp.BatchItemFailures, w.logs.Bytes())
	}
	got, details := w.receive(t, 2)

	stored, err := w.store.GetKey(context.Background(), "acme", k.ID)
	if err != nil {
		t.Fatal(err)
	}
	audit, err := w.store.ListAudit(context.Background(), "acme", "", "", 0)
	slices.Reverse(audit) // oldest first
	if err != nil || len(audit) != 2 {
		t.Fatalf("audit %v %v", audit, err)
	}
	base := lifecycle.Detail{FirmID: "acme", KeyID: k.ID, Label: "Production Integration", Hint: k.Hint,
		Actor: ptr("alice"), SourceIP: ptr("203.0.113.7"), CreatedAt: ptr(ms(k.CreatedAt)),
		RevokedAt: ptr(ms(stored.RevokedAt)), Details: map[string]any{}}
	gen, rev := base, base
	gen.Action, gen.At = audit[0].Action, ms(audit[0].At)
	rev.Action, rev.At = audit[1].Action, ms(audit[1].At)
	want := []received{
		{DetailType: lifecycle.DetailGenerated, Detail: gen},
		{DetailType: lifecycle.DetailRevoked, Detail: rev},
	}
	for i := range got {
		if got[i].Detail.ID == "" {
			t.Errorf("event %d has no id", i)
		}
		want[i].Detail.ID = got[i].Detail.ID
		if got[i].Time != audit[i].At.UTC().Format(time.RFC3339) {
			t.Errorf("event %d time %s, want %s", i, got[i].Time, audit[i].At.UTC().Format(time.RFC3339))
		}
		want[i].Time = got[i].Time
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("received events (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(k.Hint, "kst_") {
		t.Errorf("hint %q", k.Hint)
	}
	storetest.AssertNoPlaintext(t, raw, w.keys)
	storetest.AssertNoPlaintext(t, details, w.keys)
	storetest.AssertNoPlaintext(t, w.logs.Bytes(), w.keys)

	// Redelivery (Lambda retries a batch) publishes the same ids again, so
	// consumers can drop the repeat.
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	if resp, err := w.handler.Handle(context.Background(), ev); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("redelivery: %v %v", resp, err)
	}
	again, _ := w.receive(t, 2)
	for i := range again {
		if again[i].Detail.ID != got[i].Detail.ID {
			t.Errorf("redelivered event %d has id %s, first %s", i, again[i].Detail.ID, got[i].Detail.ID)
		}
	}
}

// TestPublishFailureFailsRecords: when EventBridge refuses the call (here a
// bus that does not exist on moto), every record that carried an event is
// reported as a batch item failure, and records that carry none are not.
func TestPublishFailureFailsRecords(t *testing.T) {
	w := newWorld(t, "no-such-bus")
	k := w.generate(t, "Office Sync Tool")
	w.revoke(t, k.ID)
	raw, resp := w.publish(t)
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	var auditSeqs []string
	for _, r := range ev.Records {
		if r.Change.NewImage["type"].String() == "audit" {
			auditSeqs = append(auditSeqs, r.Change.SequenceNumber)
		}
	}
	if len(auditSeqs) != 2 || len(ev.Records) <= 2 {
		t.Fatalf("%d records, %d audit records", len(ev.Records), len(auditSeqs))
	}
	var failed []string
	for _, f := range resp.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	if !reflect.DeepEqual(failed, auditSeqs) {
		t.Errorf("failures %v, want the audit records %v", failed, auditSeqs)
	}
	storetest.AssertNoPlaintext(t, w.logs.Bytes(), w.keys)
}
