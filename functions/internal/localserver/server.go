// Package localserver is the local development server of `make run` (never
// deployed): every route of SPEC section 3 behind an emulated API Gateway
// (JWT authorizer for the management routes, the Lambda authorizer for
// /v1/whoami), POST /dev/token for signed admin tokens, the OpenAPI document
// at /openapi.json and the admin console at /. It mounts the very handlers
// the Lambda functions wrap (package httpapi, package authorizer) over the
// embedded bbolt store, or DynamoDB when an endpoint is given.
package localserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/admintoken"
	"github.com/kudurrustone/apikeys/functions/internal/authorizer"
	"github.com/kudurrustone/apikeys/functions/internal/expiry"
	"github.com/kudurrustone/apikeys/functions/internal/httpapi"
	"github.com/kudurrustone/apikeys/functions/internal/identity"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
	"github.com/kudurrustone/apikeys/functions/internal/lifecycle"
	"github.com/kudurrustone/apikeys/functions/internal/settings"
)

// Files in the data folder.
const (
	StoreFile  = "keys.db"
	PepperFile = "pepper.json"
)

// shutdownTimeout bounds how long Serve waits for requests in flight after
// the context ends.
const shutdownTimeout = 10 * time.Second

// Server is a configured local server. Serve it, then Close it.
type Server struct {
	cfg        Config
	log        *slog.Logger
	handler    http.Handler
	storeDesc  string
	closeStore func() error
	expiry     *expiry.Checker // nil when the store has no expiry check
	closeOnce  sync.Once
	closeErr   error
}

// New opens the store, loads (or creates) the pepper and the token signing
// key under cfg.DataDir, and builds the handler. Zero fields of cfg take
// their defaults.
func New(ctx context.Context, cfg Config) (*Server, error) {
	cfg = withDefaults(cfg)
	log := cfg.Logger
	loopback := listensOnLoopback(cfg.Addr)
	if !loopback && !cfg.AllowRemote {
		return nil, fmt.Errorf("localserver: refusing to listen on %s, which is not a loopback address: "+
			"anyone who can reach it could use the API; pass -allow-remote (%s=true) to do it anyway, without /dev/token", cfg.Addr, EnvAllowRemote)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("localserver: create data folder: %w", err)
	}
	key, created, err := loadOrCreateSigningKey(filepath.Join(cfg.DataDir, SigningKeyFile))
	if err != nil {
		return nil, err
	}
	tokens, err := admintoken.NewSigner(key, DefaultIssuer, DefaultAudience, TokenLifetime, time.Now)
	if err != nil {
		return nil, err
	}
	log.Info("token signing key loaded", "path", filepath.Join(cfg.DataDir, SigningKeyFile), "created", created, "kid", tokens.KeyID())

	peppers, err := LoadPepper(PepperConfig{
		Path:   filepath.Join(cfg.DataDir, PepperFile),
		Getenv: cfg.Getenv,
		Logger: log,
	})
	if err != nil {
		return nil, err
	}
	store, closeStore, desc, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	events := &eventStore{Store: store, sink: lifecycle.Log{Logger: log}, log: log}
	var check *expiry.Checker
	if es, ok := store.(expiry.Store); ok {
		check = &expiry.Checker{Store: es, Window: time.Duration(cfg.ExpiryWarningDays) * 24 * time.Hour,
			Logger: log, Warned: events.warned}
	}
	store = events
	svc := keyservice.New(store, peppers, keyservice.Config{MaxActiveKeys: cfg.MaxActiveKeys, Logger: log})
	api := httpapi.New(svc, cfg.Identity, log)
	gw := newGateway(api, tokens.Verifier(), authorizer.New(svc, log), log, time.Now)
	console, err := consoleHandler()
	if err != nil {
		_ = closeStore()
		return nil, fmt.Errorf("localserver: console: %w", err)
	}

	mux := http.NewServeMux()
	mux.Handle("/v1/", gw)
	if loopback {
		mux.Handle("/dev/token", loopbackPeersOnly(devToken(tokens, cfg.Identity)))
	}
	mux.Handle("/", console)
	routes := cleanPathsOnly(mux)
	handler := securityHeaders(routes)
	if loopback {
		handler = securityHeaders(loopbackHostsOnly(routes))
	}
	return &Server{
		cfg:        cfg,
		log:        log,
		handler:    handler,
		storeDesc:  desc,
		closeStore: closeStore,
		expiry:     check,
	}, nil
}

func withDefaults(cfg Config) Config {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.DataDir == "" {
		cfg.DataDir = DefaultDataDir
	}
	if cfg.Table == "" {
		cfg.Table = DefaultTable
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if cfg.MaxActiveKeys <= 0 {
		cfg.MaxActiveKeys = keyservice.DefaultMaxActiveKeys
	}
	if cfg.ExpiryWarningDays <= 0 {
		cfg.ExpiryWarningDays = settings.DefaultExpiryWarningDays
	}
	if cfg.ExpiryCheckInterval <= 0 {
		cfg.ExpiryCheckInterval = DefaultExpiryCheckInterval
	}
	if cfg.Identity == (identity.Config{}) {
		cfg.Identity = identity.DefaultConfig()
	}
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg
}

// Handler serves everything: the API behind the emulated gateway,
// /dev/token, /openapi.json and the console.
func (s *Server) Handler() http.Handler { return s.handler }

// StoreDescription says which store the server uses, for the banner.
func (s *Server) StoreDescription() string { return s.storeDesc }

// Serve serves on ln until ctx ends, then shuts down gracefully: it stops
// accepting, waits for requests in flight (so every write they started is
// finished) and returns. It does not close the store: call Close after.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	if s.expiry != nil {
		checks, stopChecks := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); runExpiryChecks(checks, s.expiry, s.cfg.ExpiryCheckInterval, s.log) }()
		// Stopped before Serve returns, so the store is not closed under it.
		defer func() { stopChecks(); <-done }()
	}
	select {
	case err := <-errc:
		return fmt.Errorf("localserver: serve: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down: finishing requests in flight")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return fmt.Errorf("localserver: shutdown: %w", err)
	}
	return nil
}

// Close closes the store (flushing the embedded database). It is safe to
// call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.closeStore() })
	return s.closeErr
}

// Run is `make run`: it listens on cfg.Addr, prints where to go and how to
// get an admin token to out, serves until ctx ends (Ctrl-C), then finishes
// the requests in flight and closes the store.
func Run(ctx context.Context, cfg Config, out io.Writer) (err error) {
	cfg = withDefaults(cfg)
	srv, err := New(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, srv.Close()) }()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("localserver: listen on %s: %w (another server running? use -addr or %s)", cfg.Addr, err, EnvAddr)
	}
	base := "http://" + ln.Addr().String()
	if !isLoopback(ln.Addr()) {
		cfg.Logger.Warn("listening beyond loopback (-allow-remote): /dev/token is not served", "addr", ln.Addr().String())
	}
	fmt.Fprintf(out, "KudurruStone API Keys, local server (for development only, never deploy it)\n"+
		"  console  %s/\n  openapi  %s/openapi.json\n  store    %s\n",
		base, base, srv.StoreDescription())
	// New serves /dev/token by the same test; offering it otherwise would
	// hand the user a command that answers 404.
	if listensOnLoopback(cfg.Addr) {
		fmt.Fprintf(out, "Admin token: curl -s -X POST %s/dev/token -H 'Content-Type: application/json' -d '{\"sub\":\"alice\",\"firmId\":\"acme\",\"role\":\"admin\",\"tier\":\"premier\"}'\n", base)
	} else {
		fmt.Fprintln(out, "No /dev/token: it is served only when listening on loopback (not with -allow-remote).")
	}
	if err := srv.Serve(ctx, ln); err != nil {
		return err
	}
	cfg.Logger.Info("stopped: requests finished, closing the store")
	return nil
}

// listensOnLoopback reports whether addr (host:port) names a loopback
// host. An empty host listens everywhere.
func listensOnLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func isLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
