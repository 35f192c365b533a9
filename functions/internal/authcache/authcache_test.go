package authcache_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigatewayv2"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"

	"github.com/kudurrustone/apikeys/functions/internal/authcache"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
	"github.com/kudurrustone/apikeys/functions/internal/settings"
)

type fakeReset struct {
	mu    sync.Mutex
	calls []string
	err   error
}

func (f *fakeReset) ResetAuthorizersCache(_ context.Context, in *apigatewayv2.ResetAuthorizersCacheInput, _ ...func(*apigatewayv2.Options)) (*apigatewayv2.ResetAuthorizersCacheOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, aws.ToString(in.ApiId)+"/"+aws.ToString(in.StageName))
	return &apigatewayv2.ResetAuthorizersCacheOutput{}, f.err
}

// gatewayContext returns a context carrying an HTTP API request context,
// as the Lambda proxy makes it.
func gatewayContext(t *testing.T, apiID, stage string) context.Context {
	t.Helper()
	var acc core.RequestAccessorV2
	req, err := acc.EventToRequestWithContext(context.Background(), events.APIGatewayV2HTTPRequest{
		RawPath: "/v1/api-keys/x/revoke", RequestContext: events.APIGatewayV2HTTPRequestContext{
			APIID: apiID, Stage: stage, HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: "/v1/api-keys/x/revoke"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return req.Context()
}

func TestReset(t *testing.T) {
	key := keyservice.Key{ID: "01KAZ7Q3M8V6J2N4P5R6S7T8V9", FirmID: "acme"}
	tests := []struct {
		name      string
		cfg       settings.CacheReset
		samLocal  bool
		ctx       func(t *testing.T) context.Context
		err       error
		wantCalls []string
		wantLog   string
	}{
		{name: "stage of the request", ctx: func(t *testing.T) context.Context { return gatewayContext(t, "api1", "$default") },
			wantCalls: []string{"api1/$default"}, wantLog: "authorizer cache reset"},
		{name: "stage from the environment wins", cfg: settings.CacheReset{APIID: "api2", StageName: "prod"},
			ctx: func(t *testing.T) context.Context { return gatewayContext(t, "api1", "$default") }, wantCalls: []string{"api2/prod"}},
		{name: "no stage known", ctx: func(*testing.T) context.Context { return context.Background() }, wantLog: "not reset"},
		{name: "skipped under sam local", samLocal: true,
			ctx: func(t *testing.T) context.Context { return gatewayContext(t, "api1", "$default") }, wantLog: "skipped"},
		{name: "failure is logged, not fatal", err: errors.New("AccessDenied"),
			ctx:       func(t *testing.T) context.Context { return gatewayContext(t, "api1", "$default") },
			wantCalls: []string{"api1/$default"}, wantLog: "reset failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			f := &fakeReset{err: tt.err}
			authcache.NewWith(f, tt.cfg, tt.samLocal, log).Reset(tt.ctx(t), key)
			if strings.Join(f.calls, ",") != strings.Join(tt.wantCalls, ",") {
				t.Errorf("calls = %v, want %v", f.calls, tt.wantCalls)
			}
			if !strings.Contains(buf.String(), tt.wantLog) {
				t.Errorf("log %q lacks %q", buf.String(), tt.wantLog)
			}
		})
	}
}
