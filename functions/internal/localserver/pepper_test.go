package localserver_test

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
	"github.com/kudurrustone/apikeys/functions/internal/localserver"
	"github.com/kudurrustone/apikeys/functions/internal/pepper"
	"github.com/kudurrustone/apikeys/functions/internal/testkit"
)

func noEnv(string) string { return "" }

func localCfg(path string, getenv func(string) string) localserver.PepperConfig {
	return localserver.PepperConfig{Path: path, Getenv: getenv, Logger: slog.New(slog.DiscardHandler)}
}

func TestLocalFileCreatedAndReused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".data")
	path := filepath.Join(dir, "pepper.json")

	first, err := localserver.LoadPepper(localCfg(path, noEnv))
	if err != nil {
		t.Fatalf("first run: %v", err)
	}
	set := testkit.LoadPeppers(t, first)
	if v := set.Current().Version; v != "1" {
		t.Errorf("current = %q, want 1", v)
	}

	for name, tc := range map[string]struct {
		path string
		want os.FileMode
	}{"file": {path, 0o600}, "directory": {dir, 0o700}} {
		info, err := os.Stat(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != tc.want {
			t.Errorf("%s mode = %04o, want %04o", name, got, tc.want)
		}
	}
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pepper.Parse(string(body)); err != nil {
		t.Errorf("file is not in the secret format: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the pepper file", len(entries))
	}

	// Second run: same pepper, file untouched.
	second, err := localserver.LoadPepper(localCfg(path, noEnv))
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	key := testkit.Key(t)
	if testkit.LoadPeppers(t, second).Current().Hash(key) != set.Current().Hash(key) {
		t.Error("second run uses a different pepper")
	}
	again, _ := os.ReadFile(path)
	if string(again) != string(body) {
		t.Error("second run rewrote the pepper file")
	}

	// A different directory gets a different random pepper.
	other, err := localserver.LoadPepper(localCfg(filepath.Join(t.TempDir(), "p.json"), noEnv))
	if err != nil {
		t.Fatal(err)
	}
	if testkit.LoadPeppers(t, other).Current().Hash(key) == set.Current().Hash(key) {
		t.Error("two fresh pepper files hold the same pepper")
	}
}

func TestLocalFileRefused(t *testing.T) {
	tests := []struct {
		name    string
		mode    os.FileMode
		content string
		want    string
	}{
		{"world readable", 0o644, testkit.SecretV1, "chmod 600"},
		{"group readable", 0o640, testkit.SecretV1, "chmod 600"},
		{"group writable", 0o620, testkit.SecretV1, "chmod 600"},
		{"malformed", 0o600, `{"current":"1","1":"` + testkit.Pepper1, "not valid JSON"},
		{"short pepper", 0o600, `{"current":"1","1":"tooshort"}`, "shorter than 16 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "pepper.json")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			_, err := localserver.LoadPepper(localCfg(path, noEnv))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
			for _, s := range []string{testkit.Pepper1, "tooshort"} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q contains the pepper", err)
				}
			}
		})
	}
}

func TestLocalEnv(t *testing.T) {
	fileSet := func(t *testing.T, path string) apikey.PepperSet {
		src, err := localserver.LoadPepper(localCfg(path, noEnv))
		if err != nil {
			t.Fatal(err)
		}
		return testkit.LoadPeppers(t, src)
	}
	tests := []struct {
		name    string
		envVar  string // LocalConfig.EnvVar; "" = default KST_PEPPER
		value   string
		want    apikey.PepperSet
		wantErr string
	}{
		{"JSON", "", testkit.SecretV12, testkit.PepperSet(t, "2", map[string]string{"1": testkit.Pepper1, "2": testkit.Pepper2}), ""},
		{"raw pepper is version 1", "", testkit.Pepper2, testkit.PepperSet(t, "1", map[string]string{"1": testkit.Pepper2}), ""},
		{"custom variable", "MY_PEPPER", testkit.SecretV1, testkit.PepperSet(t, "1", map[string]string{"1": testkit.Pepper1}), ""},
		{"raw pepper too short", "", "tiny-9", apikey.PepperSet{}, "shorter than 16 bytes"},
		{"malformed JSON", "", `{"current":"9","1":"` + testkit.Pepper1 + `"}`, apikey.PepperSet{}, `current version "9" has no pepper`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := tc.envVar
			if name == "" {
				name = localserver.DefaultPepperEnvVar
			}
			t.Setenv(name, tc.value)
			path := filepath.Join(t.TempDir(), "pepper.json")
			cfg := localCfg(path, nil) // the real os.Getenv
			cfg.EnvVar = tc.envVar
			src, err := localserver.LoadPepper(cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), name) {
					t.Fatalf("err = %v, want one naming %s and saying %q", err, name, tc.wantErr)
				}
				if strings.Contains(err.Error(), tc.value) || strings.Contains(err.Error(), testkit.Pepper1) {
					t.Errorf("error %q contains the pepper", err)
				}
				if !errors.Is(err, pepper.ErrMalformed) {
					t.Errorf("err = %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := testkit.LoadPeppers(t, src)
			if fmt.Sprint(pepperVersionsOf(got)) != fmt.Sprint(pepperVersionsOf(tc.want)) {
				t.Errorf("versions = %v, want %v", pepperVersionsOf(got), pepperVersionsOf(tc.want))
			}
			key := testkit.Key(t)
			for _, p := range tc.want.All() {
				gp, ok := got.Lookup(p.Version)
				if !ok || gp.Hash(key) != p.Hash(key) {
					t.Errorf("version %q hashes differently", p.Version)
				}
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("pepper file created although %s is set (stat err %v)", name, err)
			}
			// Without the variable, the file pepper is used instead.
			os.Unsetenv(name)
			if fileSet(t, path).Current().Hash(key) == got.Current().Hash(key) {
				t.Error("file pepper equals the env pepper")
			}
		})
	}
}

func pepperVersionsOf(set apikey.PepperSet) []string {
	var out []string
	for _, p := range set.All() {
		out = append(out, p.Version)
	}
	return out
}
