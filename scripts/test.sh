#!/usr/bin/env bash
# Install rillet with every extra into .venv (building llama.cpp on first run) and run
# the whole suite: ruff, mypy --strict, pytest (unit, integration and real-model tests).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_venv.sh
install_extras "dev,local"
echo "==> ruff"
ruff check src tests benchmarks
echo "==> mypy --strict"
mypy
echo "==> pytest"
exec pytest "$@"
