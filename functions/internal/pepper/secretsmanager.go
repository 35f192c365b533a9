package pepper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

// GetSecretValueAPI is the part of the Secrets Manager client this package
// uses; *secretsmanager.Client satisfies it.
type GetSecretValueAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var _ GetSecretValueAPI = (*secretsmanager.Client)(nil)

// Defaults of SecretsManagerConfig.
const (
	DefaultRefresh       = 5 * time.Minute
	DefaultGrace         = time.Hour
	DefaultRetryInterval = 30 * time.Second
	DefaultFetchTimeout  = 10 * time.Second
)

// SecretsManagerConfig tunes a SecretsManager source. Zero values take the
// defaults.
type SecretsManagerConfig struct {
	SecretID string // name or ARN of the pepper secret; required

	// Refresh is how long a fetched set is used before it is fetched again.
	Refresh time.Duration
	// Grace is how long past its refresh the last good set is still served
	// while Secrets Manager cannot be read. Negative means no grace.
	Grace time.Duration
	// RetryInterval spaces the fetches while serving within the grace
	// period, so an outage does not cost a fetch per request.
	RetryInterval time.Duration
	// FetchTimeout bounds one fetch. A fetch does not inherit the
	// cancellation of the request that started it: other requests wait on
	// it too.
	FetchTimeout time.Duration

	Now    func() time.Time // default time.Now
	Logger *slog.Logger     // default slog.Default()
}

// SecretsManager is a PepperSource reading the pepper secret from AWS
// Secrets Manager. The set is cached in memory and refreshed lazily: the
// request that finds it stale fetches it (Lambda freezes background
// goroutines between invocations, so a timer could not be relied on), and
// concurrent requests wait for that one fetch. While the set is fresh,
// Peppers is one atomic load and a clock read, without allocation.
//
// It is safe for concurrent use.
type SecretsManager struct {
	client GetSecretValueAPI
	cfg    SecretsManagerConfig
	log    *slog.Logger

	state atomic.Pointer[snapshot]

	mu       sync.Mutex
	inflight *fetchCall
}

var _ keyservice.PepperSource = (*SecretsManager)(nil)

// snapshot is immutable once stored.
type snapshot struct {
	set      apikey.PepperSet // the set in force before switchAt
	after    apikey.PepperSet // the set in force from switchAt on, when the secret schedules a version
	switchAt time.Time        // zero when no version is scheduled
	next     time.Time        // when the next fetch is due
	expires  time.Time        // after this, the set is no longer served
}

// at returns the set in force at now.
func (st *snapshot) at(now time.Time) apikey.PepperSet {
	if !st.switchAt.IsZero() && !now.Before(st.switchAt) {
		return st.after
	}
	return st.set
}

type fetchCall struct {
	done chan struct{}
	err  error // set before done is closed
}

// NewSecretsManager returns a source reading cfg.SecretID through client.
// It does not fetch; call Load at start-up (Lambda init) to do so.
func NewSecretsManager(client GetSecretValueAPI, cfg SecretsManagerConfig) (*SecretsManager, error) {
	if client == nil {
		return nil, errors.New("pepper: secrets manager client is nil")
	}
	if cfg.SecretID == "" {
		return nil, errors.New("pepper: secret id is empty")
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = DefaultRefresh
	}
	switch {
	case cfg.Grace == 0:
		cfg.Grace = DefaultGrace
	case cfg.Grace < 0:
		cfg.Grace = 0
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = DefaultRetryInterval
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = DefaultFetchTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &SecretsManager{client: client, cfg: cfg, log: log.With("secretId", cfg.SecretID)}, nil
}

// Load fetches the secret now, whether or not a cached set is fresh. Call it
// at cold start so the first request does not pay for the fetch. On error a
// previously loaded set is still served within the grace period.
func (s *SecretsManager) Load(ctx context.Context) error {
	c := s.start(ctx, time.Time{}, true)
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Peppers returns the pepper set in force, fetching the secret if the cache
// is stale. A version the secret schedules (Document.Next) takes over at its
// time without a new fetch. An error means there is no usable set and the
// caller must deny.
//
// A set is served for at most Refresh (then Refresh + Grace while Secrets
// Manager cannot be read) after the moment its fetch started, so a value
// written to the secret reaches every process within Refresh + Grace, or
// that process serves nothing: MaxStaleness.
func (s *SecretsManager) Peppers(ctx context.Context) (apikey.PepperSet, error) {
	if st := s.state.Load(); st != nil {
		if now := s.cfg.Now(); now.Before(st.next) {
			return st.at(now), nil
		}
	}
	return s.slowPeppers(ctx)
}

// MaxStaleness is the longest time after a value is written to the secret
// that any process may still serve a set read before it: Refresh + Grace
// (with the defaults applied). A rotation schedules its new version at
// least this far ahead.
func (c SecretsManagerConfig) MaxStaleness() time.Duration {
	refresh, grace := c.Refresh, c.Grace
	if refresh <= 0 {
		refresh = DefaultRefresh
	}
	switch {
	case grace == 0:
		grace = DefaultGrace
	case grace < 0:
		grace = 0
	}
	return refresh + grace
}

func (s *SecretsManager) slowPeppers(ctx context.Context) (apikey.PepperSet, error) {
	c := s.start(ctx, s.cfg.Now(), false)
	var err error
	if c != nil {
		select {
		case <-c.done:
			err = c.err
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	// After a successful fetch this is the new set; after a failed one it
	// is the previous set, if still within its grace period.
	if st := s.state.Load(); st != nil {
		if now := s.cfg.Now(); now.Before(st.expires) {
			return st.at(now), nil
		}
	}
	if err == nil {
		err = errors.New("pepper set expired")
	}
	return apikey.PepperSet{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// start joins the fetch in flight or starts one. Unless force is set, it
// returns nil when the cached set has become fresh meanwhile.
func (s *SecretsManager) start(ctx context.Context, now time.Time, force bool) *fetchCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !force {
		if st := s.state.Load(); st != nil && now.Before(st.next) {
			return nil
		}
	}
	if s.inflight != nil {
		return s.inflight
	}
	c := &fetchCall{done: make(chan struct{})}
	s.inflight = c
	// The fetch runs on its own goroutine so that a caller giving up does
	// not cancel it for the others; every caller waits for it, so it runs
	// within an invocation and is not frozen by Lambda.
	go s.run(context.WithoutCancel(ctx), c)
	return c
}

func (s *SecretsManager) run(ctx context.Context, c *fetchCall) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.FetchTimeout)
	defer cancel()
	// The set's age counts from before the read: a value written while
	// the read was in flight may be missing from it.
	now := s.cfg.Now()
	doc, versionID, err := s.fetch(ctx)
	var set, after apikey.PepperSet
	if err == nil {
		set, err = doc.set(doc.Current)
	}
	if err == nil && doc.Next != "" {
		after, err = doc.set(doc.Next)
	}

	s.mu.Lock()
	old := s.state.Load()
	switch {
	case err == nil:
		s.state.Store(&snapshot{
			set:      set,
			after:    after,
			switchAt: doc.NextFrom,
			next:     now.Add(s.cfg.Refresh),
			expires:  now.Add(s.cfg.Refresh + s.cfg.Grace),
		})
		if old == nil || old.set.Current().Version != set.Current().Version || !slices.Equal(versions(old.set), versions(set)) ||
			!old.switchAt.Equal(doc.NextFrom) {
			attrs := []any{"current", set.Current().Version, "versions", strings.Join(versions(set), ","), "secretVersionId", versionID}
			if doc.Next != "" {
				attrs = append(attrs, "next", doc.Next, "nextFrom", doc.NextFrom.Format(time.RFC3339))
			}
			s.log.InfoContext(ctx, "pepper set loaded", attrs...)
		}
	case old != nil && now.Before(old.expires):
		// Keep serving the last good set for a bounded time. The pepper
		// changes rarely and old versions stay valid after a rotation, and
		// revocation does not depend on it (that is the store's job), so a
		// Secrets Manager outage or throttling, or a bad edit of the
		// secret, should not deny every key at once. The bound makes a
		// function that has lost access for good (secret deleted,
		// permission removed) stop serving an unverifiable set.
		s.state.Store(&snapshot{
			set:      old.set,
			after:    old.after,
			switchAt: old.switchAt,
			next:     minTime(now.Add(s.cfg.RetryInterval), old.expires),
			expires:  old.expires,
		})
		s.log.WarnContext(ctx, "pepper refresh failed; serving the cached set",
			"error", err, "servedUntil", old.expires.UTC().Format(time.RFC3339))
	default:
		// No usable set: the next request tries again, and is denied
		// meanwhile.
		s.log.ErrorContext(ctx, "pepper load failed; requests are denied", "error", err)
	}
	c.err = err
	s.inflight = nil
	s.mu.Unlock()
	close(c.done)
}

func (s *SecretsManager) fetch(ctx context.Context) (Document, string, error) {
	// AWSCURRENT is the default stage; naming it also reads the right
	// version from moto, whose default does not follow a rotation's
	// UpdateSecretVersionStage.
	out, err := s.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId: aws.String(s.cfg.SecretID), VersionStage: aws.String("AWSCURRENT")})
	if err != nil {
		return Document{}, "", fmt.Errorf("pepper: get secret value: %w", err)
	}
	versionID := aws.ToString(out.VersionId)
	if out.SecretString == nil {
		if len(out.SecretBinary) > 0 {
			return Document{}, versionID, malformed("the secret is binary; a SecretString is required")
		}
		return Document{}, versionID, malformed("the secret has no value")
	}
	doc, err := ParseDocument(*out.SecretString)
	return doc, versionID, err
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
