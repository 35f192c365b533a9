package rie_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/rie"
	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

// helloPkg is the hello-world Go function our figures are compared with,
// built by `make build-host` with exactly our flags.
const helloPkg = "./functions/internal/rie/testdata/hello"

// warmInvokes is how many warm invokes each median is taken over.
const warmInvokes = 25

// coldWarm is what one emulator reports for a function.
type coldWarm struct {
	rieInit   time.Duration // the emulator's "Init Duration"
	first     time.Duration // REPORT Duration of the first invoke
	firstWall time.Duration // the first invoke as the client saw it
	warm      time.Duration // median REPORT Duration of the warm invokes
}

func measure(t *testing.T, e *rie.Emulator, payload []byte) coldWarm {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var m coldWarm
	start := time.Now()
	status, body, rep, err := e.Invoke(ctx, payload)
	m.firstWall = time.Since(start)
	if err != nil || status != http.StatusOK {
		t.Fatalf("%s first invoke: %d %s %v", e.Name, status, body, err)
	}
	m.rieInit, m.first = rep.Init, rep.Duration
	warm := make([]time.Duration, 0, warmInvokes)
	for range warmInvokes {
		status, body, rep, err := e.Invoke(ctx, payload)
		if err != nil || status != http.StatusOK {
			t.Fatalf("%s warm invoke: %d %s %v", e.Name, status, body, err)
		}
		warm = append(warm, rep.Duration)
	}
	sort.Slice(warm, func(i, j int) bool { return warm[i] < warm[j] })
	m.warm = warm[len(warm)/2]
	return m
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// TestEmulatorPerformance logs, for the README's performance note, each
// bootstrap's size and the authorizer's cold start and warm invoke under
// the emulator, each as a ratio to a hello-world Go function built and run
// the same way in the same run. It asserts only that the figures exist:
// timings on a shared CI machine are not a pass/fail matter.
//
// The emulator's own "Init Duration" only covers starting the process (it
// does not wait for the runtime's first /next), so the function's init
// (SDK configuration, the pepper fetch) shows in the first invoke's
// Duration and in its wall time as the client sees it.
func TestEmulatorPerformance(t *testing.T) {
	hello := rie.Bootstrap(t, "hello", helloPkg)
	helloInfo, err := os.Stat(hello)
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range functionNames {
		info, err := os.Stat(rie.Bootstrap(t, fn, "./functions/"+fn))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("size %-10s %6.2f MiB  %.2fx hello-world (%.2f MiB)", fn,
			float64(info.Size())/(1<<20), float64(info.Size())/float64(helloInfo.Size()), float64(helloInfo.Size())/(1<<20))
	}
	// The deployable (linux/arm64) bootstraps, when `make build` made them.
	if root, err := testkit.RepoRoot(); err == nil {
		for _, fn := range append([]string{"hello"}, functionNames...) {
			if info, err := os.Stat(filepath.Join(root, ".build", fn, "bootstrap")); err == nil {
				t.Logf("size %-10s %6.2f MiB  (linux/arm64, make build)", fn, float64(info.Size())/(1<<20))
			}
		}
	}

	helloEmu := rie.Start(t, "hello", hello, map[string]string{"AWS_REGION": "us-east-1", "AWS_LAMBDA_FUNCTION_NAME": "hello"})
	h := measure(t, helloEmu, []byte(`{}`))

	s := startStack(t, "generate", "authorizer")
	k := s.generate(t, "Performance")
	event := testkit.Event(t, "authorizer-http-valid.json", map[string]string{"KEY": k.Key})
	a := measure(t, s.emu["authorizer"], event)
	// A fresh authorizer answering a malformed key reads no table: its
	// first invoke is the process start plus our init (SDK configuration,
	// the pepper fetch) alone.
	s2 := startStack(t, "authorizer")
	m := measure(t, s2.emu["authorizer"], testkit.Event(t, "authorizer-http-malformed.json", nil))

	t.Logf("%-36s %12s %12s %8s", "valid key unless noted", "authorizer", "hello-world", "ratio")
	for _, row := range []struct {
		name string
		a, h time.Duration
	}{
		{"emulator Init Duration", a.rieInit, h.rieInit},
		{"first invoke Duration (cold)", a.first, h.first},
		{"first invoke wall time (cold)", a.firstWall, h.firstWall},
		{"warm invoke Duration (median)", a.warm, h.warm},
		{"malformed key: first invoke (cold)", m.first, h.first},
		{"malformed key: first wall (cold)", m.firstWall, h.firstWall},
		{"malformed key: warm (median)", m.warm, h.warm},
	} {
		t.Logf("%-36s %9.2f ms %9.2f ms %7.1fx", row.name, ms(row.a), ms(row.h), ratio(row.a, row.h))
	}
	if a.first <= 0 || h.first <= 0 || a.warm <= 0 || h.warm <= 0 {
		t.Errorf("missing figures: authorizer %+v, hello %+v", a, h)
	}
}
