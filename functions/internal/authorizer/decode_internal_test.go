package authorizer

import (
	stdjson "encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestDecodeEventAgreesWithEncodingJSON holds the event decoder (JSON v2)
// to the standard library's encoding/json on the same struct: where both
// accept an event they read the same values (invalid UTF-8 becomes U+FFFD
// in both), and where they differ it is JSON v2 that refuses (a duplicate
// member, a member name API Gateway does not spell that way), which the
// authorizer turns into a deny. Members the decision does not read never change it, whatever their
// type.
func TestDecodeEventAgreesWithEncodingJSON(t *testing.T) {
	valid := `"version":"2.0","type":"REQUEST","routeArn":"arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/$default/GET/v1/whoami","headers":{"authorization":"Bearer k"},"requestContext":{"requestId":"r","timeEpoch":1795608000000}`
	tests := []struct {
		name    string
		payload string
		// v2Refuses: JSON v2 refuses what encoding/json accepts.
		v2Refuses bool
	}{
		// Odd types in members the decision does not read: both ignore them.
		{"cookies an object", `{` + valid + `,"cookies":{}}`, false},
		{"stageVariables with a number", `{` + valid + `,"stageVariables":{"a":1}}`, false},
		{"timeEpoch a string", strings.Replace(`{`+valid+`}`, `"timeEpoch":1795608000000`, `"timeEpoch":"1795608000000"`, 1), false},
		{"identitySource a number", `{` + valid + `,"identitySource":7}`, false},
		{"unknown member", `{` + valid + `,"surprise":[1,{"a":null}]}`, false},
		{"null headers", `{"version":"2.0","type":"REQUEST","headers":null}`, false},
		{"null requestContext", `{"version":"2.0","type":"REQUEST","requestContext":null}`, false},
		{"TOKEN", `{"type":"TOKEN","authorizationToken":"Bearer k","methodArn":"arn:aws:execute-api:a:b:c/d/GET/"}`, false},
		{"REQUEST with multiValueHeaders", `{"type":"REQUEST","methodArn":"m","headers":{"Authorization":"Bearer k"},"multiValueHeaders":{"Authorization":["Bearer k"]}}`, false},

		// Invalid UTF-8: both replace the bytes with U+FFFD.
		{"invalid UTF-8 in a header name", "{\"version\":\"2.0\",\"type\":\"REQUEST\",\"headers\":{\"\xffauthorization\":\"Bearer k\"}}", false},
		{"invalid UTF-8 in a value", "{\"version\":\"2.0\",\"type\":\"REQUEST\",\"headers\":{\"authorization\":\"Bearer \xff\"}}", false},
		{"invalid UTF-8 in another header", "{\"version\":\"2.0\",\"type\":\"REQUEST\",\"headers\":{\"authorization\":\"Bearer k\",\"user-agent\":\"caf\xe9\"}}", false},

		// Duplicates: encoding/json takes the last member; JSON v2 refuses
		// the event.
		{"duplicate header", `{"version":"2.0","type":"REQUEST","headers":{"authorization":"Bearer a","authorization":"Bearer b"}}`, true},
		{"duplicate version", `{"version":"1.0","version":"2.0","type":"REQUEST"}`, true},
		{"duplicate token", `{"type":"TOKEN","authorizationToken":"Bearer a","authorizationToken":"Bearer b","methodArn":"m"}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkDecode(t, []byte(tt.payload), tt.v2Refuses)
		})
	}

	// Members the decision reads, with the wrong type: both refuse.
	for _, bad := range []string{`"routeArn":1`, `"methodArn":{}`, `"headers":[]`, `"headers":{"authorization":1}`,
		`"version":2`, `"requestContext":"x"`, `"requestContext":{"requestId":5}`, `"multiValueHeaders":{"a":"b"}`} {
		t.Run("wrong type "+bad, func(t *testing.T) {
			payload := []byte(`{"version":"2.0","type":"REQUEST",` + bad + `}`)
			if _, err := decodeEvent(payload); err == nil {
				t.Fatalf("JSON v2 accepted %s", payload)
			}
			var ev event
			if err := stdjson.Unmarshal(payload, &ev); err == nil {
				t.Fatalf("encoding/json accepted %s", payload)
			}
		})
	}

	// The one place the two read differently: encoding/json also matches a
	// member name in another letter case, JSON v2 only the name as API
	// Gateway spells it.
	t.Run("a name in another case", func(t *testing.T) {
		payload := []byte(`{"version":"2.0","Version":"1.0","type":"REQUEST"}`)
		got, err := decodeEvent(payload)
		if err != nil || got.Version != "2.0" {
			t.Fatalf("JSON v2 read %+v, %v; want version 2.0", got, err)
		}
	})

	files, err := filepath.Glob("../../../events/authorizer-*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no sample events: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(f), func(t *testing.T) { checkDecode(t, b, false) })
	}
}

func checkDecode(t *testing.T, payload []byte, v2Refuses bool) {
	t.Helper()
	var want event
	if err := stdjson.Unmarshal(payload, &want); err != nil {
		t.Fatalf("encoding/json refused %q: %v", payload, err)
	}
	got, err := decodeEvent(payload)
	if v2Refuses {
		if err == nil {
			t.Fatalf("JSON v2 accepted %q as %+v", payload, got)
		}
		return
	}
	if err != nil {
		t.Fatalf("JSON v2 refused %q: %v", payload, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("JSON v2 read %+v, encoding/json %+v", got, want)
	}
}
