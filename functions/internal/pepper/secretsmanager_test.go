package pepper_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
	"github.com/kudurrustone/apikeys/functions/internal/pepper"
	"github.com/kudurrustone/apikeys/functions/internal/smfake"
	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

const secretName = "kst/pepper"

func newClock() *testkit.Clock {
	return testkit.NewClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
}

// newSMClient is the real SDK client, signed with static credentials and
// pointed at url, with no retries so failure cases stay quick.
func newSMClient(url string) *secretsmanager.Client {
	cfg := aws.Config{
		Region:           smfake.Region,
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG", ""),
		RetryMaxAttempts: 1,
	}
	return pepper.NewClient(cfg, url)
}

type fixture struct {
	fake  *smfake.Server
	clock *testkit.Clock
	logs  *testkit.SyncBuffer
	src   *pepper.SecretsManager
}

func newFixture(t testing.TB, cfg pepper.SecretsManagerConfig) *fixture {
	t.Helper()
	f := &fixture{fake: smfake.New(t), clock: newClock(), logs: &testkit.SyncBuffer{}}
	if cfg.SecretID == "" {
		cfg.SecretID = secretName
	}
	cfg.Now = f.clock.Now
	cfg.Logger = slog.New(slog.NewJSONHandler(f.logs, nil))
	src, err := pepper.NewSecretsManager(newSMClient(f.fake.URL()), cfg)
	if err != nil {
		t.Fatalf("NewSecretsManager: %v", err)
	}
	f.src = src
	if tt, ok := t.(*testing.T); ok {
		tt.Cleanup(func() { f.assertNoSecretInLogs(tt) })
	}
	return f
}

func (f *fixture) assertNoSecretInLogs(t *testing.T) {
	t.Helper()
	logs := f.logs.String()
	for _, p := range []string{testkit.Pepper1, testkit.Pepper2} {
		if strings.Contains(logs, p) {
			t.Errorf("logs contain a pepper:\n%s", logs)
		}
	}
}

// verifies reports whether digest matches key under any version of set,
// the way keyservice.Authorize looks a key up.
func verifies(set apikey.PepperSet, key string, digest apikey.Digest) (string, bool) {
	all := set.All()
	for i := range all {
		if all[i].Hash(key) == digest {
			return all[i].Version, true
		}
	}
	return "", false
}

func newKey(t *testing.T) string {
	t.Helper()
	k, err := apikey.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSecretsManagerLoad(t *testing.T) {
	tests := []struct {
		name     string
		secretID func(f *smfake.Server) string
		value    string
		current  string
		versions []string
	}{
		{"by name", func(*smfake.Server) string { return secretName }, testkit.SecretV1, "1", []string{"1"}},
		{"by ARN", func(f *smfake.Server) string { return f.ARN(secretName) }, testkit.SecretV1, "1", []string{"1"}},
		{"two versions", func(*smfake.Server) string { return secretName }, testkit.SecretV12, "2", []string{"2", "1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := smfake.New(t)
			fake.SetSecret(secretName, tc.value)
			src, err := pepper.NewSecretsManager(newSMClient(fake.URL()), pepper.SecretsManagerConfig{
				SecretID: tc.secretID(fake), Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			if err := src.Load(t.Context()); err != nil {
				t.Fatalf("Load: %v", err)
			}
			set := testkit.LoadPeppers(t, src)
			if got := set.Current().Version; got != tc.current {
				t.Errorf("current = %q, want %q", got, tc.current)
			}
			var got []string
			for _, p := range set.All() {
				got = append(got, p.Version)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.versions) {
				t.Errorf("versions = %v, want %v", got, tc.versions)
			}
			want := testkit.PepperSet(t, "1", map[string]string{"1": testkit.Pepper1})
			p1, _ := set.Lookup("1")
			if p1.Hash("kst_x") != want.Current().Hash("kst_x") {
				t.Error("version 1 does not hash with testkit.Pepper1")
			}
			if calls := fake.Calls(); calls != 1 {
				t.Errorf("calls = %d, want 1", calls)
			}
			if auth := fake.LastAuthorization(); !strings.Contains(auth, "AKIDEXAMPLE/") || !strings.Contains(auth, "/"+smfake.Region+"/secretsmanager/aws4_request") {
				t.Errorf("request not SigV4-signed for secretsmanager in %s: %q", smfake.Region, auth)
			}
		})
	}
}

func TestSecretsManagerCaching(t *testing.T) {
	const refresh = 5 * time.Minute
	tests := []struct {
		name      string
		load      bool            // Load at "init"
		advance   []time.Duration // clock steps, each followed by Peppers
		wantCalls int
		wantCur   string // current version after the steps
	}{
		{"first request fetches without Load", false, []time.Duration{0}, 1, "1"},
		{"cached: many requests, one fetch", true, []time.Duration{0, 0, time.Second, time.Minute}, 1, "1"},
		{"just before the interval: still cached", true, []time.Duration{refresh - time.Nanosecond}, 1, "1"},
		{"after the interval: refetched", true, []time.Duration{refresh}, 2, "2"},
		{"every interval: one fetch each", true, []time.Duration{refresh, time.Second, refresh, refresh}, 4, "2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, pepper.SecretsManagerConfig{Refresh: refresh})
			f.fake.SetSecret(secretName, testkit.SecretV1)
			if tc.load {
				if err := f.src.Load(t.Context()); err != nil {
					t.Fatal(err)
				}
				// Rotated after the load: only a refetch can see it.
				f.fake.SetSecret(secretName, testkit.SecretV12)
			}
			for i, d := range tc.advance {
				f.clock.Advance(d)
				testkit.LoadPeppers(t, f.src)
				if i == 0 && !tc.load {
					f.fake.SetSecret(secretName, testkit.SecretV12)
				}
			}
			if got := f.fake.Calls(); got != tc.wantCalls {
				t.Errorf("calls = %d, want %d", got, tc.wantCalls)
			}
			if got := testkit.LoadPeppers(t, f.src).Current().Version; got != tc.wantCur {
				t.Errorf("current = %q, want %q", got, tc.wantCur)
			}
		})
	}
}

func TestSecretsManagerRotation(t *testing.T) {
	f := newFixture(t, pepper.SecretsManagerConfig{Refresh: time.Minute})
	f.fake.SetSecret(secretName, testkit.SecretV1)
	if err := f.src.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	before := testkit.LoadPeppers(t, f.src)
	oldKey := newKey(t)
	oldDigest := before.Current().Hash(oldKey)
	if v := before.Current().Version; v != "1" {
		t.Fatalf("current before rotation = %q, want 1", v)
	}

	// Rotate: add version 2, make it current, keep version 1.
	f.fake.SetSecret(secretName, testkit.SecretV12)
	f.clock.Advance(time.Minute)
	after := testkit.LoadPeppers(t, f.src)

	if v := after.Current().Version; v != "2" {
		t.Errorf("current after rotation = %q, want 2", v)
	}
	if v, ok := verifies(after, oldKey, oldDigest); !ok || v != "1" {
		t.Errorf("key issued before rotation: verifies=%v under %q, want under version 1", ok, v)
	}
	newK := newKey(t)
	newDigest := after.Current().Hash(newK)
	if v, ok := verifies(after, newK, newDigest); !ok || v != "2" {
		t.Errorf("key issued after rotation: verifies=%v under %q, want under version 2", ok, v)
	}
	if _, ok := verifies(before, newK, newDigest); ok {
		t.Error("a key hashed with version 2 verifies under the old set")
	}

	// Retiring version 1 (once no active key uses it) stops old keys.
	f.fake.SetSecret(secretName, fmt.Sprintf(`{"current":"2","2":%q}`, testkit.Pepper2))
	f.clock.Advance(time.Minute)
	if _, ok := verifies(testkit.LoadPeppers(t, f.src), oldKey, oldDigest); ok {
		t.Error("key of a retired version still verifies")
	}
}

func TestSecretsManagerColdStartErrors(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(f *fixture)
		wantAs any // an error type the chain must contain, or nil
	}{
		{"secret missing", func(f *fixture) {}, new(*types.ResourceNotFoundException)},
		{"secret deleted, in its recovery window", func(f *fixture) { f.fake.SetSecret(secretName, testkit.SecretV1); f.fake.DeleteSecret(secretName) }, new(*types.InvalidRequestException)},
		{"secret force-deleted", func(f *fixture) { f.fake.SetSecret(secretName, testkit.SecretV1); f.fake.ForceDeleteSecret(secretName) }, new(*types.ResourceNotFoundException)},
		{"access denied", func(f *fixture) {
			f.fake.SetSecret(secretName, testkit.SecretV1)
			f.fake.FailWith(400, "AccessDeniedException", "not authorized to perform secretsmanager:GetSecretValue")
		}, nil},
		{"service error", func(f *fixture) {
			f.fake.SetSecret(secretName, testkit.SecretV1)
			f.fake.FailWith(500, "InternalServiceError", "boom")
		}, new(*types.InternalServiceError)},
		{"connections dropped", func(f *fixture) { f.fake.SetSecret(secretName, testkit.SecretV1); f.fake.SetUnavailable(true) }, nil},
		{"endpoint unreachable", func(f *fixture) { f.fake.SetSecret(secretName, testkit.SecretV1); f.fake.Close() }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, pepper.SecretsManagerConfig{})
			tc.setup(f)
			err := f.src.Load(t.Context())
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			if tc.wantAs != nil && !errors.As(err, tc.wantAs) {
				t.Errorf("Load error %v does not contain %T", err, tc.wantAs)
			}
			// Every request is denied, and each one tries again.
			for range 2 {
				set, err := f.src.Peppers(t.Context())
				if !errors.Is(err, pepper.ErrUnavailable) || !set.Empty() {
					t.Errorf("Peppers = (empty=%v, %v), want ErrUnavailable", set.Empty(), err)
				}
			}
			if !strings.Contains(f.logs.String(), `"level":"ERROR"`) {
				t.Errorf("no error logged:\n%s", f.logs.String())
			}
		})
	}
}

func TestSecretsManagerRecoversAfterColdStartError(t *testing.T) {
	f := newFixture(t, pepper.SecretsManagerConfig{})
	f.fake.SetSecret(secretName, testkit.SecretV1)
	f.fake.SetUnavailable(true)
	if err := f.src.Load(t.Context()); err == nil {
		t.Fatal("Load succeeded while unavailable")
	}
	f.fake.Recover()
	if got := testkit.LoadPeppers(t, f.src).Current().Version; got != "1" {
		t.Errorf("current = %q, want 1", got)
	}
}

func TestSecretsManagerGrace(t *testing.T) {
	const (
		refresh = 5 * time.Minute
		grace   = time.Hour
		retry   = 30 * time.Second
	)
	outages := []struct {
		name string
		fail func(f *smfake.Server)
	}{
		{"endpoint unreachable", func(f *smfake.Server) { f.SetUnavailable(true) }},
		{"throttled", func(f *smfake.Server) { f.FailWith(400, "ThrottlingException", "Rate exceeded") }},
		{"secret deleted", func(f *smfake.Server) { f.DeleteSecret(secretName) }},
		{"malformed edit", func(f *smfake.Server) { f.SetSecret(secretName, `{"current":"3","1":"`+testkit.Pepper1+`"}`) }},
	}
	steps := []struct {
		at        time.Duration // since the last good fetch
		wantOK    bool
		wantFetch bool // whether this request fetches
	}{
		{refresh - time.Second, true, false}, // fresh
		{refresh, true, true},                // due: fetch fails, cached set served
		{refresh + retry/2, true, false},     // within the retry interval: no fetch
		{refresh + retry, true, true},        // retried, fails again, still served
		{refresh + grace - time.Second, true, true},
		{refresh + grace, false, true}, // past grace: denied
		{refresh + grace + time.Second, false, true},
	}
	for _, o := range outages {
		t.Run(o.name, func(t *testing.T) {
			f := newFixture(t, pepper.SecretsManagerConfig{Refresh: refresh, Grace: grace, RetryInterval: retry})
			f.fake.SetSecret(secretName, testkit.SecretV1)
			if err := f.src.Load(t.Context()); err != nil {
				t.Fatal(err)
			}
			start := f.clock.Now()
			o.fail(f.fake)
			for _, s := range steps {
				f.clock.Advance(start.Add(s.at).Sub(f.clock.Now()))
				calls := f.fake.Calls()
				set, err := f.src.Peppers(t.Context())
				fetched := f.fake.Calls() > calls
				if fetched != s.wantFetch {
					t.Errorf("at +%v: fetched = %v, want %v", s.at, fetched, s.wantFetch)
				}
				if s.wantOK {
					if err != nil || set.Current().Version != "1" {
						t.Errorf("at +%v: Peppers = (%v, %v), want the cached set", s.at, versionOf(set), err)
					}
				} else if !errors.Is(err, pepper.ErrUnavailable) || !set.Empty() {
					t.Errorf("at +%v: Peppers = (%v, %v), want ErrUnavailable", s.at, versionOf(set), err)
				}
			}
			if !strings.Contains(f.logs.String(), "serving the cached set") {
				t.Errorf("no warning logged:\n%s", f.logs.String())
			}

			// Once the secret is readable again, service resumes.
			f.fake.Recover()
			f.fake.RestoreSecret(secretName)
			f.fake.SetSecret(secretName, testkit.SecretV12)
			if got := testkit.LoadPeppers(t, f.src).Current().Version; got != "2" {
				t.Errorf("after recovery current = %q, want 2", got)
			}
		})
	}
}

func TestSecretsManagerNoGrace(t *testing.T) {
	f := newFixture(t, pepper.SecretsManagerConfig{Refresh: time.Minute, Grace: -1})
	f.fake.SetSecret(secretName, testkit.SecretV1)
	if err := f.src.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.fake.SetUnavailable(true)
	f.clock.Advance(time.Minute)
	if _, err := f.src.Peppers(t.Context()); !errors.Is(err, pepper.ErrUnavailable) {
		t.Errorf("Peppers with no grace after a failed refresh: err = %v, want ErrUnavailable", err)
	}
}

func versionOf(set apikey.PepperSet) string {
	if set.Empty() {
		return "<empty>"
	}
	return set.Current().Version
}

func TestSecretsManagerMalformed(t *testing.T) {
	short := "short-pepper-15"
	tests := []struct {
		name   string
		value  string
		secret string // must not appear in the error
		want   string // must appear in the error
	}{
		{"empty", "", "", "empty"},
		{"not JSON", "xq" + testkit.Pepper1, testkit.Pepper1, "not valid JSON"},
		{"truncated JSON", `{"current":"1","1":"` + testkit.Pepper1, testkit.Pepper1, "not valid JSON"},
		{"raw pepper", testkit.Pepper1, testkit.Pepper1, "not valid JSON"},
		{"JSON string", fmt.Sprintf("%q", testkit.Pepper1), testkit.Pepper1, "not a JSON object"},
		{"JSON null", "null", "", "not a JSON object"},
		{"JSON array", fmt.Sprintf("[%q]", testkit.Pepper1), testkit.Pepper1, "not a JSON object"},
		{"current missing", fmt.Sprintf(`{"1":%q}`, testkit.Pepper1), testkit.Pepper1, `"current" is missing`},
		{"current not a string", fmt.Sprintf(`{"current":1,"1":%q}`, testkit.Pepper1), testkit.Pepper1, `"current" is not a string`},
		{"current empty", fmt.Sprintf(`{"current":"","1":%q}`, testkit.Pepper1), testkit.Pepper1, `"current" is empty`},
		{"current holds the pepper", fmt.Sprintf(`{"current":%q,"1":%q}`, testkit.Pepper2, testkit.Pepper1), testkit.Pepper2, `"current" is not a valid version`},
		{"current names no version", fmt.Sprintf(`{"current":"2","1":%q}`, testkit.Pepper1), testkit.Pepper1, `current version "2" has no pepper`},
		{"no versions", `{"current":"1"}`, "", "no pepper version"},
		{"pepper shorter than 16 bytes", fmt.Sprintf(`{"current":"1","1":%q}`, short), short, `version "1" is shorter than 16 bytes`},
		{"old pepper too short", fmt.Sprintf(`{"current":"2","1":%q,"2":%q}`, short, testkit.Pepper2), testkit.Pepper2, `version "1" is shorter than 16 bytes`},
		{"pepper empty", `{"current":"1","1":""}`, "", `version "1" is empty`},
		{"pepper not a string", `{"current":"1","1":12345678901234567890}`, "12345678901234567890", `version "1" is not a string`},
		{"pepper as member name", fmt.Sprintf(`{"current":"1","1":%q,%q:"x"}`, testkit.Pepper2, testkit.Pepper1), testkit.Pepper1, "member name is not a valid version"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Parse directly, and through the real client and the fake.
			_, perr := pepper.Parse(tc.value)

			f := newFixture(t, pepper.SecretsManagerConfig{})
			f.fake.SetSecret(secretName, tc.value)
			lerr := f.src.Load(t.Context())
			_, gerr := f.src.Peppers(t.Context())

			for _, err := range []error{perr, lerr, gerr} {
				if !errors.Is(err, pepper.ErrMalformed) {
					t.Fatalf("error = %v, want ErrMalformed", err)
				}
				msg := err.Error()
				if !strings.Contains(msg, tc.want) {
					t.Errorf("error %q does not say %q", msg, tc.want)
				}
				for _, s := range []string{tc.secret, testkit.Pepper1, testkit.Pepper2, short} {
					if s != "" && strings.Contains(msg, s) && strings.Contains(tc.value, s) {
						t.Errorf("error %q contains the secret %q", msg, s)
					}
				}
			}
			if !errors.Is(gerr, pepper.ErrUnavailable) {
				t.Errorf("Peppers error %v is not ErrUnavailable", gerr)
			}
			if logs := f.logs.String(); tc.secret != "" && strings.Contains(logs, tc.secret) {
				t.Errorf("logs contain the secret:\n%s", logs)
			}
		})
	}
}

func TestSecretsManagerConcurrentCallersShareOneFetch(t *testing.T) {
	const callers = 32
	tests := []struct {
		name string
		load bool // cold (no set yet) or stale (refresh due)
	}{
		{"cold", false},
		{"stale", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, pepper.SecretsManagerConfig{Refresh: time.Minute})
			f.fake.SetSecret(secretName, testkit.SecretV1)
			if tc.load {
				if err := f.src.Load(t.Context()); err != nil {
					t.Fatal(err)
				}
				f.fake.SetSecret(secretName, testkit.SecretV12)
				f.clock.Advance(time.Minute)
			}
			before := f.fake.Calls()
			f.fake.SetLatency(100 * time.Millisecond) // so the callers overlap

			var wg sync.WaitGroup
			start := make(chan struct{})
			errs := make(chan error, callers)
			for range callers {
				wg.Go(func() {
					<-start
					set, err := f.src.Peppers(t.Context())
					if err == nil && set.Empty() {
						err = errors.New("empty set")
					}
					errs <- err
				})
			}
			close(start)
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("Peppers: %v", err)
				}
			}
			if got := f.fake.Calls() - before; got != 1 {
				t.Errorf("fetches = %d, want 1", got)
			}
		})
	}
}

func TestSecretsManagerCallerCancelDoesNotCancelFetch(t *testing.T) {
	f := newFixture(t, pepper.SecretsManagerConfig{})
	f.fake.SetSecret(secretName, testkit.SecretV1)
	f.fake.SetLatency(200 * time.Millisecond)

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := f.src.Peppers(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("impatient caller: err = %v, want DeadlineExceeded", err)
	}
	// A patient caller joins the same fetch, which was not cancelled.
	if got := testkit.LoadPeppers(t, f.src).Current().Version; got != "1" {
		t.Errorf("current = %q, want 1", got)
	}
	if got := f.fake.Calls(); got != 1 {
		t.Errorf("fetches = %d, want 1", got)
	}
}

func TestNewSecretsManagerValidates(t *testing.T) {
	client := newSMClient("http://127.0.0.1:1")
	tests := []struct {
		name   string
		client pepper.GetSecretValueAPI
		cfg    pepper.SecretsManagerConfig
	}{
		{"nil client", nil, pepper.SecretsManagerConfig{SecretID: secretName}},
		{"no secret id", client, pepper.SecretsManagerConfig{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := pepper.NewSecretsManager(tc.client, tc.cfg); err == nil {
				t.Error("NewSecretsManager succeeded, want an error")
			}
		})
	}
}

func BenchmarkPeppersCached(b *testing.B) {
	f := newFixture(b, pepper.SecretsManagerConfig{})
	f.fake.SetSecret(secretName, testkit.SecretV12)
	if err := f.src.Load(b.Context()); err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := f.src.Peppers(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := f.src.Peppers(ctx); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	if f.fake.Calls() != 1 {
		b.Errorf("fetches = %d, want 1", f.fake.Calls())
	}
}

func BenchmarkPeppersCachedRealClock(b *testing.B) {
	fake := smfake.New(b)
	fake.SetSecret(secretName, testkit.SecretV12)
	src, err := pepper.NewSecretsManager(newSMClient(fake.URL()), pepper.SecretsManagerConfig{
		SecretID: secretName, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	if err := src.Load(b.Context()); err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := src.Peppers(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func TestStatic(t *testing.T) {
	set := testkit.PepperSet(t, "1", map[string]string{"1": testkit.Pepper1})
	got := testkit.LoadPeppers(t, pepper.Static(set))
	if got.Current().Version != "1" {
		t.Errorf("current = %q", got.Current().Version)
	}
	if _, err := pepper.Static(apikey.PepperSet{}).Peppers(t.Context()); !errors.Is(err, pepper.ErrUnavailable) {
		t.Errorf("empty static set: err = %v, want ErrUnavailable", err)
	}
}
