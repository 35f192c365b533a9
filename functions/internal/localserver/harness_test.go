package localserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/ddblocal"
	"github.com/kudurrustone/apikeys/functions/internal/localserver"
	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(ddblocal.Main(m)) }

// testServer is a local server serving on a real loopback listener.
type testServer struct {
	URL     string
	DataDir string
	Logs    *testkit.SyncBuffer
	stop    func() error
}

// Stop shuts the server down gracefully and closes its store; later calls
// return the first result.
func (s *testServer) Stop(t *testing.T) {
	t.Helper()
	if err := s.stop(); err != nil {
		t.Fatalf("stop server: %v", err)
	}
}

// startServer runs localserver.New + Serve on 127.0.0.1:0 with a fresh
// data folder (unless cfg names one), exactly as Run does, and stops it
// when the test ends.
func startServer(t *testing.T, cfg localserver.Config) *testServer {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	logs := &testkit.SyncBuffer{}
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if cfg.Getenv == nil {
		cfg.Getenv = func(string) string { return "" } // no KST_PEPPER etc. from the developer's shell
	}
	srv, err := localserver.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("localserver.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = srv.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	var once sync.Once
	var stopErr error
	ts := &testServer{URL: "http://" + ln.Addr().String(), DataDir: cfg.DataDir, Logs: logs}
	ts.stop = func() error {
		once.Do(func() {
			cancel()
			stopErr = errors.Join(<-done, srv.Close())
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := ts.stop(); err != nil {
			t.Errorf("stop server: %v", err)
		}
	})
	return ts
}

var httpClient = &http.Client{Timeout: 15 * time.Second}

// response is a decoded HTTP answer.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, r.Body)
	}
	return m
}

// ErrorCode checks the SPEC envelope (exactly {"error":{"code","message"}})
// and returns its code.
func (r response) ErrorCode(t *testing.T) string {
	t.Helper()
	var env map[string]map[string]any
	if err := json.Unmarshal(r.Body, &env); err != nil || len(env) != 1 || env["error"] == nil {
		t.Fatalf("not an error envelope: %s", r.Body)
	}
	e := env["error"]
	code, ok1 := e["code"].(string)
	msg, ok2 := e["message"].(string)
	if len(e) != 2 || !ok1 || !ok2 || code == "" || msg == "" {
		t.Fatalf("error envelope must have exactly a code and a message: %s", r.Body)
	}
	return code
}

// do sends a request; bearer (if not empty) goes in Authorization.
func do(t *testing.T, method, url, bearer string, body any) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{Status: res.StatusCode, Header: res.Header, Body: raw}
}

// token gets an admin token from /dev/token.
func token(t *testing.T, base, sub, firm, role, tier string) string {
	t.Helper()
	r := do(t, http.MethodPost, base+"/dev/token", "", map[string]string{"sub": sub, "firmId": firm, "role": role, "tier": tier})
	if r.Status != http.StatusOK {
		t.Fatalf("/dev/token: %d %s", r.Status, r.Body)
	}
	tok, _ := r.JSON(t)["token"].(string)
	if tok == "" {
		t.Fatalf("/dev/token gave no token: %s", r.Body)
	}
	return tok
}

// generate creates a key and returns the 201 body and the plaintext key.
func generate(t *testing.T, base, tok, label string) (map[string]any, string) {
	t.Helper()
	r := do(t, http.MethodPost, base+"/v1/api-keys", tok, map[string]string{"label": label})
	if r.Status != http.StatusCreated {
		t.Fatalf("generate: %d %s", r.Status, r.Body)
	}
	m := r.JSON(t)
	key, _ := m["key"].(string)
	if !strings.HasPrefix(key, "kst_") {
		t.Fatalf("generate: no key in the 201 body")
	}
	return m, key
}
