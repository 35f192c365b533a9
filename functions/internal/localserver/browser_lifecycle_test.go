package localserver_test

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// lifecycle walks a key's life in the console as a Premier administrator
// of acme: generate with Read only and one allowed address, Edit, Roll with
// a grace period, and the activity view showing each of those actions.
func (b *browserSession) lifecycle(s *testServer) {
	t := b.t
	t.Helper()

	// Generate with Read only and an allowed address.
	key := b.generateInBrowser("Reporting Reader",
		chromedp.Click(chromedp.ID("new-scope-write")),
		chromedp.SendKeys(chromedp.ID("new-ips"), "127.0.0.1"),
	)
	b.confirmAndDone()
	id := b.evalString(`document.activeElement.dataset.keyId || ''`)
	if id == "" {
		t.Fatalf("after Done the focus is on %q, want the new key's row", b.focused())
	}
	row := `#key-` + id
	if got := b.text(row + ` td.c-access`); !strings.Contains(got, "Read") || strings.Contains(got, "Write") || !strings.Contains(got, "Only 127.0.0.1/32") {
		t.Errorf("access of a Read-only key for 127.0.0.1 = %q", got)
	}
	if r := do(t, http.MethodGet, s.URL+"/v1/whoami", key, nil); r.Status != http.StatusOK {
		t.Errorf("GET whoami with a Read key from 127.0.0.1: %d %s", r.Status, r.Body)
	}
	if r := do(t, http.MethodPost, s.URL+"/v1/whoami", key, nil); r.Status != http.StatusForbidden {
		t.Errorf("POST whoami with a Read-only key: %d %s, want 403", r.Status, r.Body)
	}
	b.do("refresh", chromedp.Click(chromedp.ID("refresh")), chromedp.WaitVisible(chromedp.CSS(row+` time[data-relative]`)))
	if got := b.text(row + ` td.c-used`); !strings.Contains(got, "from 127.0.0.1") {
		t.Errorf("last used = %q, want the last address", got)
	}
	b.state("read-only-key")

	// Edit: a refused address is shown next to its field with the server's
	// message; then label, Write and an expiry are saved.
	b.do("open Edit", chromedp.Click(chromedp.CSS(row+` button.act-edit`)), chromedp.WaitVisible(chromedp.ID("edit-label")))
	if h := b.text("#edit-title"); h != "Edit API Key" {
		t.Errorf("edit title = %q", h)
	}
	b.do("a bad address",
		chromedp.SetValue(chromedp.ID("edit-ips"), "127.0.0.1\nnot-an-address"),
		chromedp.Click(chromedp.ID("edit-submit")),
		chromedp.WaitVisible(chromedp.ID("edit-ips-error")),
	)
	if msg := b.text("#edit-ips-error"); !strings.HasPrefix(msg, "Each allowed address must be an IPv4 or IPv6 address or a CIDR block") || !strings.Contains(msg, "CIDR") {
		t.Errorf("address error = %q, want the server's message in the form's words", msg)
	}
	if !b.eval(`document.getElementById('edit-ips').getAttribute('aria-invalid') === 'true' && document.activeElement.id === 'edit-ips'`) {
		t.Error("the refused addresses are not aria-invalid and focused")
	}
	b.state("edit-error")
	b.do("save the edit",
		editField("edit-ips", "127.0.0.1"),
		chromedp.SetValue(chromedp.ID("edit-label"), "Reporting Sync"),
		chromedp.Click(chromedp.ID("edit-scope-write")),
		chromedp.Click(chromedp.ID("edit-on")),
		setDateInDays("edit-expires", 5),
	)
	if b.visible("#edit-ips-error") || b.eval(`document.getElementById('edit-ips').hasAttribute('aria-invalid')`) {
		t.Error("the address error stays after the addresses were corrected")
	}
	b.state("edit")
	b.do("save", chromedp.Click(chromedp.ID("edit-submit")),
		chromedp.WaitVisible(chromedp.ID("view-keys")), chromedp.WaitNotVisible(chromedp.ID("keys-loading")))
	b.waitFor("the focus on the edited row", `document.activeElement.id === 'key-`+id+`'`)
	if got := b.text(row); !strings.Contains(got, "Reporting Sync") || !strings.Contains(got, "Write") || !strings.Contains(got, "Expires in") {
		t.Errorf("edited row = %q, want the new label, Write and the expiry", got)
	}
	if msg := b.text("#status"); !strings.Contains(msg, "updated") {
		t.Errorf("status after Edit = %q", msg)
	}

	// Roll with a grace period of one hour: the new key is shown once, as
	// on generate; both keys work during the grace period.
	b.do("open Roll", chromedp.Click(chromedp.CSS(row+` button.act-roll`)), chromedp.WaitVisible(chromedp.ID("roll-dialog")))
	b.do("choose one hour", chromedp.Click(chromedp.ID("grace-3600")))
	b.state("roll-dialog")
	b.do("Escape", chromedp.KeyEvent(kb.Escape), chromedp.WaitNotVisible(chromedp.ID("roll-dialog")))
	if f := b.focused(); !strings.HasPrefix(f, "button:Roll Reporting Sync") {
		t.Errorf("after Escape the focus is on %q, want the Roll button", f)
	}
	b.do("roll",
		chromedp.Click(chromedp.CSS(row+` button.act-roll`)),
		chromedp.WaitVisible(chromedp.ID("roll-dialog")),
		chromedp.Click(chromedp.ID("grace-3600")),
		chromedp.Click(chromedp.ID("roll-confirm")),
		chromedp.WaitVisible(chromedp.ID("key-value")),
	)
	rolled := b.text("#key-value")
	if rolled == key || !strings.HasPrefix(rolled, "kst_") {
		t.Fatal("the roll did not show a new key")
	}
	if got := b.text("#reveal-roll"); !strings.Contains(got, "1 hour") {
		t.Errorf("roll note = %q, want the grace period", got)
	}
	if !b.eval(`document.getElementById('reveal-done').disabled`) {
		t.Error("Done is enabled before the checkbox is checked (roll)")
	}
	b.state("roll-reveal")
	b.confirmAndDone()
	b.noKeyAnywhere(rolled, "after Done (roll)")
	newID := b.evalString(`document.activeElement.dataset.keyId || ''`)
	if newID == "" || newID == id {
		t.Fatalf("after the roll the focus is on %q, want the new key's row", b.focused())
	}
	if got := b.text(row + ` td.c-status`); !strings.Contains(got, "replaced by") {
		t.Errorf("rolled key status = %q, want a link to its successor", got)
	}
	if got := b.text(`#key-` + newID + ` td.c-status`); !strings.Contains(got, "Replaces") {
		t.Errorf("new key status = %q, want a link to the key it replaces", got)
	}
	b.do("follow the link to the successor", chromedp.Click(chromedp.CSS(row+` button[data-key-link]`)))
	if f := b.focused(); f != "key-"+newID {
		t.Errorf("the successor link focused %q, want the new key's row", f)
	}
	for _, k := range []string{key, rolled} {
		if r := do(t, http.MethodGet, s.URL+"/v1/whoami", k, nil); r.Status != http.StatusOK {
			t.Errorf("during the grace period a key is refused: %d %s", r.Status, r.Body)
		}
	}
	b.state("rolled")

	// The activity: the firm's events newest first, then one key's.
	b.do("open Activity", chromedp.Click(chromedp.ID("open-activity")),
		chromedp.WaitVisible(chromedp.ID("view-activity")), chromedp.WaitNotVisible(chromedp.ID("activity-loading")))
	actions := b.evalString(`[...document.querySelectorAll('#activity-body tr')].map(r => r.dataset.action).join(' ')`)
	if !strings.HasPrefix(actions, "key.rolled key.updated key.generated key.revoked") {
		t.Errorf("activity = %q, want the roll, the edit, the generate and the earlier revoke, newest first", actions)
	}
	if got := b.text(`#activity-body tr:first-child`); !strings.Contains(got, "Rolled") || !strings.Contains(got, "alice") || !strings.Contains(got, "1 hour") {
		t.Errorf("roll event = %q", got)
	}
	if got := b.text(`#activity-body tr:nth-child(2)`); !strings.Contains(got, "Updated") || !strings.Contains(got, "label") || !strings.Contains(got, "expiry") || !strings.Contains(got, "access") {
		t.Errorf("update event = %q, want what changed", got)
	}
	b.state("activity")
	b.do("Back to the list", chromedp.Evaluate[chromedp.Void](`history.back()`),
		chromedp.WaitVisible(chromedp.ID("view-keys")), chromedp.WaitNotVisible(chromedp.ID("keys-loading")))
	b.do("one key's activity", chromedp.Click(chromedp.CSS(`#key-`+id+` button.act-activity`)),
		chromedp.WaitVisible(chromedp.ID("view-activity")), chromedp.WaitNotVisible(chromedp.ID("activity-loading")))
	if got := b.evalString(`[...document.querySelectorAll('#activity-body tr')].map(r => r.dataset.action).join(' ')`); got != "key.rolled key.updated key.generated" {
		t.Errorf("one key's activity = %q, want its roll, edit and generate", got)
	}
	b.state("activity-one-key")
	b.do("Back to the list", chromedp.Evaluate[chromedp.Void](`history.back()`),
		chromedp.WaitVisible(chromedp.ID("view-keys")), chromedp.WaitNotVisible(chromedp.ID("keys-loading")), chromedp.Sleep(100*time.Millisecond))
}

// activityLoadMore: a firm with more events than one page; Load more
// fetches the rest, newest first, and the focus goes to the first new row.
func (b *browserSession) activityLoadMore(events int) {
	t := b.t
	t.Helper()
	b.do("open Activity", chromedp.Click(chromedp.ID("open-activity")),
		chromedp.WaitVisible(chromedp.ID("view-activity")), chromedp.WaitNotVisible(chromedp.ID("activity-loading")))
	b.do("load more events",
		chromedp.WaitVisible(chromedp.ID("activity-more")),
		chromedp.Click(chromedp.ID("activity-more")),
		chromedp.WaitVisible(chromedp.CSS(`#activity-body tr:nth-child(`+strconv.Itoa(events)+`)`)),
		chromedp.WaitNotVisible(chromedp.ID("activity-more")),
	)
	if f := b.evalString(`document.activeElement === document.querySelector('#activity-body tr:nth-child(21)') ? 'row 21' : document.activeElement.id`); f != "row 21" {
		t.Errorf("after Load more (activity) the focus is on %q, want the first new row", f)
	}
	if first, last := b.text(`#activity-body tr:first-child td:nth-child(3)`), b.text(`#activity-body tr:nth-child(`+strconv.Itoa(events)+`) td:nth-child(3)`); first != "Integration 22" || last != "Integration 00" {
		t.Errorf("activity order: first %q, last %q; want newest first", first, last)
	}
	b.state("activity-load-more")
}

// readActivity: a firm without Premier still reads its activity.
func (b *browserSession) readActivity(label string) {
	t := b.t
	t.Helper()
	b.do("open Activity", chromedp.Click(chromedp.ID("open-activity")),
		chromedp.WaitVisible(chromedp.ID("view-activity")), chromedp.WaitNotVisible(chromedp.ID("activity-loading")))
	if got := b.text(`#activity-body`); !strings.Contains(got, "Generated") || !strings.Contains(got, label) {
		t.Errorf("activity of a firm without Premier = %q, want the generate of %q", got, label)
	}
	b.state("not-premier-activity")
}

// editField sets a field's value as typing would: with an input event.
func editField(id, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](`(() => { const e = document.getElementById(` + jsQuote(id) + `);
		e.value = ` + jsQuote(value) + `; e.dispatchEvent(new Event('input', {bubbles: true})); })()`)
}
