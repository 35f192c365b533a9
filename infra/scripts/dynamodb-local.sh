#!/usr/bin/env bash
# Usage: dynamodb-local.sh [PORT]
# Runs DynamoDB Local in the foreground (in memory) until Ctrl-C; for
# `make local-db` and `sam local` (point DYNAMODB_ENDPOINT at it).
set -euo pipefail

# shellcheck source=lib-dynamodb-local.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib-dynamodb-local.sh"

port="${1:-8000}"
[[ "$port" =~ ^[0-9]+$ ]] || ddbl_die "usage: $0 [PORT]"
ddbl_require_java
ddbl_require_installed

ddbl_java_cmd "$port"
echo "DynamoDB Local on http://127.0.0.1:${port} (in memory; data is lost on exit; Ctrl-C stops it)"
exec "${DDBL_CMD[@]}"
