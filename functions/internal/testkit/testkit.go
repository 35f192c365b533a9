// Package testkit holds the small helpers the tests of several packages
// share: a synchronized buffer for captured logs, static peppers, a
// settable clock, RSA keys and signed JWTs, the repository root and free
// loopback ports. Only tests and test-support packages (ddblocal, rie, …)
// import it; no function links it.
package testkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
)

// SyncBuffer is a bytes.Buffer safe for concurrent writers (a logger
// shared by goroutines) and readers. Set Limit to stop keeping output past
// that many bytes (later writes still succeed).
type SyncBuffer struct {
	mu    sync.Mutex
	b     bytes.Buffer
	Limit int
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Limit > 0 && s.b.Len() >= s.Limit {
		return len(p), nil
	}
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// Bytes returns a copy of everything written so far.
func (s *SyncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// Reset forgets everything written so far.
func (s *SyncBuffer) Reset() { s.mu.Lock(); defer s.mu.Unlock(); s.b.Reset() }

// Fixed test peppers (each at least apikey.MinPepperLen bytes) and the
// Secrets Manager secret values that hold them.
const (
	Pepper1 = "pepper-one-0123456789abcdefghijklm"
	Pepper2 = "pepper-two-ZYXWVUTSRQPONMLKJIHGFED"
	// SecretV1 holds version 1, current.
	SecretV1 = `{"current":"1","1":"` + Pepper1 + `"}`
	// SecretV12 holds versions 1 and 2, 2 current.
	SecretV12 = `{"current":"2","1":"` + Pepper1 + `","2":"` + Pepper2 + `"}`
)

// PepperSet builds a pepper set from secrets by version, or fails the test.
func PepperSet(t testing.TB, current string, secrets map[string]string) apikey.PepperSet {
	t.Helper()
	m := make(map[string][]byte, len(secrets))
	for v, s := range secrets {
		m[v] = []byte(s)
	}
	set, err := apikey.NewPepperSet(current, m)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// Peppers is a keyservice.PepperSource that returns Set and Err.
type Peppers struct {
	Set apikey.PepperSet
	Err error
}

// Peppers implements keyservice.PepperSource.
func (p Peppers) Peppers(context.Context) (apikey.PepperSet, error) { return p.Set, p.Err }

// StaticPeppers is a pepper source holding Pepper1 as version 1.
func StaticPeppers(t testing.TB) Peppers {
	return Peppers{Set: PepperSet(t, "1", map[string]string{"1": Pepper1})}
}

// Key returns a new valid API key, or fails the test.
func Key(t testing.TB) string {
	t.Helper()
	k, err := apikey.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// RepoRoot returns the module root: the nearest directory at or above the
// working directory (a test's package directory) holding go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("testkit: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testkit: no go.mod at or above the working directory")
		}
		dir = parent
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("testkit: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// LoadPeppers returns the set src serves now, or fails the test when it
// fails or is empty.
func LoadPeppers(t testing.TB, src interface {
	Peppers(context.Context) (apikey.PepperSet, error)
}) apikey.PepperSet {
	t.Helper()
	set, err := src.Peppers(context.Background())
	if err != nil {
		t.Fatalf("Peppers: %v", err)
	}
	if set.Empty() {
		t.Fatal("Peppers returned an empty set")
	}
	return set
}

// Event returns the sample event events/<name> (the ones `sam local invoke`
// uses) with each {{NAME}} placeholder replaced by values[NAME], or fails
// the test when the file cannot be read or a placeholder is left unfilled.
func Event(t testing.TB, name string, values map[string]string) []byte {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "events", name))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for k, v := range values {
		s = strings.ReplaceAll(s, "{{"+k+"}}", v)
	}
	if i := strings.Index(s, "{{"); i >= 0 {
		t.Fatalf("event %s: placeholder left unfilled at %q", name, s[i:min(len(s), i+20)])
	}
	return []byte(s)
}

// WithClaims returns a copy of claims with kv applied as name, value pairs;
// the value "<delete>" removes the name.
func WithClaims(claims map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(claims)+len(kv)/2)
	for k, v := range claims {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "<delete>" {
			delete(out, kv[i])
			continue
		}
		out[kv[i]] = kv[i+1]
	}
	return out
}
