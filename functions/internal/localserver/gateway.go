package localserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/kudurrustone/apikeys/functions/internal/admintoken"
	"github.com/kudurrustone/apikeys/functions/internal/bearer"
	"github.com/kudurrustone/apikeys/functions/internal/httpapi"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

// The gateway stands where API Gateway stands in AWS: it matches a route,
// runs that route's authorizer (the JWT authorizer for the management
// routes, the Lambda authorizer for /v1/whoami), builds the HTTP API payload
// 2.0 event with the request context API Gateway would build, and invokes
// the route's function through httpadapter.NewV2(...).ProxyWithContext —
// the very call the Lambda functions make. So the local server exercises the
// same event-to-request conversion, the same context plumbing (identity
// reads the context, never a header) and the same buffered response as the
// deployed functions; a handler that forgets to write a status gets the
// proxy's 504 here too.

// Fixed parts of the emulated request context.
const (
	gatewayAccountID = "000000000000"
	gatewayAPIID     = "local"
	gatewayStage     = "$default"
	gatewayRegion    = "local"
	// maxPayload is API Gateway's 10 MB request payload limit.
	maxPayload = 10 << 20
)

// LambdaHandler is the entry point a Lambda function hands to the runtime
// (lambda.Handler): a JSON event in, a JSON answer out. The gateway invokes
// the authorizer through it, exactly as the Lambda runtime does.
type LambdaHandler interface {
	Invoke(ctx context.Context, payload []byte) ([]byte, error)
}

type gatewayRoute struct {
	httpapi.Route
	segments []string // "{id}" marks a parameter
	lambda   httpapi.ProxyFunc
}

type gateway struct {
	routes     []gatewayRoute
	tokens     *admintoken.Verifier
	authorizer LambdaHandler
	log        *slog.Logger
	now        func() time.Time
}

// newGateway mounts every route of httpapi.Routes() on the handler of its
// own function, as each Lambda function serves only its route.
func newGateway(api *httpapi.API, tokens *admintoken.Verifier, authorizer LambdaHandler, log *slog.Logger, now func() time.Time) *gateway {
	g := &gateway{tokens: tokens, authorizer: authorizer, log: log, now: now}
	for _, r := range httpapi.Routes() {
		g.routes = append(g.routes, gatewayRoute{
			Route:    r,
			segments: strings.Split(strings.TrimPrefix(r.Path, "/"), "/"),
			lambda:   httpapi.Proxy(api.Handler(r.Function), log),
		})
	}
	return g
}

// match finds the route of method and path, as API Gateway does: literal
// segments match exactly, {name} matches one non-empty segment.
func (g *gateway) match(method, escapedPath string) (*gatewayRoute, map[string]string) {
	segs := strings.Split(strings.TrimPrefix(escapedPath, "/"), "/")
	for i := range g.routes {
		rt := &g.routes[i]
		if rt.Method != method || len(rt.segments) != len(segs) {
			continue
		}
		var params map[string]string
		ok := true
		for j, s := range rt.segments {
			if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
				v, err := url.PathUnescape(segs[j])
				if segs[j] == "" || err != nil {
					ok = false
					break
				}
				if params == nil {
					params = map[string]string{}
				}
				params[s[1:len(s)-1]] = v
				continue
			}
			if s != segs[j] {
				ok = false
				break
			}
		}
		if ok {
			return rt, params
		}
	}
	return nil, nil
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt, params := g.match(r.Method, r.URL.EscapedPath())
	if rt == nil {
		// API Gateway answers an unknown route before any authorizer runs.
		writeError(w, http.StatusNotFound, keyservice.CodeNotFound, "No such route.")
		return
	}
	// The size limit and the token are checked before a byte of the body
	// is read, so unauthenticated bodies cost no memory.
	if r.ContentLength > maxPayload {
		writeError(w, http.StatusRequestEntityTooLarge, keyservice.CodeInvalidRequest, "The request body is too large.")
		return
	}
	ev := g.event(r, rt, params, nil)
	if rt.Function == httpapi.FunctionWhoami {
		if !g.lambdaAuthorize(w, r, &ev) {
			return
		}
	} else if !g.jwtAuthorize(w, r, &ev) {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPayload))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, keyservice.CodeInvalidRequest, "The request body is too large.")
			return
		}
		writeError(w, http.StatusBadRequest, keyservice.CodeInvalidRequest, "The request body could not be read.")
		return
	}
	setBody(&ev, body)
	g.invoke(w, r.Context(), rt, ev)
}

// jwtAuthorize is API Gateway's JWT authorizer: on success the claims,
// flattened to strings, go to requestContext.authorizer.jwt; on failure the
// integration is never invoked and the client gets 401.
func (g *gateway) jwtAuthorize(w http.ResponseWriter, r *http.Request, ev *events.APIGatewayV2HTTPRequest) bool {
	raw := adminToken(r.Header.Get("Authorization"))
	claims, err := g.tokens.Verify(raw)
	if err != nil {
		msg := "An administrator token is required: send Authorization: Bearer <jwt>."
		desc := "missing token"
		if !errors.Is(err, admintoken.ErrNoToken) {
			desc = err.Error()
			msg = "The administrator token was rejected: " + desc + "."
		}
		// The same challenge API Gateway's JWT authorizer sends.
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer scope="" error="invalid_token" error_description=%q`, desc))
		writeError(w, http.StatusUnauthorized, keyservice.CodeUnauthorized, msg)
		return false
	}
	ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
		JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{
			Claims: claims,
			Scopes: strings.Fields(claims["scope"]),
		},
	}
	return true
}

// lambdaAuthorize invokes the Lambda authorizer with the 2.0 REQUEST event
// and does what API Gateway does with its answer: an IAM policy is
// evaluated against the route's ARN (403 unless it allows the call), a
// simple response's isAuthorized decides (403 when false), and the context
// of an allowed call goes on in requestContext.authorizer.lambda. Like API
// Gateway with the identity source $request.header.Authorization, no
// header is 401 without invoking the authorizer; a failed invocation is
// 500 internal. There is no authorizer cache here, so a revoked key is
// denied at once and a failure is never remembered.
func (g *gateway) lambdaAuthorize(w http.ResponseWriter, r *http.Request, ev *events.APIGatewayV2HTTPRequest) bool {
	authz := r.Header.Get("Authorization")
	if authz == "" {
		writeError(w, http.StatusUnauthorized, keyservice.CodeUnauthorized, "An API key is required: send Authorization: Bearer <key>.")
		return false
	}
	routeArn := fmt.Sprintf("arn:aws:execute-api:%s:%s:%s/%s/%s%s", gatewayRegion, gatewayAccountID, gatewayAPIID, gatewayStage, ev.RequestContext.HTTP.Method, ev.RawPath)
	in := events.APIGatewayV2CustomAuthorizerV2Request{
		Version:               "2.0",
		Type:                  "REQUEST",
		RouteArn:              routeArn,
		IdentitySource:        []string{authz, ev.RequestContext.HTTP.SourceIP},
		RouteKey:              ev.RouteKey,
		RawPath:               ev.RawPath,
		RawQueryString:        ev.RawQueryString,
		Cookies:               ev.Cookies,
		Headers:               ev.Headers,
		QueryStringParameters: ev.QueryStringParameters,
		RequestContext:        ev.RequestContext,
		PathParameters:        ev.PathParameters,
		StageVariables:        ev.StageVariables,
	}
	out, err := g.invokeAuthorizer(r.Context(), in)
	if err != nil {
		// A failed authorizer invocation is a 500 at API Gateway, which
		// caches nothing; the integration is never reached.
		g.log.ErrorContext(r.Context(), "authorizer failed", "error", err)
		writeError(w, http.StatusInternalServerError, keyservice.CodeInternal, internalMessage)
		return false
	}
	var allowed bool
	switch {
	case out.PolicyDocument != nil:
		allowed = out.PolicyDocument.allows(routeArn)
	case out.IsAuthorized != nil:
		allowed = *out.IsAuthorized
	}
	if !allowed {
		writeError(w, http.StatusForbidden, keyservice.CodeUnauthorized, "The API key may not make this call: it is unknown, malformed, revoked or expired, used from an address it does not allow, or lacks the scope for this method.")
		return false
	}
	ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: out.Context}
	return true
}

// invokeAuthorizer sends the event through the authorizer's Lambda entry
// point, JSON in and JSON out, as the runtime would.
func (g *gateway) invokeAuthorizer(ctx context.Context, in events.APIGatewayV2CustomAuthorizerV2Request) (authorizerAnswer, error) {
	payload, err := json.Marshal(in)
	if err != nil {
		return authorizerAnswer{}, fmt.Errorf("encode authorizer event: %w", err)
	}
	answer, err := g.authorizer.Invoke(ctx, payload)
	if err != nil {
		return authorizerAnswer{}, fmt.Errorf("invoke authorizer: %w", err)
	}
	out, err := decodeAnswer(answer)
	if err != nil {
		return out, fmt.Errorf("decode authorizer answer: %w", err)
	}
	if out.PolicyDocument == nil && out.IsAuthorized == nil {
		return out, errors.New("the authorizer answered neither a policy nor a simple response")
	}
	return out, nil
}

// invoke runs the route's function the way the Lambda runtime does (the
// event goes through JSON first) and copies its response to w.
func (g *gateway) invoke(w http.ResponseWriter, ctx context.Context, rt *gatewayRoute, ev events.APIGatewayV2HTTPRequest) {
	if !jsonClean(&ev) {
		var err error
		if ev, err = roundTrip(ev); err != nil {
			g.log.ErrorContext(ctx, "encode event", "error", err)
			writeError(w, http.StatusInternalServerError, keyservice.CodeInternal, internalMessage)
			return
		}
	}
	resp, err := rt.lambda(ctx, ev)
	if err != nil {
		// A function error is API Gateway's 500 Internal Server Error.
		g.log.ErrorContext(ctx, "function failed", "function", rt.Function, "error", err)
		writeError(w, http.StatusInternalServerError, keyservice.CodeInternal, internalMessage)
		return
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		if body, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
			g.log.ErrorContext(ctx, "decode function response", "function", rt.Function, "error", err)
			writeError(w, http.StatusInternalServerError, keyservice.CodeInternal, internalMessage)
			return
		}
	}
	h := w.Header()
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	for _, c := range resp.Cookies {
		h.Add("Set-Cookie", c)
	}
	h.Set("Apigw-Requestid", ev.RequestContext.RequestID)
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
}

// event builds the payload 2.0 event API Gateway would send for r.
func (g *gateway) event(r *http.Request, rt *gatewayRoute, params map[string]string, body []byte) events.APIGatewayV2HTTPRequest {
	now := g.now().UTC()
	headers := map[string]string{}
	for k, vs := range r.Header {
		lk := strings.ToLower(k)
		if lk == "cookie" {
			continue // HTTP APIs move cookies to their own field
		}
		headers[lk] = strings.Join(vs, ",")
	}
	if r.Host != "" {
		headers["host"] = r.Host
	}
	var cookies []string
	for _, c := range r.Header.Values("Cookie") {
		for _, part := range strings.Split(c, ";") {
			if p := strings.TrimSpace(part); p != "" {
				cookies = append(cookies, p)
			}
		}
	}
	var query map[string]string
	if q := r.URL.Query(); len(q) > 0 {
		query = make(map[string]string, len(q))
		for k, vs := range q {
			query[k] = strings.Join(vs, ",")
		}
	}
	ev := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              rt.Method + " " + rt.Path,
		RawPath:               r.URL.EscapedPath(),
		RawQueryString:        r.URL.RawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: query,
		PathParameters:        params,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     rt.Method + " " + rt.Path,
			AccountID:    gatewayAccountID,
			Stage:        gatewayStage,
			RequestID:    requestID(),
			APIID:        gatewayAPIID,
			DomainName:   domainName(r.Host),
			DomainPrefix: strings.SplitN(hostOnly(r.Host), ".", 2)[0],
			Time:         now.Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      r.URL.EscapedPath(),
				Protocol:  r.Proto,
				SourceIP:  sourceIP(r.RemoteAddr),
				UserAgent: r.UserAgent(),
			},
		},
	}
	setBody(&ev, body)
	return ev
}

// adminToken returns the token of an Authorization header. Like API
// Gateway's JWT authorizer, the "Bearer " prefix is optional.
func adminToken(h string) string {
	if token, reason := bearer.Token(h); reason == "" {
		return token
	}
	if t := strings.TrimSpace(h); !strings.ContainsAny(t, " \t,") {
		return t
	}
	return ""
}

// jsonClean reports whether ev would come out of roundTrip unchanged in
// everything a handler reads: JSON only rewrites invalid UTF-8, every
// string of the event comes from the HTTP request (a body that is not UTF-8
// is already base64) or from JSON (the authorizer's context). Checking is
// far cheaper than the round trip, which was the largest per-request cost
// of the local server (issue 6).
func jsonClean(ev *events.APIGatewayV2HTTPRequest) bool {
	rc := &ev.RequestContext
	for _, s := range []string{ev.RouteKey, ev.RawPath, ev.RawQueryString, ev.Body, rc.RouteKey, rc.AccountID,
		rc.Stage, rc.RequestID, rc.APIID, rc.DomainName, rc.DomainPrefix, rc.Time, rc.HTTP.Method, rc.HTTP.Path,
		rc.HTTP.Protocol, rc.HTTP.SourceIP, rc.HTTP.UserAgent} {
		if !utf8.ValidString(s) {
			return false
		}
	}
	for _, m := range []map[string]string{ev.Headers, ev.QueryStringParameters, ev.PathParameters, ev.StageVariables} {
		if !cleanMap(m) {
			return false
		}
	}
	for _, c := range ev.Cookies {
		if !utf8.ValidString(c) {
			return false
		}
	}
	if a := rc.Authorizer; a != nil {
		if a.IAM != nil || (a.Lambda != nil && len(a.Lambda) == 0) {
			return false // not built here, or dropped by omitempty: take the slow path
		}
		if a.JWT != nil {
			if !cleanMap(a.JWT.Claims) {
				return false
			}
			for _, s := range a.JWT.Scopes {
				if !utf8.ValidString(s) {
					return false
				}
			}
		}
		// a.Lambda was decoded from the authorizer's JSON answer.
	}
	return true
}

func cleanMap(m map[string]string) bool {
	for k, v := range m {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return false
		}
	}
	return true
}

// roundTrip sends v through JSON and back, as every Lambda invocation does,
// so that, for example, an authorizer context holds only JSON types.
func roundTrip[T any](v T) (T, error) {
	var out T
	b, err := json.Marshal(v)
	if err != nil {
		return out, err
	}
	err = json.NewDecoder(bytes.NewReader(b)).Decode(&out)
	return out, err
}

func requestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	if strings.HasPrefix(hostport, "[") && strings.HasSuffix(hostport, "]") {
		return hostport[1 : len(hostport)-1] // an IPv6 address without a port
	}
	return hostport
}

// domainName is the Host without its port, an IPv6 address in brackets so
// that "https://" + domainName + path stays a URL: the proxy library builds
// the request URL that way, and on failure logs it, query included.
func domainName(hostport string) string {
	h := hostOnly(hostport)
	if ip, err := netip.ParseAddr(h); err == nil && ip.Is6() {
		return "[" + h + "]"
	}
	if _, err := url.Parse("https://" + h + "/"); err != nil || strings.ContainsAny(h, "/?#@") {
		return gatewayAPIID + ".execute-api." + gatewayRegion + ".amazonaws.com"
	}
	return h
}

func sourceIP(remoteAddr string) string {
	if h, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return h
	}
	return remoteAddr
}

// setBody puts body into the event as API Gateway does: text as is,
// anything else base64-encoded.
func setBody(ev *events.APIGatewayV2HTTPRequest, body []byte) {
	if len(body) == 0 {
		return
	}
	if utf8.Valid(body) {
		ev.Body = string(body)
	} else {
		ev.Body = base64.StdEncoding.EncodeToString(body)
		ev.IsBase64Encoded = true
	}
}
