package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

// hintChars is how many characters of the secret part a hint may show; any
// longer run of the secret in stored data is a leak.
const hintChars = 4

// secretStart and secretEnd bound the random part of a key.
const (
	secretStart = len(apikey.Prefix)
	secretEnd   = apikey.Len - 6 // the last 6 characters are the checksum
)

// AssertNoPlaintext fails t if dump (a whole table scan, a database file, a
// log) contains any of keys, or any run of hintChars+1 or more consecutive
// characters of a key's secret part. Failures name the key by its index,
// never by its value.
func AssertNoPlaintext(t testing.TB, dump []byte, keys []string) {
	t.Helper()
	if len(keys) == 0 {
		t.Fatalf("AssertNoPlaintext: no keys to look for")
	}
	for i, k := range keys {
		if len(k) != apikey.Len {
			t.Fatalf("AssertNoPlaintext: key #%d is not a key (length %d)", i, len(k))
		}
		if bytes.Contains(dump, []byte(k)) {
			t.Errorf("dump contains plaintext key #%d", i)
			continue
		}
		// Every longer run contains a window of hintChars+1, so checking
		// the windows of exactly that size is enough.
		w := hintChars + 1
		for off := secretStart; off+w <= secretEnd; off++ {
			if bytes.Contains(dump, []byte(k[off:off+w])) {
				t.Errorf("dump contains %d characters of key #%d's secret (offset %d)", w, i, off)
				break
			}
		}
	}
}

// testServiceNoPlaintextInAudit: the audit records a store gives back and
// the service's log lines hold no key and no run of one, after generates,
// refused labels holding key material, updates, rolls and revokes.
func testServiceNoPlaintextInAudit(t *testing.T, s keyservice.Store) {
	ctx := context.Background()
	e := newEnv(t, s, 10, TestPepperSet(t, "1"))
	var keys []string
	for i := range 3 {
		k, plain := e.generate(t, fmt.Sprintf("Audit %d", i), nil)
		keys = append(keys, plain)
		for _, label := range []string{plain, "my key " + plain[:len(plain)-6], strings.ToUpper(plain), plain[5:29]} {
			_, _, err := e.svc.Generate(ctx, e.admin, keyservice.GenerateInput{Label: label})
			wantCode(t, "Generate with key material in the label", err, keyservice.CodeInvalidLabel)
		}
		label := fmt.Sprintf("Audit %d renamed", i)
		_, _, err := e.svc.Update(ctx, e.admin, k.ID, keyservice.UpdateInput{Label: &label, Scopes: []string{"read"}})
		noErr(t, "Update", err)
		_, succ, next, err := e.svc.Roll(ctx, e.admin, k.ID, nil)
		noErr(t, "Roll", err)
		keys = append(keys, next)
		for _, id := range []string{k.ID, succ.ID} {
			_, err = e.svc.Revoke(ctx, e.admin, id)
			noErr(t, "Revoke", err)
		}
	}
	records, err := s.ListAudit(ctx, e.admin.FirmID, "", "", 0)
	noErr(t, "ListAudit", err)
	if len(records) != 15 {
		t.Fatalf("ListAudit: %d records, want 15 (generate, update, roll, two revokes, per key)", len(records))
	}
	raw, err := json.Marshal(records)
	noErr(t, "encode audit records", err)
	AssertNoPlaintext(t, raw, keys)
	AssertNoPlaintext(t, e.logs.Bytes(), keys)
}
