package localserver

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
	"github.com/kudurrustone/apikeys/functions/internal/pepper"
	"github.com/kudurrustone/apikeys/functions/internal/secretfile"
)

// Defaults of PepperConfig.
const (
	DefaultPepperPath   = ".data/pepper.json"
	DefaultPepperEnvVar = "KST_PEPPER"
)

// maxPepperFileSize bounds what is read from the pepper file.
const maxPepperFileSize = 64 << 10

// PepperConfig tunes Local. Zero values take the defaults.
type PepperConfig struct {
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

// LoadPepper loads the pepper set for `make run`: from the environment variable
// if it is set, otherwise from the pepper file, creating it on first run. A
// file that group or others may read is refused.
func LoadPepper(cfg PepperConfig) (pepper.StaticSource, error) {
	if cfg.EnvVar == "" {
		cfg.EnvVar = DefaultPepperEnvVar
	}
	if cfg.Path == "" {
		cfg.Path = DefaultPepperPath
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
		set, err := parsePepperEnv(v)
		if err != nil {
			return pepper.StaticSource{}, fmt.Errorf("%s: %w", cfg.EnvVar, err)
		}
		log.Info("pepper set loaded", "source", "env", "var", cfg.EnvVar,
			"current", set.Current().Version, "versions", strings.Join(pepperVersions(set), ","))
		return pepper.Static(set), nil
	}

	created, err := createPepperFile(cfg.Path, cfg.Rand)
	if err != nil {
		return pepper.StaticSource{}, err
	}
	set, err := readPepperFile(cfg.Path)
	if err != nil {
		return pepper.StaticSource{}, err
	}
	log.Info("pepper set loaded", "source", "file", "path", cfg.Path, "created", created,
		"current", set.Current().Version, "versions", strings.Join(pepperVersions(set), ","))
	return pepper.Static(set), nil
}

// parsePepperEnv takes the JSON secret format, or a raw pepper as version "1".
func parsePepperEnv(v string) (apikey.PepperSet, error) {
	if strings.HasPrefix(strings.TrimSpace(v), "{") {
		return pepper.Parse(v)
	}
	if len(v) < apikey.MinPepperLen {
		return apikey.PepperSet{}, fmt.Errorf("%w: the pepper is shorter than %d bytes", pepper.ErrMalformed, apikey.MinPepperLen)
	}
	set, err := apikey.NewPepperSet("1", map[string][]byte{"1": []byte(v)})
	if err != nil {
		return apikey.PepperSet{}, fmt.Errorf("%w: %w", pepper.ErrMalformed, err)
	}
	return set, nil
}

// createPepperFile writes a new pepper file unless one exists.
func createPepperFile(path string, rnd io.Reader) (bool, error) {
	created, err := secretfile.Create(path, func() ([]byte, error) {
		raw := make([]byte, 32)
		if _, err := io.ReadFull(rnd, raw); err != nil {
			return nil, fmt.Errorf("generate pepper: %w", err)
		}
		body, err := json.Marshal(map[string]string{
			"current": "1",
			"1":       base64.RawURLEncoding.EncodeToString(raw),
		})
		if err != nil {
			return nil, fmt.Errorf("encode pepper file: %w", err)
		}
		return append(body, '\n'), nil
	})
	if err != nil {
		return false, fmt.Errorf("pepper: %w", err)
	}
	return created, nil
}

func readPepperFile(path string) (apikey.PepperSet, error) {
	body, err := secretfile.Read(path, maxPepperFileSize)
	if err != nil {
		return apikey.PepperSet{}, fmt.Errorf("pepper: %w", err)
	}
	set, err := pepper.Parse(strings.TrimSpace(string(body)))
	if err != nil {
		return apikey.PepperSet{}, fmt.Errorf("%s: %w", path, err)
	}
	return set, nil
}

// pepperVersions lists the version names of a set, current first, for logs.
func pepperVersions(set apikey.PepperSet) []string {
	all := set.All()
	out := make([]string, len(all))
	for i := range all {
		out[i] = all[i].Version
	}
	return out
}
