// Package perf measures the functions at the Lambda level (`make
// bench`): every figure is measured in the same run as its baseline and
// printed beside it with the ratio, in one table (BenchmarkTable).
//
// The deterministic properties behind the figures run on every `make test`
// as ordinary tests: one DynamoDB read per authorization and at most one
// write per key per minute, counted at the wire; no allocation in
// Authorize beyond the store's own. Timings run only under `go test -bench`
// (infra/scripts/bench.sh), so `make test` stays quick and skips nothing.
//
// The package has no non-test code but this comment.
package perf
