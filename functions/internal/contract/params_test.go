package contract_test

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"testing"

	"github.com/kudurrustone/apikeys/functions/internal/settings"
)

// admitted returns every value of a parameter's constraints among
// candidates: in AllowedValues, within MinValue..MaxValue (Number), and
// matching AllowedPattern (as CloudFormation does, the whole value).
func admitted(t *testing.T, p any, candidates []string) []string {
	t.Helper()
	var pattern *regexp.Regexp
	if ap, ok := at(p, "AllowedPattern").(string); ok {
		pattern = regexp.MustCompile(`^(?:` + ap + `)$`)
	}
	// The values a parameter lists and its default are candidates too.
	for _, v := range append(list(at(p, "AllowedValues")), at(p, "Default")) {
		if v != nil {
			candidates = append(slices.Clip(candidates), fmt.Sprint(v))
		}
	}
	var out []string
	for _, c := range candidates {
		if av := list(at(p, "AllowedValues")); len(av) > 0 && !slices.ContainsFunc(av, func(v any) bool { return fmt.Sprint(v) == c }) {
			continue
		}
		if at(p, "Type") == "Number" {
			n, err := strconv.ParseFloat(c, 64)
			if err != nil {
				continue
			}
			if lo, ok := at(p, "MinValue").(float64); ok && n < lo {
				continue
			}
			if hi, ok := at(p, "MaxValue").(float64); ok && n > hi {
				continue
			}
		}
		if pattern != nil && !pattern.MatchString(c) {
			continue
		}
		out = append(out, c)
	}
	return out
}

// candidates are strings a user could type: numbers from -100 to 200000,
// with leading zeros and signs, each alone and with every duration unit
// Go knows and some it does not.
func candidates() []string {
	var out []string
	units := []string{"", "s", "m", "h", "ms", "us", "µs", "ns", "min", "d", "S", "M", "H", ".5s", "m30s"}
	for n := -100; n <= 200000; n++ {
		num := strconv.Itoa(n)
		for _, u := range units {
			if n > 10000 && u != "" {
				continue
			}
			out = append(out, num+u)
		}
		if n >= 0 && n <= 100 {
			out = append(out, "0"+num, "+"+num, " "+num, num+" ")
		}
	}
	return append(out, "", "1h0m", "1h30m", "60m", "5min", "DEBUG", "debug", "Info", "TRACE")
}

// TestParametersAdmitOnlyWhatTheCodeAccepts feeds every value the
// template's constraints admit, among many a user could type, to the code
// that parses the environment variable it becomes (package settings), or
// checks it against what the service it configures accepts.
func TestParametersAdmitOnlyWhatTheCodeAccepts(t *testing.T) {
	tpl := loadCFN(t)
	params := at(tpl, "Parameters")
	all := candidates()

	// Parameters that become an environment variable of the functions.
	for _, tc := range []struct {
		param, env string
		parse      func(string) error
	}{
		{"MaxActiveKeys", settings.EnvMaxActiveKeys, func(v string) error { _, err := settings.MaxActiveKeys(v); return err }},
		{"PepperRefresh", settings.EnvPepperRefresh, func(v string) error {
			_, err := settings.Duration(settings.EnvPepperRefresh, v, settings.DefaultPepperRefresh)
			return err
		}},
		{"LogLevel", settings.EnvLogLevel, func(v string) error { _, err := settings.LogLevel(v); return err }},
	} {
		t.Run(tc.param, func(t *testing.T) {
			for fn := range functionFolders {
				vars := at(tpl, "Resources", fn, "Properties", "Environment", "Variables")
				if got := ref(at(vars, tc.env)); got != "Ref "+tc.param {
					t.Errorf("%s: %s = %s, want the parameter %s", fn, tc.env, got, tc.param)
				}
			}
			p := at(params, tc.param)
			ok := admitted(t, p, all)
			if len(ok) == 0 || !slices.Contains(ok, fmt.Sprint(at(p, "Default"))) {
				t.Fatalf("%s admits %d candidates, its default %v among them: %v", tc.param, len(ok), at(p, "Default"), len(ok) > 0)
			}
			for _, v := range ok {
				if err := tc.parse(v); err != nil {
					t.Errorf("%s admits %q, which the code refuses: %v", tc.param, v, err)
				}
			}
			t.Logf("%s: %d admitted values, all accepted", tc.param, len(ok))
		})
	}

	// Parameters for AWS itself.
	check := func(param string, ok func(v string) bool, why string) {
		t.Run(param, func(t *testing.T) {
			vals := admitted(t, at(params, param), all)
			if len(vals) == 0 {
				t.Fatalf("%s admits nothing", param)
			}
			for _, v := range vals {
				if !ok(v) {
					t.Errorf("%s admits %q: %s", param, v, why)
				}
			}
		})
	}
	intIn := func(lo, hi int) func(string) bool {
		return func(v string) bool { n, err := strconv.Atoi(v); return err == nil && n >= lo && n <= hi }
	}
	check("AuthorizerReservedConcurrency", func(v string) bool { return v == "-1" || intIn(1, 1<<30)(v) },
		"0 throttles every authorization; -1 is the only value below 1 (no reservation)")
	check("AuthorizerCacheTtl", intIn(0, 3600), "API Gateway's authorizer cache TTL is 0-3600 seconds")
	check("ExpiryWarningDays", func(v string) bool { _, err := settings.ExpiryWarningDays(v); return err == nil },
		"EXPIRY_WARNING_DAYS (the expiry function's only setting) refuses it")
	check("PepperRotationDays", intIn(0, 1000), "RotationRules.AutomaticallyAfterDays is 1-1000 (0: no schedule)")
	check("ThrottlingBurstLimit", intIn(1, 1<<30), "a stage burst limit below 1 refuses every request")
	check("ThrottlingRateLimit", intIn(1, 1<<30), "a stage rate limit below 1 refuses every request")
	retention := []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
	check("LogRetentionDays", func(v string) bool { n, err := strconv.Atoi(v); return err == nil && slices.Contains(retention, n) },
		"CloudWatch Logs accepts only its listed retention periods")
	if c := ref(at(tpl, "Conditions", "ReserveAuthorizerConcurrency")); c != `{"Fn::Not":[{"Fn::Equals":[{"Ref":"AuthorizerReservedConcurrency"},"-1"]}]}` {
		t.Errorf("ReserveAuthorizerConcurrency = %s, want the -1 sentinel", c)
	}
}
