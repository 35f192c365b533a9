package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/kudurrustone/apikeys/functions/internal/identity"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

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
// means the first page. Other parameters are ignored (cache busters,
// tracing parameters), even when malformed, as most HTTP APIs do.
func parseListQuery(raw string) (keyservice.ListInput, error) {
	q, err := parseQuery(raw, "status", "limit", "cursor")
	if err != nil {
		return keyservice.ListInput{}, err
	}
	var in keyservice.ListInput
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

// parseQuery returns the values of the named parameters of a raw query
// string (application/x-www-form-urlencoded, "&"-separated). A parameter
// the route does not use is skipped without being decoded, so a malformed
// one (utm_source=a;b, a bad escape) cannot fail the request. A named one
// that is malformed or given twice is invalid_request; the message names
// the parameter (ours), never a value.
func parseQuery(raw string, names ...string) (map[string][]string, error) {
	q := make(map[string][]string, len(names))
	for part := range strings.SplitSeq(raw, "&") {
		k, v, _ := strings.Cut(part, "=")
		name, err := url.QueryUnescape(k)
		if err != nil || !slices.Contains(names, name) {
			continue
		}
		val, err := url.QueryUnescape(v)
		if err != nil || strings.Contains(v, ";") {
			return nil, invalid("The query parameter %s is malformed.", name)
		}
		if len(q[name]) > 0 {
			return nil, invalid("The query parameter %s must appear at most once.", name)
		}
		q[name] = append(q[name], val)
	}
	return q, nil
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

// generateBody is the body of POST /v1/api-keys.
type generateBody struct {
	Label      string        `json:"label"`
	ExpiresAt  Field[string] `json:"expiresAt"`
	Scopes     *[]string     `json:"scopes"`
	AllowedIPs *[]string     `json:"allowedIps"`
}

// readGenerateBody decodes {"label": string, "expiresAt": RFC 3339 string
// or null, "scopes": [string], "allowedIps": [string]} with DecodeBody's
// rules. A missing label is treated as an empty one (invalid_label);
// missing scopes and allowedIps take their defaults in the service.
func readGenerateBody(w http.ResponseWriter, r *http.Request) (keyservice.GenerateInput, error) {
	var body generateBody
	if err := DecodeBody(w, r, &body); err != nil {
		return keyservice.GenerateInput{}, err
	}
	in := keyservice.GenerateInput{Label: body.Label, Scopes: listOf(body.Scopes), AllowedIPs: listOf(body.AllowedIPs)}
	if body.ExpiresAt.Set && !body.ExpiresAt.Null {
		t, err := keyservice.ParseExpiresAt(body.ExpiresAt.Value)
		if err != nil {
			return keyservice.GenerateInput{}, err
		}
		in.ExpiresAt = &t
	}
	return in, nil
}

// listOf returns the list a present array member holds (never nil, so an
// empty array stays distinguishable from an absent member) or nil.
func listOf(p *[]string) []string {
	if p == nil {
		return nil
	}
	if *p == nil {
		return []string{}
	}
	return *p
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
	a.runCacheReset(r, k)
	writeJSON(w, http.StatusOK, toJSON(&k, a.now()))
}

// runCacheReset calls the cache reset hook; the change already happened,
// so nothing the hook does may change the answer.
func (a *API) runCacheReset(r *http.Request, k keyservice.Key) {
	if a.reset == nil {
		return
	}
	defer func() {
		if v := recover(); v != nil {
			detail := fmt.Sprintf("%T", v)
			if re, ok := v.(runtime.Error); ok {
				detail = re.Error()
			}
			a.log.ErrorContext(r.Context(), "panic in cache reset hook", "keyId", k.ID, "panic", detail)
		}
	}()
	a.reset(r.Context(), k)
}

// whoami serves GET and POST /v1/whoami from the Lambda authorizer's
// context: the same body for both, so an integration can check that its
// key may write (the authorizer lets POST through only with scope write).
func (a *API) whoami(w http.ResponseWriter, r *http.Request) {
	p, ok := identity.Principal(r)
	if !ok {
		a.writeError(w, r, keyservice.Errorf(keyservice.CodeUnauthorized, "A valid API key is required."))
		return
	}
	writeJSON(w, http.StatusOK, whoamiJSON{FirmID: p.FirmID, KeyID: p.KeyID, Label: p.Label, Scopes: p.Scopes.Names()})
}
