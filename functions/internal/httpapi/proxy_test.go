package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/kudurrustone/apikeys/functions/internal/httpapi"
)

// captureStdout redirects the process's standard output (the proxy library
// prints there) and the standard logger (it logs there) while fn runs.
func captureStdout(t *testing.T, fn func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	var std bytes.Buffer
	log.SetOutput(&std)
	done := make(chan []byte)
	go func() {
		var b bytes.Buffer
		_, _ = b.ReadFrom(r)
		done <- b.Bytes()
	}()
	defer func() {
		os.Stdout = stdout
		log.SetOutput(os.Stderr)
	}()
	fn()
	_ = w.Close()
	return string(<-done) + std.String()
}

// TestProxyNeverLogsARawURL: events whose URL the proxy library cannot build
// are answered 400 before it runs, so no line anywhere (our log, the
// standard logger, standard output) holds the path or the query.
func TestProxyNeverLogsARawURL(t *testing.T) {
	e := newEnv(t)
	p := httpapi.Proxy(e.api.Handler(httpapi.FunctionList), slogTo(e.logs))
	for _, c := range []struct {
		name string
		mod  func(ev *eventT)
	}{
		{"control character in the path", func(ev *eventT) { ev.RawPath += "\x00" }},
		{"control character in the query", func(ev *eventT) { ev.RawQueryString += "\x7f" }},
		{"IPv6 domain without brackets", func(ev *eventT) { ev.RequestContext.DomainName = "::1" }},
		{"bad escape in the path", func(ev *eventT) { ev.RawPath += "%zz" }},
		{"space in the domain", func(ev *eventT) { ev.RequestContext.DomainName = "a b" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.logs.Reset()
			ev := event(req{method: "GET", target: "/v1/api-keys?cursor=QUERYMARK&limit=5", claims: adminPremier})
			c.mod(&ev)
			var status int
			var body string
			out := captureStdout(t, func() {
				resp, err := p(context.Background(), ev)
				if err != nil {
					t.Fatalf("proxy error: %v", err)
				}
				status, body = resp.StatusCode, resp.Body
			})
			var env struct{ Error struct{ Code string } }
			if status != 400 || json.Unmarshal([]byte(body), &env) != nil || env.Error.Code != "invalid_request" {
				t.Fatalf("answer %d %s, want 400 invalid_request", status, body)
			}
			all := out + e.logs.String()
			if strings.Contains(all, "QUERYMARK") || strings.Contains(all, "/v1/api-keys") {
				t.Fatalf("a log holds the URL:\n%s", all)
			}
		})
	}
	// A well-formed event goes through.
	resp, err := p(context.Background(), event(req{method: "GET", target: "/v1/api-keys?utm=a;b", claims: adminPremier}))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("well-formed event: %d %v %s", resp.StatusCode, err, resp.Body)
	}
}

type eventT = events.APIGatewayV2HTTPRequest

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }
