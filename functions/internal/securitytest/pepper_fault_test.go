package securitytest_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
	"github.com/kudurrustone/apikeys/functions/internal/authorizer"
	"github.com/kudurrustone/apikeys/functions/internal/ddblocal"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
	"github.com/kudurrustone/apikeys/functions/internal/pepper"
	"github.com/kudurrustone/apikeys/functions/internal/settings"
	"github.com/kudurrustone/apikeys/functions/internal/smfake"
	"github.com/kudurrustone/apikeys/functions/internal/storetest"
	"github.com/kudurrustone/apikeys/functions/internal/testkit"
	"github.com/kudurrustone/apikeys/functions/internal/wiring"
)

const (
	pepperV1 = "pepper-one-0123456789abcdef-0123456789"
	pepperV2 = "pepper-two-0123456789abcdef-0123456789"
	secretV1 = `{"current":"1","1":"` + pepperV1 + `"}`
)

// staticSet is the set Secrets Manager serves, built directly.
func staticSet(t testing.TB, current string, versions map[string]string) keyservice.PepperSource {
	t.Helper()
	secrets := map[string][]byte{}
	for v, p := range versions {
		secrets[v] = []byte(p)
	}
	set, err := apikey.NewPepperSet(current, secrets)
	if err != nil {
		t.Fatal(err)
	}
	return pepper.Static(set)
}

// smSource is the functions' pepper source over the fake Secrets Manager,
// on the stack's clock, without SDK retries.
func smSource(t testing.TB, sm *smfake.Server, now func() time.Time) *pepper.SecretsManager {
	t.Helper()
	cfg := aws.Config{
		Region:           smfake.Region,
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDSECURITYTEST", "secret", ""),
		RetryMaxAttempts: 1,
	}
	src, err := pepper.NewSecretsManager(pepper.NewClient(cfg, sm.URL()), pepper.SecretsManagerConfig{
		SecretID: sm.ARN("pepper"), Refresh: 5 * time.Minute, Grace: time.Hour, RetryInterval: 30 * time.Second,
		FetchTimeout: time.Second, Now: now, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// TestFailClosedSecretsManager: with Secrets Manager unreachable or refusing
// at cold start, unreachable later past the grace period, or the pepper
// version of a key gone, the authorizer denies and generate answers 500
// internal; list and revoke, which need no pepper, keep working.
func TestFailClosedSecretsManager(t *testing.T) {
	env := openDDB(t, nil)
	firm := storetest.NewFirmID(t)
	// Issue a key under pepper version 1, as the deployed functions would.
	issuer := newStack(t, env, withPeppers(staticSet(t, "1", map[string]string{"1": pepperV1})))
	k := issuer.generate(firm, "Issued under v1")
	ctx := context.Background()

	// smStack is a stack reading its pepper from sm, on a clock of its own
	// that starts at t0.
	smStack := func(t *testing.T, sm *smfake.Server) *stack {
		t.Helper()
		clock := testkit.NewClock(t0)
		return newStack(t, env, withPeppers(smSource(t, sm, clock.Now)), withClock(clock))
	}

	// checkDown: the authorizer denies (service error, not a plain deny;
	// Lambda handler on every event kind), generate is 500 internal, and
	// list and revoke of a fresh key still work.
	checkDown := func(t *testing.T, s *stack) {
		t.Helper()
		_, err := s.svc.Authorize(ctx, k.Key)
		if err == nil {
			t.Fatal("Authorize allowed without a pepper")
		}
		if ok, _ := s.authorize(ctx, "Bearer "+k.Key); ok {
			t.Fatal("authorizer handler allowed without a pepper")
		}
		gen := s.do(request{method: "POST", target: "/v1/api-keys", body: `{"label":"No pepper"}`, claims: admin(firm)})
		wantError(t, gen, http.StatusInternalServerError, keyservice.CodeInternal)
		wantInternalOrOK(t, "generate", gen, http.StatusCreated, "pepper", "secret", "Secrets", smfake.Account)
		if r, _ := s.list(admin(firm), ""); r.status != http.StatusOK {
			t.Errorf("list without a pepper: %s", r)
		}
		checkInvariants(t, env.snapshot(t))
	}
	checkUp := func(t *testing.T, s *stack) {
		t.Helper()
		if ok, f := s.authorize(ctx, "Bearer "+k.Key); !ok || f != firm {
			t.Fatalf("after recovery: allowed=%v firm=%q", ok, f)
		}
	}

	t.Run("unreachable at cold start", func(t *testing.T) {
		sm := smfake.New(t)
		sm.SetSecret("pepper", secretV1)
		sm.SetUnavailable(true)
		clock := testkit.NewClock(t0)
		src := smSource(t, sm, clock.Now)
		if err := src.Load(ctx); err == nil {
			t.Fatal("Load succeeded with Secrets Manager unreachable")
		}
		s := newStack(t, env, withPeppers(src), withClock(clock))
		checkDown(t, s)
		sm.Recover()
		checkUp(t, s)
	})

	t.Run("access denied at cold start", func(t *testing.T) {
		sm := smfake.New(t)
		sm.SetSecret("pepper", secretV1)
		sm.FailWith(400, "AccessDeniedException", "User is not authorized to perform secretsmanager:GetSecretValue")
		s := smStack(t, sm)
		checkDown(t, s)
		sm.Recover()
		checkUp(t, s)
	})

	t.Run("malformed secret at cold start", func(t *testing.T) {
		sm := smfake.New(t)
		for _, bad := range []string{`{"current":"3","1":"` + pepperV1 + `"}`, `not json`, `{"current":"1","1":"short"}`, `{}`} {
			sm.SetSecret("pepper", bad)
			s := smStack(t, sm)
			checkDown(t, s)
		}
	})

	t.Run("unreachable later: served within grace, denied after", func(t *testing.T) {
		sm := smfake.New(t)
		sm.SetSecret("pepper", secretV1)
		s := smStack(t, sm)
		checkUp(t, s)
		sm.SetUnavailable(true)
		s.clock.Advance(6 * time.Minute) // past Refresh, within Grace
		checkUp(t, s)                    // the cached set, by design (pepper package)
		s.clock.Advance(2 * time.Hour)   // past Refresh + Grace
		checkDown(t, s)
		sm.Recover()
		s.clock.Advance(time.Minute) // past the retry interval
		checkUp(t, s)
	})

	t.Run("pepper version of the key missing", func(t *testing.T) {
		sm := smfake.New(t)
		sm.SetSecret("pepper", secretV1)
		s := smStack(t, sm)
		checkUp(t, s)
		// Rotation that wrongly dropped version 1.
		sm.SetSecret("pepper", `{"current":"2","2":"`+pepperV2+`"}`)
		s.clock.Advance(6 * time.Minute)
		_, err := s.svc.Authorize(ctx, k.Key)
		if !errors.Is(err, keyservice.ErrDenied) {
			t.Fatalf("key under a removed pepper version: %v, want denied", err)
		}
		if ok, _ := s.authorize(ctx, "Bearer "+k.Key); ok {
			t.Fatal("authorizer allowed a key whose pepper version is gone")
		}
		// New keys work under version 2, old ones again once 1 is back.
		k2 := s.generate(firm, "Issued under v2")
		if ok, _ := s.authorize(ctx, "Bearer "+k2.Key); !ok {
			t.Fatal("key under v2 denied")
		}
		sm.SetSecret("pepper", `{"current":"2","1":"`+pepperV1+`","2":"`+pepperV2+`"}`)
		s.clock.Advance(6 * time.Minute)
		checkUp(t, s)
		checkInvariants(t, env.snapshot(t))
	})

	t.Run("cold start of the real wiring (wiring.New)", func(t *testing.T) {
		sm := smfake.New(t)
		sm.SetSecret("pepper", secretV1)
		sm.SetUnavailable(true)
		dir := t.TempDir()
		for k, v := range map[string]string{
			"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKIDSECURITYTEST", "AWS_SECRET_ACCESS_KEY": "secret",
			"AWS_SESSION_TOKEN": "", "AWS_PROFILE": "", "AWS_MAX_ATTEMPTS": "1", "AWS_EC2_METADATA_DISABLED": "true",
			"AWS_CONFIG_FILE": filepath.Join(dir, "none"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "none"),
		} {
			t.Setenv(k, v)
		}
		env2 := map[string]string{
			"TABLE_NAME": env.table, "DYNAMODB_ENDPOINT": ddblocal.Endpoint(t),
			"PEPPER_SECRET_ARN": sm.ARN("pepper"), "SECRETSMANAGER_ENDPOINT": sm.URL(),
		}
		logs := &testkit.SyncBuffer{}
		getenv := func(k string) string {
			if v, ok := env2[k]; ok {
				return v
			}
			return os.Getenv(k)
		}
		st, err1 := settings.ReadStore(getenv)
		pep, err2 := settings.ReadPepper(getenv)
		if err := errors.Join(err1, err2); err != nil {
			t.Fatal(err)
		}
		log := settings.NewLogger(logs, st.LogLevel)
		deps, err := wiring.New(ctx, st, wiring.Options{Peppers: pepper.FromSettings(pep, slog.Default()), WarmUp: true}, log)
		if err != nil {
			t.Fatalf("wiring.New: %v", err)
		}
		h := authorizer.New(deps.Service, log)
		for _, ev := range [][]byte{httpAuthEvent(map[string]string{"authorization": "Bearer " + k.Key}), restTokenEvent("Bearer " + k.Key)} {
			out, err := h.Invoke(ctx, ev)
			if ok, _, _ := verdict(t, out, err); ok {
				t.Fatal("cold start without the pepper allowed a key")
			}
			if !errors.Is(err, authorizer.ErrUndecided) {
				t.Fatalf("cold start without the pepper answered %s, %v; want the invocation to fail", out, err)
			}
		}
		sm.Recover()
		out, err := h.Invoke(ctx, httpAuthEvent(map[string]string{"authorization": "Bearer " + k.Key}))
		if ok, f, _ := verdict(t, out, err); !ok || f != firm {
			t.Fatalf("after Secrets Manager recovered: %s %v", out, err)
		}
		storetest.AssertNoPlaintext(t, logs.Bytes(), []string{k.Key})
	})
}
