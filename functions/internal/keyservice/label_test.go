package keyservice_test

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

func TestNormalizeLabel(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"Production Integration", "Production Integration", true},
		{"  Office Sync Tool \t\n", "Office Sync Tool", true},
		{"Büro-Export ✓ 日本", "Büro-Export ✓ 日本", true},
		{strings.Repeat("é", 64), strings.Repeat("é", 64), true},
		{" " + strings.Repeat("a", 64) + " ", strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), "", false},
		{"", "", false},
		{" \t\n ", "", false},
		{"\u00a0", "", false}, // no-break space only: trimmed to nothing
		{"tab\tinside", "", false},
		{"new\nline", "", false},
		{"nul\x00", "", false},
		{"bell\a", "", false},
		{"del\x7f", "", false},
		{"c1\u0085x", "", false},
		{"bidi\u202eevil", "", false},
		{"zero\u200bwidth", "", false},
		{"line\u2028sep", "", false},
		{"bom\ufeff", "", false},
		{"bad utf8 \xff", "", false},
		{"Dev laptop 👩‍💻", "Dev laptop 👩‍💻", true},
		{"همگام‌سازی دفتر", "همگام‌سازی دفتر", true},
		{"Family 👨‍👩‍👧‍👦", "Family 👨‍👩‍👧‍👦", true},
		{"Scotland 🏴󠁧󠁢󠁳󠁣󠁴󠁿", "Scotland 🏴󠁧󠁢󠁳󠁣󠁴󠁿", true},
		{"Keycap #️⃣ 👍🏽 🇩🇪", "Keycap #️⃣ 👍🏽 🇩🇪", true},
		{strings.Repeat("👩‍💻", 21), strings.Repeat("👩‍💻", 21), true}, // 63 code points
		{strings.Repeat("👩‍💻", 22), "", false},                       // 66 code points
		{"‍", "", false},
		{"ㅤㅤ", "", false}, // Hangul fillers only
		{"⠀", "", false},  // blank Braille pattern only
		{"️́", "", false}, // marks only
	} {
		got, err := keyservice.NormalizeLabel(c.in)
		if c.ok {
			if err != nil || got != c.want {
				t.Errorf("NormalizeLabel(%q) = %q, %v; want %q", c.in, got, err, c.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("NormalizeLabel(%q) = %q, want an error", c.in, got)
		} else if keyservice.CodeOf(err) != keyservice.CodeInvalidLabel {
			t.Errorf("NormalizeLabel(%q) code = %s, want invalid_label", c.in, keyservice.CodeOf(err))
		}
	}
}

func FuzzNormalizeLabel(f *testing.F) {
	for _, s := range []string{"Production Integration", "  padded  ", "", "tab\there", strings.Repeat("x", 65),
		"日本語のラベル", "\u202e", "\xff\xfe", " \u00a0label\u3000 ", "Dev laptop 👩\u200d💻", "kst_" + strings.Repeat("aB3", 8)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := keyservice.NormalizeLabel(in)
		if err != nil {
			if keyservice.CodeOf(err) != keyservice.CodeInvalidLabel {
				t.Fatalf("error code %s, want invalid_label", keyservice.CodeOf(err))
			}
			return
		}
		if !utf8.ValidString(got) {
			t.Fatalf("accepted invalid UTF-8")
		}
		if got == "" || strings.TrimSpace(got) != got {
			t.Fatalf("accepted label %q is empty or untrimmed", got)
		}
		if n := utf8.RuneCountInString(got); n > keyservice.MaxLabelLen {
			t.Fatalf("accepted label of %d characters", n)
		}
		for _, r := range got {
			allowedCf := r == '\u200c' || r == '\u200d' || ('\U000E0020' <= r && r <= '\U000E007F')
			if unicode.IsControl(r) || (unicode.Is(unicode.Cf, r) && !allowedCf) {
				t.Fatalf("accepted label with control character %U", r)
			}
		}
		if again, err := keyservice.NormalizeLabel(got); err != nil || again != got {
			t.Fatalf("NormalizeLabel is not idempotent: %q -> %q, %v", got, again, err)
		}
	})
}
