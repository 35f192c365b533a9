package localserver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/google/go-cmp/cmp"

	"github.com/kudurrustone/apikeys/functions/internal/httpapi"
	"github.com/kudurrustone/apikeys/functions/internal/identity"
)

// TestPolicyEvaluation holds the local server's reading of an authorizer
// policy to API Gateway's: the examples of "IAM policy examples for API
// execution permissions" in the API Gateway developer guide
// (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-iam-policy-examples-for-api-execution.html),
// explicit Deny over Allow, implicit deny, string or list members, and the
// policies our authorizer answers.
func TestPolicyEvaluation(t *testing.T) {
	const stage = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/$default"
	doc := func(statements ...string) *iamPolicy {
		var p iamPolicy
		if err := jsonv2.Unmarshal([]byte(`{"Version":"2012-10-17","Statement":[`+strings.Join(statements, ",")+`]}`), &p); err != nil {
			t.Fatal(err)
		}
		return &p
	}
	allow := func(resources string) string {
		return `{"Effect":"Allow","Action":["execute-api:Invoke"],"Resource":` + resources + `}`
	}
	deny := func(resources string) string {
		return `{"Effect":"Deny","Action":"execute-api:Invoke","Resource":` + resources + `}`
	}
	docsPOST := allow(`["arn:aws:execute-api:us-east-1:*:a123456789/test/POST/my-demo-resource-path/*"]`)
	docsPets := allow(`["arn:aws:execute-api:*:*:a123456789/*/*/petstorewalkthrough/pets"]`)
	readOnly := allow(`["` + stage + `/GET/*","` + stage + `/HEAD/*","` + stage + `/OPTIONS/*"]`)
	tests := []struct {
		name   string
		policy *iamPolicy
		arn    string
		want   bool
	}{
		// The developer guide's first example: any POST along the path, in
		// stage test of API a123456789, in us-east-1.
		{"docs: POST under the path", doc(docsPOST), "arn:aws:execute-api:us-east-1:111122223333:a123456789/test/POST/my-demo-resource-path/child", true},
		{"docs: POST deeper under the path", doc(docsPOST), "arn:aws:execute-api:us-east-1:111122223333:a123456789/test/POST/my-demo-resource-path/a/b", true},
		{"docs: GET under the path", doc(docsPOST), "arn:aws:execute-api:us-east-1:111122223333:a123456789/test/GET/my-demo-resource-path/child", false},
		{"docs: POST in another stage", doc(docsPOST), "arn:aws:execute-api:us-east-1:111122223333:a123456789/prod/POST/my-demo-resource-path/child", false},
		{"docs: POST in another region", doc(docsPOST), "arn:aws:execute-api:eu-west-1:111122223333:a123456789/test/POST/my-demo-resource-path/child", false},
		// The second: any method on petstorewalkthrough/pets, any stage, any region.
		{"docs: GET pets in any stage", doc(docsPets), "arn:aws:execute-api:eu-west-1:111122223333:a123456789/beta/GET/petstorewalkthrough/pets", true},
		{"docs: DELETE pets", doc(docsPets), "arn:aws:execute-api:us-east-1:111122223333:a123456789/prod/DELETE/petstorewalkthrough/pets", true},
		{"docs: pets of another API", doc(docsPets), "arn:aws:execute-api:us-east-1:111122223333:b123456789/prod/GET/petstorewalkthrough/pets", false},
		{"docs: a child of pets", doc(docsPets), "arn:aws:execute-api:us-east-1:111122223333:a123456789/prod/GET/petstorewalkthrough/pets/1", false},

		// Evaluation: explicit Deny wins, nothing matching is a deny.
		{"allow everything", doc(allow(`"*"`)), stage + "/GET/v1/whoami", true},
		{"deny beats allow", doc(allow(`"*"`), deny(`"`+stage+`/*/*"`)), stage + "/GET/v1/whoami", false},
		{"deny elsewhere does not matter", doc(allow(`"*"`), deny(`"`+stage+`/DELETE/*"`)), stage + "/GET/v1/whoami", true},
		{"no statement", doc(), stage + "/GET/v1/whoami", false},
		{"no policy", nil, stage + "/GET/v1/whoami", false},
		{"another action", doc(`{"Effect":"Allow","Action":"execute-api:ManageConnections","Resource":"*"}`), stage + "/GET/v1/whoami", false},
		{"action wildcard", doc(`{"Effect":"Allow","Action":"execute-api:*","Resource":"*"}`), stage + "/GET/v1/whoami", true},
		{"case counts", doc(allow(`"` + stage + `/get/*"`)), stage + "/GET/v1/whoami", false},
		{"? is one character", doc(allow(`"` + stage + `/GE?/*"`)), stage + "/GET/v1/whoami", true},
		{"unknown effect", doc(`{"Effect":"Maybe","Action":"*","Resource":"*"}`), stage + "/GET/v1/whoami", false},

		// What our authorizer answers for a read-only key.
		{"read key: GET", doc(readOnly), stage + "/GET/v1/whoami", true},
		{"read key: HEAD of the root", doc(readOnly), stage + "/HEAD/", true},
		{"read key: POST", doc(readOnly), stage + "/POST/v1/whoami", false},
		{"read key: DELETE", doc(readOnly), stage + "/DELETE/v1/api-keys/x", false},
		{"read key: another stage", doc(readOnly), "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/GET/v1/whoami", false},
		{"bad key: stage denied", doc(deny(`["` + stage + `/*/*"]`)), stage + "/GET/v1/whoami", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.policy.allows(tt.arn); got != tt.want {
				t.Fatalf("allows(%s) = %v, want %v", tt.arn, got, tt.want)
			}
		})
	}
}

// TestDecodeAnswer: a statement's Action and Resource are read as a string
// or a list of strings; anything else (a number, an object, null, a list
// holding a non-string) makes the answer unreadable, which the gateway
// answers 500, never as an allow.
func TestDecodeAnswer(t *testing.T) {
	answer := func(action string) []byte {
		return []byte(`{"principalId":"k","policyDocument":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":` +
			action + `,"Resource":"*"}]}}`)
	}
	tests := []struct {
		name   string
		action string
		want   stringSet // nil: an error
	}{
		{"string", `"execute-api:Invoke"`, stringSet{"execute-api:Invoke"}},
		{"list", `["execute-api:Invoke","execute-api:*"]`, stringSet{"execute-api:Invoke", "execute-api:*"}},
		{"empty list", `[]`, stringSet{}},
		{"number", `5`, nil},
		{"object", `{"a":"b"}`, nil},
		{"null", `null`, nil},
		{"list with a number", `["execute-api:Invoke",5]`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeAnswer(answer(tt.action))
			if tt.want == nil {
				if err == nil {
					t.Fatalf("decoded %+v, want an error", got.PolicyDocument)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got.PolicyDocument.Statement[0].Action); diff != "" {
				t.Errorf("Action (-want +got):\n%s", diff)
			}
		})
	}
}

type lambdaFunc func(ctx context.Context, payload []byte) ([]byte, error)

func (f lambdaFunc) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return f(ctx, payload)
}

// TestAuthorizerFailureIs500: when the authorizer fails the invocation,
// the local server answers 500 internal, as API Gateway does, and
// remembers nothing: the next request invokes the authorizer again.
func TestAuthorizerFailureIs500(t *testing.T) {
	var calls atomic.Int32
	failing := lambdaFunc(func(context.Context, []byte) ([]byte, error) {
		calls.Add(1)
		return nil, errors.New("authorizer: cannot decide")
	})
	api := httpapi.New(nil, identity.DefaultConfig(), slog.New(slog.DiscardHandler))
	g := newGateway(api, nil, failing, slog.New(slog.DiscardHandler), time.Now)
	for i := 1; i <= 2; i++ {
		r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8080/v1/whoami", nil)
		r.Header.Set("Authorization", "Bearer kst_x")
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, r)
		body, _ := io.ReadAll(rec.Body)
		if rec.Code != http.StatusInternalServerError || !json.Valid(body) || !strings.Contains(string(body), `"code":"internal"`) {
			t.Fatalf("request %d: %d %s, want 500 internal", i, rec.Code, body)
		}
		if int(calls.Load()) != i {
			t.Fatalf("request %d: the authorizer ran %d times", i, calls.Load())
		}
	}
}
