package perf_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/localserver"
)

// Load generator bounds: loopback only, a fixed number of connections, a
// fixed time and a cap on requests per run.
const (
	loadConns    = 8
	loadDuration = 3 * time.Second
	loadMax      = 2_000_000
	loadRounds   = 2
)

// startLocalServer runs the local server of `make run` (embedded store) on
// a loopback port until tb ends, and returns its base URL and a valid key.
// Its logs are discarded: the figure is the server's, not the terminal's.
func startLocalServer(tb testing.TB) (string, string) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := localserver.New(ctx, localserver.Config{
		Addr:    "127.0.0.1:0",
		DataDir: tb.TempDir(),
		Getenv:  func(string) string { return "" },
		Logger:  discardLog(),
	})
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Error(err)
		}
		if err := srv.Close(); err != nil {
			tb.Error(err)
		}
	})
	base := "http://" + ln.Addr().String()

	var tok struct{ Token string }
	post(tb, base+"/dev/token", "", `{"sub":"alice","firmId":"perf","role":"admin","tier":"premier"}`, http.StatusOK, &tok)
	var key struct{ Key string }
	post(tb, base+"/v1/api-keys", tok.Token, `{"label":"Load test"}`, http.StatusCreated, &key)
	return base, key.Key
}

func post(tb testing.TB, url, bearer, body string, want int, out any) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewBufferString(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		tb.Fatalf("POST %s: %d %s", url, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		tb.Fatal(err)
	}
}

// startHello runs a bare net/http hello handler on a loopback port.
func startHello(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"message":"hello"}`))
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	tb.Cleanup(func() { _ = hs.Close() })
	return "http://" + ln.Addr().String()
}

// load sends GET url (with the bearer key, if any) over loadConns
// keep-alive connections for loadDuration (at most loadMax requests) and
// returns the 200 answers per second. Any other answer fails tb.
func load(tb testing.TB, url, key string) float64 {
	tb.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: loadConns, MaxConnsPerHost: loadConns, DisableCompression: true, Proxy: nil}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var ok, sent atomic.Int64
	var failure atomic.Value
	deadline := time.Now().Add(loadDuration)
	t0 := time.Now()
	var wg sync.WaitGroup
	for range loadConns {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			if key != "" {
				req.Header.Set("Authorization", "Bearer "+key)
			}
			for time.Now().Before(deadline) && sent.Add(1) <= loadMax {
				resp, err := client.Do(req)
				if err != nil {
					failure.Store(err.Error())
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failure.Store(fmt.Sprintf("status %d", resp.StatusCode))
					return
				}
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	el := time.Since(t0)
	if f := failure.Load(); f != nil {
		tb.Fatalf("load %s: %v", url, f)
	}
	return float64(ok.Load()) / el.Seconds()
}

// serverRow measures GET /v1/whoami with a valid key on the local server
// against the bare hello handler, alternately, best round of each.
func serverRow(tb testing.TB) row {
	tb.Helper()
	base, key := startLocalServer(tb)
	hello := startHello(tb)
	var ours, bare float64
	for range loadRounds {
		ours = max(ours, load(tb, base+"/v1/whoami", key))
		bare = max(bare, load(tb, hello+"/", ""))
	}
	return row{name: "local server: GET /v1/whoami, valid key, loopback", ours: ours, base: bare, unit: "req/s",
		baseName: "bare net/http hello handler", higher: true,
		note: fmt.Sprintf("Go load generator, %d keep-alive connections, %s per round, best of %d rounds; each request goes through the authorizer and whoami as JSON events and the policy is evaluated, as on AWS; information (the targets are the Lambda-level rows)",
			loadConns, loadDuration, loadRounds)}
}

// TestLocalServerFixture: the server the load generator measures answers
// whoami for the key it made (so the figure is of successful requests).
func TestLocalServerFixture(t *testing.T) {
	base, key := startLocalServer(t)
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var who struct{ FirmID, KeyID, Label string }
	if err := json.NewDecoder(resp.Body).Decode(&who); err != nil || resp.StatusCode != http.StatusOK || who.FirmID != "perf" {
		t.Fatalf("whoami: %d %+v %v", resp.StatusCode, who, err)
	}
}

// BenchmarkLocalServerWhoami: GET /v1/whoami with a valid key over
// loopback, from loadConns parallel keep-alive clients (for -cpuprofile).
func BenchmarkLocalServerWhoami(b *testing.B) {
	base, key := startLocalServer(b)
	benchGet(b, base+"/v1/whoami", key)
}

// BenchmarkHelloHandler is its baseline: the bare net/http hello handler.
func BenchmarkHelloHandler(b *testing.B) { benchGet(b, startHello(b)+"/", "") }

func benchGet(b *testing.B, url, key string) {
	tr := &http.Transport{MaxIdleConnsPerHost: loadConns, DisableCompression: true, Proxy: nil}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	b.SetParallelism(loadConns / max(1, runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		for pb.Next() {
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
