// Package bearer parses an Authorization header value of the Bearer scheme
// (RFC 6750 section 2.1) for every caller: the API key authorizer, the
// local server's and sam local's admin-token checks. It imports nothing but
// the standard library.
package bearer

import "strings"

// Why a value is not usable, as logged by the authorizer.
const (
	ReasonMultipleValues = "multiple_values"  // a comma: API Gateway joins repeated headers with commas
	ReasonNotBearer      = "not_bearer"       // another scheme, or the scheme alone
	ReasonEmptyToken     = "empty_token"      // nothing after the scheme
	ReasonMalformed      = "malformed_header" // whitespace or a control character inside the token
)

// Token parses "Bearer <token>": the scheme in any letter case, one or
// more spaces, then exactly one token with no whitespace, control
// character or comma, surrounding spaces and tabs ignored. It returns the
// token, or "" and the reason the value is unusable.
func Token(v string) (token, reason string) {
	if strings.Contains(v, ",") {
		return "", ReasonMultipleValues
	}
	v = strings.Trim(v, " \t")
	scheme, rest, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "", ReasonNotBearer
	}
	token = strings.TrimLeft(rest, " ")
	if token == "" {
		return "", ReasonEmptyToken
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; c <= ' ' || c == 0x7f {
			return "", ReasonMalformed
		}
	}
	return token, ""
}
