// Package authorizer is the Lambda authorizer of the integration routes. It
// reads the API key from the Authorization header and the request's source
// address, asks the key service, and answers with an IAM policy that
// allows exactly the HTTP methods of the key's scopes on every resource of
// the calling API's stage: for HTTP API payload 2.0 (without simple
// responses), REST API TOKEN and REQUEST events, and HTTP API payload 1.0
// (the REST shape). API Gateway enforces the scopes, and a cached answer
// is right for every route. With WithSimpleResponses it answers HTTP API
// events with simple responses instead, and the backend checks the scopes
// in the context.
//
// A malformed event or a bad key is a deny, which is an answer (except the
// REST "Unauthorized" convention). When it cannot decide (the store or the
// pepper failed, a timeout, a panic) it fails the invocation with
// ErrUndecided: API Gateway then answers 500 and caches nothing, where a
// deny would lock a working key out for the cache TTL. It never allows by
// default.
package authorizer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/kudurrustone/apikeys/functions/internal/bearer"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

// Authorizer decides on a presented key used from a source address (the
// zero netip.Addr when the event carries none); *keyservice.Service is one.
// A deny matches keyservice.ErrDenied; any other error means it could not
// decide.
type Authorizer interface {
	AuthorizeFrom(ctx context.Context, key string, source netip.Addr) (keyservice.Principal, error)
}

var _ Authorizer = (*keyservice.Service)(nil)

// ErrUnauthorized is the error a REST API authorizer returns to make API
// Gateway answer 401 instead of 403. Its text is fixed by API Gateway.
var ErrUnauthorized = errors.New("Unauthorized")

// ErrUndecided fails the invocation when the authorizer cannot decide: API
// Gateway answers 500 and caches nothing. Its text carries no detail; the
// log line of the decision has the reason.
var ErrUndecided = errors.New("authorizer: cannot decide")

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
	simple  bool
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

// WithSimpleResponses answers HTTP API payload 2.0 events with simple
// responses (AUTHORIZER_RESPONSE=simple): isAuthorized true for a valid
// key whatever the method, with the key's scopes in the context for the
// backend to check.
func WithSimpleResponses() Option {
	return func(h *Handler) { h.simple = true }
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
		HTTP      struct {
			SourceIP string `json:"sourceIp"` // HTTP API payload 2.0
		} `json:"http"`
		Identity struct {
			SourceIP string `json:"sourceIp"` // REST REQUEST, HTTP API payload 1.0
		} `json:"identity"`
	} `json:"requestContext"`
}

// decodeEvent decodes an event with JSON v2, which refuses what API
// Gateway never sends: duplicate member names, a member of the wrong type.
// Names match exactly, as API Gateway spells them. Invalid UTF-8 becomes
// U+FFFD, as with encoding/json: a stray byte in a header the decision never
// reads (an old client's Latin-1 User-Agent) must not turn a valid key's
// answer into a deny that API Gateway then caches; in the Authorization
// value it makes the key malformed. JSON v2 is also about 2.7 times as fast
// as encoding/json on a payload 2.0 event.
func decodeEvent(payload []byte) (event, error) {
	var ev event
	err := json.Unmarshal(payload, &ev, jsontext.AllowInvalidUTF8(true))
	return ev, err
}

// Invoke detects the event kind and answers it. A deny is an answer; the
// errors are ErrUnauthorized, for a REST event without a usable
// Authorization value, and ErrUndecided. An event it cannot read gets a
// deny that both API types read as a deny.
func (h *Handler) Invoke(ctx context.Context, payload []byte) (out []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			h.logPanic(ctx, kindUnknown, v)
			out, err = nil, ErrUndecided
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
		// A TOKEN event carries no source address.
		return h.answerPolicy(ctx, kindToken, ev.MethodArn, "", values, netip.Addr{}, true)
	case ev.Type == "REQUEST" && ev.MethodArn != "":
		return h.answerPolicy(ctx, kindRequest, ev.MethodArn, ev.RequestContext.RequestID,
			headerValues(ev.Headers, ev.MultiValueHeaders), sourceAddr(ev.RequestContext.Identity.SourceIP), true)
	}
	h.logDecision(ctx, kindUnknown, decision{reason: "unknown_event"})
	return universalDeny, nil
}

// sourceAddr parses the event's source address; anything unreadable is the
// zero Addr, which a key with allowed addresses is denied for.
func sourceAddr(s string) netip.Addr {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return a
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
	Scopes   string `json:"scopes"` // space-separated, read before write
}

func principalContext(p keyservice.Principal) *principalCtx {
	return &principalCtx{FirmID: p.FirmID, KeyID: p.KeyID, KeyLabel: p.Label, Scopes: p.Scopes.String()}
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

// answerHTTP answers an HTTP API payload 2.0 event: with a policy (see
// answerPolicy), or with simple responses a simple response (allowed:
// context firmId, keyId, keyLabel, scopes; denied: isAuthorized false and
// no context; API Gateway answers 403).
func (h *Handler) answerHTTP(ctx context.Context, ev *event) ([]byte, error) {
	source := sourceAddr(ev.RequestContext.HTTP.SourceIP)
	if ev.Type != "REQUEST" {
		d := decision{reason: "unexpected_event_type", requestID: ev.RequestContext.RequestID}
		h.logDecision(ctx, kindHTTP, d)
		if h.simple {
			return json.Marshal(simpleResponse{})
		}
		return universalDeny, nil
	}
	values := headerValues(ev.Headers, nil)
	if !h.simple {
		return h.answerPolicy(ctx, kindHTTP, ev.RouteArn, ev.RequestContext.RequestID, values, source, false)
	}
	d := h.decide(ctx, values, source)
	d.requestID = ev.RequestContext.RequestID
	h.logDecision(ctx, kindHTTP, d)
	switch {
	case d.err != nil:
		return nil, ErrUndecided
	case !d.allow:
		return json.Marshal(simpleResponse{})
	}
	return json.Marshal(simpleResponse{IsAuthorized: true, Context: principalContext(d.principal)})
}

// answerPolicy answers with an IAM policy. A valid key gets an Allow of
// exactly its scopes' methods on every resource of the stage named by arn
// (the route or method ARN), so the answer, cached for the key, is right
// for every route; a method outside the scopes matches no Allow and API
// Gateway answers 403. A key that is not valid (or not from an allowed
// address) gets an explicit Deny on the stage: API Gateway answers 403.
// With rest set, a missing or unusable Authorization value (no Bearer
// scheme, several values) returns ErrUnauthorized, so API Gateway answers
// 401 as it does when the header is absent.
func (h *Handler) answerPolicy(ctx context.Context, kind, arn, requestID string, values []string, source netip.Addr, rest bool) ([]byte, error) {
	base, arnOK := stageBase(arn)
	d := h.decide(ctx, values, source)
	if d.allow && !arnOK {
		d = decision{reason: "bad_method_arn", principal: d.principal}
	}
	d.requestID = requestID
	h.logDecision(ctx, kind, d)
	switch {
	case d.err != nil:
		return nil, ErrUndecided
	case d.allow:
		methods := d.principal.Scopes.Methods()
		resources := make([]string, len(methods))
		for i, m := range methods {
			resources[i] = base + "/" + m + "/*"
		}
		resp := policy(d.principal.KeyID, "Allow", resources)
		resp.Context = principalContext(d.principal)
		return json.Marshal(resp)
	case d.badHeader && rest:
		return nil, ErrUnauthorized
	}
	resource := "*" // a deny can never be too broad
	if arnOK {
		resource = base + "/*/*"
	}
	return json.Marshal(policy("anonymous", "Deny", []string{resource}))
}

func policy(principalID, effect string, resources []string) policyResponse {
	return policyResponse{
		PrincipalID: principalID,
		PolicyDocument: policyDocument{
			Version: "2012-10-17",
			Statement: []statement{{
				Action:   []string{"execute-api:Invoke"},
				Effect:   effect,
				Resource: resources,
			}},
		},
	}
}

// stageBase turns a method or route ARN,
// arn:aws:execute-api:region:account:apiId/stage/VERB/path..., into the
// ARN of its stage, arn:aws:execute-api:region:account:apiId/stage.
func stageBase(arn string) (string, bool) {
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
	return fmt.Sprintf("arn:%s:execute-api:%s:%s:%s/%s", partition, region, account, apiID, stage), true
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
	{keyservice.ErrAddressNotAllowed, "address_not_allowed"},
	{keyservice.ErrKeyWithoutScopes, "key_without_scopes"},
}

// decide checks the header values and asks the Authorizer. It never panics
// and allows only on a principal with a firm and a key id.
func (h *Handler) decide(ctx context.Context, values []string, source netip.Addr) decision {
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
	p, err := h.authorize(ctx, token, source)
	switch {
	case err == nil && p.FirmID != "" && p.KeyID != "" && p.Scopes.Valid():
		return decision{allow: true, principal: p, reason: "valid_key"}
	case err == nil:
		return decision{reason: "incomplete_principal", err: errors.New("the service allowed a principal without firm, key id or scopes")}
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
func (h *Handler) authorize(ctx context.Context, token string, source netip.Addr) (p keyservice.Principal, err error) {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%w in Authorize: %s", errPanic, panicDetail(v))
			p = keyservice.Principal{}
		}
	}()
	return h.auth.AuthorizeFrom(ctx, token, source)
}

// bearerToken is bearer.Token behind a length bound: a key is 53
// characters, so a much longer value is junk and is denied unread.
func bearerToken(v string) (string, string) {
	if len(v) > maxHeaderLen {
		return "", "oversized_header"
	}
	return bearer.Token(v)
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
	h.log.ErrorContext(ctx, "authorizer decision", "event", kind, "decision", "fail",
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
		// Not a deny: the invocation fails, so API Gateway caches nothing.
		attrs[1] = slog.String("decision", "fail")
		attrs = append(attrs, slog.String("error", d.err.Error()))
		level = slog.LevelError
	}
	h.log.LogAttrs(ctx, level, "authorizer decision", attrs...)
}
