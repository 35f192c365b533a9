#!/usr/bin/env bash
# Usage: with-dynamodb-local.sh CMD [ARGS...]
# Starts DynamoDB Local (in memory, free loopback port), exports
# DYNAMODB_ENDPOINT=http://127.0.0.1:<port>, runs CMD, always stops DynamoDB
# Local, and exits with CMD's status. Install it first: make deps.
set -euo pipefail

# shellcheck source=lib-dynamodb-local.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib-dynamodb-local.sh"

[[ $# -gt 0 ]] || ddbl_die "usage: $0 CMD [ARGS...]"
ddbl_require_java
ddbl_require_installed

log="$(mktemp "${TMPDIR:-/tmp}/dynamodb-local.XXXXXX.log")"
java_pid=""
stop() {
	if [[ -n "$java_pid" ]] && kill -0 "$java_pid" 2>/dev/null; then
		kill "$java_pid" 2>/dev/null || true
		wait "$java_pid" 2>/dev/null || true
	fi
	rm -f "$log"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

started=""
# The port is free when we pick it but could be taken before Java binds it;
# try a few times.
for _ in 1 2 3; do
	port="$(ddbl_free_port)"
	ddbl_java_cmd "$port"
	"${DDBL_CMD[@]}" >"$log" 2>&1 &
	java_pid=$!
	if ddbl_wait_ready "$port" "$java_pid"; then
		started=yes
		break
	fi
	kill "$java_pid" 2>/dev/null || true
	wait "$java_pid" 2>/dev/null || true
done
if [[ -z "$started" ]]; then
	cat "$log" >&2
	ddbl_die "DynamoDB Local did not start (log above)"
fi

export DYNAMODB_ENDPOINT="http://127.0.0.1:${port}"
echo "DynamoDB Local is up at ${DYNAMODB_ENDPOINT} (pid ${java_pid}, $(basename "$(dirname "$DDBL_JAR")"))"

status=0
"$@" || status=$?
exit "$status"
