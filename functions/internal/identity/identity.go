// Package identity reads who is calling from the API Gateway request context
// that the Lambda proxy (or the local server, or a test) attached to the
// request's context.Context. It never reads the X-GoLambdaProxy-* headers:
// a client can send those, so they prove nothing.
package identity

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"

	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

// Config names the JWT claims that carry the admin identity and the claim
// values that make a caller an administrator and a firm Premier.
type Config struct {
	SubjectClaim string
	FirmClaim    string
	RoleClaim    string
	TierClaim    string
	AdminRole    string
	PremierTier  string
}

// Default claim names and values.
const (
	DefaultSubjectClaim = "sub"
	DefaultFirmClaim    = "firmId"
	DefaultRoleClaim    = "role"
	DefaultTierClaim    = "tier"
	DefaultAdminRole    = "admin"
	DefaultPremierTier  = "premier"
)

// Environment variables read by ConfigFromEnv.
const (
	EnvSubjectClaim = "CLAIM_SUBJECT"
	EnvFirmClaim    = "CLAIM_FIRM_ID"
	EnvRoleClaim    = "CLAIM_ROLE"
	EnvTierClaim    = "CLAIM_TIER"
	EnvAdminRole    = "ADMIN_ROLE"
	EnvPremierTier  = "PREMIER_TIER"
)

// DefaultConfig returns the default claim names (sub, firmId, role, tier)
// and values (admin, premier).
func DefaultConfig() Config {
	return Config{
		SubjectClaim: DefaultSubjectClaim,
		FirmClaim:    DefaultFirmClaim,
		RoleClaim:    DefaultRoleClaim,
		TierClaim:    DefaultTierClaim,
		AdminRole:    DefaultAdminRole,
		PremierTier:  DefaultPremierTier,
	}
}

// ConfigFromEnv returns DefaultConfig overridden by every non-empty variable
// among CLAIM_SUBJECT, CLAIM_FIRM_ID, CLAIM_ROLE, CLAIM_TIER, ADMIN_ROLE and
// PREMIER_TIER. A nil getenv yields the defaults.
func ConfigFromEnv(getenv func(string) string) Config {
	c := DefaultConfig()
	if getenv == nil {
		return c
	}
	for _, o := range []struct {
		env string
		dst *string
	}{
		{EnvSubjectClaim, &c.SubjectClaim},
		{EnvFirmClaim, &c.FirmClaim},
		{EnvRoleClaim, &c.RoleClaim},
		{EnvTierClaim, &c.TierClaim},
		{EnvAdminRole, &c.AdminRole},
		{EnvPremierTier, &c.PremierTier},
	} {
		if v := getenv(o.env); v != "" {
			*o.dst = v
		}
	}
	return c
}

// Admin returns the administrator identity established by API Gateway's
// JWT authorizer: the claims in the request context. It reports false when
// the request carries no gateway context, no JWT claims, or a subject or
// firm that is empty or implausible (see plausible), which the handlers
// answer with 401 unauthorized. Role and tier must equal the configured
// values exactly (case-sensitive); API Gateway flattens every claim to a
// string, so a list-valued role claim never matches.
func (c Config) Admin(r *http.Request) (keyservice.Admin, bool) {
	rc, ok := core.GetAPIGatewayV2ContextFromContext(r.Context())
	if !ok || rc.Authorizer == nil || rc.Authorizer.JWT == nil {
		return keyservice.Admin{}, false
	}
	claims := rc.Authorizer.JWT.Claims
	a := keyservice.Admin{
		Subject:  claims[c.SubjectClaim],
		FirmID:   claims[c.FirmClaim],
		SourceIP: rc.HTTP.SourceIP,
	}
	if !plausible(a.Subject) || !plausible(a.FirmID) {
		return keyservice.Admin{}, false
	}
	// An empty configured value must never match a missing claim.
	a.IsAdmin = c.AdminRole != "" && claims[c.RoleClaim] == c.AdminRole
	a.IsPremier = c.PremierTier != "" && claims[c.TierClaim] == c.PremierTier
	return a, true
}

// MaxIdentityLen bounds the subject and the firm id, in bytes. OIDC caps sub
// at 255 characters; the bound keeps a firm id inside every store's key
// limits (a DynamoDB partition key holds at most 2048 bytes, a bbolt bucket
// name 32 KiB), so an oversized claim is a 401, never a 500 from the store.
const MaxIdentityLen = 255

// plausible reports whether an identity claim can name a subject or firm:
// not empty, at most MaxIdentityLen bytes, valid UTF-8 (DynamoDB would
// store invalid bytes as U+FFFD, merging distinct firm ids) and free of
// control characters.
func plausible(s string) bool {
	if s == "" || len(s) > MaxIdentityLen || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// Context keys the Lambda authorizer puts in its context, and that API
// Gateway passes on to the protected route.
const (
	ContextFirmID   = "firmId"
	ContextKeyID    = "keyId"
	ContextKeyLabel = "keyLabel"
	ContextScopes   = "scopes" // space-separated, read before write: "read write"
)

// Principal returns the API key identity that the Lambda authorizer passed
// in the request context. Values must be strings; firmId and keyId must not
// be empty. The label may be empty. scopes must be a space-separated set of
// scope names when present; an authorizer that passes none predates scopes,
// and its keys had both.
func Principal(r *http.Request) (keyservice.Principal, bool) {
	rc, ok := core.GetAPIGatewayV2ContextFromContext(r.Context())
	if !ok || rc.Authorizer == nil || rc.Authorizer.Lambda == nil {
		return keyservice.Principal{}, false
	}
	m := rc.Authorizer.Lambda
	firm, ok1 := m[ContextFirmID].(string)
	key, ok2 := m[ContextKeyID].(string)
	label, ok3 := m[ContextKeyLabel].(string)
	if _, present := m[ContextKeyLabel]; !present {
		ok3 = true
	}
	if !ok1 || !ok2 || !ok3 || firm == "" || key == "" {
		return keyservice.Principal{}, false
	}
	scopes := keyservice.AllScopes
	if v, present := m[ContextScopes]; present {
		s, ok := v.(string)
		if !ok {
			return keyservice.Principal{}, false
		}
		if scopes, ok = keyservice.ParseScopeString(s); !ok {
			return keyservice.Principal{}, false
		}
	}
	return keyservice.Principal{FirmID: firm, KeyID: key, Label: label, Scopes: scopes}, true
}

// NewRequest turns an HTTP API payload 2.0 event into an *http.Request whose
// context carries the event's request context, exactly as the Lambda proxy
// (httpadapter.NewV2(h).ProxyWithContext) does. It is the one way the local
// server and the tests put a gateway context on a request.
func NewRequest(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	var acc core.RequestAccessorV2
	return acc.EventToRequestWithContext(ctx, ev)
}

// FlattenClaim renders a JWT claim as API Gateway's JWT authorizer passes it
// to an HTTP API integration: strings as they are, numbers and booleans as
// their JSON text, arrays as "[a b]", objects as JSON. The local server and
// the sam local path use it so their claims look exactly like AWS's.
func FlattenClaim(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return ""
	case []any:
		parts := make([]string, len(x))
		for i := range x {
			parts[i] = FlattenClaim(x[i])
		}
		return "[" + strings.Join(parts, " ") + "]"
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return ""
		}
		return string(b)
	}
}
