package rotation_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
	"github.com/kudurrustone/apikeys/functions/internal/boltstore"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
	"github.com/kudurrustone/apikeys/functions/internal/pepper"
	"github.com/kudurrustone/apikeys/functions/internal/rotation"
)

// cutOff wraps a process's Secrets Manager client: while cut is set, every
// read fails as an unreachable endpoint would, so the process serves its
// cached set (its grace period).
type cutOff struct {
	pepper.GetSecretValueAPI
	cut atomic.Bool
}

var errUnreachable = errors.New("dial tcp: connect: connection refused")

func (c *cutOff) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opt ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	if c.cut.Load() {
		return nil, errUnreachable
	}
	return c.GetSecretValueAPI.GetSecretValue(ctx, in, opt...)
}

// process is one Lambda execution environment: its own pepper cache (a
// SecretsManager source that started at its own time), one service, one
// shared store.
type process struct {
	name  string
	sm    *cutOff
	src   *pepper.SecretsManager
	svc   *keyservice.Service
	start time.Time
}

type issued struct {
	key     string
	by      string
	at      time.Time
	version string // the pepper version it was hashed under
}

// outcome of one run through a rotation.
type outcome struct {
	keys, authorizations, denied int
	firstDenial                  string
	sawSplit                     bool // some process knew the new version while another did not
}

const (
	refresh = 5 * time.Minute
	grace   = time.Hour
	tick    = 20 * time.Second
)

// runRotation starts several processes that read the pepper secret at
// different times (one of them cut off from Secrets Manager across the
// rotation, serving its cached set for nearly its whole grace period),
// then, at each tick of a simulated clock, has every process generate a
// key and authorize every key issued in the last minutes plus the oldest
// ones. rotate performs the rotation at the given time.
func runRotation(t *testing.T, rotate func(f *fixture, at time.Time)) outcome {
	t.Helper()
	f := newFixture(t)
	if _, err := f.rot.Initialise(t.Context(), f.secret); err != nil {
		t.Fatal(err)
	}
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "keys.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })

	t0 := f.clock.Now()
	cfg := pepper.SecretsManagerConfig{Refresh: refresh, Grace: grace}
	if cfg.MaxStaleness() != staleness {
		t.Fatalf("MaxStaleness = %v, the fixture's rotator uses %v", cfg.MaxStaleness(), staleness)
	}
	var procs []*process
	for i, offset := range []time.Duration{280 * time.Second, 0, 60 * time.Second, 120 * time.Second, 180 * time.Second, 240 * time.Second} {
		p := &process{name: fmt.Sprintf("p%d", i), sm: &cutOff{GetSecretValueAPI: f.sm}, start: t0.Add(offset)}
		c := cfg
		c.SecretID, c.Now, c.Logger = f.secret, f.clock.Now, slog.New(slog.DiscardHandler)
		if p.src, err = pepper.NewSecretsManager(p.sm, c); err != nil {
			t.Fatal(err)
		}
		p.svc = keyservice.New(store, p.src, keyservice.Config{MaxActiveKeys: 1 << 20, LastUsedInterval: 24 * time.Hour,
			Now: f.clock.Now, Logger: slog.New(slog.DiscardHandler)})
		procs = append(procs, p)
	}
	admin := keyservice.Admin{Subject: "alice", FirmID: "acme", IsAdmin: true, IsPremier: true, SourceIP: "203.0.113.7"}

	rotateAt := t0.Add(20 * time.Minute)
	// The cut-off process p0 reads the secret every 5 minutes from 4m40s
	// on: last at rotateAt-20s, before the rotation. Then it cannot read
	// it again until its grace is nearly over, and serves that old set
	// for as long as any process may.
	lastRead := rotateAt.Add(-20 * time.Second)
	cutFrom, cutUntil := lastRead.Add(tick/2), lastRead.Add(refresh+grace-tick)
	end := rotateAt.Add(staleness + rotation.DefaultMargin + refresh + 15*time.Minute)

	var out outcome
	var keys []issued
	rotated := false
	for now := t0; now.Before(end); now = now.Add(tick) {
		f.clock.Set(now)
		if !rotated && !now.Before(rotateAt) {
			rotate(f, now)
			rotated = true
		}
		procs[0].sm.cut.Store(!now.Before(cutFrom) && now.Before(cutUntil))
		var knows, blind bool
		for _, p := range procs {
			if now.Before(p.start) {
				continue
			}
			if now.Equal(p.start) || now.Before(p.start.Add(tick)) {
				if err := p.src.Load(t.Context()); err != nil {
					t.Fatalf("%s: cold start: %v", p.name, err)
				}
			}
			set, err := p.src.Peppers(t.Context())
			if err != nil {
				t.Fatalf("%s at %v: no pepper set: %v", p.name, now.Sub(t0), err)
			}
			if _, ok := set.Lookup("2"); ok {
				knows = true
			} else {
				blind = true
			}
			k, plain, err := p.svc.Generate(t.Context(), admin, keyservice.GenerateInput{Label: "rotation test"})
			if err != nil {
				t.Fatalf("%s: generate: %v", p.name, err)
			}
			_ = k
			keys = append(keys, issued{key: plain, by: p.name, at: now, version: set.Current().Version})
			out.keys++
		}
		out.sawSplit = out.sawSplit || (knows && blind)
		// Every running process authorizes the keys of the last few ticks
		// (new keys meet stale caches there) and the first keys (issued
		// before the rotation).
		recent := keys[max(0, len(keys)-3*len(procs)):]
		for _, p := range procs {
			if now.Before(p.start) {
				continue
			}
			for _, k := range append(keys[:min(3, len(keys)):min(3, len(keys))], recent...) {
				out.authorizations++
				if _, err := p.svc.Authorize(t.Context(), k.key); err != nil {
					out.denied++
					if out.firstDenial == "" {
						out.firstDenial = fmt.Sprintf("at +%v %s denied a key %s issued at +%v under version %s: %v",
							now.Sub(t0), p.name, k.by, k.at.Sub(t0), k.version, err)
					}
				}
			}
		}
	}
	// The rotation is complete: new keys use version 2 everywhere.
	for _, p := range procs {
		set, err := p.src.Peppers(t.Context())
		if err != nil || set.Current().Version != "2" {
			t.Errorf("%s: at the end the set in force has current version %s (%v), want 2", p.name, versionOf(set), err)
		}
	}
	return out
}

func versionOf(set apikey.PepperSet) string {
	if set.Empty() {
		return "<none>"
	}
	return set.Current().Version
}

// TestRotationNeverDeniesAValidKey runs the rotation function's four steps
// in the middle of six processes' traffic and requires zero denied keys,
// and then shows that today's one-step edit (a new version made current at
// once) denies keys in the same run.
func TestRotationNeverDeniesAValidKey(t *testing.T) {
	t.Run("four steps, scheduled version", func(t *testing.T) {
		got := runRotation(t, func(f *fixture, at time.Time) {
			f.rotate(t, "77777777-7777-4777-8777-777777777777")
			d, _ := f.stage(t, rotation.StageCurrent)
			t.Logf("rotated at %v: %v", at.Format(time.TimeOnly), d)
		})
		t.Logf("keys issued %d, authorizations %d, valid keys denied %d", got.keys, got.authorizations, got.denied)
		if !got.sawSplit {
			t.Error("no moment where one process knew the new version and another did not: the test did not exercise stale caches")
		}
		if got.denied != 0 {
			t.Errorf("%d valid keys denied; first: %s", got.denied, got.firstDenial)
		}
	})
	t.Run("one step, new version current at once", func(t *testing.T) {
		got := runRotation(t, func(f *fixture, at time.Time) {
			d, _ := f.stage(t, rotation.StageCurrent)
			d.Peppers["2"] = "a-new-pepper-for-the-one-step-variant-0123"
			d.Current = "2"
			v, err := d.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.sm.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(f.secret), SecretString: aws.String(v)}); err != nil {
				t.Fatal(err)
			}
		})
		t.Logf("keys issued %d, authorizations %d, valid keys denied %d; first: %s", got.keys, got.authorizations, got.denied, got.firstDenial)
		if got.denied == 0 {
			t.Error("the one-step rotation denied no key: the test cannot tell a safe rotation from an unsafe one")
		}
	})
}
