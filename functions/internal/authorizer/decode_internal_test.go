package authorizer

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDecodeEvent: members the decision does not read never change what is
// read, whatever their type; a member it reads with the wrong type is an
// error; every sample event decodes.
func TestDecodeEvent(t *testing.T) {
	const valid = `"version":"2.0","type":"REQUEST","routeArn":"arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/$default/GET/v1/whoami","headers":{"authorization":"Bearer k"},"requestContext":{"requestId":"r","timeEpoch":1795608000000}`
	want := event{Version: "2.0", Type: "REQUEST", RouteArn: "arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/$default/GET/v1/whoami",
		Headers: map[string]string{"authorization": "Bearer k"}}
	want.RequestContext.RequestID = "r"
	for _, extra := range []string{`"cookies":{}`, `"stageVariables":{"a":1}`, `"identitySource":7`,
		`"surprise":[1,{"a":null}]`, `"requestContext2":"x"`} {
		t.Run("ignores "+extra, func(t *testing.T) {
			got, err := decodeEvent([]byte(`{` + valid + `,` + extra + `}`))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("decoded (-want +got):\n%s", diff)
			}
		})
	}
	for _, bad := range []string{`"routeArn":1`, `"methodArn":{}`, `"headers":[]`, `"headers":{"authorization":1}`,
		`"version":2`, `"requestContext":"x"`, `"requestContext":{"requestId":5}`, `"multiValueHeaders":{"a":"b"}`} {
		t.Run("refuses "+bad, func(t *testing.T) {
			if got, err := decodeEvent([]byte(`{"version":"2.0","type":"REQUEST",` + bad + `}`)); err == nil {
				t.Fatalf("decoded %+v", got)
			}
		})
	}
	files, err := filepath.Glob("../../../events/authorizer-*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no sample events: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			ev, err := decodeEvent(b)
			if err != nil || ev.Type == "" {
				t.Fatalf("decoded %+v, %v", ev, err)
			}
		})
	}
}
