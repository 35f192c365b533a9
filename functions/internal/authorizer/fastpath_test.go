package authorizer

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

// TestFastResponsesMatchEncodingJSON: the hand-encoded simple responses are
// byte for byte what json.Marshal makes of the events types.
func TestFastResponsesMatchEncodingJSON(t *testing.T) {
	deny, err := json.Marshal(events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: false})
	if err != nil {
		t.Fatal(err)
	}
	if string(deny) != string(httpDeny) {
		t.Errorf("deny: %s, want %s", httpDeny, deny)
	}
	for _, p := range []keyservice.Principal{
		{FirmID: "acme", KeyID: "01JZ0000000000000000000000", Label: "Production Integration"},
		{FirmID: "f", KeyID: "k", Label: ""},
		{FirmID: "a&b", KeyID: "<k>", Label: `say "hi" \ now`},
		{FirmID: "firm", KeyID: "k", Label: "Buchhaltung – Export ✓ \u2028 \x7f"},
		{FirmID: "firm", KeyID: "k", Label: "bad utf-8 \xff\xfe"},
		{FirmID: "firm", KeyID: "k", Label: "tab\tnewline\n"},
	} {
		want, err := json.Marshal(events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: true, Context: principalContext(p)})
		if err != nil {
			t.Fatal(err)
		}
		if got := appendHTTPAllow(nil, p); string(got) != string(want) {
			t.Errorf("allow %+v:\n got %s\nwant %s", p, got, want)
		}
	}
}
