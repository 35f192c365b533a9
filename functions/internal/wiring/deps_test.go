package wiring_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

const (
	mod        = "github.com/kudurrustone/apikeys/functions/internal/"
	sdkService = "github.com/aws/aws-sdk-go-v2/service/"
	jwt        = "github.com/golang-jwt/jwt/v5"
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
		{"list", []string{sdkService + "apigatewayv2", sdkService + "eventbridge", mod + "authcache", mod + "authorizer"}},
		{"generate", []string{sdkService + "apigatewayv2", mod + "authcache", mod + "authorizer"}},
		{"revoke", []string{mod + "authorizer"}},
		{"expiry", []string{sdkService + "secretsmanager", sdkService + "apigatewayv2", sdkService + "eventbridge", jwt,
			mod + "pepper", mod + "samlocal", mod + "admintoken", mod + "authorizer", mod + "authcache", mod + "httpapi", mod + "eventbus"}},
		{"publisher", []string{sdkService + "secretsmanager", sdkService + "apigatewayv2", jwt, mod + "pepper",
			mod + "samlocal", mod + "admintoken", mod + "authorizer", mod + "authcache", mod + "httpapi"}},
		{"update", []string{mod + "authorizer"}},
		{"roll", []string{mod + "authorizer"}},
		{"auditevents", []string{sdkService + "apigatewayv2", mod + "authcache", mod + "authorizer"}},
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
			for _, p := range append(append(tt.mustNot, testOnly...), localOnly...) {
				if deps[p] {
					t.Errorf("./functions/%s links %s", tt.fn, p)
				}
			}
		})
	}
}
