package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

// ProxyFunc is a Lambda handler for HTTP API payload 2.0 events.
type ProxyFunc = func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// Proxy wraps h for HTTP API payload 2.0 events with the api-proxy
// library's httpadapter (the same path in Lambda and in the local server).
// An event whose URL the library could not build — a control character or a
// bad escape in the path or query, a domain name that is no host — is
// answered 400 invalid_request here, without calling the library: it would
// print the URL, query included, to the standard logger, and its error
// (which callers log) quotes the URL too. The log line here names only the
// method.
func Proxy(h http.Handler, log *slog.Logger) ProxyFunc {
	next := httpadapter.NewV2(h).ProxyWithContext
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		if !buildableURL(ev) {
			log.WarnContext(ctx, "malformed request URL refused", "method", ev.RequestContext.HTTP.Method)
			return events.APIGatewayV2HTTPResponse{
				StatusCode: http.StatusBadRequest,
				Headers: map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store",
					"X-Content-Type-Options": "nosniff"},
				Body: `{"error":{"code":"` + string(keyservice.CodeInvalidRequest) + `","message":"The request URL is malformed."}}` + "\n",
			}, nil
		}
		return next(ctx, ev)
	}
}

// buildableURL builds the request the way httpadapter does (v0.16:
// "https://" + domain name + raw path + "?" + raw query) and reports
// whether net/http accepts it.
func buildableURL(ev events.APIGatewayV2HTTPRequest) bool {
	path := ev.RawPath
	if path == "" {
		path = ev.RequestContext.HTTP.Path
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u := "https://" + ev.RequestContext.DomainName + path
	if ev.RawQueryString != "" {
		u += "?" + ev.RawQueryString
	}
	_, err := http.NewRequest(strings.ToUpper(ev.RequestContext.HTTP.Method), u, nil)
	return err == nil
}
