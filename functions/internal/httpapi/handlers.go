package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
	"github.com/kudurrustone/apikeys/functions/internal/identity"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

// MaxBodyBytes is the largest request body accepted (SPEC: 8 KiB).
const MaxBodyBytes = 8 << 10

func invalid(format string, args ...any) error {
	return keyservice.Errorf(keyservice.CodeInvalidRequest, format, args...)
}

// admin returns the caller's admin identity, or the 401/403 error, by the
// service's own rule, checked before any input is read.
func (a *API) admin(r *http.Request) (keyservice.Admin, error) {
	adm, ok := a.ident.Admin(r)
	if !ok {
		return keyservice.Admin{}, keyservice.Errorf(keyservice.CodeUnauthorized, "A valid administrator token is required.")
	}
	if err := keyservice.RequireAdmin(adm); err != nil {
		return keyservice.Admin{}, err
	}
	return adm, nil
}

// list serves GET /v1/api-keys.
func (a *API) list(w http.ResponseWriter, r *http.Request) {
	adm, err := a.admin(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	in, err := parseListQuery(r.URL.RawQuery)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	page, err := a.svc.List(r.Context(), adm, in)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	now := a.now()
	out := listJSON{Items: make([]keyJSON, 0, len(page.Items))}
	for i := range page.Items {
		out.Items = append(out.Items, toJSON(&page.Items[i], now))
	}
	if page.NextCursor != "" {
		out.NextCursor = &page.NextCursor
	}
	writeJSON(w, http.StatusOK, out)
}

// parseListQuery reads status, limit and cursor. Each may appear at most
// once; status and limit must not be empty when present; an empty cursor
// means the first page. Unknown parameters are ignored (cache busters,
// tracing parameters), as most HTTP APIs do.
func parseListQuery(raw string) (keyservice.ListInput, error) {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return keyservice.ListInput{}, invalid("The query string is malformed.")
	}
	var in keyservice.ListInput
	for _, name := range []string{"status", "limit", "cursor"} {
		if len(q[name]) > 1 {
			return keyservice.ListInput{}, invalid("The query parameter %s must appear at most once.", name)
		}
	}
	if vs, ok := q["status"]; ok {
		switch vs[0] {
		case "active", "revoked", "expired", "all":
			in.Status = vs[0]
		default:
			return keyservice.ListInput{}, invalid("status must be one of active, revoked, expired, all.")
		}
	}
	if vs, ok := q["limit"]; ok {
		n, ok := parseLimit(vs[0])
		if !ok {
			return keyservice.ListInput{}, invalid("limit must be an integer between 1 and %d.", keyservice.MaxListLimit)
		}
		in.Limit = n
	}
	if vs, ok := q["cursor"]; ok {
		in.Cursor = vs[0]
	}
	return in, nil
}

// parseLimit accepts plain decimal digits only ("10", not "+10", " 10" or
// "1e1") in 1..MaxListLimit.
func parseLimit(s string) (int, bool) {
	if s == "" || len(s) > 3 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > keyservice.MaxListLimit {
		return 0, false
	}
	return n, true
}

// generate serves POST /v1/api-keys.
func (a *API) generate(w http.ResponseWriter, r *http.Request) {
	adm, err := a.admin(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := keyservice.RequirePremier(adm); err != nil {
		a.writeError(w, r, err)
		return
	}
	in, err := readGenerateBody(w, r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	k, plaintext, err := a.svc.Generate(r.Context(), adm, in)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, createdJSON{keyJSON: toJSON(&k, a.now()), Key: plaintext})
}

// readGenerateBody decodes {"label": string, "expiresAt": RFC 3339 string
// or null}. The body is judged, not the Content-Type header: curl's -d sends
// a form content type, and the admin token in Authorization already rules
// out cross-site form posts. A body over 8 KiB, invalid UTF-8, anything but
// exactly one JSON object, an unknown member (matched case-sensitively) or a
// wrong type is invalid_request. A missing label is treated as an empty one
// (invalid_label).
func readGenerateBody(w http.ResponseWriter, r *http.Request) (keyservice.GenerateInput, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return keyservice.GenerateInput{}, invalid("The request body must be at most %d bytes.", MaxBodyBytes)
		}
		return keyservice.GenerateInput{}, invalid("The request body could not be read.")
	}
	if !utf8.Valid(body) {
		return keyservice.GenerateInput{}, invalid("The request body must be UTF-8 JSON.")
	}
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&fields); err != nil || fields == nil {
		return keyservice.GenerateInput{}, invalid("The request body must be a JSON object.")
	}
	if _, err := dec.Token(); err != io.EOF {
		return keyservice.GenerateInput{}, invalid("The request body must hold exactly one JSON object.")
	}
	var in keyservice.GenerateInput
	for name, raw := range fields {
		switch name {
		case "label":
			if !isJSONString(raw) {
				return keyservice.GenerateInput{}, invalid("label must be a string.")
			}
			if err := json.Unmarshal(raw, &in.Label); err != nil {
				return keyservice.GenerateInput{}, invalid("label must be a string.")
			}
		case "expiresAt":
			if string(raw) == "null" {
				continue
			}
			var s string
			if !isJSONString(raw) || json.Unmarshal(raw, &s) != nil {
				return keyservice.GenerateInput{}, invalid("expiresAt must be an RFC 3339 timestamp or null.")
			}
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return keyservice.GenerateInput{}, invalid("expiresAt must be an RFC 3339 timestamp, such as 2030-01-31T00:00:00Z.")
			}
			in.ExpiresAt = &t
		default:
			if !echoableField(name) {
				return keyservice.GenerateInput{}, invalid("The body has an unknown field; it takes label and expiresAt.")
			}
			return keyservice.GenerateInput{}, invalid("Unknown field %s; the body takes label and expiresAt.", quoteField(name))
		}
	}
	return in, nil
}

func isJSONString(raw json.RawMessage) bool { return len(raw) > 0 && raw[0] == '"' }

// echoableField reports whether an unknown member name may be quoted back in
// a message: a short identifier that is not (part of) a pasted API key, since
// answers can end up in client logs where a key must never appear.
func echoableField(name string) bool {
	if name == "" || len(name) > 32 || strings.Contains(strings.ToLower(name), strings.ToLower(apikey.Prefix)) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// quoteField quotes a client-supplied member name for a message, shortened.
func quoteField(name string) string {
	if utf8.RuneCountInString(name) > 32 {
		r := []rune(name)
		name = string(r[:32]) + "…"
	}
	return strconv.Quote(name)
}

// revokeKey serves POST /v1/api-keys/{id}/revoke. The body is ignored:
// clients send nothing, {} or null, and all mean the same.
func (a *API) revokeKey(w http.ResponseWriter, r *http.Request) {
	adm, err := a.admin(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	k, err := a.svc.Revoke(r.Context(), adm, r.PathValue("id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.runRevokeHook(r, k)
	writeJSON(w, http.StatusOK, toJSON(&k, a.now()))
}

// runRevokeHook calls the hook; the revoke already happened, so nothing
// the hook does may change the answer.
func (a *API) runRevokeHook(r *http.Request, k keyservice.Key) {
	if a.revoke == nil {
		return
	}
	defer func() {
		if v := recover(); v != nil {
			detail := fmt.Sprintf("%T", v)
			if re, ok := v.(runtime.Error); ok {
				detail = re.Error()
			}
			a.log.ErrorContext(r.Context(), "panic in revoke hook", "keyId", k.ID, "panic", detail)
		}
	}()
	a.revoke(r.Context(), k)
}

// whoami serves GET /v1/whoami from the Lambda authorizer's context.
func (a *API) whoami(w http.ResponseWriter, r *http.Request) {
	p, ok := identity.Principal(r)
	if !ok {
		a.writeError(w, r, keyservice.Errorf(keyservice.CodeUnauthorized, "A valid API key is required."))
		return
	}
	writeJSON(w, http.StatusOK, whoamiJSON{FirmID: p.FirmID, KeyID: p.KeyID, Label: p.Label})
}
