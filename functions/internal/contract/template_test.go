package contract_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"
	"gopkg.in/yaml.v3"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
	"github.com/kudurrustone/apikeys/functions/internal/ddblocal"
	"github.com/kudurrustone/apikeys/functions/internal/ddbstore"
	"github.com/kudurrustone/apikeys/functions/internal/expiry"
	"github.com/kudurrustone/apikeys/functions/internal/httpapi"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
	"github.com/kudurrustone/apikeys/functions/internal/lifecycle"
	"github.com/kudurrustone/apikeys/functions/internal/pepper"
)

func TestMain(m *testing.M) { os.Exit(ddblocal.Main(m)) }

// Logical ids of the template and the folders under functions/ they are
// built from (the Makefile's build-<LogicalId> targets).
var functionFolders = map[string]string{
	"ListFunction":        "list",
	"GenerateFunction":    "generate",
	"UpdateFunction":      "update",
	"RollFunction":        "roll",
	"RevokeFunction":      "revoke",
	"AuditEventsFunction": "auditevents",
	"WhoamiFunction":      "whoami",
	"AuthorizerFunction":  "authorizer",
	"RotationFunction":    "rotation",
	"PublisherFunction":   "publisher",
	"ExpiryFunction":      "expiry",
}

// Route functions of httpapi.Routes() by logical id.
var routeFunctions = map[string]string{
	"ListFunction":        httpapi.FunctionList,
	"GenerateFunction":    httpapi.FunctionGenerate,
	"UpdateFunction":      httpapi.FunctionUpdate,
	"RollFunction":        httpapi.FunctionRoll,
	"RevokeFunction":      httpapi.FunctionRevoke,
	"AuditEventsFunction": httpapi.FunctionAuditEvents,
	"WhoamiFunction":      httpapi.FunctionWhoami,
}

// grant is one allowed action on one resource, the resource written as
// ref renders it ("GetAtt KeysTable.Arn", "Ref PepperSecret", ...).
type grant struct{ action, resource string }

const (
	onTable  = "GetAtt KeysTable.Arn"
	onSecret = "Ref PepperSecret"
	onCache  = "Sub arn:${AWS::Partition}:apigateway:${AWS::Region}::/apis/${HttpApi}/stages/*/cache/authorizers"
	onStream = "GetAtt KeysTable.StreamArn"
	onBus    = "Sub arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}"
)

// leastPrivilege is every permission each function's role may have beyond
// writing its logs. The DynamoDB actions are also derived from what the
// store really calls (TestPoliciesMatchStoreCalls); the pepper secret is
// read by the functions that hash keys; revoke, update and roll reset this
// API's authorizer cache.
var leastPrivilege = map[string][]grant{
	"ListFunction": {{"dynamodb:Query", onTable}},
	"GenerateFunction": {
		{"dynamodb:PutItem", onTable}, {"dynamodb:Query", onTable}, {"dynamodb:UpdateItem", onTable},
		{"secretsmanager:GetSecretValue", onSecret},
	},
	"RevokeFunction": {
		{"dynamodb:GetItem", onTable}, {"dynamodb:PutItem", onTable}, {"dynamodb:UpdateItem", onTable},
		{"apigateway:DELETE", onCache},
	},
	"UpdateFunction": {
		{"dynamodb:GetItem", onTable}, {"dynamodb:PutItem", onTable}, {"dynamodb:UpdateItem", onTable},
		{"apigateway:DELETE", onCache},
	},
	"RollFunction": {
		{"dynamodb:GetItem", onTable}, {"dynamodb:PutItem", onTable}, {"dynamodb:UpdateItem", onTable},
		{"secretsmanager:GetSecretValue", onSecret}, {"apigateway:DELETE", onCache},
	},
	"AuditEventsFunction": {{"dynamodb:Query", onTable}},
	"WhoamiFunction":      nil,
	"AuthorizerFunction": {
		{"dynamodb:GetItem", onTable}, {"dynamodb:UpdateItem", onTable},
		{"secretsmanager:GetSecretValue", onSecret},
	},
	// The four actions of Secrets Manager's rotation protocol, on the one
	// secret (package rotation's SecretsManagerAPI).
	"RotationFunction": {
		{"secretsmanager:DescribeSecret", onSecret}, {"secretsmanager:GetSecretValue", onSecret},
		{"secretsmanager:PutSecretValue", onSecret}, {"secretsmanager:UpdateSecretVersionStage", onSecret},
	},
	// The publisher reads the table's stream (its event source mapping),
	// the key of each event, puts events on the one bus, and its mapping
	// sends failed batches to the failure queue.
	"PublisherFunction": {
		{"dynamodb:GetItem", onTable},
		{"dynamodb:DescribeStream", onStream}, {"dynamodb:GetRecords", onStream},
		{"dynamodb:GetShardIterator", onStream}, {"dynamodb:ListStreams", onStream},
		{"events:PutEvents", onBus}, {"sqs:SendMessage", "GetAtt PublisherFailureQueue.Arn"},
	},
	// The expiry check queries the expiry index and claims warnings with a
	// conditional transaction (an update of the key, a put of the
	// warning).
	"ExpiryFunction": {
		{"dynamodb:Query", "Sub ${KeysTable.Arn}/index/ExpiryIndex"},
		{"dynamodb:PutItem", onTable}, {"dynamodb:UpdateItem", onTable},
	},
}

// ---- a raw view of template.yaml --------------------------------------

// loadTemplate reads template.yaml with its short-form intrinsics turned
// into their long form ({"Ref": x}, {"Fn::GetAtt": "A.B"}, ...), so the
// test sees exactly what is written, unresolved.
func loadTemplate(t *testing.T) map[string]any {
	t.Helper()
	path, err := ddblocal.TemplatePath()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	v, err := convert(doc.Content[0])
	if err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	return v.(map[string]any)
}

func convert(n *yaml.Node) (any, error) {
	var v any
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			val, err := convert(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = val
		}
		v = m
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			val, err := convert(c)
			if err != nil {
				return nil, err
			}
			s = append(s, val)
		}
		v = s
	case yaml.ScalarNode:
		if custom(n.Tag) {
			v = n.Value
		} else if err := n.Decode(&v); err != nil {
			return nil, err
		}
	case yaml.AliasNode:
		return convert(n.Alias)
	default:
		return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
	}
	if custom(n.Tag) {
		name := strings.TrimPrefix(n.Tag, "!")
		if name != "Ref" && name != "Condition" {
			name = "Fn::" + name
		}
		return map[string]any{name: v}, nil
	}
	return v, nil
}

// custom reports a CloudFormation short-form tag (!Ref), as opposed to
// YAML's own (!!str, !!int).
func custom(tag string) bool { return strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!") }

// at walks a path of map keys and returns what is there (nil if absent).
func at(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// intrinsic renders a resource reference as "Ref X", "Fn::GetAtt A.B" or
// "Fn::Sub s"; a plain string as itself.
func intrinsic(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		for k, val := range x {
			if s, ok := val.(string); ok {
				return k + " " + s
			}
			return fmt.Sprintf("%s %v", k, val)
		}
	}
	return fmt.Sprintf("%v", v)
}

func list(v any) []any {
	switch x := v.(type) {
	case []any:
		return x
	case nil:
		return nil
	default:
		return []any{x}
	}
}

func resourcesOfType(tpl map[string]any, typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range at(tpl, "Resources").(map[string]any) {
		if rm, ok := r.(map[string]any); ok && rm["Type"] == typ {
			out[id] = rm
		}
	}
	return out
}

// ---- the tests ----------------------------------------------------------

// TestGoformationParses keeps the keys table readable by goformation,
// which the DynamoDB Local harness uses to create its tables.
func TestGoformationParses(t *testing.T) {
	if _, err := ddblocal.TemplateTable(); err != nil {
		t.Fatalf("goformation: %v", err)
	}
}

// TestFunctionsBuild checks that every function of the template is built by
// the Makefile from its own folder with the deploy flags, that every folder
// under functions/ (but the local server) is in the template, and that all
// of them build.
func TestFunctionsBuild(t *testing.T) {
	tpl := loadTemplate(t)
	root := filepath.Dir(must(ddblocal.TemplatePath()))

	g := at(tpl, "Globals", "Function")
	for k, want := range map[string]any{"Runtime": "provided.al2023", "Handler": "bootstrap"} {
		if at(g, k) != want {
			t.Errorf("Globals.Function.%s = %v, want %v", k, at(g, k), want)
		}
	}
	if a := list(at(g, "Architectures")); len(a) != 1 || a[0] != "arm64" {
		t.Errorf("Globals.Function.Architectures = %v, want [arm64]", a)
	}
	if at(g, "LoggingConfig", "LogFormat") != "JSON" {
		t.Error("Globals.Function.LoggingConfig.LogFormat is not JSON")
	}

	fns := resourcesOfType(tpl, "AWS::Serverless::Function")
	var ids []string
	for id := range fns {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	if want := slices.Sorted(mapKeys(functionFolders)); !slices.Equal(ids, want) {
		t.Fatalf("template functions %v, want %v", ids, want)
	}
	var pkgs []string
	for _, id := range ids {
		fn := fns[id]
		folder := functionFolders[id]
		if at(fn, "Metadata", "BuildMethod") != "makefile" {
			t.Errorf("%s: Metadata.BuildMethod = %v, want makefile", id, at(fn, "Metadata", "BuildMethod"))
		}
		if at(fn, "Properties", "CodeUri") != "." {
			t.Errorf("%s: CodeUri = %v, want . (the Makefile at the root builds it)", id, at(fn, "Properties", "CodeUri"))
		}
		for _, k := range []string{"Runtime", "Handler", "Architectures"} {
			if at(fn, "Properties", k) != nil {
				t.Errorf("%s: %s overrides Globals", id, k)
			}
		}
		// What SAM will run: make build-<LogicalId> ARTIFACTS_DIR=...
		cmd := exec.Command("make", "--no-print-directory", "-n", "build-"+id, "ARTIFACTS_DIR=/artifacts")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%s: make -n build-%s: %v: %s", id, id, err, out)
			continue
		}
		for _, want := range []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64", "-tags lambda.norpc", "-s -w",
			"-o /artifacts/bootstrap ./functions/" + folder} {
			if !strings.Contains(string(out), want) {
				t.Errorf("%s: build command %q lacks %q", id, strings.TrimSpace(string(out)), want)
			}
		}
		pkgs = append(pkgs, "./functions/"+folder)
	}

	entries, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		t.Fatal(err)
	}
	inTemplate := map[string]bool{}
	for _, f := range functionFolders {
		inTemplate[f] = true
	}
	for _, e := range entries {
		if e.IsDir() && e.Name() != "internal" && e.Name() != "local" && !inTemplate[e.Name()] {
			t.Errorf("functions/%s is not a function of the template", e.Name())
		}
	}

	// Built for the host architecture: `make build-host` has filled the
	// build cache for it (arm64 from a cold cache takes minutes), and the
	// code is the same.
	cmd := exec.Command("go", append([]string{"build", "-trimpath", "-tags", "lambda.norpc", "-ldflags=-s -w -buildid=", "-o", t.TempDir() + "/"}, pkgs...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("go build %v: %v\n%s", pkgs, err, out)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func mapKeys[M ~map[K]V, K comparable, V any](m M) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestPoliciesMatchStoreCalls runs each function's service calls on
// ddbstore against DynamoDB Local, records the DynamoDB operations they
// make (a transaction's items count as the actions IAM checks for them:
// Put -> PutItem, Update -> UpdateItem, ...), and requires the template to
// grant exactly those actions, no more, no fewer.
func TestPoliciesMatchStoreCalls(t *testing.T) {
	rec := &recorder{}
	client, table := ddblocal.NewTable(t)
	client = dynamodb.New(client.Options(), func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
			return s.Initialize.Add(rec, middleware.After)
		})
	})
	store := ddbstore.New(client, table)
	set, err := apikey.NewPepperSet("1", map[string][]byte{"1": []byte("contract-test-pepper-0123456789")})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	svc := keyservice.New(store, pepper.Static(set), keyservice.Config{MaxActiveKeys: 1, Now: clock})
	ctx := context.Background()
	admin := keyservice.Admin{Subject: "alice", FirmID: "acme", IsAdmin: true, IsPremier: true, SourceIP: "203.0.113.7"}

	// generate: a key, then (at the limit of 1, once it expired) another,
	// which releases the expired one first.
	rec.start("GenerateFunction")
	exp := now.Add(time.Hour)
	first, plain, err := svc.Generate(ctx, admin, keyservice.GenerateInput{Label: "Expiring", ExpiresAt: &exp})
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Hour)
	second, secondPlain, err := svc.Generate(ctx, admin, keyservice.GenerateInput{Label: "Replacement"})
	if err != nil {
		t.Fatalf("generate at the limit after expiry: %v", err)
	}
	_ = plain

	// authorizer: a valid key (first use writes last-used).
	rec.start("AuthorizerFunction")
	if _, err := svc.Authorize(ctx, secondPlain); err != nil {
		t.Fatal(err)
	}

	// list
	rec.start("ListFunction")
	if _, err := svc.List(ctx, admin, keyservice.ListInput{}); err != nil {
		t.Fatal(err)
	}

	// update: a change, a change of nothing, an inactive key.
	rec.start("UpdateFunction")
	label := "Renamed"
	for _, in := range []keyservice.UpdateInput{{Label: &label, Scopes: []string{"read"}}, {Label: &label}} {
		if _, _, err := svc.Update(ctx, admin, second.ID, in); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := svc.Update(ctx, admin, first.ID, keyservice.UpdateInput{Label: &label}); keyservice.CodeOf(err) != keyservice.CodeKeyNotActive {
		t.Fatalf("update of an expired key: %v", err)
	}

	// roll (at the limit of 1: never refused for it), and a repeated roll.
	rec.start("RollFunction")
	old, succ, _, err := svc.Roll(ctx, admin, second.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := svc.Roll(ctx, admin, old.ID, nil); keyservice.CodeOf(err) != keyservice.CodeKeyNotActive {
		t.Fatalf("second roll: %v", err)
	}

	// audit events: all, one key's.
	rec.start("AuditEventsFunction")
	for _, keyID := range []string{"", second.ID} {
		if _, err := svc.AuditEvents(ctx, admin, keyservice.AuditInput{KeyID: keyID}); err != nil {
			t.Fatal(err)
		}
	}

	// revoke, twice (the second is idempotent), and an unknown key.
	rec.start("RevokeFunction")
	for _, id := range []string{second.ID, second.ID, first.ID, succ.ID} {
		if _, err := svc.Revoke(ctx, admin, id); err != nil {
			t.Fatal(err)
		}
	}
	// publisher: the event of each audit record reads its key. (The stream
	// actions are the event source mapping's, checked in the role test.)
	rec.start("")
	audit := []keyservice.AuditRecord{{FirmID: "acme", KeyID: second.ID, Action: keyservice.ActionGenerate, At: now}}
	rec.start("PublisherFunction")
	if _, err := lifecycle.Build(ctx, store, lifecycle.Change{AuditRecord: audit[0]}); err != nil {
		t.Fatal(err)
	}

	// expiry: a key expiring tomorrow is found and warned about.
	rec.start("")
	tomorrow := now.Add(24 * time.Hour)
	if _, _, err := svc.Generate(ctx, admin, keyservice.GenerateInput{Label: "Trial", ExpiresAt: &tomorrow}); err != nil {
		t.Fatal(err)
	}
	rec.start("ExpiryFunction")
	check := &expiry.Checker{Store: store, Window: 7 * 24 * time.Hour, Now: clock, Logger: slog.New(slog.DiscardHandler)}
	if res, err := check.Run(ctx); err != nil || res.Warned != 1 {
		t.Fatalf("expiry check: %+v %v", res, err)
	}
	rec.start("")

	tpl := loadCFN(t)
	for id := range functionFolders {
		var granted []string
		for _, g := range grantsFrom(roleStatements(t, tpl, roleOf(t, tpl, id))) {
			if strings.HasPrefix(g.action, "dynamodb:") {
				granted = append(granted, g.action)
			}
		}
		slices.Sort(granted)
		granted = slices.Compact(granted)
		if id == "PublisherFunction" { // its stream reads are the mapping's, not the store's
			granted = slices.DeleteFunc(granted, func(a string) bool { return streamActions[a] })
		}
		if used := rec.actions(id); !slices.Equal(granted, used) {
			t.Errorf("%s: template grants %v, the store calls need %v", id, granted, used)
		}
		// Each request, with the IAM condition keys DynamoDB gives it, is
		// allowed by a statement of the role, conditions included.
		sts := roleStatements(t, tpl, roleOf(t, tpl, id))
		for _, c := range rec.calls[id] {
			if !slices.ContainsFunc(sts, func(st statement) bool { return st.allows(c) }) {
				t.Errorf("%s: no statement allows %s", id, c)
			}
		}
	}
}

// streamActions are the DynamoDB Streams actions Lambda's event source
// mapping takes with the function's role.
var streamActions = map[string]bool{
	"dynamodb:DescribeStream": true, "dynamodb:GetRecords": true, "dynamodb:GetShardIterator": true, "dynamodb:ListStreams": true,
}

// recorder is a DynamoDB client middleware noting the IAM actions of each
// call, per function being exercised.
type recorder struct {
	mu      sync.Mutex
	current string
	seen    map[string]map[string]bool
	calls   map[string][]ddbCall // per function, every item-level request
}

func (r *recorder) ID() string { return "contract-recorder" }

func (r *recorder) start(function string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.current = function
}

func (r *recorder) actions(function string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Collect(mapKeys(r.seen[function]))
	slices.Sort(out)
	return out
}

func (r *recorder) HandleInitialize(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	var actions []string
	switch p := in.Parameters.(type) {
	case *dynamodb.TransactWriteItemsInput:
		for _, it := range p.TransactItems {
			switch {
			case it.Put != nil:
				actions = append(actions, "dynamodb:PutItem")
			case it.Update != nil:
				actions = append(actions, "dynamodb:UpdateItem")
			case it.Delete != nil:
				actions = append(actions, "dynamodb:DeleteItem")
			case it.ConditionCheck != nil:
				actions = append(actions, "dynamodb:ConditionCheckItem")
			}
		}
	default:
		actions = append(actions, "dynamodb:"+awsmiddleware.GetOperationName(ctx))
	}
	calls := callsOf(ctx, in.Parameters)
	r.mu.Lock()
	if r.current != "" {
		if r.calls == nil {
			r.calls = map[string][]ddbCall{}
		}
		r.calls[r.current] = append(r.calls[r.current], calls...)
		if r.seen == nil {
			r.seen = map[string]map[string]bool{}
		}
		if r.seen[r.current] == nil {
			r.seen[r.current] = map[string]bool{}
		}
		for _, a := range actions {
			r.seen[r.current][a] = true
		}
	}
	r.mu.Unlock()
	return next.HandleInitialize(ctx, in)
}

// TestTableMatchesStore checks the table definition against the store's
// schema and the product's requirements.
func TestTableMatchesStore(t *testing.T) {
	tpl := loadTemplate(t)
	p := at(tpl, "Resources", "KeysTable", "Properties")
	keys, attrs := ddbstore.KeySchema()
	var wantKeys, gotKeys, wantAttrs, gotAttrs []string
	for _, k := range keys {
		wantKeys = append(wantKeys, aws.ToString(k.AttributeName)+" "+string(k.KeyType))
	}
	for _, a := range attrs {
		wantAttrs = append(wantAttrs, aws.ToString(a.AttributeName)+" "+string(a.AttributeType))
	}
	for _, k := range list(at(p, "KeySchema")) {
		gotKeys = append(gotKeys, fmt.Sprint(at(k, "AttributeName"))+" "+fmt.Sprint(at(k, "KeyType")))
	}
	for _, a := range list(at(p, "AttributeDefinitions")) {
		gotAttrs = append(gotAttrs, fmt.Sprint(at(a, "AttributeName"))+" "+fmt.Sprint(at(a, "AttributeType")))
	}
	slices.Sort(wantAttrs)
	slices.Sort(gotAttrs)
	if !slices.Equal(gotKeys, wantKeys) || !slices.Equal(gotAttrs, wantAttrs) {
		t.Errorf("KeysTable keys %v attributes %v, want (ddbstore) %v %v", gotKeys, gotAttrs, wantKeys, wantAttrs)
	}
	var gotIdx, wantIdx []string
	for _, g := range list(at(p, "GlobalSecondaryIndexes")) {
		gotIdx = append(gotIdx, fmt.Sprint(at(g, "IndexName")))
	}
	for _, g := range ddbstore.Indexes() {
		wantIdx = append(wantIdx, aws.ToString(g.IndexName))
	}
	if !slices.Equal(gotIdx, wantIdx) || at(p, "LocalSecondaryIndexes") != nil {
		t.Errorf("KeysTable indexes %v, the store uses %v (ddbstore's test compares their definitions)", gotIdx, wantIdx)
	}
	if at(p, "BillingMode") != "PAY_PER_REQUEST" ||
		at(p, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled") != true ||
		at(p, "SSESpecification", "SSEEnabled") != true ||
		!strings.Contains(fmt.Sprint(at(p, "DeletionProtectionEnabled")), "TableProtected") {
		t.Error("KeysTable must be on demand, with point-in-time recovery, encryption and deletion protection from a parameter")
	}

	// The local-only settings must be empty in AWS, and the sam local
	// switch is never set by the template.
	for _, v := range []string{"DYNAMODB_ENDPOINT", "SECRETSMANAGER_ENDPOINT", "EVENTBRIDGE_ENDPOINT", "LOCAL_PEPPER", "LOCAL_JWT_PUBLIC_KEY"} {
		if got := at(tpl, "Globals", "Function", "Environment", "Variables", v); got != "" {
			t.Errorf("Globals sets %s to %v; it must be empty in a deployed stack", v, got)
		}
	}
	for id, fn := range resourcesOfType(tpl, "AWS::Serverless::Function") {
		vars, _ := at(fn, "Properties", "Environment", "Variables").(map[string]any)
		for _, v := range []string{"AWS_SAM_LOCAL", "LOCAL_PEPPER", "LOCAL_JWT_PUBLIC_KEY", "DYNAMODB_ENDPOINT", "SECRETSMANAGER_ENDPOINT", "EVENTBRIDGE_ENDPOINT"} {
			if _, ok := vars[v]; ok {
				t.Errorf("%s sets %s", id, v)
			}
		}
	}
	if _, ok := at(tpl, "Globals", "Function", "Environment", "Variables").(map[string]any)["AWS_SAM_LOCAL"]; ok {
		t.Error("Globals sets AWS_SAM_LOCAL")
	}
}
