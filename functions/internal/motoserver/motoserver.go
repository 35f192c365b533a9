// Package motoserver is the test harness for the AWS services we do not run
// ourselves: it starts moto's standalone server (`moto_server`, the Python
// package moto, preinstalled for Python 3.11) on a free loopback port and
// gives SDK clients for its EventBridge and SQS, plus a capture of the events
// a bus delivers: a rule whose target is a fresh SQS queue, read back with
// ReceiveMessage.
//
// One server is started per test process, on first use, and stopped when the
// process exits (it watches its stdin, as functions/internal/ddblocal does
// for DynamoDB Local). Tests that need it fail, never skip, when it cannot
// start.
//
// It is a normal package (not _test) so tests of several packages can share
// it; nothing outside tests should import it.
package motoserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

// Region and the dummy credentials of every client; moto accepts any and
// uses account 123456789012.
const (
	Region          = "us-east-1"
	AccessKeyID     = "moto"
	SecretAccessKey = "moto"
	Account         = "123456789012"
)

const installHint = "tests of EventBridge and SQS need moto's server: `pip3.11 install 'moto[server]'` " +
	"(it provides the moto_server command)"

var (
	once     sync.Once
	endpoint string
	startErr error
	running  *server
)

// URL returns the base URL of the shared moto server, starting it on first
// use. It fails t (never skips) when moto cannot start.
func URL(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		running, startErr = start()
		if startErr == nil {
			endpoint = running.url
		}
	})
	if startErr != nil {
		t.Fatalf("%v\n%s", startErr, installHint)
	}
	return endpoint
}

// Main runs the tests of a package and then stops a moto server this
// process started. Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(motoserver.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	Stop()
	return code
}

// Stop stops the server this process started, if any (TestMain may call it;
// otherwise it stops when the process exits).
func Stop() {
	if running != nil {
		running.stop()
	}
}

// EventBridge returns an EventBridge client for the moto server.
func EventBridge(t testing.TB) *eventbridge.Client {
	t.Helper()
	return eventbridge.New(eventbridge.Options{Region: Region, Credentials: creds(), BaseEndpoint: aws.String(URL(t))})
}

// SQS returns an SQS client for the moto server.
func SQS(t testing.TB) *sqs.Client {
	t.Helper()
	return sqs.New(sqs.Options{Region: Region, Credentials: creds(), BaseEndpoint: aws.String(URL(t))})
}

func creds() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, "")
}

// Env is the environment a Lambda function under the emulator needs to
// reach moto's EventBridge: region, dummy credentials and the endpoint in
// EVENTBRIDGE_ENDPOINT (the variable the functions read).
func Env(t testing.TB) map[string]string {
	t.Helper()
	return map[string]string{
		"AWS_REGION": Region, "AWS_ACCESS_KEY_ID": AccessKeyID, "AWS_SECRET_ACCESS_KEY": SecretAccessKey,
		"EVENTBRIDGE_ENDPOINT": URL(t),
	}
}

// Capture is an event bus whose every event matching a pattern lands in an
// SQS queue.
type Capture struct {
	Bus      string // the bus name
	queueURL string
	sqs      *sqs.Client
}

// Envelope is an EventBridge event as a target receives it.
type Envelope struct {
	ID         string          `json:"id"`
	Version    string          `json:"version"`
	Source     string          `json:"source"`
	DetailType string          `json:"detail-type"`
	Time       string          `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// NewCapture creates a uniquely named event bus (bus "" creates one; pass
// "default" to use the account's default bus), a rule on it with the event
// pattern (JSON, e.g. {"source":["kudurrustone.api-keys"]}) and a new SQS
// queue as the rule's target.
func NewCapture(t testing.TB, bus, pattern string) *Capture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	eb, q := EventBridge(t), SQS(t)
	name := uniqueName(t.Name())
	if bus == "" {
		bus = name
		if _, err := eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(bus)}); err != nil {
			t.Fatalf("motoserver: create bus: %v", err)
		}
	}
	created, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatalf("motoserver: create queue: %v", err)
	}
	attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: created.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatalf("motoserver: queue ARN: %v", err)
	}
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(name), EventBusName: aws.String(bus),
		EventPattern: aws.String(pattern)}); err != nil {
		t.Fatalf("motoserver: put rule: %v", err)
	}
	out, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(name), EventBusName: aws.String(bus),
		Targets: []ebtypes.Target{{Id: aws.String("queue"), Arn: aws.String(attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)])}}})
	if err != nil || out.FailedEntryCount != 0 {
		t.Fatalf("motoserver: put target: %v (%d failed)", err, failed(out))
	}
	return &Capture{Bus: bus, queueURL: aws.ToString(created.QueueUrl), sqs: q}
}

func failed(out *eventbridge.PutTargetsOutput) int32 {
	if out == nil {
		return 0
	}
	return out.FailedEntryCount
}

// Receive waits up to timeout for n events and returns those received (in
// arrival order; fewer than n when the time runs out). It deletes what it
// receives.
func (c *Capture) Receive(t testing.TB, n int, timeout time.Duration) []Envelope {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout+10*time.Second)
	defer cancel()
	var out []Envelope
	deadline := time.Now().Add(timeout)
	for len(out) < n {
		msgs, err := c.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(c.queueURL),
			MaxNumberOfMessages: 10, WaitTimeSeconds: 0})
		if err != nil {
			t.Fatalf("motoserver: receive: %v", err)
		}
		for _, m := range msgs.Messages {
			var e Envelope
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &e); err != nil {
				t.Fatalf("motoserver: a queued message is not an EventBridge event: %v", err)
			}
			out = append(out, e)
			if _, err := c.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(c.queueURL),
				ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatalf("motoserver: delete message: %v", err)
			}
		}
		if len(msgs.Messages) == 0 {
			if time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return out
}

// server is a moto_server child process.
type server struct {
	url      string
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	exited   chan struct{}
	log      *testkit.SyncBuffer
	stopOnce sync.Once
}

// logLimit bounds the moto output kept for error messages; startup errors
// come first.
const logLimit = 64 << 10

// watchdog runs moto as a child of a shell that kills it once its stdin
// reaches EOF, which happens when this process exits for any reason, so no
// moto outlives the tests.
const watchdog = `"$@" </dev/null & pid=$!
trap 'kill $pid 2>/dev/null; wait $pid' EXIT
cat >/dev/null`

// command finds moto: the moto_server command, else python3.11 -m
// moto.server.
func command() ([]string, error) {
	if p, err := exec.LookPath("moto_server"); err == nil {
		return []string{p}, nil
	}
	for _, py := range []string{"python3.11", "python3"} {
		if p, err := exec.LookPath(py); err == nil {
			if exec.Command(p, "-c", "import moto.server").Run() == nil {
				return []string{p, "-m", "moto.server"}, nil
			}
		}
	}
	return nil, errors.New("motoserver: neither moto_server nor python3.11 -m moto.server is available")
}

func start() (*server, error) {
	argv, err := command()
	if err != nil {
		return nil, err
	}
	var lastErr error
	for range 3 { // the free port could be taken between picking and binding
		port, err := testkit.FreePort()
		if err != nil {
			return nil, err
		}
		s, err := launch(argv, port)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func launch(argv []string, port int) (*server, error) {
	args := append([]string{"-c", watchdog, "motoserver"}, argv...)
	args = append(args, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd := exec.Command("/bin/sh", args...)
	// moto reads no AWS configuration of ours, but keep the host's out.
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+AccessKeyID, "AWS_SECRET_ACCESS_KEY="+SecretAccessKey,
		"AWS_DEFAULT_REGION="+Region)
	log := &testkit.SyncBuffer{Limit: logLimit}
	cmd.Stdout, cmd.Stderr = log, log
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("motoserver: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("motoserver: start %s: %w", argv[0], err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s := &server{url: "http://127.0.0.1:" + strconv.Itoa(port), cmd: cmd, stdin: stdin, exited: exited, log: log}
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		// moto's own API answers once the server is ready.
		if resp, err := client.Get(s.url + "/moto-api/"); err == nil {
			_ = resp.Body.Close()
			fmt.Fprintf(os.Stderr, "motoserver: moto is up at %s\n", s.url)
			return s, nil
		}
		select {
		case <-exited:
			return nil, fmt.Errorf("motoserver: %s exited during startup:\n%s", argv[0], log.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	s.stop()
	return nil, fmt.Errorf("motoserver: moto did not answer on %s within 60s:\n%s", s.url, log.String())
}

func (s *server) stop() {
	s.stopOnce.Do(func() {
		_ = s.stdin.Close()
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
		}
	})
}

// uniqueName makes a bus, rule and queue name (letters, digits, - and _, at
// most 64 characters) from a test name and a random suffix.
func uniqueName(testName string) string {
	var b strings.Builder
	for _, r := range testName {
		if r < 128 && (r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	base := b.String()
	if len(base) > 48 {
		base = base[:48]
	}
	var r [6]byte
	_, _ = rand.Read(r[:])
	return base + "-" + hex.EncodeToString(r[:])
}
