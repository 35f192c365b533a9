package localserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
	"github.com/kudurrustone/apikeys/functions/internal/localserver"
	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

// findChromium finds the browser that infra/scripts/install-browser.sh
// installs (CHROMIUM overrides). A missing browser fails the test, in CI
// and outside it: the browser test is part of `make test`, never skipped.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, c := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	t.Fatal("Chromium is missing: run `make deps` (it runs infra/scripts/install-browser.sh, which installs Debian's chromium), or set CHROMIUM=/path/to/chromium")
	return ""
}

// axeSource reads axe-core as infra/scripts/install-axe.sh installs it into
// the git-ignored .cache/. Missing, the test fails: accessibility is
// measured in `make test`, never skipped.
func axeSource(t *testing.T) string {
	t.Helper()
	root, err := testkit.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, ".cache", "axe-core", "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		t.Fatalf("axe-core is missing (%v): run `make deps` (it runs infra/scripts/install-axe.sh)", err)
	}
	return string(b)
}

// artifactsDir is the git-ignored folder for screenshots, at the repository
// root.
func artifactsDir(t *testing.T) string {
	t.Helper()
	root, err := testkit.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, ".artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// recordHistory runs before the console's own script in every document: it
// records each history entry the page makes, so the test can check that no
// entry ever holds the key or a URL.
const recordHistory = `(() => {
  window.__historyLog = [];
  for (const m of ['pushState', 'replaceState']) {
    const orig = history[m].bind(history);
    history[m] = function (state, title, url) {
      window.__historyLog.push(JSON.stringify({method: m, state: state, url: url === undefined ? null : String(url)}));
      return orig(state, title, url);
    };
  }
})();`

// browserSession drives one headless Chromium tab.
type browserSession struct {
	t      *testing.T
	ctx    context.Context
	axe    string
	shotNo int

	mu         sync.Mutex
	dialogs    []string // JavaScript dialogs (the console must open none)
	exceptions []string // uncaught exceptions in the page
}

func newBrowser(t *testing.T) *browserSession {
	t.Helper()
	path := findChromium(t)
	axe := axeSource(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()), // a fresh profile: nothing from a previous run
		chromedp.NoSandbox,                // root in containers and CI
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.WindowSize(1280, 860),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	// Start the browser with no deadline (the deadline of the first call
	// would bound the browser's life), then bound the whole walk. Two
	// shared cores make it slow: the bound is generous.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(cancel)

	// This run's screenshots only: drop the previous run's.
	old, _ := filepath.Glob(filepath.Join(artifactsDir(t), "console-*.png"))
	for _, f := range old {
		_ = os.Remove(f)
	}
	b := &browserSession{t: t, ctx: ctx, axe: axe}
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: recordHistory}); err != nil {
		t.Fatal(err)
	}
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.dialogs = append(b.dialogs, ev.Message)
			b.mu.Unlock()
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			if m.IsException() {
				b.mu.Lock()
				b.exceptions = append(b.exceptions, m.String())
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if len(b.dialogs) > 0 {
			t.Errorf("the console opened JavaScript dialogs %q; it uses its own accessible dialogs", b.dialogs)
		}
		if len(b.exceptions) > 0 {
			t.Errorf("uncaught exceptions in the console: %q", b.exceptions)
		}
	})
	return b
}

// stepTimeout bounds one step, so a missing element fails fast and says
// which step waited.
const stepTimeout = 45 * time.Second

func (b *browserSession) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *browserSession) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func (b *browserSession) eval(js string) bool {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

func (b *browserSession) evalString(js string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// waitFor polls a JavaScript condition.
func (b *browserSession) waitFor(what, js string) {
	b.t.Helper()
	b.do(what, chromedp.Poll[chromedp.Void](js))
}

// focused describes document.activeElement: its id, else its tag and
// data-key-id or accessible label.
func (b *browserSession) focused() string {
	b.t.Helper()
	return b.evalString(`(() => { const e = document.activeElement; if (!e) return '';
		return e.id || (e.tagName.toLowerCase() + ':' + (e.getAttribute('aria-label') || e.dataset.keyId || e.textContent.trim())); })()`)
}

// state records one state of the console: a screenshot in .artifacts/ and
// an axe-core scan that must find no violation.
func (b *browserSession) state(name string) {
	b.t.Helper()
	b.shotNo++
	file := fmt.Sprintf("console-%02d-%s.png", b.shotNo, name)
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(artifactsDir(b.t), file)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", path)
	b.checkAxe(name)
}

type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target  []any  `json:"target"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

// checkAxe injects axe-core (once per document) and runs it on the whole
// page as it is now.
func (b *browserSession) checkAxe(name string) {
	b.t.Helper()
	if !b.eval(`typeof window.axe === 'object'`) {
		if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](b.axe+"\n;true")); err != nil {
			b.t.Fatalf("inject axe-core: %v", err)
		}
	}
	out, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](
		`axe.run(document, {resultTypes: ['violations']}).then(r => JSON.stringify({violations: r.violations, passes: r.passes.length}))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("axe-core on %s: %v", name, err)
	}
	var res struct {
		Violations []axeViolation `json:"violations"`
		Passes     int            `json:"passes"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		b.t.Fatalf("axe-core result on %s: %v", name, err)
	}
	if res.Passes == 0 {
		b.t.Fatalf("axe-core on %s checked nothing", name)
	}
	b.t.Logf("axe-core on %s: %d rules passed, %d violated", name, res.Passes, len(res.Violations))
	for _, v := range res.Violations {
		var where []string
		for _, n := range v.Nodes {
			where = append(where, fmt.Sprint(n.Target)+" "+n.Summary)
		}
		b.t.Errorf("axe-core on %q: %s (%s): %s\n  %s", name, v.ID, v.Impact, v.Help, strings.Join(where, "\n  "))
	}
}

// noKeyAnywhere checks that the key is in no part of the page, no web
// storage, no cookie, not the URL, no history entry.
func (b *browserSession) noKeyAnywhere(key, when string) {
	b.t.Helper()
	js := `(() => { const k = ` + jsString(key) + `;
		return document.documentElement.outerHTML.includes(k) || !!document.getElementById('key-value') ||
			localStorage.length > 0 || sessionStorage.length > 0 || document.cookie !== '' ||
			location.href.includes(k) || JSON.stringify(history.state).includes(k) ||
			window.__historyLog.some(e => e.includes(k)); })()`
	if b.eval(js) {
		b.t.Errorf("%s: the key is still in the page, web storage, a cookie, the URL or a history entry", when)
	}
}

// historyIsClean: every history entry the console made holds a screen name
// (and maybe a key id) and no URL.
func (b *browserSession) historyIsClean() {
	b.t.Helper()
	raw := b.evalString(`JSON.stringify(window.__historyLog)`)
	var entries []string
	if err := json.Unmarshal([]byte(raw), &entries); err != nil {
		b.t.Fatal(err)
	}
	if len(entries) == 0 {
		b.t.Error("the console made no history entries: Back cannot move between its screens")
	}
	for _, e := range entries {
		var got struct {
			State map[string]any `json:"state"`
			URL   *string        `json:"url"`
		}
		if err := json.Unmarshal([]byte(e), &got); err != nil {
			b.t.Fatal(err)
		}
		if got.URL != nil {
			b.t.Errorf("history entry %s sets a URL", e)
		}
		for k := range got.State {
			if k != "screen" && k != "keyId" {
				b.t.Errorf("history entry %s holds %q", e, k)
			}
		}
	}
}

// signIn fills the local sign-in form and waits for the home screen.
func (b *browserSession) signIn(name, firm, role, tier string) {
	b.t.Helper()
	b.do("sign in",
		chromedp.WaitVisible(chromedp.ID("signin-form")),
		chromedp.SetValue(chromedp.ID("signin-name"), name),
		chromedp.SetValue(chromedp.ID("signin-firm"), firm),
		chromedp.SetValue(chromedp.ID("signin-role"), role),
		chromedp.SetValue(chromedp.ID("signin-tier"), tier),
		chromedp.Click(chromedp.ID("signin-submit")),
		chromedp.WaitVisible(chromedp.ID("view-home")),
	)
}

// openKeys takes the help article's path: Settings → API Keys.
func (b *browserSession) openKeys() {
	b.t.Helper()
	b.do("Settings → API Keys",
		chromedp.Click(chromedp.ID("settings-button")),
		chromedp.WaitVisible(chromedp.ID("menu-api-keys")),
		chromedp.Click(chromedp.ID("menu-api-keys")),
		chromedp.WaitVisible(chromedp.ID("view-keys")),
		chromedp.WaitNotVisible(chromedp.ID("keys-loading")),
	)
}

func (b *browserSession) signOut() {
	b.t.Helper()
	b.do("sign out", chromedp.Click(chromedp.ID("sign-out")), chromedp.WaitVisible(chromedp.ID("signin-form")))
}

// visible reports whether the element matching sel is rendered.
func (b *browserSession) visible(sel string) bool {
	b.t.Helper()
	return b.eval(`(() => { const e = document.querySelector(` + jsQuote(sel) + `); return !!e && e.getClientRects().length > 0; })()`)
}

// generateInBrowser fills New API Key and submits it; it returns the key
// from the reveal screen.
func (b *browserSession) generateInBrowser(label string, setup ...chromedp.Action[chromedp.Void]) string {
	b.t.Helper()
	b.do("open New API Key", chromedp.Click(chromedp.ID("open-generate")), chromedp.WaitVisible(chromedp.ID("new-label")))
	b.do("fill the form", append([]chromedp.Action[chromedp.Void]{chromedp.SendKeys(chromedp.ID("new-label"), label)}, setup...)...)
	b.do("generate", chromedp.Click(chromedp.ID("new-submit")), chromedp.WaitVisible(chromedp.ID("key-value")))
	key := b.text("#key-value")
	if apikey.Validate(key) != nil {
		b.t.Fatalf("the reveal screen does not show a valid key (length %d)", len(key))
	}
	return key
}

func (b *browserSession) confirmAndDone() {
	b.t.Helper()
	b.do("confirm and finish",
		chromedp.Click(chromedp.ID("stored-confirm")),
		chromedp.WaitEnabled(chromedp.ID("reveal-done")),
		chromedp.Click(chromedp.ID("reveal-done")),
		chromedp.WaitVisible(chromedp.ID("view-keys")),
		chromedp.WaitNotVisible(chromedp.ID("keys-loading")),
	)
}

var secondsTime = regexp.MustCompile(`\d:\d\d:\d\d`)

// TestConsoleInBrowser walks the console in headless Chromium against the
// local server, as the help article tells a firm administrator to, and as
// members, non-Premier administrators, phone and keyboard users meet it.
// Every state is screenshot into .artifacts/ and scanned by axe-core.
func TestConsoleInBrowser(t *testing.T) {
	s := startServer(t, localserver.Config{})
	b := newBrowser(t)
	origin := s.URL

	// Let the page use the async clipboard, as a user who allowed it.
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		_, err := chromedp.CallBrowser(b.ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: name, AllowWithoutSanitization: true},
			Setting:    browser.PermissionSettingGranted,
			Origin:     origin,
		})
		if err != nil {
			t.Logf("grant %s: %v (the console falls back to execCommand)", name, err)
		}
	}

	b.do("open the console", chromedp.Navigate(origin+"/"), chromedp.WaitVisible(chromedp.ID("signin-form")))
	if !b.eval(`(() => { const l = document.querySelector('link[rel="icon"]'); return !!l && l.href.endsWith('/favicon.svg'); })()`) {
		t.Error("the page names no favicon")
	}
	b.state("sign-in")
	b.signIn("alice", "acme", "admin", "premier")
	b.state("home")

	// The Settings menu near the top right; Escape closes it and gives the
	// focus back to its button.
	b.do("open Settings", chromedp.Click(chromedp.ID("settings-button")), chromedp.WaitVisible(chromedp.ID("menu-api-keys")))
	if got := b.text("#settings-list"); strings.TrimSpace(got) != "API Keys" {
		t.Errorf("Settings menu items = %q, want API Keys", got)
	}
	if !b.eval(`(() => { const r = document.getElementById('settings-button').getBoundingClientRect(); return r.right > window.innerWidth * 0.75 && r.top < 80; })()`) {
		t.Error("the Settings menu is not near the top right")
	}
	b.state("settings-menu")
	b.do("Escape closes the menu", chromedp.KeyEvent(kb.Escape), chromedp.WaitNotVisible(chromedp.ID("menu-api-keys")))
	if f := b.focused(); f != "settings-button" {
		t.Errorf("after Escape the focus is on %q, want the Settings button", f)
	}
	b.openKeys()
	if h := b.text("#keys-title"); h != "API Keys" {
		t.Errorf("page heading = %q", h)
	}
	if title := b.evalString(`document.title`); title != "API Keys · KudurruStone" {
		t.Errorf("document title = %q", title)
	}
	if !strings.Contains(b.text("#keys-empty"), "No active API keys") {
		t.Errorf("empty list text = %q", b.text("#keys-empty"))
	}
	b.state("keys-empty")

	// New API Key: the label counts characters as the server does and says
	// so past the limit, instead of cutting the text.
	b.do("open New API Key", chromedp.Click(chromedp.ID("open-generate")), chromedp.WaitVisible(chromedp.ID("new-label")))
	if h := b.text("#new-title"); h != "New API Key" {
		t.Errorf("creation screen title = %q, want New API Key", h)
	}
	placeholder, err := chromedp.Run(b.ctx, chromedp.AttributeValue(chromedp.ID("new-label"), "placeholder"))
	if err != nil {
		t.Fatal(err)
	}
	for _, example := range []string{"Production Integration", "Office Sync Tool", "Accounting Export"} {
		if !strings.Contains(placeholder.Value, example) {
			t.Errorf("placeholder %q lacks %q", placeholder.Value, example)
		}
	}
	if !b.eval(`document.getElementById('new-scope-read').checked && document.getElementById('new-scope-write').checked`) {
		t.Error("Read and Write are not both on by default")
	}
	b.state("new-key")
	long := strings.Repeat("🔑", 65) // 65 characters, 130 UTF-16 units
	b.do("type a label one character too long", chromedp.SendKeys(chromedp.ID("new-label"), long))
	if got := b.evalString(`document.getElementById('new-label').value`); got != long {
		t.Errorf("the label field holds %d characters, want all 65 typed (not cut)", len([]rune(got)))
	}
	if msg := b.text("#new-label-error"); !strings.Contains(msg, "65 characters") || !strings.Contains(msg, "64") {
		t.Errorf("label error = %q, want the count and the limit", msg)
	}
	if !b.eval(`document.getElementById('new-label').getAttribute('aria-invalid') === 'true'`) {
		t.Error("the too-long label is not aria-invalid")
	}
	b.state("new-label-too-long")
	b.do("remove one character", chromedp.KeyEvent(kb.Backspace))
	if b.visible("#new-label-error") || b.eval(`document.getElementById('new-label').hasAttribute('aria-invalid')`) {
		t.Error("64 emoji (64 characters, 128 UTF-16 units) are still refused")
	}
	// The server's refusal reason, next to the field.
	b.do("a label the server refuses",
		chromedp.SetValue(chromedp.ID("new-label"), "Bell\u0007Tool"),
		chromedp.Click(chromedp.ID("new-submit")),
		chromedp.WaitVisible(chromedp.ID("new-label-error")),
	)
	if msg := b.text("#new-label-error"); !strings.Contains(strings.ToLower(msg), "control") {
		t.Errorf("label error = %q, want the server's reason (a control character)", msg)
	}
	if !b.eval(`document.getElementById('new-label').getAttribute('aria-invalid') === 'true' && document.activeElement.id === 'new-label'`) {
		t.Error("the refused label is not aria-invalid and focused")
	}
	b.state("new-server-refusal")
	b.do("cancel", chromedp.Click(chromedp.ID("cancel-new")), chromedp.WaitVisible(chromedp.ID("view-keys")))

	// Generate; the reveal screen shows the key once.
	key := b.generateInBrowser("Production Integration")
	if w := b.text("#reveal-warning"); !strings.Contains(w, "only time this key will be visible") {
		t.Errorf("warning = %q", w)
	}
	if !b.eval(`document.getElementById('reveal-done').disabled`) {
		t.Error("Done is enabled before the checkbox is checked")
	}
	if name := b.evalString(`document.getElementById('copy-key').getAttribute('aria-label')`); name != "Copy key" {
		t.Errorf("the copy button's accessible name = %q, want Copy key", name)
	}
	b.do("copy the key", chromedp.Click(chromedp.ID("copy-key")))
	b.waitFor("the copy confirmation", `document.getElementById('copy-status').textContent.length > 0`)
	if st := b.text("#copy-status"); !strings.HasPrefix(st, "Copied") {
		t.Errorf("copy status = %q, want Copied…", st)
	}
	if clip, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise)); err == nil {
		if clip != key {
			t.Error("the clipboard does not hold the key after Copy")
		}
	} else {
		t.Logf("clipboard not readable here (%v); the copy status was checked instead", err)
	}
	if b.eval(`JSON.stringify(history.state).includes(` + jsString(key) + `) || window.__historyLog.some(e => e.includes(` + jsString(key) + `))`) {
		t.Error("the key is in a history entry")
	}
	b.state("reveal")
	b.confirmAndDone()
	row := `#keys-body tr[data-status="active"]`
	if got := b.text(row); !strings.Contains(got, "Production Integration") || !strings.Contains(got, "Active") ||
		!strings.Contains(got, "Never") || !secondsTime.MatchString(got) || !strings.Contains(got, "kst_") {
		t.Errorf("list row = %q, want the label, Active, Never used, the hint and the created time with seconds", got)
	}
	b.noKeyAnywhere(key, "after Done")

	// An integration uses the key; Refresh shows when, relative, with the
	// absolute time and zone on hover and for screen readers.
	r := do(t, http.MethodGet, s.URL+"/v1/whoami", key, nil)
	if r.Status != http.StatusOK || r.JSON(t)["firmId"] != "acme" || r.JSON(t)["label"] != "Production Integration" {
		t.Fatalf("whoami with the console's key: %d %s", r.Status, r.Body)
	}
	b.do("refresh", chromedp.Click(chromedp.ID("refresh")), chromedp.WaitVisible(chromedp.CSS(row+` time[data-relative]`)))
	if f := b.focused(); f != "refresh" {
		t.Errorf("after Refresh the focus is on %q", f)
	}
	used := b.text(row + ` td.c-used`)
	title := b.evalString(`document.querySelector('#keys-body time[data-relative]').title`)
	sr := b.evalString(`document.querySelector('#keys-body time[data-relative] .visually-hidden').textContent`)
	if !strings.Contains(used, "now") && !strings.Contains(used, "second") {
		t.Errorf("last used = %q, want a relative time", used)
	}
	if !strings.Contains(title, "UTC") || !secondsTime.MatchString(title) || !strings.Contains(sr, title) {
		t.Errorf("last used: title %q, screen-reader text %q; want the absolute time with seconds and zone in both", title, sr)
	}

	// Back from the reveal screen: the list, the key gone, and Forward does
	// not bring it back.
	dropped := b.generateInBrowser("Office Sync Tool")
	b.do("Back from the reveal screen", chromedp.Evaluate[chromedp.Void](`history.back()`),
		chromedp.WaitVisible(chromedp.ID("view-keys")), chromedp.WaitNotVisible(chromedp.ID("keys-loading")))
	if msg := b.text("#status"); !strings.Contains(msg, "no longer shown") {
		t.Errorf("status after Back = %q", msg)
	}
	b.noKeyAnywhere(dropped, "after Back from the reveal screen")
	b.rowsUnique("back-from-reveal")
	b.state("back-from-reveal")
	b.do("Forward", chromedp.Evaluate[chromedp.Void](`history.forward()`), chromedp.Sleep(300*time.Millisecond),
		chromedp.WaitVisible(chromedp.ID("view-keys")))
	b.noKeyAnywhere(dropped, "after Forward to the reveal screen's entry")
	if b.visible("#view-reveal") {
		t.Error("Forward shows the reveal screen again")
	}
	b.historyIsClean()

	// The status filter.
	b.do("show revoked keys", chromedp.SetValue(chromedp.ID("status-filter"), "revoked"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('status-filter').dispatchEvent(new Event('change'))`),
		chromedp.Poll[chromedp.Void](`document.getElementById('keys-empty').textContent.includes('No revoked')`))
	b.do("show active keys", chromedp.SetValue(chromedp.ID("status-filter"), "active"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('status-filter').dispatchEvent(new Event('change'))`),
		chromedp.WaitVisible(chromedp.CSS(`#keys-body tr:nth-child(2)`)))

	// Revoke: Escape closes the confirmation and gives the focus back to
	// the Revoke button; the confirmation tells same-label keys apart.
	officeRow := `#keys-body tr:nth-child(1)`
	officeID := b.evalString(`document.querySelector('` + officeRow + `').dataset.keyId`)
	b.do("open the revoke confirmation", chromedp.Click(chromedp.CSS(officeRow+` button.act-revoke`)), chromedp.WaitVisible(chromedp.ID("revoke-dialog")))
	facts := b.text("#revoke-facts")
	if !strings.Contains(facts, "Office Sync Tool") || !strings.Contains(facts, "kst_") || !secondsTime.MatchString(facts) {
		t.Errorf("revoke confirmation = %q, want the label, the hint and the created time with seconds", facts)
	}
	b.state("revoke-dialog")
	b.do("Escape", chromedp.KeyEvent(kb.Escape), chromedp.WaitNotVisible(chromedp.ID("revoke-dialog")))
	if f := b.focused(); !strings.HasPrefix(f, "button:Revoke Office Sync Tool") {
		t.Errorf("after Escape the focus is on %q, want the Revoke button", f)
	}
	b.do("revoke",
		chromedp.Click(chromedp.CSS(officeRow+` button.act-revoke`)),
		chromedp.WaitVisible(chromedp.ID("revoke-dialog")),
		chromedp.Click(chromedp.ID("revoke-confirm")),
		chromedp.WaitVisible(chromedp.CSS(`#keys-body tr[data-status="revoked"]`)),
	)
	if f := b.focused(); f != "key-"+officeID {
		t.Errorf("after Revoke the focus is on %q, want the key's row", f)
	}
	if got := b.text(`#key-` + officeID); !strings.Contains(got, "Revoked") || !strings.Contains(got, "by alice") || !secondsTime.MatchString(got) {
		t.Errorf("revoked row = %q, want who revoked it and when", got)
	}
	r = do(t, http.MethodGet, s.URL+"/v1/whoami", dropped, nil)
	if r.Status != http.StatusForbidden {
		t.Errorf("whoami after revoking in the console: %d %s, want 403", r.Status, r.Body)
	}
	b.rowsUnique("revoked")
	b.state("revoked")

	// Generate with Read only and an allowed address, Edit, Roll with grace,
	// and the activity showing each.
	b.lifecycle(s)

	// A phone, 375 pixels wide: no sideways scrolling, the label, status and
	// Revoke in view; the reveal screen wraps the whole key, Copy in the card.
	b.do("375 px", chromedp.EmulateViewport(375, 812, chromedp.EmulateScale(2)), chromedp.Sleep(200*time.Millisecond))
	b.do("refresh", chromedp.Click(chromedp.ID("refresh")), chromedp.WaitVisible(chromedp.CSS(row)))
	b.phoneChecks("list")
	if !b.eval(`(() => { const r = document.getElementById('settings-button').getBoundingClientRect(); return r.right > window.innerWidth * 0.75 && r.top < 60; })()`) {
		t.Error("at 375 px the Settings menu is not at the top right")
	}
	b.do("scroll to the list", chromedp.ScrollIntoView(chromedp.CSS(row+` button.act-revoke`)))
	if !b.eval(`(() => { const r = document.querySelector('` + row + ` button.act-revoke').getBoundingClientRect();
		return r.left >= 0 && r.right <= window.innerWidth && r.width > 0; })()`) {
		t.Error("at 375 px the Revoke button is outside the viewport")
	}
	for _, cell := range []string{"td.c-key .label", "td.c-status .badge", "td.c-actions"} {
		if !b.eval(`(() => { const r = document.querySelector('` + row + ` ` + cell + `').getBoundingClientRect();
			return r.width > 0 && r.left >= 0 && r.right <= window.innerWidth; })()`) {
			t.Errorf("at 375 px %s is not in view", cell)
		}
	}
	b.state("phone-list")
	// The activity view at 375 px: no sideways scrolling, each event's
	// action and time in view.
	b.do("open Activity at 375 px", chromedp.Click(chromedp.ID("open-activity")),
		chromedp.WaitVisible(chromedp.ID("view-activity")), chromedp.WaitNotVisible(chromedp.ID("activity-loading")))
	b.phoneChecks("activity")
	if !b.eval(`(() => { const rows = [...document.querySelectorAll('#activity-body tr')];
		return rows.length > 0 && rows.every(r => { const b = r.getBoundingClientRect(); return b.width > 0 && b.left >= 0 && b.right <= window.innerWidth; }); })()`) {
		t.Error("at 375 px an activity row is outside the viewport")
	}
	b.state("phone-activity")
	b.do("Back to the list", chromedp.Evaluate[chromedp.Void](`history.back()`),
		chromedp.WaitVisible(chromedp.ID("view-keys")), chromedp.WaitNotVisible(chromedp.ID("keys-loading")))
	// An expiry within a week shows as "Expires in N days" on the list.
	phoneKey := b.generateInBrowser("Phone Integration", setDateInDays("new-expires", 3))
	b.phoneChecks("reveal")
	if !b.eval(`(() => { const k = document.getElementById('key-value'), c = document.getElementById('copy-key'),
			card = document.querySelector('#view-reveal .card').getBoundingClientRect(), kr = k.getBoundingClientRect(), cr = c.getBoundingClientRect();
		return k.scrollWidth <= k.clientWidth && kr.left >= card.left && kr.right <= card.right &&
			cr.left >= card.left && cr.right <= card.right && cr.right <= window.innerWidth; })()`) {
		t.Error("at 375 px the key is not shown whole inside the card, or Copy is outside it")
	}
	if got := b.text("#key-value"); got != phoneKey {
		t.Error("at 375 px the reveal screen does not show the whole key")
	}
	b.state("phone-reveal")
	b.confirmAndDone()
	if got := b.text(`#keys-body tr:first-child td.c-status`); !regexp.MustCompile(`Expires in [34] days`).MatchString(got) {
		t.Errorf("a key expiring in 3 days shows %q, want Expires in N days", got)
	}
	b.do("desktop", chromedp.EmulateViewport(1280, 860), chromedp.Sleep(200*time.Millisecond))

	// A firm with more keys than one page: Load more fetches the rest and
	// the focus goes to the first new row.
	many := token(t, s.URL, "erin", "hooli", "admin", "premier")
	for i := 0; i < 23; i++ {
		generate(t, s.URL, many, fmt.Sprintf("Integration %02d", i))
		time.Sleep(2 * time.Millisecond) // ids order by millisecond; keep each in its own
	}
	b.signOut()
	b.signIn("erin", "hooli", "admin", "premier")
	b.openKeys()
	b.do("load more",
		chromedp.WaitVisible(chromedp.ID("load-more")),
		chromedp.Click(chromedp.ID("load-more")),
		chromedp.WaitVisible(chromedp.CSS(`#keys-body tr:nth-child(23)`)),
		chromedp.WaitNotVisible(chromedp.ID("load-more")),
	)
	if first, last := b.text(`#keys-body tr:first-child .label`), b.text(`#keys-body tr:nth-child(23) .label`); first != "Integration 22" || last != "Integration 00" {
		t.Errorf("list order: first %q, last %q; want newest first", first, last)
	}
	if f, want := b.focused(), b.evalString(`'key-' + document.querySelector('#keys-body tr:nth-child(21)').dataset.keyId`); f != want {
		t.Errorf("after Load more the focus is on %q, want the first new row %q", f, want)
	}
	b.rowsUnique("load-more")
	b.state("load-more")
	b.activityLoadMore(23)

	// A firm without Premier: its keys, Revoke and the activity; an
	// explanation instead of Generate, Roll and Edit.
	generate(t, s.URL, token(t, s.URL, "carol", "initech", "admin", "premier"), "Accounting Export")
	b.signOut()
	b.signIn("carol", "initech", "admin", "standard")
	b.openKeys()
	b.do("wait for the key", chromedp.WaitVisible(chromedp.CSS(row)))
	if !b.visible("#premier-note") || !strings.Contains(b.text("#premier-note"), "Premier") {
		t.Error("a non-Premier administrator sees no Premier explanation")
	}
	for _, sel := range []string{"#open-generate", "button.act-edit", "button.act-roll"} {
		if b.visible(sel) {
			t.Errorf("a non-Premier administrator sees %s", sel)
		}
	}
	for _, sel := range []string{row + " button.act-revoke", row + " button.act-activity", "#open-activity"} {
		if !b.visible(sel) {
			t.Errorf("a non-Premier administrator does not see %s", sel)
		}
	}
	b.state("not-premier")
	b.readActivity("Accounting Export")

	// A member: an explanation, no keys and no controls.
	b.signOut()
	b.signIn("bob", "acme", "member", "premier")
	b.openKeys()
	if !b.visible("#member-note") || !strings.Contains(b.text("#member-note"), "Only firm administrators") {
		t.Error("a member sees no explanation")
	}
	for _, sel := range []string{"#open-generate", "#open-activity", "#keys-table", "button.act-revoke", "button.act-edit", "button.act-roll"} {
		if b.visible(sel) {
			t.Errorf("a member sees %s", sel)
		}
	}
	b.state("member")
}

// setDateInDays sets a date input to the browser's local date n days from
// now and tells the page it changed.
func setDateInDays(id string, n int) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const d = new Date(Date.now() + %d * 86400000);
		const p = (x) => String(x).padStart(2, '0'); const e = document.getElementById(%s);
		e.value = d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate());
		e.dispatchEvent(new Event('input', {bubbles: true})); e.dispatchEvent(new Event('change', {bubbles: true})); })()`, n, jsQuote(id)))
}

// rowsUnique asserts that no key is listed twice (overlapping reloads).
func (b *browserSession) rowsUnique(when string) {
	b.t.Helper()
	if !b.eval(`(() => { const ids = [...document.querySelectorAll('#keys-body tr')].map(r => r.dataset.keyId); return ids.length === new Set(ids).size; })()`) {
		b.t.Errorf("%s: a key is listed twice", when)
	}
}

// phoneChecks asserts that the page does not scroll sideways.
func (b *browserSession) phoneChecks(what string) {
	b.t.Helper()
	if !b.eval(`document.documentElement.scrollWidth <= window.innerWidth && document.body.scrollWidth <= window.innerWidth`) {
		w := b.evalString(`document.documentElement.scrollWidth + ' > ' + window.innerWidth`)
		b.t.Errorf("at 375 px the %s scrolls sideways (%s)", what, w)
	}
}

// jsString quotes s as a JavaScript string literal (s is a key: only
// [A-Za-z0-9_]).
func jsString(s string) string { return "'" + s + "'" }

// jsQuote quotes any string as a JavaScript string literal.
func jsQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
