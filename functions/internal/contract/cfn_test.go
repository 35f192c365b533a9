package contract_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/kudurrustone/apikeys/functions/internal/ddblocal"
)

// ---- the template as CloudFormation deploys it ---------------------------

var (
	cfnOnce sync.Once
	cfnTpl  map[string]any
	cfnErr  error
)

// transformedPath is where infra/scripts/check-template.sh (make test)
// writes the transform's output too.
const transformedPath = ".build/sam/template.json"

// loadCFN runs the SAM transform (aws-sam-translator, through
// infra/scripts/sam-transform.py, with CodeUri pointed at S3 as `sam
// package` does) over template.yaml and returns the CloudFormation template
// that `sam deploy` would submit. It runs once per test binary, so the
// tests never read a stale output. Without Python or aws-sam-translator the
// tests fail, saying what to install.
func loadCFN(t *testing.T) map[string]any {
	t.Helper()
	cfnOnce.Do(func() {
		root := filepath.Dir(must(ddblocal.TemplatePath()))
		py := os.Getenv("PYTHON")
		if py == "" {
			py = "python3"
		}
		out := filepath.Join(root, transformedPath)
		cmd := exec.Command(py, "infra/scripts/sam-transform.py", "template.yaml", out)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			cfnErr = fmt.Errorf("SAM transform failed (%v): %s\nthe transform needs Python 3 and: pip install cfn-lint aws-sam-translator", err, b)
			return
		}
		b, err := os.ReadFile(out)
		if err != nil {
			cfnErr = err
			return
		}
		cfnErr = json.Unmarshal(b, &cfnTpl)
	})
	if cfnErr != nil {
		t.Fatal(cfnErr)
	}
	return cfnTpl
}

// ref renders a reference in the one form the tests compare: "Ref X",
// "GetAtt X.Arn", "Sub <string>" (with the variables of a two-element Sub
// appended as " | name=ref, ..." in name order), "If cond a b", or the
// plain value.
func ref(v any) string {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		if s, ok := v.(string); ok {
			return s
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	for k, val := range m {
		switch k {
		case "Ref":
			return "Ref " + fmt.Sprint(val)
		case "Fn::GetAtt":
			switch x := val.(type) {
			case []any:
				parts := make([]string, len(x))
				for i, p := range x {
					parts[i] = fmt.Sprint(p)
				}
				return "GetAtt " + strings.Join(parts, ".")
			default:
				return "GetAtt " + fmt.Sprint(x)
			}
		case "Fn::Sub":
			switch x := val.(type) {
			case string:
				return "Sub " + x
			case []any:
				s := "Sub " + fmt.Sprint(x[0])
				if len(x) > 1 {
					vars, _ := x[1].(map[string]any)
					names := slices.Sorted(mapKeys(vars))
					var kv []string
					for _, n := range names {
						kv = append(kv, n+"="+ref(vars[n]))
					}
					s += " | " + strings.Join(kv, ", ")
				}
				return s
			}
		case "Fn::If":
			if x, ok := val.([]any); ok && len(x) == 3 {
				return fmt.Sprintf("If %v %s %s", x[0], ref(x[1]), ref(x[2]))
			}
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	return ""
}

// cfnResources returns the resources of a type by logical id.
func cfnResources(tpl map[string]any, typ string) map[string]map[string]any {
	return resourcesOfType(tpl, typ)
}

// roleOf returns the logical id of a Lambda function's role.
func roleOf(t *testing.T, tpl map[string]any, fn string) string {
	t.Helper()
	r := ref(at(tpl, "Resources", fn, "Properties", "Role"))
	id, ok := strings.CutPrefix(r, "GetAtt ")
	if !ok || !strings.HasSuffix(id, ".Arn") {
		t.Fatalf("%s: Role %s is not a role of this template", fn, r)
	}
	return strings.TrimSuffix(id, ".Arn")
}

// statement is one IAM policy statement, flattened.
type statement struct {
	Actions   []string
	Resources []string
	Condition map[string]any
}

// roleStatements returns every Allow statement a role gets from its inline
// policies and from AWS::IAM::Policy resources attached to it; anything but
// a plain Allow fails the test.
func roleStatements(t *testing.T, tpl map[string]any, role string) []statement {
	t.Helper()
	var docs []any
	for _, p := range list(at(tpl, "Resources", role, "Properties", "Policies")) {
		docs = append(docs, at(p, "PolicyDocument"))
	}
	for id, pol := range cfnResources(tpl, "AWS::IAM::Policy") {
		roles := list(at(pol, "Properties", "Roles"))
		for _, r := range roles {
			if ref(r) == "Ref "+role {
				if len(roles) != 1 {
					t.Errorf("%s: attached to %d roles, want one", id, len(roles))
				}
				docs = append(docs, at(pol, "Properties", "PolicyDocument"))
			}
		}
	}
	var out []statement
	for _, d := range docs {
		for _, st := range list(at(d, "Statement")) {
			if at(st, "Effect") != "Allow" || at(st, "NotAction") != nil || at(st, "NotResource") != nil || at(st, "Principal") != nil {
				t.Errorf("%s: statement %v is not a plain Allow", role, st)
				continue
			}
			s := statement{}
			for _, a := range list(at(st, "Action")) {
				s.Actions = append(s.Actions, fmt.Sprint(a))
			}
			for _, r := range list(at(st, "Resource")) {
				s.Resources = append(s.Resources, ref(r))
			}
			s.Condition, _ = at(st, "Condition").(map[string]any)
			out = append(out, s)
		}
	}
	return out
}

// grantsFrom flattens statements into sorted (action, resource) grants.
func grantsFrom(sts []statement) []grant {
	var gs []grant
	for _, s := range sts {
		for _, a := range s.Actions {
			for _, r := range s.Resources {
				gs = append(gs, grant{a, r})
			}
		}
	}
	sortGrants(gs)
	return slices.Compact(gs)
}

func sortGrants(gs []grant) {
	sort.Slice(gs, func(i, j int) bool {
		if gs[i].action != gs[j].action {
			return gs[i].action < gs[j].action
		}
		return gs[i].resource < gs[j].resource
	})
}
