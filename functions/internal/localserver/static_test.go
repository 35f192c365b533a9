package localserver_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kudurrustone/apikeys/functions/internal/httpapi"
	"github.com/kudurrustone/apikeys/functions/internal/localserver"
)

// TestOpenAPIMatchesRoutes: the document in the repository is the one the
// server embeds and serves, and its operations are exactly httpapi.Routes().
func TestOpenAPIMatchesRoutes(t *testing.T) {
	onDisk, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onDisk, localserver.OpenAPI()) {
		t.Fatal("the embedded OpenAPI document differs from openapi.json")
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(onDisk, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi = %q, want 3.x", doc.OpenAPI)
	}
	var got, want []string
	for path, ops := range doc.Paths {
		for method := range ops {
			got = append(got, strings.ToUpper(method)+" "+path)
		}
	}
	for _, r := range httpapi.Routes() {
		want = append(want, r.Method+" "+r.Path)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("OpenAPI operations\n  %v\nroutes\n  %v", got, want)
	}

	s := startServer(t, localserver.Config{})
	r := do(t, http.MethodGet, s.URL+"/openapi.json", "", nil)
	if r.Status != http.StatusOK || !bytes.Equal(r.Body, onDisk) || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("GET /openapi.json: %d %q, not the document", r.Status, r.Header.Get("Content-Type"))
	}
}

// TestConsoleIsServedSafely: the console's files come with the security
// headers, and its HTML has no inline script or style the CSP would block
// (and no third-party resource).
func TestConsoleIsServedSafely(t *testing.T) {
	s := startServer(t, localserver.Config{})
	for _, tc := range []struct{ path, ctype string }{
		{"/", "text/html; charset=utf-8"},
		{"/app.js", "text/javascript; charset=utf-8"},
		{"/style.css", "text/css; charset=utf-8"},
		{"/favicon.svg", "image/svg+xml"},
	} {
		r := do(t, http.MethodGet, s.URL+tc.path, "", nil)
		if r.Status != http.StatusOK || r.Header.Get("Content-Type") != tc.ctype {
			t.Errorf("GET %s: %d %q", tc.path, r.Status, r.Header.Get("Content-Type"))
		}
		csp := r.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: CSP %q lacks %q", tc.path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("GET %s: CSP allows inline code: %q", tc.path, csp)
		}
		if r.Header.Get("X-Content-Type-Options") != "nosniff" || r.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("GET %s: headers %v", tc.path, r.Header)
		}
		if tc.path != "/" {
			continue
		}
		html := string(r.Body)
		for _, bad := range []*regexp.Regexp{
			regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]`),      // inline script
			regexp.MustCompile(`(?i)\son[a-z]+\s*=`),                     // inline handler
			regexp.MustCompile(`(?i)\sstyle\s*=`),                        // inline style
			regexp.MustCompile(`(?i)<style`),                             // style element
			regexp.MustCompile(`(?i)(?:src|href)\s*=\s*"(?:https?:)?//`), // another origin
		} {
			if m := bad.FindString(html); m != "" {
				t.Errorf("index.html has %q, which the CSP forbids", m)
			}
		}
	}
	for _, p := range []string{"/nothing", "/console/index.html", "/../server.go"} {
		r := do(t, http.MethodGet, s.URL+p, "", nil)
		if r.Status != http.StatusNotFound || r.ErrorCode(t) != "not_found" {
			t.Errorf("GET %s: %d %s, want 404 not_found", p, r.Status, r.Body)
		}
	}
	if r := do(t, http.MethodPost, s.URL+"/", "", "{}"); r.Status != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d", r.Status)
	}
}

// TestConsoleNeverStoresTheKey reads app.js: no web storage, no cookie, no
// URL change, no logging of anything, and the browser's history touched in
// one place only (historyEntry, which stores a screen name and a key id;
// the browser test checks every entry it makes at run time).
func TestConsoleNeverStoresTheKey(t *testing.T) {
	js, err := os.ReadFile("console/app.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"localStorage", "sessionStorage", "document.cookie", "indexedDB",
		"location.hash", "location.search", "location.href", "location.assign", "console.log", "innerHTML", "outerHTML", "eval("} {
		if bytes.Contains(js, []byte(bad)) {
			t.Errorf("app.js uses %s", bad)
		}
	}
	for _, call := range []string{"history.pushState(", "history.replaceState("} {
		if n := bytes.Count(js, []byte(call)); n != 1 {
			t.Errorf("app.js calls %s %d times, want once (in historyEntry)", call, n)
		}
	}
	entry := regexp.MustCompile(`(?s)function historyEntry\(screen, keyId, replace\) \{\n(.*?)\n  \}\n`).FindSubmatch(js)
	if entry == nil || !bytes.Contains(entry[1], []byte("history.pushState(entry, '')")) ||
		!bytes.Contains(entry[1], []byte("history.replaceState(entry, '')")) {
		t.Error("app.js: history.pushState and history.replaceState must be called in historyEntry only, with no URL")
	}
}
