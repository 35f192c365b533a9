package apikey_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
)

// TestPepperFormatting: a pepper or set printed by mistake shows version
// names and nothing derived from the secret.
func TestPepperFormatting(t *testing.T) {
	set, err := apikey.NewPepperSet("2", map[string][]byte{"1": []byte("pepper-one-0123456789"), "2": []byte("pepper-two-0123456789")})
	if err != nil {
		t.Fatal(err)
	}
	p := set.Current()
	for _, s := range []string{fmt.Sprint(set), fmt.Sprintf("%v %+v %#v %s", set, set, set, set), fmt.Sprint(p, *p), fmt.Sprintf("%+v %#v", *p, p)} {
		if strings.ContainsAny(s, "[]") || strings.Contains(s, "pepper-") {
			t.Errorf("formatted pepper shows more than versions: %s", s)
		}
	}
	if got := fmt.Sprint(set); got != "apikey.PepperSet{2 1}" {
		t.Errorf("set formats as %q", got)
	}
}
