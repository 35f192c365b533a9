// Package expiry is the expiry-warning check: it finds the keys whose
// expiry comes within the warning window and claims a warning for each,
// once per key and expiry, however many checks run at once. The claim is
// the store's (a conditional write); in AWS the claimed warning reaches
// EventBridge as "API Key Expiring" through the table's stream (package
// lifecycle), on the local server through Checker.Warned.
package expiry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

// Store is what the check needs of a store (ddbstore and boltstore
// implement it).
type Store interface {
	// ExpiringKeys returns the keys, neither revoked nor warned about
	// their current expiry, whose expiresAt is in [from, to]; the keys
	// carry at least FirmID, ID, Label, Hint and ExpiresAt. Its cost grows
	// with the keys it returns, not with the store's size.
	ExpiringKeys(ctx context.Context, from, to time.Time) ([]keyservice.Key, error)
	// ClaimExpiryWarning records, at `at`, the warning about k's expiry
	// and reports whether this call did: false when the key's expiry is
	// no longer k.ExpiresAt, it was revoked, or a warning about this (or
	// a later) expiry was claimed already.
	ClaimExpiryWarning(ctx context.Context, k keyservice.Key, at time.Time) (bool, error)
}

// Checker runs the check.
type Checker struct {
	Store Store
	// Window: keys expiring within it from now are warned about
	// (ExpiryWarningDays days).
	Window time.Duration
	Now    func() time.Time // default time.Now
	Logger *slog.Logger
	// Warned, if set, is called for each warning this run claimed.
	Warned func(ctx context.Context, k keyservice.Key, at time.Time)
}

// Result counts what one run did.
type Result struct {
	Due    int `json:"due"`    // keys expiring within the window, not yet warned
	Warned int `json:"warned"` // warnings this run claimed
}

// Run checks once. A key whose claim fails does not stop the others; the
// errors are returned together, and running again is safe (claims are
// conditional).
func (c *Checker) Run(ctx context.Context) (Result, error) {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	at := now().UTC().Truncate(time.Millisecond)
	keys, err := c.Store.ExpiringKeys(ctx, at, at.Add(c.Window))
	if err != nil {
		return Result{}, fmt.Errorf("expiry: %w", err)
	}
	res := Result{Due: len(keys)}
	var errs []error
	for _, k := range keys {
		ok, err := c.Store.ClaimExpiryWarning(ctx, k, at)
		if err != nil {
			errs = append(errs, fmt.Errorf("expiry: key %s of %s: %w", k.ID, k.FirmID, err))
			continue
		}
		if !ok {
			continue
		}
		res.Warned++
		c.Logger.InfoContext(ctx, "expiry warning", "firmId", k.FirmID, "keyId", k.ID,
			"expiresAt", k.ExpiresAt.UTC().Format(time.RFC3339))
		if c.Warned != nil {
			c.Warned(ctx, k, at)
		}
	}
	return res, errors.Join(errs...)
}
