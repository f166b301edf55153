#!/usr/bin/env bash
# Install rillet with the embedded model and stream an answer from it in the terminal.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_venv.sh
install_extras "local"
exec rillet chat "${@:-Write a story about a robot.}"
