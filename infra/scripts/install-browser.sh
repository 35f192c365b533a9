#!/usr/bin/env bash
# Installs headless Chromium from Debian's packages for the console's browser
# test (functions/internal/localserver/browser_test.go). Idempotent: does
# nothing when a Chromium is already there. No browser download of its own:
# only apt, by package name.
set -euo pipefail

die() { echo "install-browser: $*" >&2; exit 1; }

# The test looks for the same names, in this order (CHROMIUM overrides).
find_chromium() {
	local c
	for c in "${CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
		if [[ -n "$c" && -x "$c" ]]; then
			echo "$c"
			return 0
		fi
	done
	return 1
}

if path="$(find_chromium)"; then
	echo "Chromium already installed: $path ($("$path" --version 2>/dev/null || echo 'version unknown'))"
	exit 0
fi

command -v apt-get >/dev/null 2>&1 ||
	die "Chromium is missing and apt-get is not available: install Chromium and set CHROMIUM=/path/to/chromium"
[[ "$(id -u)" -eq 0 ]] ||
	die "Chromium is missing: run as root (sudo $0) or run: sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium fonts-liberation"

echo "Installing Chromium from Debian packages ..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# fonts-liberation: Chromium's recommends are skipped, and without a font the
# screenshots would show no text.
apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null

path="$(find_chromium)" || die "apt-get installed chromium but no /usr/bin/chromium was found"
echo "Chromium installed: $path ($("$path" --version 2>/dev/null || echo 'version unknown'))"
