package localserver

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/httpapi"
)

func TestGatewayMatch(t *testing.T) {
	g := &gateway{}
	for _, r := range httpapi.Routes() {
		g.routes = append(g.routes, gatewayRoute{Route: r, segments: strings.Split(strings.TrimPrefix(r.Path, "/"), "/")})
	}
	cases := []struct {
		method, path string
		route        string
		id           string
	}{
		{"GET", "/v1/api-keys", "/v1/api-keys", ""},
		{"POST", "/v1/api-keys", "/v1/api-keys", ""},
		{"POST", "/v1/api-keys/01ABC/revoke", "/v1/api-keys/{id}/revoke", "01ABC"},
		{"POST", "/v1/api-keys/a%2Fb/revoke", "/v1/api-keys/{id}/revoke", "a/b"},
		{"GET", "/v1/whoami", "/v1/whoami", ""},
		{"POST", "/v1/api-keys//revoke", "", ""},
		{"GET", "/v1/api-keys/", "", ""},
		{"PUT", "/v1/api-keys", "", ""},
		{"GET", "/v1/whoami/extra", "", ""},
	}
	for _, tc := range cases {
		rt, params := g.match(tc.method, tc.path)
		switch {
		case tc.route == "" && rt != nil:
			t.Errorf("%s %s matched %s", tc.method, tc.path, rt.Path)
		case tc.route != "" && (rt == nil || rt.Path != tc.route):
			t.Errorf("%s %s: no match for %s", tc.method, tc.path, tc.route)
		case tc.id != "" && params["id"] != tc.id:
			t.Errorf("%s %s: id %q, want %q", tc.method, tc.path, params["id"], tc.id)
		}
	}
}

// TestEventShape: the event carries what API Gateway puts in a payload 2.0
// event: lower-case headers joined by commas, cookies apart, the source IP
// without the port, the route key and the path parameters.
func TestEventShape(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	g := &gateway{now: func() time.Time { return now }}
	rt := &gatewayRoute{Route: httpapi.Route{Method: "POST", Path: "/v1/api-keys/{id}/revoke"}}
	r := httptest.NewRequest(http.MethodPost, "http://localhost:8080/v1/api-keys/K1/revoke?a=1&a=2", strings.NewReader(`{}`))
	r.RemoteAddr = "192.0.2.7:51234"
	r.Header.Add("X-Multi", "one")
	r.Header.Add("X-Multi", "two")
	r.Header.Add("Cookie", "a=1; b=2")
	r.Header.Set("User-Agent", "test-agent")
	ev := g.event(r, rt, map[string]string{"id": "K1"}, []byte(`{}`))
	check := func(name, got, want string) {
		if got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	check("version", ev.Version, "2.0")
	check("routeKey", ev.RouteKey, "POST /v1/api-keys/{id}/revoke")
	check("rawPath", ev.RawPath, "/v1/api-keys/K1/revoke")
	check("rawQueryString", ev.RawQueryString, "a=1&a=2")
	check("query a", ev.QueryStringParameters["a"], "1,2")
	check("x-multi", ev.Headers["x-multi"], "one,two")
	check("cookie header", ev.Headers["cookie"], "")
	check("cookies", strings.Join(ev.Cookies, "|"), "a=1|b=2")
	check("sourceIp", ev.RequestContext.HTTP.SourceIP, "192.0.2.7")
	check("userAgent", ev.RequestContext.HTTP.UserAgent, "test-agent")
	check("stage", ev.RequestContext.Stage, "$default")
	check("time", ev.RequestContext.Time, "25/Nov/2026:12:00:00 +0000")
	check("id", ev.PathParameters["id"], "K1")
	check("body", ev.Body, "{}")
	if ev.RequestContext.TimeEpoch != now.UnixMilli() || ev.RequestContext.RequestID == "" {
		t.Errorf("requestContext = %+v", ev.RequestContext)
	}
}
