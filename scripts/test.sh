#!/usr/bin/env bash
# Install rillet with every extra into .venv (building llama.cpp on first run) and run
# the whole suite: ruff (lint and format), mypy --strict, pytest (unit, integration and
# real-model tests) with coverage of rillet, which fails under the floor in pyproject.toml.
# The quicker loop while working is scripts/check.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_venv.sh
install_extras "dev,local"
# System packages the suite drives for real: a redis-server for `--store redis://`, Debian's
# Chromium and Firefox ESR for the playground's browser tests (each script does nothing when
# they are there).
bash scripts/redis.sh
bash scripts/browser.sh
echo "==> ruff check"
ruff check src tests benchmarks
echo "==> ruff format --check"
ruff format --check src tests benchmarks
echo "==> mypy --strict"
mypy
echo "==> pytest, with coverage"
exec pytest --cov=rillet --cov-report=term:skip-covered "$@"
