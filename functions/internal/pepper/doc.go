// Package pepper supplies the pepper set that keys are hashed with: from AWS
// Secrets Manager in the Lambda functions (cached in memory, refreshed on a
// schedule), or a fixed set (sam local's LOCAL_PEPPER, tests; the local
// server's pepper file is package localserver's).
//
// The secret value is a JSON object (Document): "current" names the version
// that hashes new keys, "next" and "nextFrom" (optional, RFC 3339) the
// version that takes over at that time, every other member is a version and
// its pepper, e.g.
//
//	{"current":"1","next":"2","nextFrom":"2026-11-30T10:30:00Z","1":"<pepper v1>","2":"<pepper v2>"}
//
// Every version verifies keys at once; package rotation schedules a new one
// far enough ahead that every process has read it before it hashes a key.
//
// A pepper is the UTF-8 bytes of its string, at least 16 bytes long. Keep a
// version for as long as any active key was hashed under it.
//
// Nothing in this package logs the secret, puts it in an error or wraps an
// error that could contain it.
package pepper
