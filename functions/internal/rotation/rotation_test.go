package rotation_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/kudurrustone/apikeys/functions/internal/motoserver"
	"github.com/kudurrustone/apikeys/functions/internal/pepper"
	"github.com/kudurrustone/apikeys/functions/internal/rotation"
	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(motoserver.Main(m)) }

const staleness = 65 * time.Minute // pepper defaults: 5m refresh + 1h grace

type fixture struct {
	sm     *secretsmanager.Client
	clock  *testkit.Clock
	logs   *bytes.Buffer
	rot    *rotation.Rotator
	secret string // ARN
}

// newFixture creates an empty secret on moto_server, as the template does.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{sm: motoserver.SecretsManager(t), clock: testkit.NewClock(time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)), logs: &bytes.Buffer{}}
	out, err := f.sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String(motoserver.Name("pepper"))})
	if err != nil {
		t.Fatal(err)
	}
	f.secret = aws.ToString(out.ARN)
	f.rot, err = rotation.New(f.sm, rotation.Config{MaxStaleness: staleness, Now: f.clock.Now,
		Logger: slog.New(slog.NewJSONHandler(f.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.noPepperIn(t, f.logs.String(), "logs") })
	return f
}

// noPepperIn fails if s holds any pepper of the secret's versions.
func (f *fixture) noPepperIn(t *testing.T, s, what string) {
	t.Helper()
	desc, err := f.sm.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(f.secret)})
	if err != nil {
		return
	}
	for id := range desc.VersionIdsToStages {
		out, err := f.sm.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(f.secret), VersionId: aws.String(id)})
		if err != nil {
			continue
		}
		d, err := pepper.ParseDocument(aws.ToString(out.SecretString))
		if err != nil {
			continue
		}
		for v, p := range d.Peppers {
			if strings.Contains(s, p) {
				t.Errorf("%s contain the pepper of version %s", what, v)
			}
		}
	}
}

func (f *fixture) stage(t *testing.T, stage string) (pepper.Document, string) {
	t.Helper()
	out, err := f.sm.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(f.secret), VersionStage: aws.String(stage)})
	if err != nil {
		t.Fatalf("read %s: %v", stage, err)
	}
	d, err := pepper.ParseDocument(aws.ToString(out.SecretString))
	if err != nil {
		t.Fatalf("%s: %v", stage, err)
	}
	return d, aws.ToString(out.VersionId)
}

func (f *fixture) step(t *testing.T, step, token string) error {
	t.Helper()
	return f.rot.Rotate(t.Context(), events.SecretsManagerSecretRotationEvent{Step: step, SecretID: f.secret, ClientRequestToken: token})
}

// rotate runs the four steps as Secrets Manager does.
func (f *fixture) rotate(t *testing.T, token string) {
	t.Helper()
	for _, s := range []string{rotation.StepCreate, rotation.StepSet, rotation.StepTest, rotation.StepFinish} {
		if err := f.step(t, s, token); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func TestInitialise(t *testing.T) {
	f := newFixture(t)
	created, err := f.rot.Initialise(t.Context(), f.secret)
	if err != nil || !created {
		t.Fatalf("Initialise on an empty secret = %v, %v; want created", created, err)
	}
	first, _ := f.stage(t, rotation.StageCurrent)
	if first.Current != "1" || !slices.Equal(first.Versions(), []string{"1"}) || first.Next != "" || len(first.Peppers["1"]) != 43 {
		t.Fatalf("first version %v (pepper length %d), want version 1 alone, 43 characters", first, len(first.Peppers["1"]))
	}
	// Again, and after a rotation: nothing is overwritten.
	f.rotate(t, "11111111-1111-4111-8111-111111111111")
	rotated, _ := f.stage(t, rotation.StageCurrent)
	for range 2 {
		created, err := f.rot.Initialise(t.Context(), f.secret)
		if err != nil || created {
			t.Fatalf("Initialise on a secret with a value = %v, %v; want left alone", created, err)
		}
	}
	if again, _ := f.stage(t, rotation.StageCurrent); !maps.Equal(again.Peppers, rotated.Peppers) || again.Next != rotated.Next {
		t.Errorf("Initialise changed a rotated secret: %v, was %v", again, rotated)
	}
}

func TestRotationSteps(t *testing.T) {
	f := newFixture(t)
	if _, err := f.rot.Initialise(t.Context(), f.secret); err != nil {
		t.Fatal(err)
	}
	before, beforeID := f.stage(t, rotation.StageCurrent)
	const token = "22222222-2222-4222-8222-222222222222"
	start := f.clock.Now()

	if err := f.step(t, rotation.StepCreate, token); err != nil {
		t.Fatal(err)
	}
	pending, pendingID := f.stage(t, rotation.StagePending)
	if pendingID != token {
		t.Errorf("pending version id %s, want the request token", pendingID)
	}
	if cur, id := f.stage(t, rotation.StageCurrent); id != beforeID || !maps.Equal(cur.Peppers, before.Peppers) {
		t.Fatal("createSecret changed the current version")
	}
	for v, p := range before.Peppers {
		if pending.Peppers[v] != p {
			t.Errorf("pending value changed or dropped version %s", v)
		}
	}
	if pending.Current != "1" || pending.Next != "2" || len(pending.Peppers["2"]) != 43 || pending.Peppers["2"] == pending.Peppers["1"] {
		t.Errorf("pending %v: want current 1 and a new, different version 2", pending)
	}
	if lead := pending.NextFrom.Sub(start); lead < staleness+rotation.DefaultMargin || lead > staleness+rotation.DefaultMargin+2*time.Second {
		t.Errorf("version 2 takes over %v after createSecret, want MaxStaleness + margin = %v", lead, staleness+rotation.DefaultMargin)
	}
	// Repeated steps change nothing (Secrets Manager retries).
	if err := f.step(t, rotation.StepCreate, token); err != nil {
		t.Fatal(err)
	}
	if again, _ := f.stage(t, rotation.StagePending); !maps.Equal(again.Peppers, pending.Peppers) {
		t.Error("a repeated createSecret wrote another value")
	}
	for _, s := range []string{rotation.StepSet, rotation.StepTest} {
		if err := f.step(t, s, token); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	f.clock.Advance(time.Minute)
	if err := f.step(t, rotation.StepFinish, token); err != nil {
		t.Fatal(err)
	}
	cur, curID := f.stage(t, rotation.StageCurrent)
	if curID != token || !maps.Equal(cur.Peppers, pending.Peppers) {
		t.Errorf("after finishSecret AWSCURRENT is %s, want the pending version %s", curID, token)
	}
	if _, prevID := f.stage(t, "AWSPREVIOUS"); prevID != beforeID {
		t.Errorf("AWSPREVIOUS is %s, want the old current %s", prevID, beforeID)
	}
	for _, s := range []string{rotation.StepCreate, rotation.StepSet, rotation.StepTest, rotation.StepFinish} {
		if err := f.step(t, s, token); err != nil {
			t.Errorf("%s after the rotation finished: %v", s, err)
		}
	}

	// A second rotation after version 2 took over promotes it and keeps 1.
	f.clock.Set(pending.NextFrom.Add(time.Hour))
	f.rotate(t, "33333333-3333-4333-8333-333333333333")
	third, _ := f.stage(t, rotation.StageCurrent)
	if third.Current != "2" || third.Next != "3" || !slices.Equal(third.Versions(), []string{"1", "2", "3"}) {
		t.Errorf("second rotation: %v, want current 2, next 3, versions 1 2 3", third)
	}
}

// TestStepsRefuseUnsafeValues puts pending values by hand, as a mistaken
// manual edit would, and requires testSecret and finishSecret to refuse
// each one, leaving AWSCURRENT alone.
func TestStepsRefuseUnsafeValues(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(d *pepper.Document, now time.Time)
		finish time.Duration // clock advance before finishSecret (the check must fail there too)
		want   string
	}{
		{"drops a version", func(d *pepper.Document, now time.Time) {
			delete(d.Peppers, "1")
			d.Current = "2"
			d.Next = ""
			d.NextFrom = time.Time{}
		}, 0, `drops version "1"`},
		{"changes a pepper", func(d *pepper.Document, now time.Time) { d.Peppers["1"] = strings.Repeat("x", 43) }, 0, `changes the pepper of version "1"`},
		{"new version at once (today's one step)", func(d *pepper.Document, now time.Time) { d.Current = "2"; d.Next = ""; d.NextFrom = time.Time{} }, 0, `under version "2" now`},
		{"scheduled too soon", func(d *pepper.Document, now time.Time) { d.NextFrom = now.Add(staleness - time.Minute) }, 0, "before every process has read it"},
		{"finished too late", func(d *pepper.Document, now time.Time) {}, rotation.DefaultMargin + time.Minute, "before every process has read it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if _, err := f.rot.Initialise(t.Context(), f.secret); err != nil {
				t.Fatal(err)
			}
			_, beforeID := f.stage(t, rotation.StageCurrent)
			const token = "44444444-4444-4444-8444-444444444444"
			if err := f.step(t, rotation.StepCreate, token); err != nil {
				t.Fatal(err)
			}
			if tc.finish == 0 {
				// Replace the pending value with the edited one.
				d, _ := f.stage(t, rotation.StagePending)
				tc.edit(&d, f.clock.Now())
				v, err := d.Marshal()
				if err != nil {
					t.Fatal(err)
				}
				const edited = "55555555-5555-4555-8555-555555555555"
				if _, err := f.sm.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(f.secret),
					ClientRequestToken: aws.String(edited), SecretString: aws.String(v), VersionStages: []string{rotation.StagePending}}); err != nil {
					t.Fatal(err)
				}
				if err := f.step(t, rotation.StepTest, edited); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("testSecret: err = %v, want one saying %q", err, tc.want)
				}
				if err := f.step(t, rotation.StepFinish, edited); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("finishSecret: err = %v, want one saying %q", err, tc.want)
				}
			} else {
				f.clock.Advance(tc.finish)
				if err := f.step(t, rotation.StepFinish, token); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("finishSecret: err = %v, want one saying %q", err, tc.want)
				}
			}
			if _, id := f.stage(t, rotation.StageCurrent); id != beforeID {
				t.Error("AWSCURRENT moved although the step failed")
			}
		})
	}
}

// TestCustomResource drives Handle with CloudFormation's custom resource
// events and reads the answers at the ResponseURL, as CloudFormation does.
func TestCustomResource(t *testing.T) {
	f := newFixture(t)
	var mu sync.Mutex
	var answers []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		if r.Method != http.MethodPut || json.Unmarshal(b, &m) != nil {
			t.Errorf("response: %s %s", r.Method, b)
		}
		mu.Lock()
		answers = append(answers, m)
		mu.Unlock()
	}))
	defer srv.Close()
	send := func(requestType string, props map[string]any) map[string]any {
		t.Helper()
		ev, _ := json.Marshal(map[string]any{
			"RequestType": requestType, "RequestId": "req-" + requestType, "ResponseURL": srv.URL + "/answer",
			"ResourceType": "Custom::PepperInit", "LogicalResourceId": "PepperInit", "PhysicalResourceId": f.secret,
			"StackId":            "arn:aws:cloudformation:us-east-1:123456789012:stack/s/x",
			"ResourceProperties": props,
		})
		if _, err := f.rot.Handle(t.Context(), ev); err != nil {
			t.Fatalf("%s: %v", requestType, err)
		}
		mu.Lock()
		defer mu.Unlock()
		return answers[len(answers)-1]
	}
	props := map[string]any{"ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:rotation", "SecretId": f.secret}

	if a := send("Create", props); a["Status"] != "SUCCESS" || a["PhysicalResourceId"] != f.secret || at(a, "Data", "Initialised") != "true" {
		t.Errorf("Create answered %v", a)
	}
	first, firstID := f.stage(t, rotation.StageCurrent)
	for _, rt := range []string{"Update", "Delete"} {
		if a := send(rt, props); a["Status"] != "SUCCESS" {
			t.Errorf("%s answered %v", rt, a)
		}
		if d, id := f.stage(t, rotation.StageCurrent); id != firstID || !maps.Equal(d.Peppers, first.Peppers) {
			t.Errorf("%s changed the secret", rt)
		}
	}
	if a := send("Create", map[string]any{"ServiceToken": "x"}); a["Status"] != "FAILED" || !strings.Contains(a["Reason"].(string), "SecretId") {
		t.Errorf("Create without SecretId answered %v", a)
	}
	mu.Lock()
	all, _ := json.Marshal(answers)
	mu.Unlock()
	f.noPepperIn(t, string(all), "custom resource answers")

	if _, err := f.rot.Handle(t.Context(), json.RawMessage(`{"hello":"world"}`)); err == nil {
		t.Error("an unknown event was accepted")
	}
	const token = "66666666-6666-4666-8666-666666666666"
	if err := f.step(t, rotation.StepCreate, token); err != nil {
		t.Fatal(err)
	}
	if err := f.step(t, "bogusStep", token); err == nil || !strings.Contains(err.Error(), "unknown step") {
		t.Errorf("unknown step: err = %v", err)
	}
}

func at(m map[string]any, k1, k2 string) any {
	inner, _ := m[k1].(map[string]any)
	return inner[k2]
}
