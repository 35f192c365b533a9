package httpapi

import (
	"net/http"
	"net/url"

	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

// updateBody is the body of PATCH /v1/api-keys/{id}: a member left out is
// unchanged; expiresAt null clears the expiry; null is refused elsewhere.
type updateBody struct {
	Label      *string       `json:"label"`
	ExpiresAt  Field[string] `json:"expiresAt"`
	Scopes     *[]string     `json:"scopes"`
	AllowedIPs *[]string     `json:"allowedIps"`
}

// update serves PATCH /v1/api-keys/{id}.
func (a *API) update(w http.ResponseWriter, r *http.Request) {
	adm, err := a.admin(r)
	if err == nil {
		err = keyservice.RequirePremier(adm)
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var body updateBody
	if err := DecodeBody(w, r, &body); err != nil {
		a.writeError(w, r, err)
		return
	}
	in := keyservice.UpdateInput{Label: body.Label, ExpiresAtSet: body.ExpiresAt.Set,
		Scopes: listOf(body.Scopes), AllowedIPs: listOf(body.AllowedIPs)}
	if body.ExpiresAt.Set && !body.ExpiresAt.Null {
		t, err := keyservice.ParseExpiresAt(body.ExpiresAt.Value)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		in.ExpiresAt = &t
	}
	k, access, err := a.svc.Update(r.Context(), adm, r.PathValue("id"), in)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if access {
		a.runCacheReset(r, k)
	}
	writeJSON(w, http.StatusOK, toJSON(&k, a.now()))
}

// rollBody is the optional body of POST /v1/api-keys/{id}/roll.
type rollBody struct {
	GracePeriodSeconds *int `json:"gracePeriodSeconds"`
}

// roll serves POST /v1/api-keys/{id}/roll: 201 with the new key, shown
// once, exactly like a generated one.
func (a *API) roll(w http.ResponseWriter, r *http.Request) {
	adm, err := a.admin(r)
	if err == nil {
		err = keyservice.RequirePremier(adm)
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var body rollBody
	if err := DecodeOptionalBody(w, r, &body); err != nil {
		a.writeError(w, r, err)
		return
	}
	old, succ, plaintext, err := a.svc.Roll(r.Context(), adm, r.PathValue("id"), body.GracePeriodSeconds)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.runCacheReset(r, old)
	writeJSON(w, http.StatusCreated, createdJSON{keyJSON: toJSON(&succ, a.now()), Key: plaintext})
}

// auditEvents serves GET /v1/audit-events.
func (a *API) auditEvents(w http.ResponseWriter, r *http.Request) {
	adm, err := a.admin(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	in, err := parseAuditQuery(r.URL.RawQuery)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	page, err := a.svc.AuditEvents(r.Context(), adm, in)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := auditPageJSON{Items: make([]auditEventJSON, 0, len(page.Items))}
	for i := range page.Items {
		out.Items = append(out.Items, toAuditJSON(&page.Items[i]))
	}
	if page.NextCursor != "" {
		out.NextCursor = &page.NextCursor
	}
	writeJSON(w, http.StatusOK, out)
}

// parseAuditQuery reads keyId, limit and cursor, by the rules of the list
// query: each at most once, keyId and limit not empty when present, an
// empty cursor means the first page, unknown parameters ignored.
func parseAuditQuery(raw string) (keyservice.AuditInput, error) {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return keyservice.AuditInput{}, invalid("The query string is malformed.")
	}
	var in keyservice.AuditInput
	for _, name := range []string{"keyId", "limit", "cursor"} {
		if len(q[name]) > 1 {
			return keyservice.AuditInput{}, invalid("The query parameter %s must appear at most once.", name)
		}
	}
	if vs, ok := q["keyId"]; ok {
		if !keyservice.ValidID(vs[0]) {
			return keyservice.AuditInput{}, invalid("keyId must be the id of a key.")
		}
		in.KeyID = vs[0]
	}
	if vs, ok := q["limit"]; ok {
		n, ok := parseLimit(vs[0])
		if !ok {
			return keyservice.AuditInput{}, invalid("limit must be an integer between 1 and %d.", keyservice.MaxListLimit)
		}
		in.Limit = n
	}
	if vs, ok := q["cursor"]; ok {
		in.Cursor = vs[0]
	}
	return in, nil
}
