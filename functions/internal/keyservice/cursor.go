package keyservice

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
)

// A cursor is opaque to clients: base64url("v1.<firm tag>.<status>.<id>").
// The firm tag binds it to the firm that listed, so a cursor from another
// firm is refused rather than silently reinterpreted; the store query is
// scoped to the caller's firm in any case, so no cursor can reach another
// firm's keys.
func encodeCursor(firmID, status, afterID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("v1." + firmTag(firmID) + "." + status + "." + afterID))
}

var errBadCursor = errors.New("bad cursor")

func decodeCursor(c, firmID, status string) (string, error) {
	if len(c) > 128 {
		return "", errBadCursor
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", errBadCursor
	}
	parts := strings.Split(string(raw), ".")
	if len(parts) != 4 || parts[0] != "v1" || parts[1] != firmTag(firmID) || parts[2] != status || !validID(parts[3]) {
		return "", errBadCursor
	}
	return parts[3], nil
}

func firmTag(firmID string) string {
	s := sha256.Sum256([]byte("cursor-firm:" + firmID))
	return hex.EncodeToString(s[:6])
}
