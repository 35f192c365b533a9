package perf_test

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// readEvent returns a sample event of events/ with {{KEY}} replaced.
func readEvent(tb testing.TB, name, key string) []byte {
	tb.Helper()
	root, err := testkit.RepoRoot()
	if err != nil {
		tb.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "events", name))
	if err != nil {
		tb.Fatal(err)
	}
	s := strings.ReplaceAll(string(b), "{{KEY}}", key)
	if strings.Contains(s, "{{") {
		tb.Fatalf("%s: unfilled placeholder", name)
	}
	return []byte(s)
}

func httpEvent(tb testing.TB, key string) []byte {
	tb.Helper()
	return readEvent(tb, "authorizer-http-valid.json", key)
}

// allowed reports whether an authorizer answer allows: an IAM policy whose
// statement allows.
func allowed(out []byte) bool {
	var v struct {
		PolicyDocument struct {
			Statement []struct{ Effect string }
		} `json:"policyDocument"`
	}
	return json.Unmarshal(out, &v) == nil && len(v.PolicyDocument.Statement) == 1 && v.PolicyDocument.Statement[0].Effect == "Allow"
}
