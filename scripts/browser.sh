#!/usr/bin/env bash
# Make sure the browsers the playground's tests drive are installed from Debian:
# Chromium at /usr/bin/chromium (driven by Playwright's Python package) and Firefox ESR at
# /usr/bin/firefox-esr (driven over WebDriver BiDi, which it speaks itself). Installs with
# apt-get only what is missing, so running this again does nothing. Browser downloads of
# Playwright (`playwright install`) or geckodriver are never used.
#
#   bash scripts/browser.sh          # as root, or with sudo available
set -euo pipefail

# binary -> Debian package
declare -A PACKAGES=([/usr/bin/chromium]=chromium [/usr/bin/firefox-esr]=firefox-esr)

missing=()
for binary in /usr/bin/chromium /usr/bin/firefox-esr; do
    if [ -x "$binary" ]; then
        echo "==> $binary is installed: $("$binary" --version 2>/dev/null || echo 'version unknown')"
    else
        missing+=("${PACKAGES[$binary]}")
    fi
done
if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "==> missing: ${missing[*]}, and apt-get is not available: install them with your" >&2
    echo "    package manager (the browser tests skip without them, and fail under CI=true)" >&2
    exit 1
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "==> missing: ${missing[*]}; installing needs root (run as root or install sudo)" >&2
        exit 1
    fi
    SUDO=(sudo)
fi

# Another apt-get (redis.sh, a second checkout) may hold the lock for a while: wait for it.
APT=(apt-get -o DPkg::Lock::Timeout=300)
echo "==> missing: ${missing[*]}: apt-get update"
"${SUDO[@]}" "${APT[@]}" update -q
echo "==> apt-get install ${missing[*]} (Debian's packages)"
DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" "${APT[@]}" install -y -q "${missing[@]}"
for binary in /usr/bin/chromium /usr/bin/firefox-esr; do
    echo "==> installed: $("$binary" --version 2>/dev/null || echo "$binary")"
done
