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
func allowed(out []byte) bool { return effect(out) == "Allow" }

// denied reports whether an authorizer answer is an explicit Deny policy.
func denied(out []byte) bool { return effect(out) == "Deny" }

// effect is the Effect of an authorizer answer's one policy statement, ""
// when the answer is not such a policy.
func effect(out []byte) string {
	var v struct {
		PolicyDocument struct {
			Statement []struct{ Effect string }
		} `json:"policyDocument"`
	}
	if json.Unmarshal(out, &v) != nil || len(v.PolicyDocument.Statement) != 1 {
		return ""
	}
	return v.PolicyDocument.Statement[0].Effect
}
