// Package authorizer is the Lambda authorizer of the integration routes. It
// reads the API key from the Authorization header, asks the key service,
// and answers in the format of the event it got: a simple response for HTTP
// API payload 2.0, an IAM policy for REST API TOKEN and REQUEST events (and
// HTTP API payload 1.0, which has the REST shape).
//
// A malformed event or a bad key is a deny, which is an answer (except the
// REST "Unauthorized" convention, see Invoke).
package authorizer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/go-json-experiment/json"

	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

// Authorizer decides on a presented key; *keyservice.Service is one. A
// deny matches keyservice.ErrDenied; any other error means it could not
// decide.
type Authorizer interface {
	Authorize(ctx context.Context, key string) (keyservice.Principal, error)
}

var _ Authorizer = (*keyservice.Service)(nil)

// ErrUnauthorized is the error a REST API authorizer returns to make API
// Gateway answer 401 instead of 403. Its text is fixed by API Gateway.
var ErrUnauthorized = errors.New("Unauthorized")

// DefaultTimeout bounds one Authorize call, well under API Gateway's
// authorizer timeout, so a slow store ends the invocation instead of
// timing it out.
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

// event is the part of every authorizer event the decision reads: HTTP API
// payload 2.0 (version, type REQUEST, routeArn, headers), REST TOKEN (type,
// authorizationToken, methodArn) and REST REQUEST / HTTP API payload 1.0
// (type, methodArn, headers, multiValueHeaders). Shapes:
// https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-lambda-authorizer.html
// and .../apigateway-lambda-authorizer-input.html. Members it does not read
// are ignored, whatever their type.
type event struct {
	Version            string              `json:"version"`
	Type               string              `json:"type"`
	RouteArn           string              `json:"routeArn"`
	MethodArn          string              `json:"methodArn"`
	AuthorizationToken string              `json:"authorizationToken"`
	Headers            map[string]string   `json:"headers"`
	MultiValueHeaders  map[string][]string `json:"multiValueHeaders"`
	RequestContext     struct {
		RequestID string `json:"requestId"`
	} `json:"requestContext"`
}

// decodeEvent decodes an event with JSON v2, which refuses what API
// Gateway never sends: duplicate member names, invalid UTF-8, a member of
// the wrong type. Names match exactly, as API Gateway spells them.
func decodeEvent(payload []byte) (event, error) {
	var ev event
	err := json.Unmarshal(payload, &ev)
	return ev, err
}

// Invoke detects the event kind and answers it. A deny is an answer; the
// only error is ErrUnauthorized, for a REST event without a usable
// Authorization value. An event it cannot read gets a deny that both API
// types read as a deny.
func (h *Handler) Invoke(ctx context.Context, payload []byte) (out []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			h.logPanic(ctx, kindUnknown, v)
			out, err = universalDeny, nil
		}
	}()
	ev, err := decodeEvent(payload)
	if err != nil {
		h.logDecision(ctx, kindUnknown, decision{reason: "unparseable_event"})
		return universalDeny, nil
	}
	switch {
	case ev.Version == "2.0":
		return h.answerHTTP(ctx, &ev)
	case ev.Type == "TOKEN":
		var values []string
		if ev.AuthorizationToken != "" {
			values = []string{ev.AuthorizationToken}
		}
		return h.answerREST(ctx, kindToken, ev.MethodArn, "", values)
	case ev.Type == "REQUEST" && ev.MethodArn != "":
		return h.answerREST(ctx, kindRequest, ev.MethodArn, ev.RequestContext.RequestID, headerValues(ev.Headers, ev.MultiValueHeaders))
	}
	h.logDecision(ctx, kindUnknown, decision{reason: "unknown_event"})
	return universalDeny, nil
}

// universalDeny is read as a deny by an HTTP API simple-response authorizer
// (isAuthorized false) and by an IAM-policy one (an explicit Deny on
// everything).
var universalDeny = []byte(`{"isAuthorized":false,"principalId":"anonymous","policyDocument":{"Version":"2012-10-17","Statement":[{"Action":["execute-api:Invoke"],"Effect":"Deny","Resource":["*"]}]}}`)

// simpleResponse is the HTTP API payload 2.0 simple response:
// https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-lambda-authorizer.html#http-api-lambda-authorizer.payload-format-response
type simpleResponse struct {
	IsAuthorized bool          `json:"isAuthorized"`
	Context      *principalCtx `json:"context,omitempty"`
}

// principalCtx is the context an allow passes to the integration; its
// member names are package identity's Context* constants (a test holds
// them together).
type principalCtx struct {
	FirmID   string `json:"firmId"`
	KeyID    string `json:"keyId"`
	KeyLabel string `json:"keyLabel"`
}

func principalContext(p keyservice.Principal) *principalCtx {
	return &principalCtx{FirmID: p.FirmID, KeyID: p.KeyID, KeyLabel: p.Label}
}

// policyResponse is the IAM policy answer of REST API (and HTTP API without
// simple responses):
// https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-output.html
type policyResponse struct {
	PrincipalID    string         `json:"principalId"`
	PolicyDocument policyDocument `json:"policyDocument"`
	Context        *principalCtx  `json:"context,omitempty"`
}

type policyDocument struct {
	Version   string      `json:"Version"`
	Statement []statement `json:"Statement"`
}

type statement struct {
	Action   []string `json:"Action"`
	Effect   string   `json:"Effect"`
	Resource []string `json:"Resource"`
}

// answerHTTP answers an HTTP API payload 2.0 event with a simple response.
// Allowed: context firmId, keyId, keyLabel. Denied: isAuthorized false and
// no context; API Gateway answers 403.
func (h *Handler) answerHTTP(ctx context.Context, ev *event) ([]byte, error) {
	var d decision
	if ev.Type != "REQUEST" {
		d = decision{reason: "unexpected_event_type"}
	} else {
		d = h.decide(ctx, headerValues(ev.Headers, nil))
	}
	d.requestID = ev.RequestContext.RequestID
	h.logDecision(ctx, kindHTTP, d)
	if !d.allow {
		return json.Marshal(simpleResponse{})
	}
	return json.Marshal(simpleResponse{IsAuthorized: true, Context: principalContext(d.principal)})
}

// answerREST answers a REST TOKEN or REQUEST event with a policy on every
// resource of the stage. A missing or unusable Authorization value (no
// Bearer scheme, several values) returns ErrUnauthorized, so API Gateway
// answers 401 as it does when the header is absent. A well-formed Bearer
// value that is not a valid key gets an explicit Deny: API Gateway answers
// 403.
func (h *Handler) answerREST(ctx context.Context, kind, methodArn, requestID string, values []string) ([]byte, error) {
	resource, arnOK := stageResource(methodArn)
	d := h.decide(ctx, values)
	if d.allow && !arnOK {
		d = decision{reason: "bad_method_arn", principal: d.principal}
	}
	d.requestID = requestID
	h.logDecision(ctx, kind, d)
	switch {
	case d.allow:
		resp := policy(d.principal.KeyID, "Allow", resource)
		resp.Context = principalContext(d.principal)
		return json.Marshal(resp)
	case d.badHeader:
		return nil, ErrUnauthorized
	}
	if resource == "" {
		resource = "*" // a deny can never be too broad
	}
	return json.Marshal(policy("anonymous", "Deny", resource))
}

func policy(principalID, effect, resource string) policyResponse {
	return policyResponse{
		PrincipalID: principalID,
		PolicyDocument: policyDocument{
			Version: "2012-10-17",
			Statement: []statement{{
				Action:   []string{"execute-api:Invoke"},
				Effect:   effect,
				Resource: []string{resource},
			}},
		},
	}
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
// name case-insensitively (HTTP API sends lower-case names, REST API the
// client's spelling).
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

// denyReasons names each deny of the service in the log.
var denyReasons = []struct {
	err    error
	reason string
}{
	{keyservice.ErrKeyMalformed, "key_malformed"},
	{keyservice.ErrKeyUnknown, "key_unknown"},
	{keyservice.ErrKeyRevoked, "key_revoked"},
	{keyservice.ErrKeyExpired, "key_expired"},
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
		for _, r := range denyReasons {
			if errors.Is(err, r.err) {
				return decision{reason: r.reason}
			}
		}
		return decision{reason: "key_denied"}
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
	attrs := []slog.Attr{slog.String("event", kind), slog.String("decision", "deny"), slog.String("reason", d.reason)}
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
	level := slog.LevelInfo
	if d.err != nil {
		attrs = append(attrs, slog.String("error", d.err.Error()))
		level = slog.LevelError
	}
	h.log.LogAttrs(ctx, level, "authorizer decision", attrs...)
}
