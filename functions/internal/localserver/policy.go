package localserver

import (
	"errors"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// authorizerAnswer is a Lambda authorizer's answer as API Gateway reads it:
// an IAM policy (REST APIs, and HTTP APIs without simple responses) or a
// simple response (HTTP APIs with simple responses), and the context the
// integration receives.
type authorizerAnswer struct {
	IsAuthorized   *bool          `json:"isAuthorized"`
	PolicyDocument *iamPolicy     `json:"policyDocument"`
	Context        map[string]any `json:"context"`
}

// iamPolicy is the policy document of an authorizer answer:
// https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-output.html
type iamPolicy struct {
	Version   string         `json:"Version"`
	Statement []iamStatement `json:"Statement"`
}

// iamStatement is one statement; Action and Resource may be a string or a
// list of strings, as in any IAM policy.
type iamStatement struct {
	Effect   string    `json:"Effect"`
	Action   stringSet `json:"Action"`
	Resource stringSet `json:"Resource"`
}

type stringSet []string

// UnmarshalJSONFrom reads a string or a list of strings, choosing by the
// next token so that nothing is decoded twice.
func (s *stringSet) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	switch dec.PeekKind() {
	case '[':
		var many []string
		if err := json.UnmarshalDecode(dec, &many); err != nil {
			return errNotStrings
		}
		*s = many
		return nil
	case '"':
		var one string
		if err := json.UnmarshalDecode(dec, &one); err != nil {
			return errNotStrings
		}
		*s = stringSet{one}
		return nil
	}
	return errNotStrings
}

// decodeAnswer decodes an authorizer's answer with JSON v2 (names as API
// Gateway spells them); it is the local server's hot path, and JSON v2
// decodes it in about half the time encoding/json takes.
func decodeAnswer(b []byte) (authorizerAnswer, error) {
	var out authorizerAnswer
	err := json.Unmarshal(b, &out)
	return out, err
}

var errNotStrings = errors.New("not a string or a list of strings")

// allows evaluates the policy for calling the route whose ARN is arn
// (arn:aws:execute-api:region:account:api/stage/METHOD/path) the way API
// Gateway evaluates an authorizer's policy: an explicit Deny that matches
// wins, otherwise an Allow that matches lets the call in, otherwise it is
// denied. A statement matches when one of its actions matches
// execute-api:Invoke and one of its resources matches arn; in both, *
// stands for any run of characters (slashes included) and ? for any one,
// and case counts.
func (p *iamPolicy) allows(arn string) bool {
	if p == nil {
		return false
	}
	allowed := false
	for _, st := range p.Statement {
		if !st.matches(arn) {
			continue
		}
		switch st.Effect {
		case "Deny":
			return false
		case "Allow":
			allowed = true
		}
	}
	return allowed
}

func (st iamStatement) matches(arn string) bool {
	return anyMatch(st.Action, "execute-api:Invoke") && anyMatch(st.Resource, arn)
}

func anyMatch(patterns []string, s string) bool {
	for _, p := range patterns {
		if wildcardMatch(p, s) {
			return true
		}
	}
	return false
}

// wildcardMatch reports whether s matches pattern, where * matches any run
// of characters and ? any one character (IAM's ARN matching).
func wildcardMatch(pattern, s string) bool {
	// Iterative matching with backtracking to the last star: linear in
	// practice, never exponential.
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	return strings.Trim(pattern[p:], "*") == ""
}
