package authorizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// reference decodes an event the way Invoke's encoding/json path does.
type reference struct {
	Version        string            `json:"version"`
	Type           string            `json:"type"`
	Headers        map[string]string `json:"headers"`
	RequestContext struct {
		RequestID string `json:"requestId"`
	} `json:"requestContext"`
}

// checkScan: whenever scanHTTPEvent accepts an event, encoding/json accepts
// it too and reads the same version, type, request id and Authorization
// values.
func checkScan(t *testing.T, payload []byte) bool {
	t.Helper()
	got, ok := scanHTTPEvent(payload)
	if !ok {
		return false
	}
	var want reference
	if err := json.Unmarshal(payload, &want); err != nil {
		t.Fatalf("scan accepted what encoding/json rejects (%v): %q", err, payload)
	}
	wantValues := headerValues(want.Headers, nil)
	gotValues := slices.Clone(got.Headers.values)
	slices.Sort(wantValues)
	slices.Sort(gotValues)
	if got.Version != want.Version || got.Type != want.Type || got.RequestContext.RequestID != want.RequestContext.RequestID ||
		!slices.Equal(gotValues, wantValues) {
		t.Fatalf("scan read %+v %q, encoding/json %+v %q, for %q", got, gotValues, want, wantValues, payload)
	}
	return true
}

func TestScanHTTPEventMatchesEncodingJSON(t *testing.T) {
	files, err := filepath.Glob("../../../events/authorizer-*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no sample events: %v", err)
	}
	accepted := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if checkScan(t, b) {
			accepted++
		}
	}
	if accepted == 0 {
		t.Error("the scanner accepted none of the sample events")
	}
	for _, raw := range scanCases {
		checkScan(t, []byte(raw))
	}
}

var scanCases = []string{
	`{"version":"2.0","type":"REQUEST","headers":{"authorization":"Bearer k"},"requestContext":{"requestId":"r","http":{"method":"GET"}}}`,
	`{"Version":"2.0","TYPE":"REQUEST","Headers":{"Authorization":"Bearer k","authorization":"Bearer j"}}`,
	`{"version":"2.0","version":"1.0"}`,
	`{"version":"2.\u0030","type":"REQ\"UEST"}`,
	`{"version":"2.0","headers":null}`,
	`{"version":"2.0","headers":{"authorization":null}}`,
	`{"version":"2.0","headers":{"x":1}}`,
	`{"version":"2.0","headers":{"authoriza\u0074ion":"Bearer k"}}`,
	`{"version":"2.0","headers":{"authorization":"Bearer \u00e9"}}`,
	"{\"version\":\"2.0\",\"headers\":{\"authorization\":\"bad \xff\"}}",
	"{\"version\":\"2.0\",\"headers\":{\"\xe2\x84\xaauthorization\":\"x\"}}",
	`{"version":"2.0","a":[1,-2.5e+3,true,false,null,{"b":[]},"s"],"requestContext":{"requestId":"x","n":{"m":{}}}}`,
	`{"version":"2.0","a":01}`,
	`{"version":"2.0","a":1.}`,
	`{"version":"2.0","a":tru}`,
	`{"version":"2.0","a":"\x"}`,
	`{"version":"2.0","a":[1,]}`,
	`{"version":"2.0",}`,
	`{"version":"2.0"} x`,
	`{"version":2}`,
	`{"version":"2.0","requestContext":null}`,
	`{"version":"2.0","requestContext":{"requestId":5}}`,
	`{"version":"2.0","headers":{"authorization":"a"},"headers":{"x":"y"}}`,
	`[]`, `null`, ``, `{`, `{"version"`,
}

// FuzzScanHTTPEvent: the scanner never reads an event differently from
// encoding/json.
func FuzzScanHTTPEvent(f *testing.F) {
	for _, c := range scanCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, payload []byte) { checkScan(t, payload) })
}
