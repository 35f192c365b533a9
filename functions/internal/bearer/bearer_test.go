package bearer_test

import (
	"testing"

	"github.com/kudurrustone/apikeys/functions/internal/bearer"
)

func TestToken(t *testing.T) {
	tests := []struct{ in, token, reason string }{
		{"Bearer abc", "abc", ""},
		{"bearer abc", "abc", ""},
		{"BEARER   abc  ", "abc", ""},
		{"\tBearer abc\t", "abc", ""},
		{"Bearer eyJh.eyJz.c2ln", "eyJh.eyJz.c2ln", ""},
		{"", "", bearer.ReasonNotBearer},
		{"Bearer", "", bearer.ReasonNotBearer},
		{"Bearer ", "", bearer.ReasonNotBearer},
		{"Bearer\tabc", "", bearer.ReasonNotBearer},
		{"Basic abc", "", bearer.ReasonNotBearer},
		{"Bearerx abc", "", bearer.ReasonNotBearer},
		{"abc", "", bearer.ReasonNotBearer},
		{"Bearer a b", "", bearer.ReasonMalformed},
		{"Bearer a\x00b", "", bearer.ReasonMalformed},
		{"Bearer a\x7fb", "", bearer.ReasonMalformed},
		{"Bearer a,Bearer b", "", bearer.ReasonMultipleValues},
	}
	for _, tt := range tests {
		token, reason := bearer.Token(tt.in)
		if token != tt.token || reason != tt.reason {
			t.Errorf("Token(%q) = %q, %q; want %q, %q", tt.in, token, reason, tt.token, tt.reason)
		}
	}
}
