// Package rie runs Lambda bootstraps under the AWS Lambda Runtime Interface
// Emulator (github.com/aws/aws-lambda-runtime-interface-emulator, pinned in
// go.mod as a `go tool`), so tests exercise the very binaries we deploy: the
// Runtime API loop, the event decoding and the environment-driven wiring.
//
// Every emulator gets its own loopback ports for both the Runtime API and
// the invoke endpoint (the defaults, 127.0.0.1:9001 and 0.0.0.0:8080, would
// collide between emulators and with other tests).
package rie

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

// InvokePath is the emulator's invoke endpoint (the Lambda Invoke API path).
const InvokePath = "/2015-03-31/functions/function/invocations"

var (
	rieOnce sync.Once
	rieBin  string
	rieErr  error
)

// Binary returns the path of the pinned emulator, built once per test
// binary by the go command from the version in go.mod.
func Binary(t testing.TB) string {
	t.Helper()
	rieOnce.Do(func() {
		root, err := testkit.RepoRoot()
		if err != nil {
			rieErr = err
			return
		}
		// `go tool -n` builds the tool (or reuses the build cache) and
		// prints the binary's path instead of running it.
		cmd := exec.Command("go", "tool", "-n", "aws-lambda-rie")
		cmd.Dir = root
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			rieErr = fmt.Errorf("go tool -n aws-lambda-rie: %w: %s", err, stderr.String())
			return
		}
		rieBin = strings.TrimSpace(string(out))
	})
	if rieErr != nil {
		t.Fatalf("build the Lambda Runtime Interface Emulator: %v", rieErr)
	}
	return rieBin
}

// HostBuildDir is where `make build-host` puts the bootstraps built for this
// machine, relative to the repository root.
const HostBuildDir = ".build/host"

// Bootstrap returns the path of .build/host/<name>/bootstrap, the build of
// package pkg (e.g. "./functions/list"). It fails the test, saying what to
// run, when the file is missing or older than any Go file of the module that
// the package is built from (or go.mod/go.sum), so a stale binary never
// passes for the current code.
func Bootstrap(t testing.TB, name, pkg string) string {
	t.Helper()
	root, err := testkit.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, HostBuildDir, name, "bootstrap")
	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("bootstrap for %q not found at %s: run `make build-host` first (make test does it)", name, path)
	}
	sources, err := moduleSources(root, pkg)
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range sources {
		st, err := os.Stat(src)
		if err != nil {
			t.Fatal(err)
		}
		if info.ModTime().Before(st.ModTime()) {
			t.Fatalf("bootstrap %s is older than %s: run `make build-host` again (make test does it)", path, src)
		}
	}
	return path
}

type goPackage struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Deps       []string
	Module     *struct{ Main bool }
}

var (
	pkgsOnce sync.Once
	pkgs     map[string]goPackage // by directory
	pkgsErr  error
)

// loadPackages lists, once, every package under functions/ (and the
// hello-world and GetItem baselines) with their dependencies, as the Lambda build sees them.
func loadPackages(root string) (map[string]goPackage, error) {
	pkgsOnce.Do(func() {
		cmd := exec.Command("go", "list", "-deps", "-tags", "lambda.norpc",
			"-json=ImportPath,Dir,GoFiles,Deps,Module", "./functions/...", "./functions/internal/rie/testdata/hello", "./functions/internal/rie/testdata/getitem")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			pkgsErr = fmt.Errorf("go list -deps: %w: %s", err, stderr.String())
			return
		}
		pkgs = map[string]goPackage{}
		dec := json.NewDecoder(bytes.NewReader(out))
		for dec.More() {
			var p goPackage
			if err := dec.Decode(&p); err != nil {
				pkgsErr = fmt.Errorf("go list -deps: %w", err)
				return
			}
			pkgs[p.Dir] = p
		}
	})
	return pkgs, pkgsErr
}

// moduleSources lists go.mod, go.sum and every Go file of this module that
// the package in directory pkg (relative to root) is built from.
func moduleSources(root, pkg string) ([]string, error) {
	all, err := loadPackages(root)
	if err != nil {
		return nil, err
	}
	main, ok := all[filepath.Join(root, pkg)]
	if !ok {
		return nil, fmt.Errorf("package %s not found under functions/", pkg)
	}
	byPath := make(map[string]goPackage, len(all))
	for _, p := range all {
		byPath[p.ImportPath] = p
	}
	files := []string{filepath.Join(root, "go.mod"), filepath.Join(root, "go.sum")}
	for _, p := range append([]goPackage{main}, depsOf(main, byPath)...) {
		if p.Module == nil || !p.Module.Main {
			continue
		}
		for _, f := range p.GoFiles {
			files = append(files, filepath.Join(p.Dir, f))
		}
	}
	return files, nil
}

func depsOf(p goPackage, byPath map[string]goPackage) []goPackage {
	out := make([]goPackage, 0, len(p.Deps))
	for _, d := range p.Deps {
		if dp, ok := byPath[d]; ok {
			out = append(out, dp)
		}
	}
	return out
}

// Emulator is one running emulator with one bootstrap.
type Emulator struct {
	Name string
	url  string
	cmd  *exec.Cmd
	out  *testkit.SyncBuffer
	done chan struct{}
}

// Start runs bootstrap under the emulator with exactly env (plus PATH), so
// the host's AWS configuration cannot leak in, and stops it when the test
// ends. It returns once the emulator accepts connections.
func Start(t testing.TB, name, bootstrap string, env map[string]string) *Emulator {
	t.Helper()
	bin := Binary(t)
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		e, err := start(bin, name, bootstrap, env)
		if err == nil {
			t.Cleanup(e.stop)
			return e
		}
		lastErr = err // most likely a port taken between picking and binding
	}
	t.Fatalf("start emulator for %s: %v", name, lastErr)
	return nil
}

func start(bin, name, bootstrap string, env map[string]string) (*Emulator, error) {
	apiPort, err := testkit.FreePort()
	if err != nil {
		return nil, err
	}
	invokePort, err := testkit.FreePort()
	if err != nil {
		return nil, err
	}
	apiAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(apiPort))
	invokeAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(invokePort))
	cmd := exec.Command(bin,
		"--log-level", "error",
		"--runtime-api-address", apiAddr,
		"--runtime-interface-emulator-address", invokeAddr,
		bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	// Own process group: stopping the emulator also stops the bootstrap it
	// spawned, and only those.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &testkit.SyncBuffer{}
	cmd.Stdout = out
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	e := &Emulator{Name: name, url: "http://" + invokeAddr, cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(e.done)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", invokeAddr, 200*time.Millisecond)
		if err == nil {
			_ = conn.Close()
			return e, nil
		}
		select {
		case <-e.done:
			return nil, fmt.Errorf("emulator exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			e.stop()
			return nil, fmt.Errorf("emulator did not listen on %s: %s", invokeAddr, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *Emulator) stop() {
	select {
	case <-e.done:
		return
	default:
	}
	pgid := e.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-e.done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-e.done
	}
}

// Invoke sends payload to the function and returns the emulator's HTTP
// status and body, and the REPORT the emulator printed for this invoke.
func (e *Emulator) Invoke(ctx context.Context, payload []byte) (int, []byte, Report, error) {
	id := newRequestID()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url+InvokePath, bytes.NewReader(payload))
	if err != nil {
		return 0, nil, Report{}, err
	}
	req.Header.Set("X-Amzn-RequestId", id)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, Report{}, fmt.Errorf("invoke %s: %w (output: %s)", e.Name, err, e.out.String())
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, Report{}, err
	}
	// The emulator prints REPORT before it answers, but our reader may not
	// have copied it yet.
	deadline := time.Now().Add(2 * time.Second)
	for {
		if r, ok := e.report(id); ok {
			return resp.StatusCode, body, r, nil
		}
		if time.Now().After(deadline) {
			return resp.StatusCode, body, Report{}, fmt.Errorf("no REPORT line for request %s in the emulator output", id)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Output is everything the emulator and the function wrote so far.
func (e *Emulator) Output() string { return e.out.String() }

// Report is the emulator's REPORT line for one invoke.
type Report struct {
	RequestID string
	Init      time.Duration // zero unless this invoke started the function
	Duration  time.Duration
}

var reportRE = regexp.MustCompile(`REPORT RequestId: (\S+)\t(?:Init Duration: ([0-9.]+) ms\t)?Duration: ([0-9.]+) ms`)

func (e *Emulator) report(id string) (Report, bool) {
	for _, r := range ParseReports(e.out.String()) {
		if r.RequestID == id {
			return r, true
		}
	}
	return Report{}, false
}

// ParseReports extracts the REPORT lines of an emulator's output.
func ParseReports(output string) []Report {
	var reports []Report
	sc := bufio.NewScanner(strings.NewReader(output))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		m := reportRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		r := Report{RequestID: m[1], Duration: ms(m[3])}
		if m[2] != "" {
			r.Init = ms(m[2])
		}
		reports = append(reports, r)
	}
	return reports
}

func ms(s string) time.Duration {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0
	}
	return time.Duration(f * float64(time.Millisecond))
}

var (
	idMu  sync.Mutex
	idSeq int
)

func newRequestID() string {
	idMu.Lock()
	defer idMu.Unlock()
	idSeq++
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", idSeq)
}
