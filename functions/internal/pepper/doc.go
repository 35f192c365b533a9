// Package pepper supplies the pepper set that keys are hashed with: from AWS
// Secrets Manager in the Lambda functions (cached in memory, refreshed on a
// schedule), or a fixed set (sam local's LOCAL_PEPPER, tests; the local
// server's pepper file is package localserver's).
//
// The secret value is a JSON object: "current" names the version that hashes
// new keys, every other member is a version and its pepper, e.g.
//
//	{"current":"2","1":"<pepper v1>","2":"<pepper v2>"}
//
// A pepper is the UTF-8 bytes of its string, at least 16 bytes long. Keep a
// version for as long as any active key was hashed under it.
//
// Nothing in this package logs the secret, puts it in an error or wraps an
// error that could contain it.
package pepper
