package rie_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/ddblocal"
	"github.com/kudurrustone/apikeys/functions/internal/faults"
	"github.com/kudurrustone/apikeys/functions/internal/lifecycle"
	"github.com/kudurrustone/apikeys/functions/internal/motoserver"
	"github.com/kudurrustone/apikeys/functions/internal/storetest"
	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

// publishStack starts the named functions and the publisher, all against
// one table (through endpoint, when not ""), the publisher putting events
// on a moto bus whose events land in an SQS queue.
func publishStack(t *testing.T, endpoint string, names ...string) (*stack, *motoserver.Capture) {
	t.Helper()
	capture := motoserver.NewCapture(t, "", `{"source":["`+lifecycle.Source+`"]}`)
	env := map[string]string{"EVENT_BUS_NAME": capture.Bus}
	if endpoint != "" {
		env["DYNAMODB_ENDPOINT"] = endpoint
	}
	return startStackEnv(t, env, append(names, "publisher")...), capture
}

// publish invokes the publisher with raw (a stream event), requires no
// batch item failures, and returns the events delivered to the queue.
func (s *stack) publish(t *testing.T, capture *motoserver.Capture, raw []byte, want int) []motoserver.Envelope {
	t.Helper()
	var resp struct {
		BatchItemFailures []struct {
			ItemIdentifier string `json:"itemIdentifier"`
		} `json:"batchItemFailures"`
	}
	body := s.invoke(t, "publisher", "publish the stream's records", raw)
	if err := json.Unmarshal(body, &resp); err != nil || resp.BatchItemFailures == nil {
		t.Fatalf("publisher answered %s, want a partial batch response", body)
	}
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("batch item failures %v", resp.BatchItemFailures)
	}
	got := capture.Receive(t, want+1, 3*time.Second)
	if len(got) != want {
		t.Fatalf("%d events delivered, want %d", len(got), want)
	}
	return got
}

func detailOf(t *testing.T, e motoserver.Envelope) lifecycle.Detail {
	t.Helper()
	var d lifecycle.Detail
	if err := json.Unmarshal(e.Detail, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestEmulatorPublisher: keys generated and revoked by the deployed
// binaries; the table's stream records, read from DynamoDB Local's stream
// API, invoke the publisher binary; its events reach an SQS queue through a
// moto EventBridge rule, with the right detail types, firm, keys, labels,
// hints and actor, and nothing anywhere holds key material.
func TestEmulatorPublisher(t *testing.T) {
	s, capture := publishStack(t, "", "generate", "revoke")
	stream := ddblocal.OpenStream(t, s.table)
	a := s.generate(t, "Production Integration")
	b := s.generate(t, "Office Sync Tool")
	rev := testkit.Event(t, "revoke-admin-premier.json", map[string]string{"KEY_ID": a.ID})
	if resp := s.proxy(t, "revoke", "revoke the first key", rev); resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d %s", resp.StatusCode, resp.Body)
	}

	raw := stream.Event(t)
	got := s.publish(t, capture, raw, 3)
	type summary struct{ detailType, keyID, label, hint, actor string }
	var sums []summary
	var details []byte
	for _, e := range got {
		d := detailOf(t, e)
		if e.Source != lifecycle.Source || d.FirmID != "acme" || d.Actor == nil || d.CreatedAt == nil || d.ID == "" {
			t.Errorf("event %s: source %s detail %+v", e.DetailType, e.Source, d)
			continue
		}
		sums = append(sums, summary{e.DetailType, d.KeyID, d.Label, d.Hint, *d.Actor})
		details = append(details, e.Detail...)
	}
	want := []summary{
		{lifecycle.DetailGenerated, a.ID, a.Label, a.Hint, "alice"},
		{lifecycle.DetailGenerated, b.ID, b.Label, b.Hint, "alice"},
		{lifecycle.DetailRevoked, a.ID, a.Label, a.Hint, "alice"},
	}
	if !slices.Equal(sums, want) {
		t.Errorf("events\n%v\nwant\n%v", sums, want)
	}
	storetest.AssertNoPlaintext(t, raw, s.plaintexts())
	storetest.AssertNoPlaintext(t, details, s.plaintexts())
	storetest.AssertNoPlaintext(t, []byte(s.emu["publisher"].Output()), s.plaintexts())
}

// TestEmulatorGeneratedEventSurvivesLostAnswer: DynamoDB applies the
// generate function's transaction but its answer is lost (the connection
// drops after the write), so the function cannot know its write happened.
// The key's "API Key Generated" event is delivered all the same, because
// it is published from the stream, not from the function.
func TestEmulatorGeneratedEventSurvivesLostAnswer(t *testing.T) {
	proxy := faults.Start(t, ddblocal.Endpoint(t))
	s, capture := publishStack(t, proxy.URL(), "generate")
	stream := ddblocal.OpenStream(t, s.table)

	proxy.Inject(faults.Fault{Kind: faults.DropAfterForward, Op: "TransactWriteItems", Nth: 1})
	ev := testkit.Event(t, "generate-admin-premier.json", nil)
	var m map[string]any
	if err := json.Unmarshal(ev, &m); err != nil {
		t.Fatal(err)
	}
	m["body"] = `{"label":"Lost Answer"}`
	ev, _ = json.Marshal(m)
	resp := s.proxy(t, "generate", "generate whose write's answer is lost", ev)
	proxy.Clear()
	if n := proxy.Injected()[faults.Fault{Kind: faults.DropAfterForward, Op: "TransactWriteItems", Nth: 1}.String()]; n != 1 {
		t.Fatalf("the fault struck %d times, want 1", n)
	}
	t.Logf("generate answered %d after its write's answer was lost", resp.StatusCode)
	if resp.StatusCode == http.StatusCreated {
		var k keyJSON
		_ = json.Unmarshal([]byte(resp.Body), &k)
		s.mu.Lock()
		s.keys = append(s.keys, k.Key)
		s.mu.Unlock()
	}

	// Every generate the table recorded, the lost one included, is
	// published.
	raw := stream.Event(t)
	var recs struct {
		Records []struct {
			Dynamodb struct {
				NewImage map[string]map[string]any `json:"NewImage"`
			} `json:"dynamodb"`
		} `json:"Records"`
	}
	if err := json.Unmarshal(raw, &recs); err != nil {
		t.Fatal(err)
	}
	var written []string
	for _, r := range recs.Records {
		if r.Dynamodb.NewImage["type"]["S"] == "audit" {
			written = append(written, r.Dynamodb.NewImage["keyId"]["S"].(string))
		}
	}
	if len(written) == 0 {
		t.Fatal("the stream holds no generate: the write was not applied")
	}
	got := s.publish(t, capture, raw, len(written))
	var published []string
	for _, e := range got {
		d := detailOf(t, e)
		if e.DetailType != lifecycle.DetailGenerated || d.Label != "Lost Answer" || !strings.HasPrefix(d.Hint, "kst_") {
			t.Errorf("event %s %+v", e.DetailType, d)
		}
		published = append(published, d.KeyID)
	}
	if !slices.Equal(published, written) {
		t.Errorf("published %v, written %v", published, written)
	}
	if keys := s.plaintexts(); len(keys) > 0 {
		storetest.AssertNoPlaintext(t, raw, keys)
	}
}

// TestEmulatorExpiry: a key expiring in two days; the expiry function,
// invoked twice as its schedule would, warns once; the publisher turns the
// warning (read from the stream) into "API Key Expiring" on the bus.
func TestEmulatorExpiry(t *testing.T) {
	s, capture := publishStack(t, "", "generate", "expiry")
	stream := ddblocal.OpenStream(t, s.table)
	exp := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Millisecond)
	ev := testkit.Event(t, "generate-admin-premier.json", nil)
	var m map[string]any
	if err := json.Unmarshal(ev, &m); err != nil {
		t.Fatal(err)
	}
	m["body"] = `{"label":"Trial Integration","expiresAt":"` + exp.Format(time.RFC3339Nano) + `"}`
	ev, _ = json.Marshal(m)
	resp := s.proxy(t, "generate", "generate a key expiring in two days", ev)
	var k keyJSON
	if resp.StatusCode != http.StatusCreated || json.Unmarshal([]byte(resp.Body), &k) != nil {
		t.Fatalf("generate: %d %s", resp.StatusCode, resp.Body)
	}
	s.mu.Lock()
	s.keys = append(s.keys, k.Key)
	s.mu.Unlock()

	for i, want := range []string{`"warned":1`, `"warned":0`} {
		body := s.invoke(t, "expiry", fmt.Sprintf("scheduled run %d", i+1), testkit.Event(t, "expiry-scheduled.json", nil))
		if !strings.Contains(string(body), want) {
			t.Errorf("run %d answered %s, want %s", i+1, body, want)
		}
	}
	raw := stream.Event(t)
	got := s.publish(t, capture, raw, 2)
	if got[0].DetailType != lifecycle.DetailGenerated || got[1].DetailType != lifecycle.DetailExpiring {
		t.Fatalf("detail types %s, %s", got[0].DetailType, got[1].DetailType)
	}
	d := detailOf(t, got[1])
	if d.KeyID != k.ID || d.FirmID != "acme" || d.Label != "Trial Integration" || d.Hint != k.Hint ||
		d.ExpiresAt == nil || *d.ExpiresAt != exp.Format(lifecycle.TimeLayout) || d.Actor != nil {
		t.Errorf("expiring detail %+v", d)
	}
	storetest.AssertNoPlaintext(t, raw, s.plaintexts())
	storetest.AssertNoPlaintext(t, got[1].Detail, s.plaintexts())
}
