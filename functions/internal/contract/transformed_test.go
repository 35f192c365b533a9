package contract_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kudurrustone/apikeys/functions/internal/httpapi"
)

// basicExecutionRole is the one managed policy SAM gives a function role:
// writing its own logs.
const basicExecutionRole = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"

// authorizerOf names the gateway authorizer each httpapi function's routes
// sit behind: the admin JWT authorizer, or the Lambda authorizer for the
// integration routes.
func authorizerOf(function string) string {
	if function == httpapi.FunctionWhoami {
		return "ApiKey"
	}
	return "AdminJwt"
}

// TestCFNRoutes reads the routes from the HTTP API's OpenAPI body that the
// transform generates and requires exactly httpapi.Routes(), each served by
// its function behind its authorizer, each with the Lambda permission that
// lets API Gateway invoke it for that route only.
func TestCFNRoutes(t *testing.T) {
	tpl := loadCFN(t)
	if at(tpl, "Resources", "HttpApi", "Type") != "AWS::ApiGatewayV2::Api" {
		t.Fatal("HttpApi is not an AWS::ApiGatewayV2::Api after the transform")
	}
	byFunction := map[string]string{}
	for id, fn := range routeFunctions {
		byFunction[fn] = id
	}
	type route struct{ method, path, function, auth string }
	var got []route
	integration := regexp.MustCompile(`^Sub arn:\$\{AWS::Partition\}:apigateway:\$\{AWS::Region\}:lambda:path/2015-03-31/functions/\$\{(\w+)\.Arn\}/invocations$`)
	paths, _ := at(tpl, "Resources", "HttpApi", "Properties", "Body", "paths").(map[string]any)
	for path, ops := range paths {
		for method, op := range ops.(map[string]any) {
			in := at(op, "x-amazon-apigateway-integration")
			m := integration.FindStringSubmatch(ref(at(in, "uri")))
			if m == nil || at(in, "type") != "aws_proxy" || at(in, "payloadFormatVersion") != "2.0" {
				t.Errorf("%s %s: integration %v is not a payload 2.0 Lambda proxy of a function of this template", method, path, in)
				continue
			}
			var auth []string
			for _, s := range list(at(op, "security")) {
				for name := range s.(map[string]any) {
					auth = append(auth, name)
				}
			}
			if len(auth) != 1 {
				t.Errorf("%s %s: authorizers %v, want exactly one", method, path, auth)
				continue
			}
			got = append(got, route{strings.ToUpper(method), path, routeFunctions[m[1]], auth[0]})
		}
	}
	var want []route
	for _, r := range httpapi.Routes() {
		want = append(want, route{r.Method, r.Path, r.Function, authorizerOf(r.Function)})
	}
	less := func(a, b route) int { return strings.Compare(a.method+" "+a.path, b.method+" "+b.path) }
	slices.SortFunc(got, less)
	slices.SortFunc(want, less)
	if !slices.Equal(got, want) {
		t.Errorf("deployed routes\n  %v\nwant (httpapi.Routes)\n  %v", got, want)
	}

	// One invoke permission per route, for that method and path on any
	// stage of this API, and nothing else for the route functions.
	perms := map[string][]string{} // function -> source ARNs
	for id, p := range cfnResources(tpl, "AWS::Lambda::Permission") {
		props := at(p, "Properties")
		fn := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(ref(at(props, "FunctionName")), "Ref "), "GetAtt "), ".Arn")
		if at(props, "Action") != "lambda:InvokeFunction" {
			t.Errorf("%s: action %v", id, at(props, "Action"))
		}
		if at(props, "Principal") == "apigateway.amazonaws.com" {
			perms[fn] = append(perms[fn], ref(at(props, "SourceArn")))
		}
	}
	for _, r := range httpapi.Routes() {
		id := byFunction[r.Function]
		path := regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(r.Path, "*")
		wantArn := "Sub arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${__ApiId__}/${__Stage__}/" +
			r.Method + path + " | __ApiId__=Ref HttpApi, __Stage__=*"
		if !slices.Contains(perms[id], wantArn) {
			t.Errorf("%s: no permission for API Gateway to invoke it for %s %s; has %v", id, r.Method, r.Path, perms[id])
		}
	}
	for id := range routeFunctions {
		routes := 0
		for _, r := range httpapi.Routes() {
			if byFunction[r.Function] == id {
				routes++
			}
		}
		if len(perms[id]) != routes {
			t.Errorf("%s: %d API Gateway permissions for %d routes: %v", id, len(perms[id]), routes, perms[id])
		}
	}
	// The Lambda authorizer: API Gateway may invoke it as an authorizer of
	// this API only.
	wantAuth := "Sub arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${__ApiId__}/authorizers/* | __ApiId__=Ref HttpApi"
	if p := perms["AuthorizerFunction"]; len(p) != 1 || p[0] != wantAuth {
		t.Errorf("AuthorizerFunction: API Gateway permissions %v, want exactly [%s]", p, wantAuth)
	}
}

// TestCFNAuthorizers checks both gateway authorizers as deployed.
func TestCFNAuthorizers(t *testing.T) {
	tpl := loadCFN(t)
	schemes := at(tpl, "Resources", "HttpApi", "Properties", "Body", "components", "securitySchemes")

	jwt := at(schemes, "AdminJwt", "x-amazon-apigateway-authorizer")
	if at(jwt, "type") != "jwt" || ref(at(jwt, "identitySource")) != "$request.header.Authorization" ||
		ref(at(jwt, "jwtConfiguration", "issuer")) != "Ref JwtIssuer" ||
		ref(at(jwt, "jwtConfiguration", "audience")) != "Ref JwtAudience" {
		t.Errorf("AdminJwt: %v; want a JWT authorizer on the Authorization header with issuer and audience from the parameters", jwt)
	}

	key := at(schemes, "ApiKey", "x-amazon-apigateway-authorizer")
	for k, want := range map[string]string{
		"type":                           "request",
		"authorizerPayloadFormatVersion": "2.0",
		"authorizerResultTtlInSeconds":   "Ref AuthorizerCacheTtl",
		"authorizerUri":                  "Sub arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${__FunctionArn__}/invocations | __FunctionArn__=GetAtt AuthorizerFunction.Arn",
	} {
		if got := ref(at(key, k)); got != want {
			t.Errorf("ApiKey authorizer %s = %s, want %s", k, got, want)
		}
	}
	// The answer is cached per identity source: the Authorization header
	// must be part of it, so one key's answer is never another key's.
	var sources []string
	for _, s := range list(at(key, "identitySource")) {
		sources = append(sources, fmt.Sprint(s))
	}
	if !slices.Contains(sources, "$request.header.Authorization") {
		t.Errorf("ApiKey identity sources %v lack $request.header.Authorization", sources)
	}
	// The source address too, so an answer for a key with allowed
	// addresses is never reused from another address; and an IAM policy,
	// not a simple response, so API Gateway enforces the key's scopes.
	if !slices.Contains(sources, "$context.identity.sourceIp") {
		t.Errorf("ApiKey identity sources %v lack $context.identity.sourceIp", sources)
	}
	if simple := at(key, "enableSimpleResponses"); simple != nil && simple != false {
		t.Errorf("ApiKey enableSimpleResponses = %v, want false (IAM policy answers)", simple)
	}
	ttl := at(tpl, "Parameters", "AuthorizerCacheTtl")
	if fmt.Sprint(at(ttl, "MinValue")) != "0" || fmt.Sprint(at(ttl, "MaxValue")) != "3600" {
		t.Errorf("AuthorizerCacheTtl must range 0..3600 (API Gateway's bounds), got %v..%v", at(ttl, "MinValue"), at(ttl, "MaxValue"))
	}

	stage := at(tpl, "Resources", "HttpApiApiGatewayDefaultStage", "Properties")
	if ref(at(stage, "ApiId")) != "Ref HttpApi" ||
		ref(at(stage, "DefaultRouteSettings", "ThrottlingBurstLimit")) != "Ref ThrottlingBurstLimit" ||
		ref(at(stage, "DefaultRouteSettings", "ThrottlingRateLimit")) != "Ref ThrottlingRateLimit" {
		t.Errorf("default stage %v: throttling must come from the parameters", stage)
	}
	if rc := ref(at(tpl, "Resources", "AuthorizerFunction", "Properties", "ReservedConcurrentExecutions")); rc != "If ReserveAuthorizerConcurrency Ref AuthorizerReservedConcurrency Ref AWS::NoValue" {
		t.Errorf("AuthorizerFunction reserved concurrency = %s", rc)
	}
}

// TestCFNRoles holds every function's role to the least-privilege table:
// assumed by Lambda only, the basic execution policy for its logs, and
// exactly the grants listed, from inline statements and attached policies.
func TestCFNRoles(t *testing.T) {
	tpl := loadCFN(t)
	fns := cfnResources(tpl, "AWS::Lambda::Function")
	if got, want := slices.Sorted(mapKeys(fns)), slices.Sorted(mapKeys(functionFolders)); !slices.Equal(got, want) {
		t.Fatalf("Lambda functions after the transform %v, want %v", got, want)
	}
	roles := cfnResources(tpl, "AWS::IAM::Role")
	seen := map[string]bool{}
	for id := range fns {
		role := roleOf(t, tpl, id)
		if seen[role] {
			t.Errorf("%s shares role %s with another function", id, role)
		}
		seen[role] = true
		props := at(roles[role], "Properties")
		trust := list(at(props, "AssumeRolePolicyDocument", "Statement"))
		if len(trust) != 1 || ref(at(trust[0], "Principal")) != `{"Service":["lambda.amazonaws.com"]}` ||
			ref(at(trust[0], "Action")) != `["sts:AssumeRole"]` {
			t.Errorf("%s: trust policy %v, want Lambda only", role, trust)
		}
		if m := list(at(props, "ManagedPolicyArns")); len(m) != 1 || m[0] != basicExecutionRole {
			t.Errorf("%s: managed policies %v, want only %s", role, m, basicExecutionRole)
		}
		got := grantsFrom(roleStatements(t, tpl, role))
		want := slices.Clone(leastPrivilege[id])
		sortGrants(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s grants\n  %v\nwant\n  %v", id, got, want)
		}
	}
	for id, role := range roles {
		if seen[id] {
			continue
		}
		// The role EventBridge Scheduler takes to invoke a function on
		// schedule (SAM's ScheduleV2): that and nothing else.
		props := at(role, "Properties")
		trust := list(at(props, "AssumeRolePolicyDocument", "Statement"))
		grants := grantsFrom(roleStatements(t, tpl, id))
		if len(trust) == 1 && ref(at(trust[0], "Principal")) == `{"Service":["scheduler.amazonaws.com"]}` &&
			len(grants) == 1 && grants[0] == (grant{"lambda:InvokeFunction", "GetAtt ExpiryFunction.Arn"}) &&
			at(props, "ManagedPolicyArns") == nil {
			continue
		}
		t.Errorf("role %s belongs to no function (grants %v)", id, grants)
	}
	if m := cfnResources(tpl, "AWS::IAM::ManagedPolicy"); len(m) > 0 {
		t.Errorf("managed policies %v escape the per-function check", slices.Collect(mapKeys(m)))
	}
}

// TestCFNFunctionSettings checks what every deployed function shares.
func TestCFNFunctionSettings(t *testing.T) {
	tpl := loadCFN(t)
	for id, fn := range cfnResources(tpl, "AWS::Lambda::Function") {
		p := at(fn, "Properties")
		for k, want := range map[string]string{
			"Runtime":       "provided.al2023",
			"Handler":       "bootstrap",
			"Architectures": `["arm64"]`,
			"Code":          fmt.Sprintf(`{"S3Bucket":"sam-package-bucket","S3Key":"%s.zip"}`, id),
			"MemorySize":    "256",
			"Role":          "GetAtt " + id + "Role.Arn",
		} {
			if got := ref(at(p, k)); got != want {
				t.Errorf("%s: %s = %s, want %s", id, k, got, want)
			}
		}
	}
}

// TestCFNOutputs checks what other stacks and the operators read.
func TestCFNOutputs(t *testing.T) {
	tpl := loadCFN(t)
	out := at(tpl, "Outputs")
	for name, want := range map[string]string{
		"ApiUrl":                "Sub https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/",
		"TableName":             "Ref KeysTable",
		"AuthorizerFunctionArn": "GetAtt AuthorizerFunction.Arn",
		"PepperSecretArn":       "Ref PepperSecret",
		"RotationFunctionArn":   "GetAtt RotationFunction.Arn",
	} {
		if got := ref(at(out, name, "Value")); got != want {
			t.Errorf("output %s = %s, want %s", name, got, want)
		}
	}
	if got := ref(at(out, "AuthorizerFunctionArn", "Export", "Name")); got != "Sub ${AWS::StackName}-AuthorizerArn" {
		t.Errorf("the authorizer ARN is exported as %s, want ${AWS::StackName}-AuthorizerArn", got)
	}
}

// TestCFNNothingDestroyable: the table and the pepper secret survive a
// stack deletion and a replacement, and the secret has no value in the
// template, so no template change can make CloudFormation write one over a
// rotated pepper set (PepperInit gives it its first version, once).
func TestCFNNothingDestroyable(t *testing.T) {
	tpl := loadCFN(t)
	for _, id := range []string{"KeysTable", "PepperSecret"} {
		r := at(tpl, "Resources", id)
		if at(r, "DeletionPolicy") != "Retain" || at(r, "UpdateReplacePolicy") != "Retain" {
			t.Errorf("%s: DeletionPolicy %v, UpdateReplacePolicy %v; want Retain for both", id, at(r, "DeletionPolicy"), at(r, "UpdateReplacePolicy"))
		}
	}
	if ref(at(tpl, "Resources", "KeysTable", "Properties", "DeletionProtectionEnabled")) != "If TableProtected true false" ||
		ref(at(tpl, "Conditions", "TableProtected")) != `{"Fn::Equals":[{"Ref":"TableDeletionProtection"},"true"]}` ||
		at(tpl, "Parameters", "TableDeletionProtection", "Default") != "true" {
		t.Error("KeysTable deletion protection must follow TableDeletionProtection, on by default")
	}
	secret := at(tpl, "Resources", "PepperSecret", "Properties")
	for _, k := range []string{"SecretString", "GenerateSecretString", "Name"} {
		if at(secret, k) != nil {
			t.Errorf("PepperSecret sets %s: a change of it would make CloudFormation overwrite or replace the rotated pepper set", k)
		}
	}
	init := at(tpl, "Resources", "PepperInit")
	if at(init, "Type") != "Custom::PepperInit" || ref(at(init, "Properties", "ServiceToken")) != "GetAtt RotationFunction.Arn" ||
		ref(at(init, "Properties", "SecretId")) != "Ref PepperSecret" {
		t.Errorf("PepperInit = %v; want the rotation function initialising PepperSecret", init)
	}
	// The rotation: optional schedule, invoked by Secrets Manager of this
	// account only.
	sched := at(tpl, "Resources", "PepperRotationSchedule")
	if at(sched, "Condition") != "RotatePepper" || ref(at(sched, "Properties", "RotationLambdaARN")) != "GetAtt RotationFunction.Arn" ||
		ref(at(sched, "Properties", "SecretId")) != "Ref PepperSecret" || at(sched, "Properties", "RotateImmediatelyOnUpdate") != false ||
		ref(at(sched, "Properties", "RotationRules", "AutomaticallyAfterDays")) != "Ref PepperRotationDays" {
		t.Errorf("PepperRotationSchedule = %v", sched)
	}
	if c := ref(at(tpl, "Conditions", "RotatePepper")); c != `{"Fn::Not":[{"Fn::Equals":[{"Ref":"PepperRotationDays"},0]}]}` {
		t.Errorf("RotatePepper = %s, want PepperRotationDays != 0", c)
	}
	if d := at(tpl, "Parameters", "PepperRotationDays"); fmt.Sprint(at(d, "Default")) != "0" {
		t.Errorf("PepperRotationDays defaults to %v, want 0 (no schedule)", at(d, "Default"))
	}
	var found bool
	for id, p := range cfnResources(tpl, "AWS::Lambda::Permission") {
		props := at(p, "Properties")
		if at(props, "Principal") != "secretsmanager.amazonaws.com" {
			continue
		}
		found = true
		if ref(at(props, "FunctionName")) != "GetAtt RotationFunction.Arn" || ref(at(props, "SourceAccount")) != "Ref AWS::AccountId" {
			t.Errorf("%s: Secrets Manager may invoke %s for %s; want the rotation function, for this account only",
				id, ref(at(props, "FunctionName")), ref(at(props, "SourceAccount")))
		}
	}
	if !found {
		t.Error("no permission for Secrets Manager to invoke the rotation function")
	}
}
