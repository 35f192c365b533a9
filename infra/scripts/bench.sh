#!/usr/bin/env bash
# Usage: infra/scripts/bench.sh (make bench builds the bootstraps first)
# Prints the performance table of package functions/internal/perf: each
# figure beside its baseline, measured in this run, under DynamoDB Local.
# Loopback only; bounded to well under 10 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

table="$(mktemp "${TMPDIR:-/tmp}/kst-bench-table.XXXXXX")"
log="$(mktemp "${TMPDIR:-/tmp}/kst-bench-log.XXXXXX")"
trap 'rm -f "$table" "$log"' EXIT

# The table is a benchmark run once (-benchtime 1x); it times its figures
# itself, ours and the baseline alternately.
if ! KST_BENCH_OUT="$table" infra/scripts/with-dynamodb-local.sh \
	go test -count=1 -run '^$' -bench '^BenchmarkTable$' -benchtime 1x -timeout 9m \
	./functions/internal/perf >"$log" 2>&1; then
	cat "$log" >&2
	echo "bench: failed (output above)" >&2
	exit 1
fi
cat "$table"
echo
echo "Reproduce: make bench    Profile: go test -run '^\$' -bench Bolt -cpuprofile cpu.out ./functions/internal/perf"
