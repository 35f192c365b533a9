// Package rotation rotates the pepper secret the way Secrets Manager
// rotates secrets: a Lambda function that Secrets Manager calls four times
// per rotation, with Step createSecret, setSecret, testSecret and
// finishSecret (https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_lambda-functions.html).
// It also gives a new, empty pepper secret its first version, as a
// CloudFormation custom resource, so the template never holds or generates
// the value (a template change can then never overwrite it).
//
// A rotation never denies a valid key. It adds a version and schedules it
// (pepper.Document's Next and NextFrom) to hash new keys only from a time
// at least the longest staleness of any process ahead
// (pepper.SecretsManagerConfig.MaxStaleness, plus a margin). Every process
// reads the secret again within that time, and verifies keys under every
// version as soon as it has read it; so by the time a key is issued under
// the new version, every process that still serves can verify it. Old
// versions are kept, and a step refuses a value that drops or changes one.
//
// Nothing here logs a pepper or puts one in an error.
package rotation

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/kudurrustone/apikeys/functions/internal/pepper"
)

// SecretsManagerAPI is the part of the Secrets Manager client a rotation
// uses; *secretsmanager.Client satisfies it. The function's role needs
// exactly these four actions on the pepper secret.
type SecretsManagerAPI interface {
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error)
}

var _ SecretsManagerAPI = (*secretsmanager.Client)(nil)

// Steps of Secrets Manager's rotation protocol, and its staging labels.
const (
	StepCreate = "createSecret"
	StepSet    = "setSecret"
	StepTest   = "testSecret"
	StepFinish = "finishSecret"

	StageCurrent = "AWSCURRENT"
	StagePending = "AWSPENDING"
)

// DefaultMargin is added to MaxStaleness when scheduling a version. It
// covers the time between the createSecret and finishSecret steps and clock
// differences between machines.
const DefaultMargin = 5 * time.Minute

// pepperBytes is the entropy of a new pepper (256 bits), written as 43
// base64url characters.
const pepperBytes = 32

// initialToken is the ClientRequestToken of a secret's first version. Two
// initialisations racing on an empty secret then write the same version:
// the second one fails instead of replacing the first.
const initialToken = "kudurrustone-pepper-initial-version-1"

// Config tunes a Rotator.
type Config struct {
	// MaxStaleness is the longest time a process may serve a pepper set
	// read before the secret changed: the functions'
	// pepper.SecretsManagerConfig.MaxStaleness. Required.
	MaxStaleness time.Duration
	// Margin is added to MaxStaleness; default DefaultMargin.
	Margin time.Duration
	Now    func() time.Time // default time.Now
	Rand   io.Reader        // default crypto/rand
	Logger *slog.Logger     // default slog.Default()
}

// Rotator rotates and initialises pepper secrets.
type Rotator struct {
	sm  SecretsManagerAPI
	cfg Config
	log *slog.Logger
}

// New returns a Rotator over client.
func New(client SecretsManagerAPI, cfg Config) (*Rotator, error) {
	if client == nil {
		return nil, errors.New("rotation: secrets manager client is nil")
	}
	if cfg.MaxStaleness <= 0 {
		return nil, errors.New("rotation: MaxStaleness must be positive")
	}
	if cfg.Margin <= 0 {
		cfg.Margin = DefaultMargin
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Rotator{sm: client, cfg: cfg, log: log}, nil
}

// Lead is how far ahead of createSecret a new version is scheduled.
func (r *Rotator) Lead() time.Duration { return r.cfg.MaxStaleness + r.cfg.Margin }

// Rotate runs one step of a rotation. Each step is idempotent, as Secrets
// Manager may call a step again after a failure.
func (r *Rotator) Rotate(ctx context.Context, ev events.SecretsManagerSecretRotationEvent) error {
	if ev.SecretID == "" || ev.ClientRequestToken == "" {
		return errors.New("rotation: the event has no SecretId or ClientRequestToken")
	}
	log := r.log.With("secretId", ev.SecretID, "step", ev.Step, "token", ev.ClientRequestToken)
	desc, err := r.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(ev.SecretID)})
	if err != nil {
		return fmt.Errorf("rotation: describe secret: %w", err)
	}
	stages, known := desc.VersionIdsToStages[ev.ClientRequestToken]
	switch {
	case slices.Contains(stages, StageCurrent):
		log.InfoContext(ctx, "pepper rotation: the version is already current")
		return nil
	case known && !slices.Contains(stages, StagePending):
		return fmt.Errorf("rotation: version %s of the secret is not %s", ev.ClientRequestToken, StagePending)
	case !known && ev.Step != StepCreate:
		// Secrets Manager labels the version AWSPENDING before it calls
		// createSecret; createSecret itself writes it when it is missing.
		return fmt.Errorf("rotation: the secret has no version %s", ev.ClientRequestToken)
	}
	switch ev.Step {
	case StepCreate:
		return r.create(ctx, log, ev.SecretID, ev.ClientRequestToken)
	case StepSet:
		// The pepper is held by this service alone: there is no other
		// system to give the new value to.
		log.InfoContext(ctx, "pepper rotation: nothing to set")
		return nil
	case StepTest:
		_, _, err := r.check(ctx, ev.SecretID, ev.ClientRequestToken)
		if err == nil {
			log.InfoContext(ctx, "pepper rotation: pending version checked")
		}
		return err
	case StepFinish:
		return r.finish(ctx, log, ev.SecretID, ev.ClientRequestToken, desc)
	default:
		return fmt.Errorf("rotation: unknown step %q", ev.Step)
	}
}

func (r *Rotator) create(ctx context.Context, log *slog.Logger, secretID, token string) error {
	cur, _, err := r.current(ctx, secretID)
	if err != nil {
		return err
	}
	_, err = r.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId: aws.String(secretID), VersionId: aws.String(token), VersionStage: aws.String(StagePending)})
	if err == nil {
		log.InfoContext(ctx, "pepper rotation: pending version exists")
		return nil
	}
	if !notFound(err) {
		return fmt.Errorf("rotation: read the pending version: %w", err)
	}
	next, err := r.nextDocument(cur)
	if err != nil {
		return err
	}
	value, err := next.Marshal()
	if err != nil {
		return err
	}
	if _, err := r.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(secretID), ClientRequestToken: aws.String(token),
		SecretString: aws.String(value), VersionStages: []string{StagePending},
	}); err != nil {
		return fmt.Errorf("rotation: put the pending version: %w", err)
	}
	log.InfoContext(ctx, "pepper rotation: pending version created", "current", next.Current,
		"next", next.Next, "nextFrom", next.NextFrom.Format(time.RFC3339), "versions", next.Versions())
	return nil
}

// nextDocument keeps every version of cur, makes the version in force now
// current, and schedules a new one Lead ahead.
func (r *Rotator) nextDocument(cur pepper.Document) (pepper.Document, error) {
	now := r.cfg.Now()
	next := pepper.Document{
		Current:  cur.CurrentAt(now),
		Next:     newVersionName(cur),
		NextFrom: now.Add(r.Lead()).UTC().Truncate(time.Second).Add(time.Second),
		Peppers:  make(map[string]string, len(cur.Peppers)+1),
	}
	for v, p := range cur.Peppers {
		next.Peppers[v] = p
	}
	raw := make([]byte, pepperBytes)
	if _, err := io.ReadFull(r.cfg.Rand, raw); err != nil {
		return pepper.Document{}, fmt.Errorf("rotation: generate a pepper: %w", err)
	}
	next.Peppers[next.Next] = base64.RawURLEncoding.EncodeToString(raw)
	return next, nil
}

// newVersionName is one more than the largest numeric version name.
func newVersionName(d pepper.Document) string {
	top := 0
	for v := range d.Peppers {
		if n, err := strconv.Atoi(v); err == nil && n > top {
			top = n
		}
	}
	return strconv.Itoa(top + 1)
}

// check reads the current and pending values and refuses a pending value
// that could deny a valid key: one that drops or changes a version, hashes
// new keys now under a version not every process knows yet, or schedules
// its new version sooner than every process will have read it.
func (r *Rotator) check(ctx context.Context, secretID, token string) (cur pepper.Document, curID string, err error) {
	cur, curID, err = r.current(ctx, secretID)
	if err != nil {
		return pepper.Document{}, "", err
	}
	out, err := r.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId: aws.String(secretID), VersionId: aws.String(token), VersionStage: aws.String(StagePending)})
	if err != nil {
		return pepper.Document{}, "", fmt.Errorf("rotation: read the pending version: %w", err)
	}
	pending, err := pepper.ParseDocument(aws.ToString(out.SecretString))
	if err != nil {
		return pepper.Document{}, "", fmt.Errorf("rotation: pending version: %w", err)
	}
	return cur, curID, r.safe(cur, pending)
}

// Safe reports why replacing cur by pending could deny a valid key, or nil.
func (r *Rotator) safe(cur, pending pepper.Document) error {
	now := r.cfg.Now()
	for _, v := range cur.Versions() {
		p, ok := pending.Peppers[v]
		if !ok {
			return fmt.Errorf("rotation: the pending value drops version %q: keys issued under it would be denied", v)
		}
		if subtle.ConstantTimeCompare([]byte(p), []byte(cur.Peppers[v])) != 1 {
			return fmt.Errorf("rotation: the pending value changes the pepper of version %q: keys issued under it would be denied", v)
		}
	}
	if got, want := pending.CurrentAt(now), cur.CurrentAt(now); got != want {
		return fmt.Errorf("rotation: the pending value hashes new keys under version %q now, the current one under %q: "+
			"a process that has not read it yet could not verify them", got, want)
	}
	if pending.Next != "" {
		if _, known := cur.Peppers[pending.Next]; !known {
			if earliest := now.Add(r.cfg.MaxStaleness); pending.NextFrom.Before(earliest) {
				return fmt.Errorf("rotation: version %q would hash new keys from %s, before every process has read it (%s): "+
					"cancel this rotation (aws secretsmanager cancel-rotate-secret) and rotate again",
					pending.Next, pending.NextFrom.Format(time.RFC3339), earliest.UTC().Format(time.RFC3339))
			}
		}
	}
	return nil
}

func (r *Rotator) finish(ctx context.Context, log *slog.Logger, secretID, token string, desc *secretsmanager.DescribeSecretOutput) error {
	// The pending value is checked again: the time it schedules its
	// version for may have come too close since createSecret.
	_, curID, err := r.check(ctx, secretID, token)
	if err != nil {
		return err
	}
	if _, err := r.sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(secretID), VersionStage: aws.String(StageCurrent),
		MoveToVersionId: aws.String(token), RemoveFromVersionId: aws.String(curID),
	}); err != nil {
		return fmt.Errorf("rotation: make the pending version current: %w", err)
	}
	log.InfoContext(ctx, "pepper rotation: pending version is current", "previousVersionId", curID)
	return nil
}

// current reads and parses the AWSCURRENT value.
func (r *Rotator) current(ctx context.Context, secretID string) (pepper.Document, string, error) {
	out, err := r.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId: aws.String(secretID), VersionStage: aws.String(StageCurrent)})
	if err != nil {
		return pepper.Document{}, "", fmt.Errorf("rotation: read the current version (a new secret is given one by the stack's PepperInit resource): %w", err)
	}
	doc, err := pepper.ParseDocument(aws.ToString(out.SecretString))
	if err != nil {
		return pepper.Document{}, "", fmt.Errorf("rotation: current version: %w", err)
	}
	return doc, aws.ToString(out.VersionId), nil
}

// Initialise gives a secret without a value its first version,
// {"current":"1","1":"<random pepper>"}, and leaves a secret that has a
// current value alone. It reports whether it wrote.
func (r *Rotator) Initialise(ctx context.Context, secretID string) (bool, error) {
	has := func() (bool, error) {
		desc, err := r.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secretID)})
		if err != nil {
			return false, fmt.Errorf("rotation: describe secret: %w", err)
		}
		for _, stages := range desc.VersionIdsToStages {
			if slices.Contains(stages, StageCurrent) {
				return true, nil
			}
		}
		return false, nil
	}
	if ok, err := has(); err != nil || ok {
		if ok {
			r.log.InfoContext(ctx, "pepper secret already has a value; left alone", "secretId", secretID)
		}
		return false, err
	}
	raw := make([]byte, pepperBytes)
	if _, err := io.ReadFull(r.cfg.Rand, raw); err != nil {
		return false, fmt.Errorf("rotation: generate a pepper: %w", err)
	}
	value, err := pepper.Document{Current: "1", Peppers: map[string]string{"1": base64.RawURLEncoding.EncodeToString(raw)}}.Marshal()
	if err != nil {
		return false, err
	}
	_, err = r.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(secretID), ClientRequestToken: aws.String(initialToken), SecretString: aws.String(value)})
	if err != nil {
		// Another initialisation may have won the race.
		if ok, derr := has(); derr == nil && ok {
			return false, nil
		}
		return false, fmt.Errorf("rotation: put the first version: %w", err)
	}
	r.log.InfoContext(ctx, "pepper secret initialised", "secretId", secretID, "current", "1")
	return true, nil
}

func notFound(err error) bool {
	var nf *types.ResourceNotFoundException
	return errors.As(err, &nf)
}
