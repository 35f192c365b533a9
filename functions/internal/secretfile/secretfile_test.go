package secretfile_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kudurrustone/apikeys/functions/internal/secretfile"
)

func TestCreateOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "secret")
	calls := 0
	body := func() ([]byte, error) { calls++; return []byte("s3cret"), nil }
	for i, wantCreated := range []bool{true, false} {
		created, err := secretfile.Create(path, body)
		if err != nil || created != wantCreated {
			t.Fatalf("Create #%d = %v, %v; want %v", i+1, created, err, wantCreated)
		}
	}
	if calls != 1 {
		t.Errorf("newBody called %d times, want 1 (not for an existing file)", calls)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		if info, err := os.Stat(p); err != nil || info.Mode().Perm() != want {
			t.Errorf("%s: mode %v (%v), want %04o", p, info.Mode().Perm(), err, want)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*.tmp")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	got, err := secretfile.Read(path, 64)
	if err != nil || string(got) != "s3cret" {
		t.Fatalf("Read = %q, %v", got, err)
	}
}

func TestCreateBodyError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret")
	boom := errors.New("no entropy")
	if _, err := secretfile.Create(path, func() ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("Create = %v, want %v", err, boom)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file exists after a failed Create: %v", err)
	}
}

func TestReadRefuses(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, mode os.FileMode, size int) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Repeat("x", size)), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, path, want string
	}{
		{"world readable", write("a", 0o644, 4), "chmod 600"},
		{"group writable", write("b", 0o620, 4), "chmod 600"},
		{"too large", write("c", 0o600, 65), "larger than 64 bytes"},
		{"a folder", dir, "not a regular file"},
		{"missing", filepath.Join(dir, "none"), "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := secretfile.Read(tt.path, 64); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Read = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
