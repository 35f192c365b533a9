package storetest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"log/slog"
	"testing"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

// BenchAuthorize measures Service.Authorize of a valid key over s: key
// check, hash, one credential read (the last-used write happens once; the
// clock stands still, so later uses are throttled).
func BenchAuthorize(b *testing.B, s keyservice.Store) {
	e := newBenchEnv(b, s)
	_, plain := e.generate(b, "bench", nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.svc.Authorize(ctx, plain); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchGenerate measures Service.Generate over s (one transaction each).
func BenchGenerate(b *testing.B, s keyservice.Store) {
	e := newBenchEnv(b, s)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := e.svc.Generate(ctx, e.admin, keyservice.GenerateInput{Label: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchHMACBaseline is the bare crypto/hmac HMAC-SHA-256 of one key: the
// unit the store benchmarks are compared to, measured in the same run.
func BenchHMACBaseline(b *testing.B) {
	secret := testSecret("1")
	key, err := apikey.Generate(nil)
	if err != nil {
		b.Fatal(err)
	}
	k := []byte(key)
	b.ReportAllocs()
	for b.Loop() {
		m := hmac.New(sha256.New, secret)
		m.Write(k)
		_ = m.Sum(nil)
	}
}

func newBenchEnv(b *testing.B, s keyservice.Store) *env {
	b.Helper()
	e := newEnv(b, s, 1<<30, TestPepperSet(b, "1"))
	e.svc = keyservice.New(s, testkit.Peppers{Set: TestPepperSet(b, "1")}, keyservice.Config{
		MaxActiveKeys: 1 << 30,
		Now:           e.clock.Now,
		Logger:        slog.New(slog.DiscardHandler),
	})
	return e
}
