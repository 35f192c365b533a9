package localserver_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
	"github.com/kudurrustone/apikeys/functions/internal/ddblocal"
	"github.com/kudurrustone/apikeys/functions/internal/localserver"
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
	if os.Getenv("CI") == "true" {
		t.Fatal("Chromium is missing in CI: the CI script must run `make deps` (infra/scripts/install-browser.sh) before the tests")
	}
	t.Fatal("Chromium is missing: run `make deps` (it runs infra/scripts/install-browser.sh, which installs Debian's chromium), or set CHROMIUM=/path/to/chromium")
	return ""
}

// artifactsDir is the git-ignored folder for screenshots, at the repository
// root.
func artifactsDir(t *testing.T) string {
	t.Helper()
	root, err := ddblocal.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, ".artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browserSession drives one headless Chromium tab.
type browserSession struct {
	t   *testing.T
	ctx context.Context

	mu      sync.Mutex
	dialogs []string // messages of the dialogs accepted so far
}

func newBrowser(t *testing.T) *browserSession {
	t.Helper()
	path := findChromium(t)
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
		chromedp.WindowSize(1280, 860),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	// Start the browser with no deadline (the deadline of the first call
	// would bound the browser's life), then bound the whole walk.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel)

	b := &browserSession{t: t, ctx: ctx}
	// A confirm() blocks the click that opened it, so dialogs are accepted
	// from their own goroutine.
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.dialogs = append(b.dialogs, ev.Message)
			b.mu.Unlock()
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	return b
}

func (b *browserSession) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
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

func (b *browserSession) screenshot(name string) string {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(artifactsDir(b.t), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", path)
	return path
}

func (b *browserSession) dialogMessages() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.dialogs...)
}

// signIn fills the local sign-in form and waits for the API Keys page.
func (b *browserSession) signIn(name, firm, role, tier string) {
	b.t.Helper()
	b.do("sign in",
		chromedp.WaitVisible(chromedp.ID("signin-form")),
		chromedp.SetValue(chromedp.ID("signin-name"), name),
		chromedp.SetValue(chromedp.ID("signin-firm"), firm),
		chromedp.SetValue(chromedp.ID("signin-role"), role),
		chromedp.SetValue(chromedp.ID("signin-tier"), tier),
		chromedp.Click(chromedp.ID("signin-submit")),
		chromedp.WaitVisible(chromedp.ID("view-keys")),
		chromedp.WaitNotVisible(chromedp.ID("keys-loading")),
	)
}

// TestConsoleInBrowser walks the help article's flow in headless Chromium
// against the local server: sign in as a Premier admin, generate a key,
// copy it, confirm, see it Active, use it, revoke it in the console, see it
// denied; then a non-Premier admin gets the Premier message.
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
	b.screenshot("console-sign-in.png")
	b.signIn("alice", "acme", "admin", "premier")
	if !strings.Contains(b.text("#keys-empty"), "No API keys yet") {
		t.Errorf("empty list text = %q", b.text("#keys-empty"))
	}

	// Generate New Key → Key Label → Generate Key.
	b.do("open the generate form",
		chromedp.Click(chromedp.ID("open-generate")),
		chromedp.WaitVisible(chromedp.ID("key-label")),
	)
	placeholder, err := chromedp.Run(b.ctx, chromedp.AttributeValue(chromedp.ID("key-label"), "placeholder"))
	if err != nil {
		t.Fatal(err)
	}
	for _, example := range []string{"Production Integration", "Office Sync Tool", "Accounting Export"} {
		if !strings.Contains(placeholder.Value, example) {
			t.Errorf("placeholder %q lacks %q", placeholder.Value, example)
		}
	}
	b.do("generate a key",
		chromedp.SendKeys(chromedp.ID("key-label"), "Production Integration"),
		chromedp.Click(chromedp.ID("generate-submit")),
		chromedp.WaitVisible(chromedp.ID("key-value")),
	)

	// The key screen: the key once, a warning, Copy, the checkbox, Done.
	key, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.ID("key-value")))
	if err != nil {
		t.Fatal(err)
	}
	if apikey.Validate(key) != nil {
		t.Fatalf("the key screen does not show a valid key (length %d)", len(key))
	}
	if w := b.text("#reveal-warning"); !strings.Contains(w, "only time this key will be visible") {
		t.Errorf("warning = %q", w)
	}
	if !b.eval(`document.getElementById('reveal-done').disabled`) {
		t.Error("Done is enabled before the checkbox is checked")
	}
	b.do("copy the key", chromedp.Click(chromedp.ID("copy-key")))
	b.do("wait for the copy status", chromedp.Poll[chromedp.Void](`document.getElementById('copy-status').textContent.length > 0`))
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
	b.screenshot("console-key-screen.png")

	b.do("confirm and finish",
		chromedp.Click(chromedp.ID("stored-confirm")),
		chromedp.WaitEnabled(chromedp.ID("reveal-done")),
		chromedp.Click(chromedp.ID("reveal-done")),
		chromedp.WaitVisible(chromedp.CSS(`#keys-body tr[data-status="active"]`)),
	)
	row := b.text(`#keys-body tr[data-status="active"]`)
	if !strings.Contains(row, "Production Integration") || !strings.Contains(row, "Active") || !strings.Contains(row, "Never") {
		t.Errorf("list row = %q, want the label, Active and Never used", row)
	}
	// The key left the page and was never stored anywhere.
	js := `(() => { const k = ` + jsString(key) + `;
		return document.documentElement.outerHTML.includes(k) || !!document.getElementById('key-value') ||
			localStorage.length > 0 || sessionStorage.length > 0 || document.cookie !== '' || location.href.includes(k); })()`
	if b.eval(js) {
		t.Error("after Done the key is still in the page, in web storage, in a cookie or in the URL")
	}

	// An integration uses the key.
	r := do(t, http.MethodGet, s.URL+"/v1/whoami", key, nil)
	if r.Status != http.StatusOK || r.JSON(t)["firmId"] != "acme" || r.JSON(t)["label"] != "Production Integration" {
		t.Fatalf("whoami with the console's key: %d %s", r.Status, r.Body)
	}
	// A second key; the list reloads and shows the first one as used.
	b.do("add a second key for the list",
		chromedp.Click(chromedp.ID("open-generate")),
		chromedp.WaitVisible(chromedp.ID("key-label")),
		chromedp.SendKeys(chromedp.ID("key-label"), "Office Sync Tool"),
		chromedp.Click(chromedp.ID("generate-submit")),
		chromedp.WaitVisible(chromedp.ID("key-value")),
		chromedp.Click(chromedp.ID("stored-confirm")),
		chromedp.Click(chromedp.ID("reveal-done")),
		chromedp.WaitVisible(chromedp.CSS(`#keys-body tr:nth-child(2)`)),
	)
	if used := b.text(`#keys-body tr:nth-child(2)`); strings.Contains(used, "Never") {
		t.Errorf("the used key still shows Never: %q", used)
	}
	b.screenshot("console-key-list.png")

	// Revoke it in the console, accepting the confirmation.
	b.do("revoke",
		chromedp.Click(chromedp.CSS(`#keys-body tr:nth-child(2) button.danger`)),
		chromedp.WaitVisible(chromedp.CSS(`#keys-body tr:nth-child(2)[data-status="revoked"]`)),
	)
	if msgs := b.dialogMessages(); len(msgs) != 1 || !strings.Contains(msgs[0], `"Production Integration"`) {
		t.Errorf("confirm dialogs = %q, want one naming the label", msgs)
	}
	if row := b.text(`#keys-body tr:nth-child(2)`); !strings.Contains(row, "Revoked") {
		t.Errorf("revoked row = %q", row)
	}
	r = do(t, http.MethodGet, s.URL+"/v1/whoami", key, nil)
	if r.Status != http.StatusForbidden {
		t.Errorf("whoami after revoking in the console: %d %s, want 403", r.Status, r.Body)
	}

	// A non-Premier admin sees the Premier message on generate.
	b.do("sign out", chromedp.Click(chromedp.ID("sign-out")), chromedp.WaitVisible(chromedp.ID("signin-form")))
	b.signIn("carol", "initech", "admin", "standard")
	b.do("try to generate without Premier",
		chromedp.Click(chromedp.ID("open-generate")),
		chromedp.WaitVisible(chromedp.ID("key-label")),
		chromedp.SendKeys(chromedp.ID("key-label"), "Accounting Export"),
		chromedp.Click(chromedp.ID("generate-submit")),
		chromedp.Poll[chromedp.Void](`document.getElementById("alert").textContent.length > 0`),
	)
	if msg := b.text("#alert"); !strings.Contains(msg, "Premier") {
		t.Errorf("alert = %q, want the Premier message", msg)
	}
	if b.eval(`!!document.getElementById('key-value')`) {
		t.Error("a key screen appeared for a non-Premier firm")
	}
	b.screenshot("console-premier-required.png")

	// A firm with more keys than one page: "Load more" fetches the rest.
	many := token(t, s.URL, "erin", "hooli", "admin", "premier")
	for i := 0; i < 23; i++ {
		generate(t, s.URL, many, fmt.Sprintf("Integration %02d", i))
		time.Sleep(2 * time.Millisecond) // ids order by millisecond; keep each in its own
	}
	b.do("sign out", chromedp.Click(chromedp.ID("sign-out")), chromedp.WaitVisible(chromedp.ID("signin-form")))
	b.signIn("erin", "hooli", "admin", "premier")
	b.do("load more",
		chromedp.WaitVisible(chromedp.ID("load-more")),
		chromedp.Click(chromedp.ID("load-more")),
		chromedp.WaitVisible(chromedp.CSS(`#keys-body tr:nth-child(23)`)),
		chromedp.WaitNotVisible(chromedp.ID("load-more")),
	)
	if first, last := b.text(`#keys-body tr:first-child td.label`), b.text(`#keys-body tr:nth-child(23) td.label`); first != "Integration 22" || last != "Integration 00" {
		t.Errorf("list order: first %q, last %q; want newest first", first, last)
	}

	// A member (not an administrator) sees the administrator message.
	b.do("sign out", chromedp.Click(chromedp.ID("sign-out")), chromedp.WaitVisible(chromedp.ID("signin-form")))
	b.signIn("bob", "acme", "member", "premier")
	b.do("wait for the message", chromedp.Poll[chromedp.Void](`document.getElementById("alert").textContent.length > 0`))
	if msg := b.text("#alert"); !strings.Contains(msg, "Only firm administrators") {
		t.Errorf("alert = %q, want the administrator message", msg)
	}
}

// jsString quotes s as a JavaScript string literal (s is a key: only
// [A-Za-z0-9_]).
func jsString(s string) string { return "'" + s + "'" }
