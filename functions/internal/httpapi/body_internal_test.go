package httpapi

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

// patchLike has the member shapes a PATCH body needs: a plain string, a
// nullable time, a list and an integer.
type patchLike struct {
	Label     Field[string]   `json:"label"`
	ExpiresAt Field[string]   `json:"expiresAt"`
	Scopes    Field[[]string] `json:"scopes"`
	Grace     int             `json:"gracePeriodSeconds"`
	Name      string          `json:"name"`
}

func decodeString(t *testing.T, body string, optional bool) (patchLike, error) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	var p patchLike
	var err error
	if optional {
		err = DecodeOptionalBody(httptest.NewRecorder(), r, &p)
	} else {
		err = DecodeBody(httptest.NewRecorder(), r, &p)
	}
	return p, err
}

func TestDecodeBodyTellsAbsentNullAndValueApart(t *testing.T) {
	p, err := decodeString(t, `{"label":"x","expiresAt":null}`, false)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Label.Set || p.Label.Null || p.Label.Value != "x" {
		t.Errorf("label = %+v, want set to x", p.Label)
	}
	if !p.ExpiresAt.Set || !p.ExpiresAt.Null {
		t.Errorf("expiresAt = %+v, want set to null", p.ExpiresAt)
	}
	if p.Scopes.Set {
		t.Errorf("scopes = %+v, want absent", p.Scopes)
	}
	p, err = decodeString(t, `{"expiresAt":"2030-01-01T00:00:00Z","scopes":["read"],"gracePeriodSeconds":5}`, false)
	if err != nil {
		t.Fatal(err)
	}
	if !p.ExpiresAt.Set || p.ExpiresAt.Null || p.ExpiresAt.Value != "2030-01-01T00:00:00Z" ||
		len(p.Scopes.Value) != 1 || p.Grace != 5 || p.Label.Set {
		t.Errorf("got %+v", p)
	}
}

func TestDecodeOptionalBody(t *testing.T) {
	for _, body := range []string{"", " \n\t "} {
		if p, err := decodeString(t, body, true); err != nil || p.Grace != 0 {
			t.Errorf("%q: %+v, %v", body, p, err)
		}
	}
	if _, err := decodeString(t, "", false); err == nil {
		t.Errorf("an empty body passed DecodeBody")
	}
	if _, err := decodeString(t, "null", true); err == nil {
		t.Errorf("a null body passed DecodeOptionalBody")
	}
}

// secretish stands for key material a client pasted somewhere in a body.
const secretish = "kst_3xAmPLe9sEcReT7wOrDs5kEyMaTeRiAl8qZ"

func TestDecodeBodyRefusals(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"duplicate member", `{"expiresAt":"2020-01-01T00:00:00Z","expiresAt":null}`, "more than once"},
		{"duplicate member, same value", `{"name":"a","name":"a"}`, "more than once"},
		{"duplicate member through an escape", `{"name":"a","\u006eame":"b"}`, "more than once"},
		{"duplicate nested member", `{"label":"x","scopes":["read"],"label":"y"}`, "more than once"},
		{"unknown member", `{"name":"x","` + secretish + `":1}`, "unknown member; it takes label, expiresAt, scopes, gracePeriodSeconds and name."},
		{"member name in another case", `{"Name":"x"}`, "unknown member"},
		{"member name in another case beside the real one", `{"name":"x","NAME":"y"}`, "unknown member"},
		{"null for a plain member", `{"name":null}`, "name must be a string."},
		{"number for a string", `{"name":` + "12345678901234567890" + `}`, "name must be a string."},
		{"string for an integer", `{"gracePeriodSeconds":"` + secretish + `"}`, "gracePeriodSeconds must be an integer."},
		{"fraction for an integer", `{"gracePeriodSeconds":1.5}`, "gracePeriodSeconds must be an integer."},
		{"number for a nullable string", `{"expiresAt":5}`, "expiresAt must be a string or null."},
		{"object for a list", `{"scopes":{"` + secretish + `":1}}`, "scopes must be an array of strings or null."},
		{"null inside a list", `{"scopes":[null]}`, "scopes must be an array of strings or null."},
		{"not an object", `["` + secretish + `"]`, "must be one JSON object"},
		{"null body", `null`, "must be one JSON object"},
		{"empty body", ``, "must be one JSON object"},
		{"trailing data", `{"name":"x"} {"name":"` + secretish + `"}`, "must be one JSON object"},
		{"truncated", `{"name":"` + secretish, "must be one JSON object"},
		{"invalid UTF-8", "{\"name\":\"a\xffb\"}", "must be one JSON object"},
		{"invalid UTF-8 in a member name", "{\"n\xffame\":\"x\"}", "must be one JSON object"},
		{"over 8 KiB", `{"name":"` + strings.Repeat("a", MaxBodyBytes) + `"}`, "at most 8192 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeString(t, tt.body, false)
			var e *keyservice.Error
			if !errors.As(err, &e) || e.Code != keyservice.CodeInvalidRequest {
				t.Fatalf("err = %v, want invalid_request", err)
			}
			if !strings.Contains(e.Message, tt.want) {
				t.Errorf("message = %q, want it to contain %q", e.Message, tt.want)
			}
			for i := 0; i+5 <= len(secretish); i++ {
				if strings.Contains(e.Message, secretish[i:i+5]) {
					t.Fatalf("message %q echoes the body", e.Message)
				}
			}
		})
	}
}

// countingBody fails the test if anything reads it.
type countingBody struct{ read int }

func (c *countingBody) Read(p []byte) (int, error) { c.read += len(p); return 0, io.EOF }
func (c *countingBody) Close() error               { return nil }

func TestDecodeBodyRefusesADeclaredOversizeBodyUnread(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	b := &countingBody{}
	r.Body, r.ContentLength = b, MaxBodyBytes+1
	var p patchLike
	if err := DecodeBody(httptest.NewRecorder(), r, &p); keyservice.CodeOf(err) != keyservice.CodeInvalidRequest {
		t.Fatalf("err = %v", err)
	}
	if b.read != 0 {
		t.Errorf("read %d bytes of a body declared too large", b.read)
	}
}

// Optional members of a real body are pointers (generateBody's scopes and
// allowedIps): a refusal names the type the pointer holds, not "another
// type".
func TestDecodeBodyDescribesPointerMembers(t *testing.T) {
	tests := []struct{ body, want string }{
		{`{"label":"x","scopes":null}`, "scopes must be an array of strings."},
		{`{"label":"x","allowedIps":null}`, "allowedIps must be an array of strings."},
		{`{"label":"x","allowedIps":"10.0.0.0/8"}`, "allowedIps must be an array of strings."},
		{`{"label":"x","scopes":[1]}`, "scopes must be an array of strings."},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
		var b generateBody
		err := DecodeBody(httptest.NewRecorder(), r, &b)
		var e *keyservice.Error
		if !errors.As(err, &e) || e.Code != keyservice.CodeInvalidRequest || e.Message != tt.want {
			t.Errorf("%s: err = %v, want invalid_request %q", tt.body, err, tt.want)
		}
	}
}
