package apikey_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
)

func generate(t testing.TB) string {
	t.Helper()
	k, err := apikey.Generate(nil)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return k
}

func isKeyChar(c byte) bool {
	return c == '_' || ('0' <= c && c <= '9') || ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z')
}

func TestGenerate(t *testing.T) {
	seen := make(map[string]bool)
	for i := 0; i < 200; i++ {
		k := generate(t)
		if len(k) != apikey.Len {
			t.Fatalf("len = %d, want %d", len(k), apikey.Len)
		}
		if !strings.HasPrefix(k, apikey.Prefix) {
			t.Fatalf("key does not start with %q", apikey.Prefix)
		}
		for j := len(apikey.Prefix); j < len(k); j++ {
			if !isKeyChar(k[j]) {
				t.Fatalf("character %d (%q) is outside [A-Za-z0-9_]", j, k[j])
			}
		}
		if err := apikey.Validate(k); err != nil {
			t.Fatalf("a generated key does not validate: %v", err)
		}
		if seen[k] {
			t.Fatalf("Generate repeated a key")
		}
		seen[k] = true
	}
}

func TestGenerateEntropyError(t *testing.T) {
	boom := errors.New("no entropy")
	if _, err := apikey.Generate(iotest.ErrReader(boom)); !errors.Is(err, boom) {
		t.Fatalf("Generate with a failing reader: err = %v, want %v", err, boom)
	}
	// A short read is an error too, never a shorter or weaker key.
	if _, err := apikey.Generate(bytes.NewReader(make([]byte, 10))); err == nil {
		t.Fatalf("Generate with 10 bytes of entropy succeeded")
	}
}

// TestGenerateUniform checks the rejection sampling: every byte value below
// 248 maps to a character, values at or above it are skipped.
func TestGenerateUniform(t *testing.T) {
	src := make([]byte, 0, 128)
	for i := 0; len(src) < 128; i++ {
		src = append(src, 248+byte(i%8), byte(i)) // every other byte is rejected
	}
	k, err := apikey.Generate(bytes.NewReader(src))
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	for i := 0; i < 43; i++ {
		if want := alphabet[i%62]; k[4+i] != want {
			t.Fatalf("secret char %d = %q, want %q", i, k[4+i], want)
		}
	}
	if err := apikey.Validate(k); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}

func TestValidateRejects(t *testing.T) {
	k := generate(t)
	type tc struct {
		name string
		in   string
	}
	cases := []tc{
		{"empty", ""},
		{"prefix only", apikey.Prefix},
		{"padded right", k + "a"},
		{"padded left", "a" + k},
		{"trailing newline", k + "\n"},
		{"leading space", " " + k},
		{"wrong prefix case", "KST_" + k[4:]},
		{"wrong prefix separator", "kst-" + k[4:]},
		{"other prefix", "sk__" + k[4:]},
		{"underscore in secret", k[:10] + "_" + k[11:]},
		{"non-ASCII", k[:10] + "é" + k[12:]},
		{"NUL", k[:10] + "\x00" + k[11:]},
		{"bearer included", "Bearer " + k},
	}
	for n := 0; n < len(k); n++ {
		cases = append(cases, tc{"truncated to " + itoa(n), k[:n]})
	}
	// Every single-character substitution, at every position, by a
	// character of the alphabet (the hardest case for a checksum).
	for i := len(apikey.Prefix); i < len(k); i++ {
		for _, c := range []byte{'0', 'a', 'Z', k[i] ^ 1} {
			if c == k[i] || !isKeyChar(c) || c == '_' {
				continue
			}
			b := []byte(k)
			b[i] = c
			cases = append(cases, tc{"substitution at " + itoa(i), string(b)})
		}
	}
	// Adjacent transpositions.
	for i := len(apikey.Prefix); i+1 < len(k); i++ {
		if k[i] == k[i+1] {
			continue
		}
		b := []byte(k)
		b[i], b[i+1] = b[i+1], b[i]
		cases = append(cases, tc{"transposition at " + itoa(i), string(b)})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := apikey.Validate(c.in)
			if !errors.Is(err, apikey.ErrMalformed) {
				t.Fatalf("Validate = %v, want ErrMalformed", err)
			}
			if strings.Contains(err.Error(), k[4:12]) {
				t.Fatalf("the error carries the input")
			}
		})
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// RFC 4231, test case 1 (the key is 20 bytes of 0x0b).
func TestHashIsHMACSHA256(t *testing.T) {
	p, err := apikey.NewPepper("1", bytes.Repeat([]byte{0x0b}, 20))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.Hash("Hi There").String(), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"; got != want {
		t.Fatalf("Hash = %s, want %s", got, want)
	}
}

func TestNewPepper(t *testing.T) {
	for _, c := range []struct {
		name    string
		version string
		secret  []byte
		ok      bool
	}{
		{"ok", "1", make([]byte, apikey.MinPepperLen), true},
		{"empty version", "", make([]byte, 32), false},
		{"short secret", "1", make([]byte, apikey.MinPepperLen-1), false},
		{"no secret", "1", nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := apikey.NewPepper(c.version, c.secret)
			if (err == nil) != c.ok {
				t.Fatalf("NewPepper err = %v, want ok=%v", err, c.ok)
			}
		})
	}
}

func TestHint(t *testing.T) {
	k := generate(t)
	h := apikey.Hint(k)
	// The last 4 characters of the key as issued, so it matches by how the
	// key in a configuration file ends; nothing of the secret part.
	if want := "kst_…" + k[len(k)-4:]; h != want || !strings.HasSuffix(k, strings.TrimPrefix(h, "kst_…")) {
		t.Fatalf("Hint = %q, want %q", h, want)
	}
	if revealed := strings.TrimPrefix(h, "kst_…"); len(revealed) != 4 {
		t.Fatalf("Hint %q reveals %d characters", h, len(revealed))
	}
	if got := apikey.Hint("kst_short"); got != "kst_…" {
		t.Fatalf("Hint of a malformed key = %q", got)
	}
}

func TestPepperSet(t *testing.T) {
	secrets := map[string][]byte{
		"1": []byte("pepper one, 16+ bytes"),
		"2": []byte("pepper two, 16+ bytes"),
		"3": []byte("pepper three, 16+ bytes"),
	}
	set, err := apikey.NewPepperSet("2", secrets)
	if err != nil {
		t.Fatalf("NewPepperSet: %v", err)
	}
	if set.Empty() || set.Current() == nil || set.Current().Version != "2" {
		t.Fatalf("Current = %+v, want version 2", set.Current())
	}
	all := set.All()
	if len(all) != 3 || all[0].Version != "2" {
		t.Fatalf("All: %d peppers, first %q; want 3, current first", len(all), all[0].Version)
	}
	k := generate(t)
	digests := map[apikey.Digest]string{}
	for v := range secrets {
		p, ok := set.Lookup(v)
		if !ok || p.Version != v {
			t.Fatalf("Lookup(%q) = %v, %v", v, p, ok)
		}
		want, _ := apikey.NewPepper(v, secrets[v])
		if p.Hash(k) != want.Hash(k) {
			t.Fatalf("pepper %q in the set hashes differently", v)
		}
		digests[p.Hash(k)] = v
	}
	if len(digests) != 3 {
		t.Fatalf("different pepper versions gave equal digests")
	}
	if _, ok := set.Lookup("4"); ok {
		t.Fatalf("Lookup of a missing version succeeded")
	}

	if _, err := apikey.NewPepperSet("9", secrets); err == nil {
		t.Fatalf("NewPepperSet with a missing current version succeeded")
	}
	if _, err := apikey.NewPepperSet("1", map[string][]byte{"1": []byte("long enough pepper"), "2": []byte("short")}); err == nil {
		t.Fatalf("NewPepperSet with a short old pepper succeeded")
	}
	var empty apikey.PepperSet
	if !empty.Empty() || empty.Current() != nil || len(empty.All()) != 0 {
		t.Fatalf("zero PepperSet is not empty")
	}
}

func TestDigest(t *testing.T) {
	p, _ := apikey.NewPepper("1", []byte("0123456789abcdef"))
	d := p.Hash(generate(t))
	s := d.String()
	if len(s) != 64 || strings.ToLower(s) != s {
		t.Fatalf("String = %q, want 64 lower-case hex digits", s)
	}
	back, err := apikey.ParseDigest(s)
	if err != nil || !back.Equal(d) || back != d {
		t.Fatalf("ParseDigest(String()) = %v, %v", back, err)
	}
	other := d
	other[31] ^= 1
	if d.Equal(other) {
		t.Fatalf("Equal of different digests")
	}
	for _, bad := range []string{"", s[:63], s + "0", s[:62], "zz" + s[2:], strings.Repeat("0", 66)} {
		if _, err := apikey.ParseDigest(bad); err == nil {
			t.Errorf("ParseDigest(%q) succeeded", bad)
		}
	}
}

func FuzzValidate(f *testing.F) {
	k := generate(f)
	f.Add(k)
	f.Add(k[:len(k)-1])
	f.Add(k + "x")
	f.Add("")
	f.Add(apikey.Prefix)
	f.Add("kst_" + strings.Repeat("0", 49))
	f.Add("KST_" + k[4:])
	f.Fuzz(func(t *testing.T, s string) {
		err := apikey.Validate(s)
		if err == nil {
			if len(s) != apikey.Len || !strings.HasPrefix(s, apikey.Prefix) {
				t.Fatalf("Validate accepted a %d-byte string without the prefix", len(s))
			}
			for i := len(apikey.Prefix); i < len(s); i++ {
				if !isKeyChar(s[i]) {
					t.Fatalf("Validate accepted character %q", s[i])
				}
			}
			_ = apikey.Hint(s)
		} else if !errors.Is(err, apikey.ErrMalformed) {
			t.Fatalf("Validate error %v is not ErrMalformed", err)
		}
	})
}

func BenchmarkGenerate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := apikey.Generate(nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidate(b *testing.B) {
	k := generate(b)
	b.ReportAllocs()
	for b.Loop() {
		if apikey.Validate(k) != nil {
			b.Fatal("valid key rejected")
		}
	}
}

// BenchmarkValidateMistyped is the cost of rejecting a mistyped key, which
// the authorizer pays before (instead of) any store read.
func BenchmarkValidateMistyped(b *testing.B) {
	// A typo that stays inside the alphabet, so that the checksum (not
	// the character check) is what rejects it: the slower path.
	k := []byte(generate(b))
	k[20] = map[bool]byte{true: 'b', false: 'a'}[k[20] == 'a']
	mistyped := string(k)
	b.ReportAllocs()
	for b.Loop() {
		if apikey.Validate(mistyped) == nil {
			b.Fatal("mistyped key accepted")
		}
	}
}

func BenchmarkHash(b *testing.B) {
	p, err := apikey.NewPepper("1", bytes.Repeat([]byte{7}, 32))
	if err != nil {
		b.Fatal(err)
	}
	k := generate(b)
	b.ReportAllocs()
	for b.Loop() {
		_ = p.Hash(k)
	}
}
