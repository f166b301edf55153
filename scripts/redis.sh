#!/usr/bin/env bash
# Install Debian's redis-server when it is missing (the tests of `--store redis://` start
# their own on a free port). Idempotent: does nothing when redis-server is on PATH.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends redis-server
# The package may start a system-wide server; the tests do not use it.
redis-server --version
