package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

// statusOf is the one table from error code to HTTP status.
var statusOf = map[keyservice.Code]int{
	keyservice.CodeUnauthorized:    http.StatusUnauthorized,
	keyservice.CodeNotFirmAdmin:    http.StatusForbidden,
	keyservice.CodePremierRequired: http.StatusForbidden,
	keyservice.CodeInvalidLabel:    http.StatusBadRequest,
	keyservice.CodeInvalidRequest:  http.StatusBadRequest,
	keyservice.CodeNotFound:        http.StatusNotFound,
	keyservice.CodeKeyLimitReached: http.StatusConflict,
	keyservice.CodeKeyNotActive:    http.StatusConflict,
	keyservice.CodeInternal:        http.StatusInternalServerError,
}

// StatusOf returns the HTTP status of an error code (500 for an unknown one).
func StatusOf(c keyservice.Code) int {
	if s, ok := statusOf[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

const internalMessage = "An internal error occurred. Please try again."

type envelope struct {
	Error errorBody `json:"error"`
}

type errorBody struct {
	Code    keyservice.Code `json:"code"`
	Message string          `json:"message"`
}

// writeError is the one error path: it maps err to its code and status and
// writes the envelope. Internal detail is logged and never sent.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *keyservice.Error
	code, msg := keyservice.CodeInternal, internalMessage
	if errors.As(err, &e) {
		code, msg = e.Code, e.Message
	}
	switch code {
	case keyservice.CodeInternal:
		msg = internalMessage
		a.log.ErrorContext(r.Context(), "internal error", "method", r.Method, "pattern", r.Pattern, "error", err)
	case keyservice.CodeUnauthorized, keyservice.CodeNotFirmAdmin, keyservice.CodePremierRequired, keyservice.CodeNotFound:
		// Who was turned away, for the security log: the subject and firm
		// of the admin token (empty when there was none) and the key id of
		// the path, never a key or a body.
		// An id that cannot be a key id is not logged: a client may put
		// anything in the path, a key included.
		adm, _ := a.ident.Admin(r)
		keyID := r.PathValue("id")
		if !keyservice.ValidID(keyID) {
			keyID = ""
		}
		a.log.WarnContext(r.Context(), "management call denied", "code", code, "method", r.Method,
			"pattern", r.Pattern, "subject", adm.Subject, "firmId", adm.FirmID, "keyId", keyID,
			"sourceIp", adm.SourceIP)
	}
	writeErrorStatus(w, StatusOf(code), code, msg)
}

// writeErrorStatus writes the envelope with an explicit status. Only the
// router uses a status outside the table (405 for a known path with another
// method).
func writeErrorStatus(w http.ResponseWriter, status int, code keyservice.Code, msg string) {
	writeJSON(w, status, envelope{Error: errorBody{Code: code, Message: msg}})
}

func writeNotFoundRoute(w http.ResponseWriter) {
	writeErrorStatus(w, http.StatusNotFound, keyservice.CodeNotFound, "No such route.")
}

// writeJSON writes v with status. Every response is JSON and uncacheable:
// management responses show firm data and the 201 carries the key itself.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Our own types always marshal; keep the contract if one ever fails.
		status = http.StatusInternalServerError
		body = []byte(`{"error":{"code":"internal","message":"` + internalMessage + `"}}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
