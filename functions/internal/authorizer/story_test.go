package authorizer_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
	"github.com/kudurrustone/apikeys/functions/internal/authorizer"
	"github.com/kudurrustone/apikeys/functions/internal/boltstore"
	"github.com/kudurrustone/apikeys/functions/internal/httpapi"
	"github.com/kudurrustone/apikeys/functions/internal/identity"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

// TestStory runs the product's story over the embedded store: an admin
// generates a key, the authorizer allows it, whoami (fed the authorizer's
// context, as API Gateway does) names its firm and id, the admin revokes it
// and the authorizer denies it on the next request.
func TestStory(t *testing.T) {
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "keys.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	logs := &testkit.SyncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	svc := keyservice.New(store, testkit.StaticPeppers(t), keyservice.Config{Logger: log})
	api := httpapi.New(svc, identity.DefaultConfig(), log).Mux()
	authz := authorizer.New(svc, log, authorizer.WithSimpleResponses())
	admin := map[string]string{"sub": "alice", "firmId": "acme", "role": "admin", "tier": "premier"}

	call := func(method, path, body string, auth *events.APIGatewayV2HTTPRequestContextAuthorizerDescription) *httptest.ResponseRecorder {
		t.Helper()
		r, err := identity.NewRequest(context.Background(), events.APIGatewayV2HTTPRequest{
			Version: "2.0", RawPath: path, Body: body, Headers: map[string]string{"content-type": "application/json"},
			RequestContext: events.APIGatewayV2HTTPRequestContext{Stage: "$default", Authorizer: auth,
				HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path, SourceIP: "192.0.2.9"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, r)
		return rec
	}
	jwt := &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: admin}}

	rec := call("POST", "/v1/api-keys", `{"label":"Accounting Export"}`, jwt)
	if rec.Code != http.StatusCreated {
		t.Fatalf("generate: %d %s", rec.Code, rec.Body.String())
	}
	var created struct{ ID, Key string }
	if err := json.Unmarshal(rec.Body.Bytes(), &created); err != nil || apikey.Validate(created.Key) != nil {
		t.Fatalf("generate body %s", rec.Body.String())
	}

	authorize := func() events.APIGatewayV2CustomAuthorizerSimpleResponse {
		out, err := authz.Invoke(context.Background(), httpEvent(map[string]string{"authorization": "Bearer " + created.Key}))
		if err != nil {
			t.Fatal(err)
		}
		var resp events.APIGatewayV2CustomAuthorizerSimpleResponse
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatal(err)
		}
		return resp
	}
	allowed := authorize()
	if !allowed.IsAuthorized {
		t.Fatal("new key denied")
	}
	// API Gateway hands the authorizer context to the route as
	// requestContext.authorizer.lambda, after a JSON round trip.
	var lambdaCtx map[string]any
	if err := json.Unmarshal(mustJSON(allowed.Context), &lambdaCtx); err != nil {
		t.Fatal(err)
	}
	rec = call("GET", "/v1/whoami", "", &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: lambdaCtx})
	want := `{"firmId":"acme","keyId":"` + created.ID + `","label":"Accounting Export","scopes":["read","write"]}` + "\n"
	if rec.Code != 200 || rec.Body.String() != want {
		t.Fatalf("whoami: %d %s, want %s", rec.Code, rec.Body.String(), want)
	}

	rec = call("GET", "/v1/api-keys", "", jwt)
	if !strings.Contains(rec.Body.String(), `"lastUsedAt":"20`) {
		t.Errorf("last used not recorded: %s", rec.Body.String())
	}

	if rec = call("POST", "/v1/api-keys/"+created.ID+"/revoke", "", jwt); rec.Code != 200 {
		t.Fatalf("revoke: %d %s", rec.Code, rec.Body.String())
	}
	if authorize().IsAuthorized {
		t.Fatal("revoked key allowed")
	}
	if strings.Contains(logs.String(), created.Key) {
		t.Error("the key appears in the logs")
	}
	audit, err := store.ListAudit(context.Background(), "acme", "", "", 0)
	if err != nil || len(audit) != 2 || audit[0].SourceIP != "192.0.2.9" {
		t.Errorf("audit %+v %v", audit, err)
	}
}
