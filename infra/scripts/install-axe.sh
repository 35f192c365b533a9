#!/usr/bin/env bash
# Installs the pinned axe-core (npm package) into the git-ignored
# .cache/axe-core/, for the console's browser test, which injects
# node_modules/axe-core/axe.min.js into every screen it reaches.
# Idempotent: does nothing when that version is already there.
set -euo pipefail

AXE_VERSION="4.14.1"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PREFIX="${ROOT}/.cache/axe-core"
PKG="${PREFIX}/node_modules/axe-core"

die() { echo "install-axe: $*" >&2; exit 1; }

installed_version() {
	[[ -f "$PKG/axe.min.js" && -f "$PKG/package.json" ]] || return 1
	node -p 'require(process.argv[1]).version' "$PKG/package.json" 2>/dev/null
}

if [[ "$(installed_version || true)" == "$AXE_VERSION" ]]; then
	echo "axe-core@${AXE_VERSION} already installed: $PKG/axe.min.js"
	exit 0
fi

command -v npm >/dev/null 2>&1 ||
	die "npm not found: install Node.js with npm (https://nodejs.org/) to fetch axe-core"

mkdir -p "$PREFIX"
echo "Installing axe-core@${AXE_VERSION} into ${PREFIX} ..."
# A package.json of our own keeps npm from adopting the repo root as the project.
[[ -f "$PREFIX/package.json" ]] ||
	echo '{"name":"kudurrustone-axe-core","private":true}' >"$PREFIX/package.json"
npm install --prefix "$PREFIX" --no-audit --no-fund --no-save --save-exact \
	--ignore-scripts --loglevel=error "axe-core@${AXE_VERSION}"

[[ "$(installed_version || true)" == "$AXE_VERSION" ]] ||
	die "npm ran but $PKG/axe.min.js (version ${AXE_VERSION}) is missing"
echo "axe-core installed: $PKG/axe.min.js"
