package pepper

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
)

// Defaults of LocalConfig.
const (
	DefaultLocalPath = ".data/pepper.json"
	DefaultEnvVar    = "KST_PEPPER"
)

// maxFileSize bounds what is read from the pepper file.
const maxFileSize = 64 << 10

// LocalConfig tunes Local. Zero values take the defaults.
type LocalConfig struct {
	// EnvVar names the variable that, when set, holds the pepper: the JSON
	// secret format, or a raw pepper string taken as version "1".
	EnvVar string
	// Path is the pepper file used when the variable is not set. It is
	// created (mode 0600, directory 0700) with a random pepper on first use.
	Path   string
	Getenv func(string) string // default os.Getenv
	Rand   io.Reader           // default crypto/rand
	Logger *slog.Logger        // default slog.Default()
}

// Local loads the pepper set for `make run`: from the environment variable
// if it is set, otherwise from the pepper file, creating it on first run. A
// file that group or others may read is refused.
func Local(cfg LocalConfig) (StaticSource, error) {
	if cfg.EnvVar == "" {
		cfg.EnvVar = DefaultEnvVar
	}
	if cfg.Path == "" {
		cfg.Path = DefaultLocalPath
	}
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}

	if v := cfg.Getenv(cfg.EnvVar); v != "" {
		set, err := parseEnv(v)
		if err != nil {
			return StaticSource{}, fmt.Errorf("%s: %w", cfg.EnvVar, err)
		}
		log.Info("pepper set loaded", "source", "env", "var", cfg.EnvVar,
			"current", set.Current().Version, "versions", strings.Join(versions(set), ","))
		return Static(set), nil
	}

	created, err := createFile(cfg.Path, cfg.Rand)
	if err != nil {
		return StaticSource{}, err
	}
	set, err := readFile(cfg.Path)
	if err != nil {
		return StaticSource{}, err
	}
	log.Info("pepper set loaded", "source", "file", "path", cfg.Path, "created", created,
		"current", set.Current().Version, "versions", strings.Join(versions(set), ","))
	return Static(set), nil
}

// parseEnv takes the JSON secret format, or a raw pepper as version "1".
func parseEnv(v string) (apikey.PepperSet, error) {
	if strings.HasPrefix(strings.TrimSpace(v), "{") {
		return Parse(v)
	}
	if len(v) < apikey.MinPepperLen {
		return apikey.PepperSet{}, malformed("the pepper is shorter than %d bytes", apikey.MinPepperLen)
	}
	set, err := apikey.NewPepperSet("1", map[string][]byte{"1": []byte(v)})
	if err != nil {
		return apikey.PepperSet{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return set, nil
}

// createFile writes a new pepper file unless one exists. The file is written
// in full under a temporary name and then linked into place, so a reader
// never sees a partial file and a concurrent first run cannot overwrite it.
func createFile(path string, rnd io.Reader) (bool, error) {
	if _, err := os.Lstat(path); err == nil {
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("pepper: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("pepper: create directory: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := io.ReadFull(rnd, raw); err != nil {
		return false, fmt.Errorf("pepper: generate pepper: %w", err)
	}
	body, err := json.Marshal(map[string]string{
		currentMember: "1",
		"1":           base64.RawURLEncoding.EncodeToString(raw),
	})
	if err != nil {
		return false, fmt.Errorf("pepper: encode pepper file: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".pepper-*.tmp") // mode 0600
	if err != nil {
		return false, fmt.Errorf("pepper: create pepper file: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(append(body, '\n'))
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return false, fmt.Errorf("pepper: write pepper file: %w", werr)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil // another process created it first
		}
		return false, fmt.Errorf("pepper: create pepper file: %w", err)
	}
	return true, nil
}

func readFile(path string) (apikey.PepperSet, error) {
	f, err := os.Open(path)
	if err != nil {
		return apikey.PepperSet{}, fmt.Errorf("pepper: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return apikey.PepperSet{}, fmt.Errorf("pepper: %w", err)
	}
	if !info.Mode().IsRegular() {
		return apikey.PepperSet{}, fmt.Errorf("pepper: %s is not a regular file", path)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return apikey.PepperSet{}, fmt.Errorf("pepper: %s is accessible by group or others (mode %04o); run: chmod 600 %s", path, perm, path)
	}
	body, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return apikey.PepperSet{}, fmt.Errorf("pepper: read %s: %w", path, err)
	}
	if len(body) > maxFileSize {
		return apikey.PepperSet{}, fmt.Errorf("pepper: %s is larger than %d bytes", path, maxFileSize)
	}
	set, err := Parse(strings.TrimSpace(string(body)))
	if err != nil {
		return apikey.PepperSet{}, fmt.Errorf("%s: %w", path, err)
	}
	return set, nil
}
