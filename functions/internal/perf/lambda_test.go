package perf_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/ddblocal"
	"github.com/kudurrustone/apikeys/functions/internal/ddbstore"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
	"github.com/kudurrustone/apikeys/functions/internal/pepper"
	"github.com/kudurrustone/apikeys/functions/internal/rie"
	"github.com/kudurrustone/apikeys/functions/internal/smfake"
	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

// functionNames are the deployed functions, each a folder under functions/
// and, built for Lambda, under .build/ (linux/arm64, make build). "hello"
// is the hello-world baseline of package rie.
var functionNames = []string{"authorizer", "list", "generate", "update", "roll", "revoke", "auditevents", "whoami", "rotation", "publisher", "expiry"}

const (
	helloPkg   = "./functions/internal/rie/testdata/hello"
	getItemPkg = "./functions/internal/rie/testdata/getitem"
)

const (
	coldStarts  = 9  // emulators started per function for the init figure
	warmInvokes = 50 // warm invokes the median is taken over
)

const (
	pepperSecretName = "kudurrustone-api-keys-pepper"
	// 64 characters, as the template's GenerateSecretString makes.
	pepperSecretValue = `{"current":"1","1":"q5Xr0hFv3mW8kT2zLb7NcY4pJs9dGe6uAi1oRwQx0EyVnMfKtHlSaPgZjCuBbDdI"}`
)

// sizeRows compares each deployed bootstrap's size (linux/arm64, .build/,
// which make bench builds first) with hello-world's, built the same way.
func sizeRows(tb testing.TB) []row {
	tb.Helper()
	root, err := testkit.RepoRoot()
	if err != nil {
		tb.Fatal(err)
	}
	size := func(path string) float64 {
		info, err := os.Stat(path)
		if err != nil {
			tb.Fatalf("%v: run `make build build-hello` (make bench does)", err)
		}
		return float64(info.Size()) / (1 << 20)
	}
	hello := size(filepath.Join(root, ".build", "hello", "bootstrap"))
	var rows []row
	for _, fn := range functionNames {
		rows = append(rows, row{name: fmt.Sprintf("bootstrap size: %s (linux/arm64)", fn),
			ours: size(filepath.Join(root, ".build", fn, "bootstrap")), base: hello, unit: "MiB", baseName: "hello-world, same build", target: 1.5})
	}
	return rows
}

// lambdaStack is what the authorizer bootstrap needs under the emulator: a
// table on DynamoDB Local, the pepper in a Secrets Manager fake, and a key.
type lambdaStack struct {
	env   map[string]string
	plain string
	// getItem is the getitem baseline's event: the key's credential item,
	// the one the authorizer reads.
	getItem []byte
}

func newLambdaStack(tb testing.TB) *lambdaStack {
	tb.Helper()
	client, table := ddblocal.NewTable(tb)
	sm := smfake.New(tb)
	sm.SetSecret(pepperSecretName, pepperSecretValue)
	set, err := pepper.Parse(pepperSecretValue)
	if err != nil {
		tb.Fatal(err)
	}
	svc := keyservice.New(ddbstore.New(client, table), testkit.Peppers{Set: set}, keyservice.Config{Logger: discardLog()})
	key, plain, err := svc.Generate(context.Background(), admin, keyservice.GenerateInput{Label: "Emulator"})
	if err != nil {
		tb.Fatal(err)
	}
	getItem := []byte(`{"pk":"CRED#` + key.Digest.String() + `","sk":"CRED"}`)
	return &lambdaStack{plain: plain, getItem: getItem, env: map[string]string{
		"AWS_REGION":                  smfake.Region,
		"AWS_ACCESS_KEY_ID":           "test",
		"AWS_SECRET_ACCESS_KEY":       "test",
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_LAMBDA_FUNCTION_NAME":    "authorizer",
		"AWS_LAMBDA_FUNCTION_TIMEOUT": "10",
		"TABLE_NAME":                  table,
		"DYNAMODB_ENDPOINT":           ddblocal.Endpoint(tb),
		"SECRETSMANAGER_ENDPOINT":     sm.URL(),
		"PEPPER_SECRET_ARN":           sm.ARN(pepperSecretName),
	}}
}

// invoke invokes e with payload and fails unless ok accepts the answer, so
// that no figure times a call that did something else than its row says
// (a denied key, an item not found, a failed invocation).
func invoke(tb testing.TB, e *rie.Emulator, payload []byte, ok func(answer []byte) bool) rie.Report {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	status, body, rep, err := e.Invoke(ctx, payload)
	if err != nil || status != http.StatusOK {
		tb.Fatalf("%s: %d %s %v", e.Name, status, body, err)
	}
	if !ok(body) {
		tb.Fatalf("%s: unexpected answer %.300s", e.Name, body)
	}
	return rep
}

// anyAnswer accepts hello-world's answer, whatever it is.
func anyAnswer([]byte) bool { return true }

// found reports whether the getitem baseline found its item.
func found(answer []byte) bool {
	var v struct {
		Found bool `json:"found"`
	}
	return json.Unmarshal(answer, &v) == nil && v.Found
}

// subject is a function under the emulator, the event it gets and what its
// answer must be.
type subject struct {
	e       *rie.Emulator
	payload []byte
	ok      func(answer []byte) bool
}

func median(ds []time.Duration) time.Duration {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2]
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// coldStart starts a fresh emulator and returns the function's init as the
// emulator sees it: its Init Duration (starting the process) plus the first
// invoke's Duration, which waits for the runtime's first /next, so it holds
// everything main does before lambda.Start (for us: the SDK configuration
// and the pepper fetch) and a trivial invoke.
func coldStart(tb testing.TB, name, bootstrap string, env map[string]string, payload []byte, ok func([]byte) bool) (time.Duration, *rie.Emulator) {
	tb.Helper()
	e := rie.Start(tb, name, bootstrap, env)
	rep := invoke(tb, e, payload, ok)
	if rep.Init <= 0 {
		tb.Fatalf("%s: the first invoke has no Init Duration", name)
	}
	return rep.Init + rep.Duration, e
}

// initRoundTrips reads the authorizer's "init round trips done" log line:
// how long the pepper fetch and the DynamoDB warm-up took, concurrently.
func initRoundTrips(tb testing.TB, e *rie.Emulator) (pepper, warmUp time.Duration) {
	tb.Helper()
	for _, line := range strings.Split(e.Output(), "\n") {
		var l struct {
			Msg      string  `json:"msg"`
			PepperMs float64 `json:"pepperLoadMs"`
			WarmUpMs float64 `json:"dynamodbWarmUpMs"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "init round trips done" {
			return time.Duration(l.PepperMs * float64(time.Millisecond)), time.Duration(l.WarmUpMs * float64(time.Millisecond))
		}
	}
	tb.Fatalf("authorizer: no init round trips line in %q", e.Output())
	return 0, 0
}

// warmMedians invokes each emulator once cold, then warmInvokes times in
// turn (so each sees the same idle gaps and machine load), and returns
// each one's median REPORT Duration.
func warmMedians(tb testing.TB, subjects []subject) []time.Duration {
	tb.Helper()
	ds := make([][]time.Duration, len(subjects))
	for _, s := range subjects {
		invoke(tb, s.e, s.payload, s.ok) // cold
	}
	for range warmInvokes {
		for i, s := range subjects {
			ds[i] = append(ds[i], invoke(tb, s.e, s.payload, s.ok).Duration)
		}
	}
	out := make([]time.Duration, len(subjects))
	for i := range ds {
		out[i] = median(ds[i])
	}
	return out
}

// lambdaRows measures the authorizer bootstrap, hello-world and the bare
// GetItem function under the emulator, alternately, in the same run.
// tightGetItemMs is the in-process bare GetItem, issued back to back.
func lambdaRows(tb testing.TB, tightGetItemMs float64) []row {
	tb.Helper()
	hello := rie.Bootstrap(tb, "hello", helloPkg)
	getItem := rie.Bootstrap(tb, "getitem", getItemPkg)
	auth := rie.Bootstrap(tb, "authorizer", "./functions/authorizer")
	s := newLambdaStack(tb)
	helloEnv := map[string]string{"AWS_REGION": "us-east-1", "AWS_LAMBDA_FUNCTION_NAME": "hello", "AWS_LAMBDA_FUNCTION_TIMEOUT": "10"}
	helloEvent := []byte(`{}`)
	// A malformed key is denied without a table read: the first invoke is
	// the init alone (plus a trivial decision).
	malformed := testkit.Event(tb, "authorizer-http-malformed.json", nil)
	valid := httpEvent(tb, s.plain)

	var hInit, gInit, aInit, peppers, warmUps []time.Duration
	for range coldStarts {
		h, _ := coldStart(tb, "hello", hello, helloEnv, helloEvent, anyAnswer)
		g, _ := coldStart(tb, "getitem", getItem, s.env, s.getItem, found)
		a, e := coldStart(tb, "authorizer", auth, s.env, malformed, denied)
		p, w := initRoundTrips(tb, e)
		hInit, gInit, aInit, peppers, warmUps = append(hInit, h), append(gInit, g), append(aInit, a), append(peppers, p), append(warmUps, w)
	}
	w := warmMedians(tb, []subject{
		{rie.Start(tb, "hello", hello, helloEnv), helloEvent, anyAnswer},
		{rie.Start(tb, "getitem", getItem, s.env), s.getItem, found},
		{rie.Start(tb, "authorizer", auth, s.env), valid, allowed},
	})
	hWarm, gWarm, aWarm := w[0], w[1], w[2]
	return []row{
		{name: fmt.Sprintf("Lambda cold start under the emulator (median of %d)", coldStarts), ours: msOf(median(aInit)), base: msOf(median(hInit)),
			unit: "ms", baseName: "hello-world, same build+run", target: 1.25,
			note: fmt.Sprintf("cold start = emulator Init Duration + first invoke Duration (malformed key: no table read); fastest: %.2f ms vs %.2f ms; "+
				"init's concurrent round trips (medians): pepper fetch %.2f ms, DynamoDB warm-up (new connection + GetItem) %.2f ms",
				msOf(slices.Min(aInit)), msOf(slices.Min(hInit)), msOf(median(peppers)), msOf(median(warmUps)))},
		{name: "  cold start", ours: msOf(median(aInit)), base: msOf(median(gInit)),
			unit: "ms", baseName: "bare GetItem function's",
			note: "the baseline's first invoke makes its first GetItem: the floor of a function that reads DynamoDB on its first request"},
		{name: fmt.Sprintf("Lambda warm invoke, valid key (median of %d)", warmInvokes), ours: msOf(aWarm), base: msOf(hWarm),
			unit: "ms", baseName: "hello-world, same build+run"},
		{name: "  warm invoke above hello-world's", ours: msOf(aWarm - hWarm), base: msOf(gWarm - hWarm),
			unit: "ms", baseName: "bare GetItem function's", target: 1.25,
			note: "the baseline: hello-world plus one bare SDK GetItem of the same item, invoked in turn with the authorizer and hello-world"},
		{name: "  warm invoke above hello-world's", ours: msOf(aWarm - hWarm), base: tightGetItemMs,
			unit: "ms", baseName: "bare GetItem in process",
			note: "the in-process GetItem runs back to back on a busy connection; under the emulator each invoke first wakes idle processes"},
	}
}

// TestLambdaSubjects: the functions make bench times under the emulator
// answer as its rows say: the bare GetItem baseline finds the credential
// item the authorizer reads, and the authorizer denies the malformed key of
// the cold-start row and allows the valid key of the warm row.
func TestLambdaSubjects(t *testing.T) {
	s := newLambdaStack(t)
	getItem := rie.Start(t, "getitem", rie.Bootstrap(t, "getitem", getItemPkg), s.env)
	auth := rie.Start(t, "authorizer", rie.Bootstrap(t, "authorizer", "./functions/authorizer"), s.env)
	invoke(t, getItem, s.getItem, found)
	invoke(t, getItem, []byte(`{"pk":"CRED#00","sk":"CRED"}`), func(b []byte) bool { return !found(b) })
	invoke(t, auth, testkit.Event(t, "authorizer-http-malformed.json", nil), denied)
	invoke(t, auth, httpEvent(t, s.plain), allowed)
}
