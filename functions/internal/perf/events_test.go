package perf_test

import (
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func httpEvent(tb testing.TB, key string) []byte {
	tb.Helper()
	return testkit.Event(tb, "authorizer-http-valid.json", map[string]string{"KEY": key})
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
