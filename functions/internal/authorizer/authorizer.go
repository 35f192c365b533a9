// Package authorizer is the Lambda authorizer of the integration routes. It
// reads the API key from the Authorization header, asks the key service,
// and answers in the format of the event it got: a simple response for HTTP
// API payload 2.0, an IAM policy for REST API TOKEN and REQUEST events (and
// HTTP API payload 1.0, which has the REST shape). Anything it cannot parse
// or decide denies; a deny is an answer, not a function error (except the
// REST "Unauthorized" convention, see AuthorizeToken).
package authorizer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/kudurrustone/apikeys/functions/internal/identity"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

// Authorizer decides on a presented key; *keyservice.Service is one. Any
// error means deny.
type Authorizer interface {
	Authorize(ctx context.Context, key string) (keyservice.Principal, error)
}

var _ Authorizer = (*keyservice.Service)(nil)

// ErrUnauthorized is the error a REST API authorizer returns to make API
// Gateway answer 401 instead of 403. Its text is fixed by API Gateway.
var ErrUnauthorized = errors.New("Unauthorized")

// DefaultTimeout bounds one Authorize call, well under API Gateway's
// authorizer timeout, so a slow store denies instead of timing out.
const DefaultTimeout = 2 * time.Second

// maxHeaderLen bounds the Authorization value we look at; a key is 53
// characters, so anything much longer is junk and is denied unread.
const maxHeaderLen = 512

// Handler answers authorizer events. It implements lambda.Handler.
type Handler struct {
	auth    Authorizer
	log     *slog.Logger
	timeout time.Duration
}

var _ lambda.Handler = (*Handler)(nil)

// Option configures a Handler.
type Option func(*Handler)

// WithTimeout bounds each Authorize call (default DefaultTimeout).
func WithTimeout(d time.Duration) Option {
	return func(h *Handler) {
		if d > 0 {
			h.timeout = d
		}
	}
}

// New returns a Handler over a. A nil log means slog.Default().
func New(a Authorizer, log *slog.Logger, opts ...Option) *Handler {
	if log == nil {
		log = slog.Default()
	}
	h := &Handler{auth: a, log: log, timeout: DefaultTimeout}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Event kinds, as logged.
const (
	kindHTTP    = "http-2.0"
	kindToken   = "rest-token"
	kindRequest = "rest-request"
	kindUnknown = "unknown"
)

// Invoke detects the event kind and answers it. It never returns an error
// except ErrUnauthorized for a REST event without a usable Authorization
// header. An event it cannot recognise gets a deny that both API types read
// as a deny.
func (h *Handler) Invoke(ctx context.Context, payload []byte) (out []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			h.logPanic(ctx, kindUnknown, v)
			out, err = universalDeny, nil
		}
	}()
	// The hot path: an HTTP API payload 2.0 event, scanned in one pass for
	// the few members the decision reads (scan.go, fastpath.go). Anything
	// unusual takes the encoding/json path below.
	if fast, ok := scanHTTPEvent(payload); ok && fast.Version == "2.0" {
		return h.invokeHTTP(ctx, &fast), nil
	}
	var probe struct {
		Version   string `json:"version"`
		Type      string `json:"type"`
		MethodArn string `json:"methodArn"`
	}
	if json.Unmarshal(payload, &probe) != nil {
		h.logDecision(ctx, kindUnknown, decision{reason: "unparseable_event"})
		return universalDeny, nil
	}
	switch {
	case probe.Version == "2.0":
		var ev events.APIGatewayV2CustomAuthorizerV2Request
		if json.Unmarshal(payload, &ev) != nil {
			h.logDecision(ctx, kindHTTP, decision{reason: "unparseable_event"})
			return json.Marshal(events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: false})
		}
		return json.Marshal(h.AuthorizeHTTP(ctx, ev))
	case probe.Type == "TOKEN":
		var ev events.APIGatewayCustomAuthorizerRequest
		if json.Unmarshal(payload, &ev) != nil {
			h.logDecision(ctx, kindToken, decision{reason: "unparseable_event"})
			return json.Marshal(denyPolicy(""))
		}
		resp, err := h.AuthorizeToken(ctx, ev)
		if err != nil {
			return nil, err
		}
		return json.Marshal(resp)
	case probe.Type == "REQUEST" && probe.MethodArn != "":
		var ev events.APIGatewayCustomAuthorizerRequestTypeRequest
		if json.Unmarshal(payload, &ev) != nil {
			h.logDecision(ctx, kindRequest, decision{reason: "unparseable_event"})
			return json.Marshal(denyPolicy(""))
		}
		resp, err := h.AuthorizeRequest(ctx, ev)
		if err != nil {
			return nil, err
		}
		return json.Marshal(resp)
	}
	h.logDecision(ctx, kindUnknown, decision{reason: "unknown_event"})
	return universalDeny, nil
}

// universalDeny is read as a deny by an HTTP API simple-response authorizer
// (isAuthorized false) and by an IAM-policy one (an explicit Deny on
// everything).
var universalDeny = []byte(`{"isAuthorized":false,"principalId":"anonymous","policyDocument":{"Version":"2012-10-17","Statement":[{"Action":["execute-api:Invoke"],"Effect":"Deny","Resource":["*"]}]}}`)

// AuthorizeHTTP answers an HTTP API payload 2.0 event with a simple
// response. Allowed: context firmId, keyId, keyLabel (strings). Denied:
// isAuthorized false and no context; API Gateway answers 403.
func (h *Handler) AuthorizeHTTP(ctx context.Context, ev events.APIGatewayV2CustomAuthorizerV2Request) events.APIGatewayV2CustomAuthorizerSimpleResponse {
	d := h.decideHTTP(ctx, ev.Type, headerValues(ev.Headers, nil), ev.RequestContext.RequestID)
	if !d.allow {
		return events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: false}
	}
	return events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: true, Context: principalContext(d.principal)}
}

// AuthorizeToken answers a REST API TOKEN event. A missing or unparseable
// Authorization value (no Bearer scheme, several values) returns
// ErrUnauthorized, so API Gateway answers 401 as it does when the header is
// absent. A well-formed Bearer value that is not a valid key (malformed,
// unknown, revoked, expired) and any internal failure return an explicit
// Deny policy: API Gateway answers 403.
func (h *Handler) AuthorizeToken(ctx context.Context, ev events.APIGatewayCustomAuthorizerRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	var values []string
	if ev.AuthorizationToken != "" {
		values = []string{ev.AuthorizationToken}
	}
	return h.restAnswer(ctx, kindToken, ev.MethodArn, "", values)
}

// AuthorizeRequest answers a REST API REQUEST event (and an HTTP API payload
// 1.0 event, which has the same shape), like AuthorizeToken, reading the
// Authorization header by a case-insensitive name from headers and
// multiValueHeaders.
func (h *Handler) AuthorizeRequest(ctx context.Context, ev events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	return h.restAnswer(ctx, kindRequest, ev.MethodArn, ev.RequestContext.RequestID, headerValues(ev.Headers, ev.MultiValueHeaders))
}

func (h *Handler) restAnswer(ctx context.Context, kind, methodArn, requestID string, values []string) (events.APIGatewayCustomAuthorizerResponse, error) {
	resource, arnOK := stageResource(methodArn)
	d := h.decide(ctx, values)
	if d.allow && !arnOK {
		d = decision{reason: "bad_method_arn", principal: d.principal}
	}
	d.requestID = requestID
	h.logDecision(ctx, kind, d)
	if d.allow {
		resp := policy(d.principal.KeyID, "Allow", resource)
		resp.Context = principalContext(d.principal)
		return resp, nil
	}
	if d.badHeader {
		return events.APIGatewayCustomAuthorizerResponse{}, ErrUnauthorized
	}
	return denyPolicy(resource), nil
}

func principalContext(p keyservice.Principal) map[string]any {
	return map[string]any{
		identity.ContextFirmID:   p.FirmID,
		identity.ContextKeyID:    p.KeyID,
		identity.ContextKeyLabel: p.Label,
	}
}

func policy(principalID, effect, resource string) events.APIGatewayCustomAuthorizerResponse {
	return events.APIGatewayCustomAuthorizerResponse{
		PrincipalID: principalID,
		PolicyDocument: events.APIGatewayCustomAuthorizerPolicy{
			Version: "2012-10-17",
			Statement: []events.IAMPolicyStatement{{
				Action:   []string{"execute-api:Invoke"},
				Effect:   effect,
				Resource: []string{resource},
			}},
		},
	}
}

// denyPolicy denies the whole stage, or everything when the method ARN
// could not be read: a deny can never be too broad.
func denyPolicy(resource string) events.APIGatewayCustomAuthorizerResponse {
	if resource == "" {
		resource = "*"
	}
	return policy("anonymous", "Deny", resource)
}

// stageResource turns a method or route ARN,
// arn:aws:execute-api:region:account:apiId/stage/VERB/path..., into the
// resource covering every route of that stage,
// arn:aws:execute-api:region:account:apiId/stage/*/*, so that a policy
// cached for one route does not deny the same key on the next route.
func stageResource(arn string) (string, bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "execute-api" {
		return "", false
	}
	partition, region, account := parts[1], parts[3], parts[4]
	res := strings.SplitN(parts[5], "/", 3)
	if len(res) < 2 {
		return "", false
	}
	apiID, stage := res[0], res[1]
	for _, s := range []string{partition, region, account, apiID, stage} {
		if !arnSegment(s) {
			return "", false
		}
	}
	return fmt.Sprintf("arn:%s:execute-api:%s:%s:%s/%s/*/*", partition, region, account, apiID, stage), true
}

// arnSegment accepts the characters that partitions, regions, accounts, API
// ids and stage names use, and rejects wildcards, so an odd event can never
// widen an Allow beyond one stage.
func arnSegment(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '$') {
			return false
		}
	}
	return true
}

// headerValues returns every Authorization value of an event, matching the
// name case-insensitively (Go maps are case-sensitive; HTTP API sends
// lower-case names, REST API the client's spelling).
func headerValues(single map[string]string, multi map[string][]string) []string {
	var out []string
	for k, vs := range multi {
		if strings.EqualFold(k, "authorization") {
			out = append(out, vs...)
		}
	}
	if len(out) > 0 {
		// headers repeats the last of multiValueHeaders; do not count it twice.
		return out
	}
	for k, v := range single {
		if strings.EqualFold(k, "authorization") {
			out = append(out, v)
		}
	}
	return out
}

// decision is the outcome for one event, with what is safe to log.
type decision struct {
	allow     bool
	principal keyservice.Principal
	reason    string
	badHeader bool  // no usable Authorization value (REST: 401)
	err       error // internal failure, logged redacted
	requestID string
}

// decide checks the header values and asks the Authorizer. It never panics
// and allows only on a principal with a firm and a key id.
func (h *Handler) decide(ctx context.Context, values []string) decision {
	switch {
	case len(values) == 0:
		return decision{reason: "missing_header", badHeader: true}
	case len(values) > 1:
		return decision{reason: "multiple_headers", badHeader: true}
	}
	token, reason := bearerToken(values[0])
	if reason != "" {
		return decision{reason: reason, badHeader: true}
	}
	p, err := h.authorize(ctx, token)
	switch {
	case err == nil && p.FirmID != "" && p.KeyID != "":
		return decision{allow: true, principal: p, reason: "valid_key"}
	case err == nil:
		return decision{reason: "incomplete_principal"}
	case errors.Is(err, keyservice.ErrDenied):
		return decision{reason: deniedReason(err)}
	case errors.Is(err, errPanic):
		return decision{reason: "panic", err: redact(err, token)}
	case errors.Is(err, context.DeadlineExceeded):
		return decision{reason: "timeout", err: redact(err, token)}
	default:
		return decision{reason: "error", err: redact(err, token)}
	}
}

var errPanic = errors.New("panic")

// authorize calls the Authorizer with a deadline and turns a panic into an
// error.
func (h *Handler) authorize(ctx context.Context, token string) (p keyservice.Principal, err error) {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%w in Authorize: %s", errPanic, panicDetail(v))
			p = keyservice.Principal{}
		}
	}()
	return h.auth.Authorize(ctx, token)
}

// bearerToken parses "Bearer <token>": the scheme in any case, one or more
// spaces, then exactly one token with no whitespace, control characters or
// commas (HTTP API joins repeated headers with commas). It returns the
// reason when the value is unusable.
func bearerToken(v string) (string, string) {
	if len(v) > maxHeaderLen {
		return "", "oversized_header"
	}
	if strings.Contains(v, ",") {
		return "", "multiple_values"
	}
	v = strings.Trim(v, " \t")
	scheme, rest, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "", "not_bearer"
	}
	token := strings.TrimLeft(rest, " ")
	if token == "" {
		return "", "empty_token"
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; c <= ' ' || c == 0x7f {
			return "", "malformed_header"
		}
	}
	return token, ""
}

// deniedReason turns "keyservice: key denied: revoked" into "key_revoked".
func deniedReason(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		switch r := msg[i+2:]; r {
		case "malformed", "unknown", "revoked", "expired":
			return "key_" + r
		}
	}
	return "key_denied"
}

// redact makes sure an error to be logged cannot carry the presented key,
// whatever an Authorizer implementation put in it.
func redact(err error, token string) error {
	if err == nil || token == "" || !strings.Contains(err.Error(), token) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), token, "[REDACTED]"))
}

func panicDetail(v any) string {
	if re, ok := v.(runtime.Error); ok {
		return re.Error()
	}
	// Other panic values could hold request data; log only their type.
	return fmt.Sprintf("%T", v)
}

func (h *Handler) logPanic(ctx context.Context, kind string, v any) {
	h.log.ErrorContext(ctx, "authorizer decision", "event", kind, "decision", "deny",
		"reason", "panic", "panic", panicDetail(v))
}

// logDecision writes the one line per decision: never the key or the
// header value.
func (h *Handler) logDecision(ctx context.Context, kind string, d decision) {
	// slog.Attr values on a stack array: one line per invoke without
	// boxing every field (this runs on every authorization).
	var buf [8]slog.Attr
	attrs := append(buf[:0], slog.String("event", kind), slog.String("decision", "deny"), slog.String("reason", d.reason))
	if d.allow {
		attrs[1] = slog.String("decision", "allow")
	}
	if d.principal.KeyID != "" {
		attrs = append(attrs, slog.String("keyId", d.principal.KeyID), slog.String("firmId", d.principal.FirmID))
	}
	if d.requestID != "" {
		attrs = append(attrs, slog.String("requestId", d.requestID))
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		attrs = append(attrs, slog.String("awsRequestId", lc.AwsRequestID))
	}
	if d.err != nil {
		attrs = append(attrs, slog.String("error", d.err.Error()))
		h.log.LogAttrs(ctx, slog.LevelError, "authorizer decision", attrs...)
		return
	}
	h.log.LogAttrs(ctx, slog.LevelInfo, "authorizer decision", attrs...)
}
