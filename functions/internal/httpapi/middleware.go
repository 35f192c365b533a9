package httpapi

import (
	"fmt"
	"net/http"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/awslabs/aws-lambda-go-api-proxy/core"

	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

// statusWriter remembers whether a status was written, so the middleware
// can guarantee every request gets one (the Lambda proxy turns a response
// without a status into a 504).
type statusWriter struct {
	http.ResponseWriter
	status int
	route  string // the matched pattern, logged instead of the raw path
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// middleware recovers panics into a 500 envelope, makes sure a status is
// always written, and logs one line per request (never a body, a header
// value or a key).
func (a *API) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				// Only a runtime error's text is known to be safe to log;
				// any other panic value could hold request data.
				detail := fmt.Sprintf("%T", v)
				if re, ok := v.(runtime.Error); ok {
					detail = re.Error()
				}
				a.log.ErrorContext(r.Context(), "panic in handler", "method", safeMethod(r.Method), "route", sw.route,
					"panic", detail, "stack", string(debug.Stack()))
				if sw.status == 0 {
					writeErrorStatus(sw, http.StatusInternalServerError, keyservice.CodeInternal, internalMessage)
				}
			}
			if sw.status == 0 {
				writeErrorStatus(sw, http.StatusInternalServerError, keyservice.CodeInternal, internalMessage)
			}
			// The raw path is client text (it could even hold a
			// mistakenly pasted key), so only the matched route is logged.
			attrs := []any{"method", safeMethod(r.Method), "route", sw.route, "status", sw.status,
				"durationMs", time.Since(start).Milliseconds()}
			if rc, ok := core.GetAPIGatewayV2ContextFromContext(r.Context()); ok && rc.RequestID != "" {
				attrs = append(attrs, "requestId", rc.RequestID)
			}
			a.log.InfoContext(r.Context(), "request", attrs...)
		}()
		next.ServeHTTP(sw, r)
	})
}
