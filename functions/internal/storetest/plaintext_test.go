package storetest_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
	"github.com/kudurrustone/apikeys/functions/internal/storetest"
)

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	failures []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

func TestAssertNoPlaintext(t *testing.T) {
	key, err := apikey.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := apikey.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		dump string
		leak bool
	}{
		{"clean", `{"hint":"` + apikey.Hint(key) + `","id":"01M89ZP4GRA4DGRRF4VD3FWD44"}`, false},
		{"other key's data", other, false},
		{"whole key", "xx" + key + "xx", true},
		{"secret part", "secret=" + key[4:47], true},
		{"5 chars at the start", "..." + key[4:9] + "...", true},
		{"5 chars in the middle", "..." + key[20:25] + "...", true},
		{"5 chars at the end of the secret", "..." + key[42:47] + "...", true},
		{"4 chars: the hint", "..." + key[43:47] + "...", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &recorder{TB: t}
			storetest.AssertNoPlaintext(r, []byte(c.dump), []string{key})
			if leak := len(r.failures) > 0; leak != c.leak {
				t.Fatalf("leak reported = %v (%v), want %v", leak, r.failures, c.leak)
			}
			for _, f := range r.failures {
				if strings.Contains(f, key[4:9]) || strings.Contains(f, key[20:25]) {
					t.Fatalf("the failure message shows the key: %q", f)
				}
			}
		})
	}
}
