package authorizer

import (
	"context"
	"encoding/json"
	"errors"
	"unicode/utf8"

	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

// httpEventFields is the part of an HTTP API payload 2.0 event the decision
// reads (scanHTTPEvent). Reading only these members costs a fraction of
// decoding events.APIGatewayV2CustomAuthorizerV2Request, whose route,
// query, cookies and request context the authorizer never looks at; this
// is the hot path of every integration call (issue 6).
type httpEventFields struct {
	Version        string
	Type           string
	Headers        authorizationHeaders
	RequestContext struct {
		RequestID string
	}
}

// httpDeny is the simple response that denies, encoded once.
var httpDeny = []byte(`{"isAuthorized":false}`)

// invokeHTTP answers a payload 2.0 event decoded by Invoke's fast path.
func (h *Handler) invokeHTTP(ctx context.Context, ev *httpEventFields) []byte {
	d := h.decideHTTP(ctx, ev.Type, ev.Headers.values, ev.RequestContext.RequestID)
	if !d.allow {
		return httpDeny
	}
	return appendHTTPAllow(make([]byte, 0, 96+len(d.principal.FirmID)+len(d.principal.KeyID)+len(d.principal.Label)), d.principal)
}

// decideHTTP is the decision of AuthorizeHTTP, logged, over the
// Authorization values of the event's headers.
func (h *Handler) decideHTTP(ctx context.Context, typ string, values []string, requestID string) decision {
	var d decision
	if typ != "REQUEST" {
		d = decision{reason: "unexpected_event_type"}
	} else {
		d = h.decide(ctx, values)
	}
	d.requestID = requestID
	h.logDecision(ctx, kindHTTP, d)
	return d
}

// appendHTTPAllow encodes the allowing simple response exactly as
// json.Marshal encodes events.APIGatewayV2CustomAuthorizerSimpleResponse
// with principalContext(p) (map keys sorted: firmId, keyId, keyLabel),
// without reflection.
func appendHTTPAllow(b []byte, p keyservice.Principal) []byte {
	b = append(b, `{"isAuthorized":true,"context":{"firmId":`...)
	b = appendJSONString(b, p.FirmID)
	b = append(b, `,"keyId":`...)
	b = appendJSONString(b, p.KeyID)
	b = append(b, `,"keyLabel":`...)
	b = appendJSONString(b, p.Label)
	return append(b, "}}"...)
}

// appendJSONString appends s as json.Marshal would: printable ASCII other
// than the characters it escapes is copied; anything else is left to
// encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, err := json.Marshal(s)
			if err != nil { // cannot happen for a string
				return append(b, `""`...)
			}
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// authorizationHeaders holds the Authorization values of an event's
// headers (names matched case-insensitively, as headerValues does),
// without building the map.
type authorizationHeaders struct {
	names, values []string
}

// add keeps one value per exact name, the last, as a map would.
func (a *authorizationHeaders) add(name, v string) {
	for i, n := range a.names {
		if n == name {
			a.values[i] = v
			return
		}
	}
	a.names = append(a.names, name)
	a.values = append(a.values, v)
}

var errNotString = errors.New("authorizer: not a JSON string")

// jsonStringSpan finds the JSON string starting at b[i] and reports whether
// it holds an escape; the scanner has already checked its syntax.
func jsonStringSpan(b []byte, i int) (escaped bool, next int, err error) {
	if i >= len(b) || b[i] != '"' {
		return false, 0, errNotString
	}
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			return escaped, j + 1, nil
		}
	}
	return false, 0, errNotString
}

// jsonString decodes the JSON string at b[i]: a plain copy when it has no
// escape, encoding/json otherwise (which also replaces invalid UTF-8, as
// decoding into a map would).
func jsonString(b []byte, i int) (string, int, error) {
	escaped, next, err := jsonStringSpan(b, i)
	if err != nil {
		return "", 0, err
	}
	raw := b[i+1 : next-1]
	if !escaped && utf8.Valid(raw) {
		return string(raw), next, nil
	}
	var s string
	if err := json.Unmarshal(b[i:next], &s); err != nil {
		return "", 0, err
	}
	return s, next, nil
}
