package keyservice

import (
	"net/http"
	"strings"
)

// Scopes is the set of scopes of a key (SPEC section 3): read (GET, HEAD,
// OPTIONS) and write (POST, PUT, PATCH, DELETE). The zero value is the empty
// set, which no key has; a stored key without scopes has both.
type Scopes uint8

// The scopes, and the default set of a new key.
const (
	ScopeRead  Scopes = 1 << iota // GET, HEAD, OPTIONS
	ScopeWrite                    // POST, PUT, PATCH, DELETE

	AllScopes = ScopeRead | ScopeWrite
)

// Scope names as they appear in requests, responses and the authorizer's
// context.
const (
	ScopeNameRead  = "read"
	ScopeNameWrite = "write"
)

// Has reports whether s holds every scope of want.
func (s Scopes) Has(want Scopes) bool { return want != 0 && s&want == want }

// Valid reports whether s is a non-empty set of known scopes.
func (s Scopes) Valid() bool { return s != 0 && s&^AllScopes == 0 }

// Names returns the scope names, read before write.
func (s Scopes) Names() []string {
	out := make([]string, 0, 2)
	if s&ScopeRead != 0 {
		out = append(out, ScopeNameRead)
	}
	if s&ScopeWrite != 0 {
		out = append(out, ScopeNameWrite)
	}
	return out
}

// String returns the names separated by one space ("read write"), the form
// of the authorizer context's scopes value.
func (s Scopes) String() string { return strings.Join(s.Names(), " ") }

// ParseScopes reads a list of scope names: non-empty, no repeats, only read
// and write. Any other list is invalid_request.
func ParseScopes(names []string) (Scopes, error) {
	if len(names) == 0 {
		return 0, Errorf(CodeInvalidRequest, "scopes must hold at least one of read and write.")
	}
	var s Scopes
	for _, n := range names {
		var one Scopes
		switch n {
		case ScopeNameRead:
			one = ScopeRead
		case ScopeNameWrite:
			one = ScopeWrite
		default:
			return 0, Errorf(CodeInvalidRequest, "scopes may hold only read and write.")
		}
		if s&one != 0 {
			return 0, Errorf(CodeInvalidRequest, "scopes must not repeat a scope.")
		}
		s |= one
	}
	return s, nil
}

// ParseScopeString reads the space-separated form of String. It reports
// false for anything else (an empty string included).
func ParseScopeString(v string) (Scopes, bool) {
	s, err := ParseScopes(strings.Fields(v))
	return s, err == nil && strings.Join(strings.Fields(v), " ") == v
}

// MethodScope returns the scope an HTTP method needs: read for GET, HEAD
// and OPTIONS, write for POST, PUT, PATCH and DELETE. Other methods need a
// scope no key has, so it reports false.
func MethodScope(method string) (Scopes, bool) {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return ScopeRead, true
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return ScopeWrite, true
	}
	return 0, false
}

// Methods returns the HTTP methods the scopes allow, in a fixed order.
func (s Scopes) Methods() []string {
	var out []string
	if s&ScopeRead != 0 {
		out = append(out, http.MethodGet, http.MethodHead, http.MethodOptions)
	}
	if s&ScopeWrite != 0 {
		out = append(out, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete)
	}
	return out
}
