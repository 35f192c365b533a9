// Package httpapi serves the HTTP contract of SPEC section 3 with plain
// net/http handlers: the management routes (list, generate, revoke) for firm
// administrators and whoami for API keys. The same handlers run in Lambda
// (wrapped by aws-lambda-go-api-proxy), in the local server and in httptest;
// identity always comes from the API Gateway context in the request's
// context.Context (package identity).
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/awslabs/aws-lambda-go-api-proxy/core"

	"github.com/kudurrustone/apikeys/functions/internal/identity"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

// Function names: one Lambda function per management route; whoami serves
// both of its methods.
const (
	FunctionList        = "list"
	FunctionGenerate    = "generate"
	FunctionUpdate      = "update"
	FunctionRoll        = "roll"
	FunctionRevoke      = "revoke"
	FunctionAuditEvents = "auditevents"
	FunctionWhoami      = "whoami"
)

// Route is one route of the HTTP contract and the function that serves it.
// Path uses the {name} wildcard syntax shared by net/http (Go 1.22+) and
// API Gateway HTTP APIs.
type Route struct {
	Method   string
	Path     string
	Function string
}

// Routes returns the route table of the product. The SAM template, the
// local server and the Lambda functions are all checked against it.
func Routes() []Route {
	return []Route{
		{Method: http.MethodGet, Path: "/v1/api-keys", Function: FunctionList},
		{Method: http.MethodPost, Path: "/v1/api-keys", Function: FunctionGenerate},
		{Method: http.MethodPatch, Path: "/v1/api-keys/{id}", Function: FunctionUpdate},
		{Method: http.MethodPost, Path: "/v1/api-keys/{id}/roll", Function: FunctionRoll},
		{Method: http.MethodPost, Path: "/v1/api-keys/{id}/revoke", Function: FunctionRevoke},
		{Method: http.MethodGet, Path: "/v1/audit-events", Function: FunctionAuditEvents},
		{Method: http.MethodGet, Path: "/v1/whoami", Function: FunctionWhoami},
		{Method: http.MethodPost, Path: "/v1/whoami", Function: FunctionWhoami},
	}
}

// API holds the handlers' dependencies.
type API struct {
	svc   *keyservice.Service
	ident identity.Config
	log   *slog.Logger
	now   func() time.Time
	reset func(ctx context.Context, k keyservice.Key)
}

// Option configures an API.
type Option func(*API)

// WithCacheReset runs hook after every change that an authorizer's cached
// answer could contradict, before the response is written: every
// successful revoke (also a repeated one), every roll, and every update
// that changed a key's expiry, scopes or allowed addresses. The functions
// use it to reset API Gateway's authorizer cache, so a narrowing takes
// effect like a revoke. It is best effort: the hook handles and logs its
// own errors, and a panic in it is recovered and logged.
func WithCacheReset(hook func(ctx context.Context, k keyservice.Key)) Option {
	return func(a *API) { a.reset = hook }
}

// WithClock sets the clock used to compute a key's status at request time.
// It should be the clock given to the keyservice. Default time.Now.
func WithClock(now func() time.Time) Option {
	return func(a *API) {
		if now != nil {
			a.now = now
		}
	}
}

// New returns the API over svc. A nil log means slog.Default().
func New(svc *keyservice.Service, ident identity.Config, log *slog.Logger, opts ...Option) *API {
	if log == nil {
		log = slog.Default()
	}
	a := &API{svc: svc, ident: ident, log: log, now: time.Now}
	for _, o := range opts {
		o(a)
	}
	return a
}

// Handler serves only the routes of one function (a Lambda function serves
// its own routes and nothing else). Any other path answers 404 not_found
// and another method on its path 405. An unknown function name yields a
// handler that answers 404 to everything. Handler links every function's
// handler; a Lambda main calls its own function's method (List, Generate,
// ...) instead, so that its binary carries only what that route uses.
func (a *API) Handler(function string) http.Handler {
	return a.function(function, a.handlerFunc(function))
}

// List serves GET /v1/api-keys.
func (a *API) List() http.Handler { return a.function(FunctionList, a.list) }

// Generate serves POST /v1/api-keys.
func (a *API) Generate() http.Handler { return a.function(FunctionGenerate, a.generate) }

// Update serves PATCH /v1/api-keys/{id}.
func (a *API) Update() http.Handler { return a.function(FunctionUpdate, a.update) }

// Roll serves POST /v1/api-keys/{id}/roll.
func (a *API) Roll() http.Handler { return a.function(FunctionRoll, a.roll) }

// Revoke serves POST /v1/api-keys/{id}/revoke.
func (a *API) Revoke() http.Handler { return a.function(FunctionRevoke, a.revokeKey) }

// AuditEvents serves GET /v1/audit-events.
func (a *API) AuditEvents() http.Handler { return a.function(FunctionAuditEvents, a.auditEvents) }

// Whoami serves GET and POST /v1/whoami.
func (a *API) Whoami() http.Handler { return a.function(FunctionWhoami, a.whoami) }

// Mux serves every route of Routes().
func (a *API) Mux() http.Handler {
	var routes []handledRoute
	for _, r := range Routes() {
		routes = append(routes, handledRoute{r, a.handlerFunc(r.Function)})
	}
	return a.serve(routes)
}

func (a *API) handlerFunc(function string) http.HandlerFunc {
	switch function {
	case FunctionList:
		return a.list
	case FunctionGenerate:
		return a.generate
	case FunctionUpdate:
		return a.update
	case FunctionRoll:
		return a.roll
	case FunctionRevoke:
		return a.revokeKey
	case FunctionAuditEvents:
		return a.auditEvents
	case FunctionWhoami:
		return a.whoami
	}
	return nil
}

// handledRoute is a route with the handler that serves it.
type handledRoute struct {
	Route
	h http.HandlerFunc
}

// function serves the routes of Routes() that belong to function with h.
func (a *API) function(function string, h http.HandlerFunc) http.Handler {
	var routes []handledRoute
	for _, r := range Routes() {
		if r.Function == function {
			routes = append(routes, handledRoute{r, h})
		}
	}
	return a.serve(routes)
}

// serve builds a router over routes whose every answer, including a
// mismatch, is the JSON envelope: Go's ServeMux answers a mismatch in plain
// text, so mismatches never reach its own 404/405 handlers.
func (a *API) serve(routes []handledRoute) http.Handler {
	mux := http.NewServeMux()
	for _, r := range routes {
		mux.Handle(r.Method+" "+r.Path, r.h)
	}
	methods := map[string]bool{}
	for _, r := range routes {
		methods[r.Method] = true
	}
	return a.middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = stripStage(r)
		p := r.URL.Path
		// Unclean paths would get ServeMux's 301 redirect; an API answers
		// them as unknown instead.
		if p == "" || p[0] != '/' || path.Clean(p) != p {
			writeNotFoundRoute(w)
			return
		}
		if _, pattern := mux.Handler(r); pattern != "" {
			if sw, ok := w.(*statusWriter); ok {
				sw.route = pattern
			}
			mux.ServeHTTP(w, r)
			return
		}
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch} {
			if !methods[m] || m == r.Method {
				continue
			}
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "" {
				allow = append(allow, m)
			}
		}
		if len(allow) == 0 {
			writeNotFoundRoute(w)
			return
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeErrorStatus(w, http.StatusMethodNotAllowed, keyservice.CodeInvalidRequest,
			"Method "+safeMethod(r.Method)+" is not allowed on this route.")
	}))
}

// stripStage removes the stage name that HTTP API puts in front of the path
// when the stage is not $default ("/prod/v1/api-keys"), so routing sees the
// path as declared.
func stripStage(r *http.Request) *http.Request {
	rc, ok := core.GetAPIGatewayV2ContextFromContext(r.Context())
	if !ok || rc.Stage == "" || rc.Stage == "$default" {
		return r
	}
	prefix := "/" + rc.Stage
	if !strings.HasPrefix(r.URL.Path, prefix+"/") {
		return r
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = strings.TrimPrefix(r.URL.Path, prefix)
	if r2.URL.RawPath != "" {
		r2.URL.RawPath = strings.TrimPrefix(r.URL.RawPath, prefix)
	}
	return r2
}

// safeMethod keeps a client-chosen method short and printable before it is
// echoed in a message.
func safeMethod(m string) string {
	if len(m) > 16 {
		m = m[:16]
	}
	for i := 0; i < len(m); i++ {
		if c := m[i]; c < 'A' || c > 'Z' {
			return "this"
		}
	}
	return m
}
