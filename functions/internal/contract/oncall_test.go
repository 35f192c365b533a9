package contract_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kudurrustone/apikeys/functions/internal/authorizer"
	"github.com/kudurrustone/apikeys/functions/internal/boltstore"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

// metricID is the id a function's metrics have in the alarms' math:
// "ListFunction" -> "list".
func metricID(fn string) string {
	s := strings.TrimSuffix(fn, "Function")
	return strings.ToLower(s[:1]) + s[1:]
}

// TestCFNLogs: every function logs JSON at LogLevel into its own log group,
// kept LogRetentionDays and retained with the stack; the API writes a JSON
// access log.
func TestCFNLogs(t *testing.T) {
	tpl := loadCFN(t)
	for id := range functionFolders {
		lc := at(tpl, "Resources", id, "Properties", "LoggingConfig")
		want := fmt.Sprintf(`{"ApplicationLogLevel":{"Ref":"LogLevel"},"LogFormat":"JSON","LogGroup":{"Ref":"%sLogGroup"}}`, id)
		if got := ref(lc); got != want {
			t.Errorf("%s: LoggingConfig %s, want %s", id, got, want)
		}
	}
	groups := cfnResources(tpl, "AWS::Logs::LogGroup")
	for _, g := range append(slices.Sorted(mapKeys(functionFolders)), "ApiAccessLogGroup") {
		if !strings.HasSuffix(g, "LogGroup") {
			g += "LogGroup"
		}
		r, ok := groups[g]
		if !ok {
			t.Errorf("log group %s is missing", g)
			continue
		}
		if ref(at(r, "Properties", "RetentionInDays")) != "Ref LogRetentionDays" || at(r, "DeletionPolicy") != "Retain" {
			t.Errorf("%s: retention %s, deletion policy %v; want LogRetentionDays and Retain", g, ref(at(r, "Properties", "RetentionInDays")), at(r, "DeletionPolicy"))
		}
	}
	// LogLevel's values are Lambda application log levels.
	for _, v := range list(at(tpl, "Parameters", "LogLevel", "AllowedValues")) {
		if !slices.Contains([]string{"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}, fmt.Sprint(v)) {
			t.Errorf("LogLevel admits %v, which Lambda's ApplicationLogLevel does not", v)
		}
	}

	stage := at(tpl, "Resources", "HttpApiApiGatewayDefaultStage", "Properties", "AccessLogSettings")
	if ref(at(stage, "DestinationArn")) != "GetAtt ApiAccessLogGroup.Arn" {
		t.Errorf("access log goes to %s", ref(at(stage, "DestinationArn")))
	}
	// Every $context variable replaced by what API Gateway may write (a
	// number for the numeric ones, "-" for a missing one), the format is
	// one JSON object with the fields on-call needs.
	format := fmt.Sprint(at(stage, "Format"))
	numeric := regexp.MustCompile(`:\$context\.[A-Za-z.]+`)
	line := numeric.ReplaceAllString(format, ":200")
	line = regexp.MustCompile(`\$context\.[A-Za-z.]+`).ReplaceAllString(line, "-")
	var fields map[string]any
	if err := json.Unmarshal([]byte(line), &fields); err != nil {
		t.Fatalf("access log format is not one JSON object: %v\n%s", err, format)
	}
	for name, variable := range map[string]string{
		"requestId": "$context.requestId", "routeKey": "$context.routeKey", "status": "$context.status",
		"sourceIp": "$context.identity.sourceIp", "authorizerError": "$context.authorizer.error",
		"keyFirmId": "$context.authorizer.firmId", "adminFirmId": "$context.authorizer.claims.firmId",
	} {
		if _, ok := fields[name]; !ok || !strings.Contains(format, `"`+name+`":"`+variable+`"`) && !strings.Contains(format, `"`+name+`":`+variable) {
			t.Errorf("access log lacks %s = %s", name, variable)
		}
	}
}

// TestCFNAlarmsAndDashboard: every function is in the errors and throttles
// alarms and on the dashboard; each alarm notifies the optional topic.
func TestCFNAlarmsAndDashboard(t *testing.T) {
	tpl := loadCFN(t)
	alarms := cfnResources(tpl, "AWS::CloudWatch::Alarm")
	for _, name := range []string{"AuthorizerFailuresAlarm", "LambdaErrorsAlarm", "LambdaThrottlesAlarm", "Api5xxAlarm", "DynamoDBThrottlesAlarm"} {
		if _, ok := alarms[name]; !ok {
			t.Errorf("alarm %s is missing", name)
		}
	}
	for id, a := range alarms {
		p := at(a, "Properties")
		for _, k := range []string{"AlarmActions", "OKActions"} {
			if got := ref(at(p, k)); got != `If NotifyAlarms [{"Ref":"AlarmTopicArn"}] Ref AWS::NoValue` {
				t.Errorf("%s: %s = %s, want the AlarmTopicArn when set", id, k, got)
			}
		}
		if at(p, "TreatMissingData") != "notBreaching" {
			t.Errorf("%s: missing data must not alarm", id)
		}
	}
	for alarm, metric := range map[string]string{"LambdaErrorsAlarm": "Errors", "LambdaThrottlesAlarm": "Throttles"} {
		byID := map[string]any{}
		var expr string
		for _, m := range list(at(alarms[alarm], "Properties", "Metrics")) {
			byID[fmt.Sprint(at(m, "Id"))] = m
			if e, ok := at(m, "Expression").(string); ok {
				expr = e
			}
		}
		for fn := range functionFolders {
			m := byID[metricID(fn)]
			if ref(at(m, "MetricStat", "Metric", "Dimensions")) != fmt.Sprintf(`[{"Name":"FunctionName","Value":{"Ref":"%s"}}]`, fn) ||
				at(m, "MetricStat", "Metric", "MetricName") != metric || !strings.Contains(expr, metricID(fn)) {
				t.Errorf("%s does not sum %s's %s (expression %q)", alarm, fn, metric, expr)
			}
		}
	}
	body := fmt.Sprint(at(tpl, "Resources", "Dashboard", "Properties", "DashboardBody", "Fn::Sub"))
	if err := json.Unmarshal([]byte(regexp.MustCompile(`\$\{[^}]+\}`).ReplaceAllString(body, "x")), new(map[string]any)); err != nil {
		t.Errorf("dashboard body is not JSON: %v", err)
	}
	for fn := range functionFolders {
		for _, metric := range []string{"Errors", "Throttles", "Duration"} {
			if !strings.Contains(body, fmt.Sprintf(`["AWS/Lambda", "%s", "FunctionName", "${%s}"`, metric, fn)) {
				t.Errorf("the dashboard lacks %s's %s", fn, metric)
			}
		}
	}
}

// TestCFNMetricFiltersMatchTheCode runs the real authorizer and service and
// holds every metric filter of the template to the JSON lines they write:
// each filter counts exactly the lines it is named for, and the fields its
// dimensions read are there.
func TestCFNMetricFiltersMatchTheCode(t *testing.T) {
	tpl := loadCFN(t)
	lines := codeLogLines(t)

	filters := cfnResources(tpl, "AWS::Logs::MetricFilter")
	want := map[string]struct {
		group string
		kind  string // which lines it must match, exactly
	}{
		"AuthorizerAllowsMetricFilter":   {"AuthorizerFunctionLogGroup", "allow"},
		"AuthorizerDeniesMetricFilter":   {"AuthorizerFunctionLogGroup", "deny"},
		"AuthorizerFailuresMetricFilter": {"AuthorizerFunctionLogGroup", "failure"},
		"GenerateAuditMetricFilter":      {"GenerateFunctionLogGroup", "audit"},
		"RevokeAuditMetricFilter":        {"RevokeFunctionLogGroup", "audit"},
		"UpdateAuditMetricFilter":        {"UpdateFunctionLogGroup", "audit"},
		"RollAuditMetricFilter":          {"RollFunctionLogGroup", "audit"},
	}
	if got := slices.Sorted(mapKeys(filters)); !slices.Equal(got, slices.Sorted(mapKeys(want))) {
		t.Errorf("metric filters %v, want %v", got, slices.Sorted(mapKeys(want)))
	}
	for id, w := range want {
		p := at(filters[id], "Properties")
		if ref(at(p, "LogGroupName")) != "Ref "+w.group {
			t.Errorf("%s reads %s, want %s", id, ref(at(p, "LogGroupName")), w.group)
		}
		match, err := compileFilter(fmt.Sprint(at(p, "FilterPattern")))
		if err != nil {
			t.Errorf("%s: %v", id, err)
			continue
		}
		var matched int
		for _, l := range lines {
			got := match(l.fields)
			// A failure is not a deny: the authorizer fails the invocation
			// ("decision":"fail") and API Gateway caches nothing.
			if got != (l.kind == w.kind) {
				t.Errorf("%s: pattern %s matches=%v on a %s line: %s", id, at(p, "FilterPattern"), got, l.kind, l.raw)
			}
			if !got {
				continue
			}
			matched++
			for _, tr := range list(at(p, "MetricTransformations")) {
				for _, d := range list(at(tr, "Dimensions")) {
					field := strings.TrimPrefix(fmt.Sprint(at(d, "Value")), "$.")
					if v, ok := l.fields[field].(string); !ok || v == "" {
						t.Errorf("%s: dimension %v reads %s, absent from %s", id, at(d, "Key"), field, l.raw)
					}
				}
			}
		}
		if matched == 0 {
			t.Errorf("%s matched no line of the code", id)
		}
	}
}

type logLine struct {
	kind   string // allow, deny, failure, audit, other
	raw    string
	fields map[string]any
}

// codeLogLines collects the JSON lines the authorizer writes for an allow,
// denies and a failure, and the service's audit lines for a generate and a
// revoke.
func codeLogLines(t *testing.T) []logLine {
	t.Helper()
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "keys.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var svcLog, authLog, failLog bytes.Buffer
	peppers := testkit.StaticPeppers(t)
	svc := keyservice.New(store, peppers, keyservice.Config{Logger: slog.New(slog.NewJSONHandler(&svcLog, nil))})
	admin := keyservice.Admin{Subject: "alice", FirmID: "acme", IsAdmin: true, IsPremier: true, SourceIP: "203.0.113.7"}
	k, plain, err := svc.Generate(t.Context(), admin, keyservice.GenerateInput{Label: "metric filters"})
	if err != nil {
		t.Fatal(err)
	}

	event := func(name, key string) []byte { return testkit.Event(t, name, map[string]string{"KEY": key}) }
	h := authorizer.New(svc, slog.New(slog.NewJSONHandler(&authLog, nil)))
	for _, ev := range [][]byte{event("authorizer-http-valid.json", plain), event("authorizer-http-unknown-key.json", ""),
		event("authorizer-http-malformed.json", ""), event("authorizer-rest-token.json", plain)} {
		_, _ = h.Invoke(t.Context(), ev)
	}
	if _, err := svc.Revoke(t.Context(), admin, k.ID); err != nil {
		t.Fatal(err)
	}
	_, _ = h.Invoke(t.Context(), event("authorizer-http-valid.json", plain)) // revoked now
	// A failure: the pepper cannot be read.
	broken := keyservice.New(store, testkit.Peppers{Err: errors.New("secrets manager unreachable")}, keyservice.Config{})
	_, _ = authorizer.New(broken, slog.New(slog.NewJSONHandler(&failLog, nil))).Invoke(context.Background(), event("authorizer-http-valid.json", plain))

	var out []logLine
	kinds := map[string]int{}
	for _, buf := range []*bytes.Buffer{&svcLog, &authLog, &failLog} {
		for _, raw := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			var f map[string]any
			if err := json.Unmarshal([]byte(raw), &f); err != nil {
				t.Fatalf("not a JSON line: %s", raw)
			}
			kind := "other"
			switch {
			case f["msg"] == "audit":
				kind = "audit"
			case f["msg"] == "authorizer decision" && f["level"] == "ERROR":
				kind = "failure"
			case f["msg"] == "authorizer decision" && f["decision"] == "allow":
				kind = "allow"
			case f["msg"] == "authorizer decision":
				kind = "deny"
			}
			kinds[kind]++
			out = append(out, logLine{kind, raw, f})
		}
	}
	for _, k := range []string{"allow", "deny", "failure", "audit"} {
		if kinds[k] == 0 {
			t.Fatalf("the code wrote no %s line; lines by kind %v", k, kinds)
		}
	}
	return out
}

// compileFilter understands the CloudWatch Logs JSON filter patterns the
// template uses: { $.field = "value" && ... } with = and != on top-level
// string fields (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html).
func compileFilter(pattern string) (func(map[string]any) bool, error) {
	p := strings.TrimSpace(pattern)
	if !strings.HasPrefix(p, "{") || !strings.HasSuffix(p, "}") {
		return nil, fmt.Errorf("pattern %q is not a JSON filter", pattern)
	}
	term := regexp.MustCompile(`^\$\.([A-Za-z0-9_]+)\s*(=|!=)\s*"([^"]*)"$`)
	type cond struct{ field, op, value string }
	var conds []cond
	for _, part := range strings.Split(strings.TrimSpace(p[1:len(p)-1]), "&&") {
		m := term.FindStringSubmatch(strings.TrimSpace(part))
		if m == nil {
			return nil, fmt.Errorf("pattern %q: term %q is not $.field = \"value\"", pattern, part)
		}
		conds = append(conds, cond{m[1], m[2], m[3]})
	}
	return func(f map[string]any) bool {
		for _, c := range conds {
			v, ok := f[c.field].(string)
			if (c.op == "=") != (ok && v == c.value) {
				return false
			}
		}
		return true
	}, nil
}
