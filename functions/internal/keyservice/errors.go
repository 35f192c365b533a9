package keyservice

import (
	"errors"
	"fmt"
)

// Code is one of the error codes of the HTTP contract (SPEC section 3).
type Code string

// The spec's error codes.
const (
	CodeUnauthorized    Code = "unauthorized"
	CodeNotFirmAdmin    Code = "not_firm_admin"
	CodePremierRequired Code = "premier_required"
	CodeInvalidLabel    Code = "invalid_label"
	CodeInvalidRequest  Code = "invalid_request"
	CodeNotFound        Code = "not_found"
	CodeKeyLimitReached Code = "key_limit_reached"
	CodeKeyNotActive    Code = "key_not_active"
	CodeInternal        Code = "internal"
)

// Error is the one error type shown to clients. Message is safe to show;
// Err is internal detail for the log and is never shown.
type Error struct {
	Code    Code
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns a client-facing error with a code and a safe message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Internal wraps an unexpected failure. Its message is generic on purpose.
func Internal(err error) *Error {
	return &Error{Code: CodeInternal, Message: "An internal error occurred. Please try again.", Err: err}
}

// CodeOf returns the code of err, or CodeInternal for anything uncoded.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// Store errors. Implementations return these (wrapped is fine) so the
// service can map them with errors.Is.
var (
	// ErrNotFound: no such key in that firm, or no credential for a digest.
	ErrNotFound = errors.New("keyservice: not found")
	// ErrLimitReached: the firm already has the maximum of active keys.
	ErrLimitReached = errors.New("keyservice: active key limit reached")
	// ErrConflict: a write lost a race it cannot resolve by itself (an id or
	// digest collision, a transaction conflict); nothing was written.
	ErrConflict = errors.New("keyservice: conflicting write")
	// ErrNotActive: an update or roll of a key that is revoked or expired,
	// or a roll of a key that already has a successor; nothing was written.
	ErrNotActive = errors.New("keyservice: key not active")
)

// ErrDenied is what every deny of Authorize matches with errors.Is: the key
// must not be let in. Any other Authorize error means the service could not
// decide (the store or the pepper failed).
var ErrDenied = errors.New("keyservice: key denied")

// Why Authorize denied; each wraps ErrDenied. Callers match them with
// errors.Is, never by their text.
var (
	ErrKeyMalformed = fmt.Errorf("%w: malformed", ErrDenied) // format or checksum wrong: no store read
	ErrKeyUnknown   = fmt.Errorf("%w: unknown", ErrDenied)   // no credential under any pepper version
	ErrKeyRevoked   = fmt.Errorf("%w: revoked", ErrDenied)
	ErrKeyExpired   = fmt.Errorf("%w: expired", ErrDenied)
	// ErrAddressNotAllowed: the key has allowed addresses and the request's
	// source address (or a request without one) is not among them.
	ErrAddressNotAllowed = fmt.Errorf("%w: address not allowed", ErrDenied)
	// ErrKeyWithoutScopes: a credential without a valid scope set, which no
	// store writes; denied rather than guessed.
	ErrKeyWithoutScopes = fmt.Errorf("%w: no scopes", ErrDenied)
)
