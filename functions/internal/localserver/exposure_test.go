package localserver_test

import (
	"bytes"
	"context"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/localserver"
	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

func newHandler(t *testing.T, cfg localserver.Config) (http.Handler, *testkit.SyncBuffer) {
	t.Helper()
	cfg.DataDir = t.TempDir()
	logs := &testkit.SyncBuffer{}
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Getenv = func(string) string { return "" }
	srv, err := localserver.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("localserver.New: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv.Handler(), logs
}

const tokenBody = `{"sub":"alice","firmId":"acme","role":"admin","tier":"premier"}`

func TestDevTokenAnswersOnlyLoopbackPeers(t *testing.T) {
	h, _ := newHandler(t, localserver.Config{})
	for _, c := range []struct {
		peer string
		want int
	}{
		{"127.0.0.1:40000", 200}, {"[::1]:40000", 200}, {"127.8.9.10:40000", 200},
		{"192.0.2.7:40000", 404}, {"[2001:db8::1]:40000", 404}, {"10.0.0.1:40000", 404},
	} {
		r := httptest.NewRequest("POST", "http://127.0.0.1:8080/dev/token", strings.NewReader(tokenBody))
		r.RemoteAddr = c.peer
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != c.want {
			t.Errorf("peer %s: status %d, want %d: %s", c.peer, w.Code, c.want, w.Body.String())
		}
	}
}

func TestNonLoopbackAddressNeedsAllowRemote(t *testing.T) {
	for _, addr := range []string{":8080", "0.0.0.0:8080", "[::]:8080", "192.0.2.1:8080", "example.com:8080"} {
		_, err := localserver.New(context.Background(), localserver.Config{Addr: addr, DataDir: t.TempDir(), Getenv: func(string) string { return "" },
			Logger: slog.New(slog.DiscardHandler)})
		if err == nil || !strings.Contains(err.Error(), "-allow-remote") {
			t.Errorf("New(Addr %q) = %v, want a refusal naming -allow-remote", addr, err)
		}
	}
	// Told explicitly: it serves, but no /dev/token at all, even to loopback.
	h, _ := newHandler(t, localserver.Config{Addr: "0.0.0.0:8080", AllowRemote: true})
	r := httptest.NewRequest("POST", "http://203.0.113.9:8080/dev/token", strings.NewReader(tokenBody))
	r.RemoteAddr = "127.0.0.1:40000"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 404 || strings.Contains(w.Body.String(), "token\"") {
		t.Fatalf("/dev/token with -allow-remote: %d %s", w.Code, w.Body.String())
	}
	cfg, err := localserver.ParseConfig([]string{"-addr", ":9000", "-allow-remote"}, func(string) string { return "" }, io.Discard)
	if err != nil || !cfg.AllowRemote {
		t.Fatalf("ParseConfig -allow-remote: %+v, %v", cfg.AllowRemote, err)
	}
	cfg, err = localserver.ParseConfig(nil, func(k string) string { return map[string]string{"KST_ALLOW_REMOTE": "true"}[k] }, io.Discard)
	if err != nil || !cfg.AllowRemote {
		t.Fatalf("ParseConfig KST_ALLOW_REMOTE: %+v, %v", cfg.AllowRemote, err)
	}
}

// TestIPv6HostAndNoRawURLInLogs: Host [::1]:8080 works, and no log line,
// ours or the proxy library's (the standard logger), holds the query.
func TestIPv6HostAndNoRawURLInLogs(t *testing.T) {
	var std bytes.Buffer
	log.SetOutput(&std)
	t.Cleanup(func() { log.SetOutput(osStderr()) })
	h, logs := newHandler(t, localserver.Config{})
	post := func(host, path, auth, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "http://"+host+path, strings.NewReader(body))
		r.Host = host
		r.RemoteAddr = "[::1]:40000"
		if auth != "" {
			r.Header.Set("Authorization", "Bearer "+auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	w := post("[::1]:8080", "/dev/token", "", tokenBody)
	if w.Code != 200 {
		t.Fatalf("/dev/token with Host [::1]:8080: %d %s", w.Code, w.Body.String())
	}
	tok := strings.Split(strings.Split(w.Body.String(), `"token":"`)[1], `"`)[0]
	for _, host := range []string{"[::1]:8080", "[::1]", "[0:0:0:0:0:0:0:1]:8080", "127.0.0.1:8080", "localhost:8080"} {
		r := httptest.NewRequest("GET", "http://"+host+"/v1/api-keys?limit=5&cursor=&secretquery=QUERYMARK1", nil)
		r.Host = host
		r.RemoteAddr = "[::1]:40000"
		r.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != 200 {
			t.Errorf("GET with Host %s: %d %s", host, rec.Code, rec.Body.String())
		}
	}
	if w := post("[::1]:8080", "/v1/api-keys?QUERYMARK2", tok, `{"label":"v6"}`); w.Code != 201 {
		t.Errorf("POST with Host [::1]:8080: %d %s", w.Code, w.Body.String())
	}
	for _, out := range []string{string(logs.Bytes()), std.String()} {
		if strings.Contains(out, "QUERYMARK") || strings.Contains(out, "secretquery") {
			t.Errorf("a log line holds the query string:\n%s", out)
		}
	}
}

// countingReader counts how much of a body was read.
type countingReader struct{ n, size int }

func (c *countingReader) Read(p []byte) (int, error) {
	if c.n >= c.size {
		return 0, io.EOF
	}
	k := min(len(p), c.size-c.n)
	for i := range p[:k] {
		p[i] = 'a'
	}
	c.n += k
	return k, nil
}

// TestBodyNotReadBeforeTokenAndSize: an unauthenticated body, or one
// declared too large, is refused before a byte of it is read.
func TestBodyNotReadBeforeTokenAndSize(t *testing.T) {
	h, _ := newHandler(t, localserver.Config{})
	for _, c := range []struct {
		name, path string
		length     int64
		want       int
	}{
		{"no token, 1 MiB", "/v1/api-keys", -1, 401},
		{"declared 11 MiB", "/v1/api-keys", 11 << 20, 413},
	} {
		body := &countingReader{size: 1 << 20}
		r := httptest.NewRequest("POST", "http://127.0.0.1:8080"+c.path, body)
		r.ContentLength = c.length
		r.RemoteAddr = "127.0.0.1:40000"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != c.want || body.n != 0 {
			t.Errorf("%s: status %d (want %d), %d bytes read (want 0)", c.name, w.Code, c.want, body.n)
		}
	}
}

func osStderr() io.Writer { return os.Stderr }

// TestBannerOffersDevTokenOnlyWhenServed: the start banner's curl line for
// /dev/token is printed on loopback only; with -allow-remote the route does
// not exist, and the banner says so instead of offering a command that 404s.
func TestBannerOffersDevTokenOnlyWhenServed(t *testing.T) {
	for _, c := range []struct {
		addr   string
		remote bool
		want   bool
	}{{"127.0.0.1:0", false, true}, {"0.0.0.0:0", true, false}} {
		ctx, cancel := context.WithCancel(context.Background())
		out := &testkit.SyncBuffer{}
		done := make(chan error, 1)
		go func() {
			done <- localserver.Run(ctx, localserver.Config{Addr: c.addr, AllowRemote: c.remote, DataDir: t.TempDir(),
				Getenv: func(string) string { return "" }, Logger: slog.New(slog.DiscardHandler)}, out)
		}()
		deadline := time.Now().Add(30 * time.Second)
		for !bytes.Contains(out.Bytes(), []byte("store")) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run(%s): %v", c.addr, err)
		}
		banner := string(out.Bytes())
		if got := strings.Contains(banner, "curl -s -X POST"); got != c.want {
			t.Errorf("Run(%s, allow-remote %v): banner offers /dev/token = %v, want %v:\n%s", c.addr, c.remote, got, c.want, banner)
		}
	}
}

// TestUncleanPathsAreNotRedirected: ServeMux answers a path with "..", "//"
// or a missing subtree slash with a redirect and an HTML body; the server
// answers it as an unknown route, in the error envelope, as the API does.
func TestUncleanPathsAreNotRedirected(t *testing.T) {
	h, _ := newHandler(t, localserver.Config{})
	for _, p := range []string{"/v1/api-keys/../api-keys", "/v1//api-keys", "/v1", "/dev/../dev/token", "/./openapi.json"} {
		r := httptest.NewRequest("GET", "http://127.0.0.1:8080/", nil)
		r.URL.Path = p
		r.RemoteAddr = "127.0.0.1:40000"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), `"code":"not_found"`) {
			t.Errorf("GET %s: %d %s, want 404 not_found", p, w.Code, w.Body.String())
		}
	}
}
