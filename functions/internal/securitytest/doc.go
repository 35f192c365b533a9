// Package securitytest holds the security and reliability suite of the
// product (issue 5): firm isolation and privilege checks through the HTTP
// handlers over both stores, fuzz targets for hostile input, fault
// injection against DynamoDB Local and Secrets Manager (fail closed, nothing
// half-written), a no-leak story, races, and the constant-time and
// same-store-path checks of the authorizer. It has tests only; this file
// exists so the package does.
//
// Run it with the rest: make test (DynamoDB Local is started for it). On its
// own: go test -race ./functions/internal/securitytest/ (the harness starts
// DynamoDB Local from .cache when DYNAMODB_ENDPOINT is unset).
package securitytest
