package localserver

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/kudurrustone/apikeys/functions/internal/admintoken"
	"github.com/kudurrustone/apikeys/functions/internal/httpapi"
	"github.com/kudurrustone/apikeys/functions/internal/identity"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

// The routes the local server serves itself, beside the API: the console,
// the OpenAPI document and /dev/token. None of them exists in AWS.

//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns the OpenAPI 3 document of the public routes (the same file
// as functions/internal/localserver/openapi.json in the repository).
func OpenAPI() []byte { return append([]byte(nil), openAPIDoc...) }

//go:embed console/index.html console/app.js console/style.css console/favicon.svg
var consoleFS embed.FS

const internalMessage = "An internal error occurred. Please try again."

// contentSecurityPolicy lets the console load only its own files: no inline
// script or style, no other origin, no framing.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// securityHeaders sets the headers every local response carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

type errorEnvelope struct {
	Error errorBody `json:"error"`
}

type errorBody struct {
	Code    keyservice.Code `json:"code"`
	Message string          `json:"message"`
}

// writeError writes the SPEC error envelope.
func writeError(w http.ResponseWriter, status int, code keyservice.Code, msg string) {
	writeJSON(w, status, errorEnvelope{Error: errorBody{Code: code, Message: msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // JSON with nosniff: "<jwt>" reads better than "\u003cjwt\u003e"
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":{"code":"internal","message":"` + internalMessage + `"}}` + "\n")
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// loopbackHostsOnly refuses requests whose Host is not a loopback name when
// the server listens on loopback: a web page cannot then reach /dev/token
// or the API through DNS rebinding (a hostile name resolving to 127.0.0.1).
func loopbackHostsOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := hostOnly(r.Host)
		if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && !strings.EqualFold(host, "localhost") {
			writeError(w, http.StatusMisdirectedRequest, keyservice.CodeInvalidRequest,
				"This local server only answers requests addressed to localhost or a loopback address.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// cleanPathsOnly answers a path that is not clean ("..", "//", "/v1") as
// an unknown route: ServeMux would redirect it with an HTML body, and an API
// answers every request in its error envelope.
func cleanPathsOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p == "" || p[0] != '/' || path.Clean(p) != p || p == "/v1" {
			writeError(w, http.StatusNotFound, keyservice.CodeNotFound, "No such route.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// loopbackPeersOnly answers only requests whose TCP peer is a loopback
// address; to anyone else the route does not exist.
func loopbackPeersOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ap, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil || !ap.Addr().Unmap().IsLoopback() {
			writeError(w, http.StatusNotFound, keyservice.CodeNotFound, "No such route.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// staticFile is one embedded file of the console.
type staticFile struct {
	body        []byte
	contentType string
}

// consoleHandler serves the console's files and the OpenAPI document;
// anything else is a 404 envelope (no directory listings, no guessing).
func consoleHandler() (http.Handler, error) {
	files := map[string]staticFile{"/openapi.json": {openAPIDoc, "application/json"}}
	for path, name := range map[string]string{
		"/":          "console/index.html",
		"/app.js":    "console/app.js",
		"/style.css": "console/style.css",
		// Browsers ask for /favicon.ico when a page names no icon; the
		// console names this one.
		"/favicon.svg": "console/favicon.svg",
	} {
		b, err := consoleFS.ReadFile(name)
		if err != nil {
			return nil, err
		}
		ct := "text/html; charset=utf-8"
		switch {
		case strings.HasSuffix(name, ".js"):
			ct = "text/javascript; charset=utf-8"
		case strings.HasSuffix(name, ".css"):
			ct = "text/css; charset=utf-8"
		case strings.HasSuffix(name, ".svg"):
			ct = "image/svg+xml"
		}
		files[path] = staticFile{b, ct}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := files[r.URL.Path]
		if !ok {
			writeError(w, http.StatusNotFound, keyservice.CodeNotFound, "No such route.")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, keyservice.CodeInvalidRequest, "Only GET is allowed here.")
			return
		}
		w.Header().Set("Content-Type", f.contentType)
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(f.body)
		}
	}), nil
}

// maxClaimLen bounds each /dev/token field.
const maxClaimLen = 256

// devToken serves POST /dev/token: {"sub","firmId","role","tier"} ->
// {"token"}, a one-hour admin token signed with the local key. sub and
// firmId are required non-empty strings; role and tier are optional
// strings (leave them out to act as a non-admin or non-Premier user).
func devToken(tokens *admintoken.Signer, ident identity.Config) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			writeError(w, http.StatusMethodNotAllowed, keyservice.CodeInvalidRequest, "Use POST with a JSON body.")
			return
		}
		fields, err := readTokenRequest(w, r)
		if err != nil {
			writeError(w, http.StatusBadRequest, keyservice.CodeInvalidRequest, err.Error())
			return
		}
		claims := map[string]any{"sub": fields["sub"]}
		claims[ident.SubjectClaim] = fields["sub"]
		claims[ident.FirmClaim] = fields["firmId"]
		if v, ok := fields["role"]; ok {
			claims[ident.RoleClaim] = v
		}
		if v, ok := fields["tier"]; ok {
			claims[ident.TierClaim] = v
		}
		tok, _, err := tokens.Sign(claims)
		if err != nil {
			writeError(w, http.StatusInternalServerError, keyservice.CodeInternal, internalMessage)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"token": tok})
	})
}

// tokenRequest is the /dev/token body. role and tier may be left out.
type tokenRequest struct {
	Sub    string  `json:"sub"`
	FirmID string  `json:"firmId"`
	Role   *string `json:"role"`
	Tier   *string `json:"tier"`
}

// readTokenRequest decodes and checks a /dev/token body with the API's body
// rules (httpapi.DecodeBody). Its errors are client-facing messages.
func readTokenRequest(w http.ResponseWriter, r *http.Request) (map[string]string, error) {
	var body tokenRequest
	if err := httpapi.DecodeBody(w, r, &body); err != nil {
		var e *keyservice.Error
		if errors.As(err, &e) {
			return nil, errors.New(e.Message)
		}
		return nil, err
	}
	out := map[string]string{"sub": body.Sub, "firmId": body.FirmID}
	if body.Role != nil {
		out["role"] = *body.Role
	}
	if body.Tier != nil {
		out["tier"] = *body.Tier
	}
	for _, k := range []string{"sub", "firmId", "role", "tier"} {
		if utf8.RuneCountInString(out[k]) > maxClaimLen {
			return nil, errors.New("Field " + k + " is too long.")
		}
	}
	for _, k := range []string{"sub", "firmId"} {
		if strings.TrimSpace(out[k]) == "" {
			return nil, errors.New("Field " + k + " is required and must not be empty.")
		}
	}
	return out, nil
}
