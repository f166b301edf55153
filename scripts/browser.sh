#!/usr/bin/env bash
# Make sure Debian's Chromium is at /usr/bin/chromium for the playground's browser tests
# (tests/integration/test_playground.py, marker `browser`). Installs it with apt-get only when
# it is missing, so running this again does nothing. Playwright's own browser downloads
# (`playwright install`) are never used: the tests drive this Chromium.
#
#   bash scripts/browser.sh          # as root, or with sudo available
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    echo "==> $CHROMIUM is installed: $("$CHROMIUM" --version 2>/dev/null || echo 'version unknown')"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "==> $CHROMIUM is missing and apt-get is not available: install Chromium with your" >&2
    echo "    package manager (the browser tests skip until $CHROMIUM exists)" >&2
    exit 1
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "==> $CHROMIUM is missing; installing it needs root (run as root or install sudo)" >&2
        exit 1
    fi
    SUDO=(sudo)
fi

echo "==> $CHROMIUM is missing: apt-get update"
"${SUDO[@]}" apt-get update -q
echo "==> apt-get install chromium (Debian's package)"
DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -q chromium
echo "==> installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
