package wiring_test

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

const (
	mod        = "github.com/kudurrustone/apikeys/functions/internal/"
	sdkService = "github.com/aws/aws-sdk-go-v2/service/"
	jwt        = "github.com/golang-jwt/jwt/v5"
	// jsonV2 decodes request bodies and the authorizer's events.
	jsonV2 = "github.com/go-json-experiment/json"
	// sdkConfig is the SDK's shared-configuration loader (profiles, SSO,
	// STS, IMDS); Lambda functions read their environment (package awsenv).
	sdkConfig = "github.com/aws/aws-sdk-go-v2/config"
)

// testOnly are the packages no function may link: test support.
var testOnly = []string{mod + "testkit", mod + "ddblocal", mod + "rie", mod + "faults", mod + "smfake",
	mod + "storetest", mod + "securitytest", mod + "perf", mod + "motoserver"}

// localOnly are the local server's pieces.
var localOnly = []string{mod + "localserver", mod + "secretfile", mod + "boltstore", "go.etcd.io/bbolt"}

// TestEachFunctionLinksOnlyWhatItUses holds every Lambda function to the
// packages it must not link (go list -deps), so a cold start never loads,
// and a binary never carries, a client or a secret path it has no use for.
func TestEachFunctionLinksOnlyWhatItUses(t *testing.T) {
	tests := []struct {
		fn      string
		mustNot []string
	}{
		{"whoami", []string{sdkService + "dynamodb", sdkService + "secretsmanager", sdkService + "apigatewayv2", jwt,
			mod + "wiring", mod + "ddbstore", mod + "pepper", mod + "samlocal", mod + "admintoken", mod + "authorizer"}},
		{"authorizer", []string{mod + "samlocal", mod + "admintoken", jwt, sdkService + "apigatewayv2", mod + "authcache", mod + "httpapi"}},
		{"list", []string{sdkService + "apigatewayv2", sdkService + "eventbridge", sdkService + "secretsmanager", mod + "pepper",
			mod + "authcache", mod + "authorizer"}},
		{"generate", []string{sdkService + "apigatewayv2", mod + "authcache", mod + "authorizer"}},
		{"revoke", []string{sdkService + "secretsmanager", mod + "pepper", mod + "authorizer"}},
		{"expiry", []string{sdkService + "secretsmanager", sdkService + "apigatewayv2", sdkService + "eventbridge", jwt,
			mod + "pepper", mod + "samlocal", mod + "admintoken", mod + "authorizer", mod + "authcache", mod + "httpapi", mod + "eventbus"}},
		{"publisher", []string{sdkService + "secretsmanager", sdkService + "apigatewayv2", jwt, mod + "pepper",
			mod + "samlocal", mod + "admintoken", mod + "authorizer", mod + "authcache", mod + "httpapi"}},
		{"update", []string{sdkService + "secretsmanager", mod + "pepper", mod + "authorizer"}},
		{"roll", []string{mod + "authorizer"}},
		{"auditevents", []string{sdkService + "apigatewayv2", sdkService + "secretsmanager", mod + "pepper",
			mod + "authcache", mod + "authorizer"}},
		{"rotation", []string{sdkService + "dynamodb", sdkService + "apigatewayv2", sdkService + "eventbridge", jwt,
			mod + "wiring", mod + "ddbstore", mod + "samlocal", mod + "admintoken", mod + "authorizer", mod + "authcache", mod + "httpapi"}},
	}
	root, err := testkit.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.fn, func(t *testing.T) {
			cmd := exec.Command("go", "list", "-deps", "./functions/"+tt.fn)
			cmd.Dir = root
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("go list -deps ./functions/%s: %v", tt.fn, err)
			}
			deps := map[string]bool{}
			for _, p := range strings.Fields(string(out)) {
				deps[p] = true
			}
			if !deps[mod+"settings"] {
				t.Fatalf("go list printed no dependency of ./functions/%s we know: %.200s", tt.fn, out)
			}
			for _, p := range append(append(append(tt.mustNot, sdkConfig), testOnly...), localOnly...) {
				if deps[p] {
					t.Errorf("./functions/%s links %s", tt.fn, p)
				}
			}
		})
	}
}

// TestFunctionsWithoutABodyLeaveJSONv2Out builds the functions that decode
// no request body and reads their symbol tables: package httpapi imports
// JSON v2 for request bodies, and the linker must leave its decoder
// (json.Unmarshal and all it reaches, 0.6 MB of bootstrap) out of these
// binaries. That holds only while each main calls its own route's handler
// (API.List, ...) rather than API.Handler, and while nothing in httpapi
// calls JSON v2 at package initialisation.
func TestFunctionsWithoutABodyLeaveJSONv2Out(t *testing.T) {
	root, err := testkit.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, fn := range []string{"list", "revoke", "auditevents", "whoami", "generate"} {
		t.Run(fn, func(t *testing.T) {
			bin := filepath.Join(dir, fn)
			cmd := exec.Command("go", "build", "-trimpath", "-tags", "lambda.norpc", "-o", bin, "./functions/"+fn)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("go build ./functions/%s: %v\n%s", fn, err, out)
			}
			f, err := elf.Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			syms, err := f.Symbols()
			if err != nil || len(syms) == 0 {
				t.Fatalf("no symbol table in %s: %v", bin, err)
			}
			linked := slices.ContainsFunc(syms, func(s elf.Symbol) bool { return s.Name == jsonV2+".Unmarshal" })
			// generate decodes a body: it must link JSON v2, which shows
			// the check can see it.
			if want := fn == "generate"; linked != want {
				t.Errorf("./functions/%s: links %s.Unmarshal = %v, want %v", fn, jsonV2, linked, want)
			}
		})
	}
}
