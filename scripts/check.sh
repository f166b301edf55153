#!/usr/bin/env bash
# The quick loop: lint, format, types and every test that needs no model, in two or three
# minutes on two cores.
# Installs rillet with the dev extra into .venv when pyproject.toml has changed since the
# last install (never the local extra: no llama.cpp build). The whole suite, real-model tests
# and coverage included, is scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_venv.sh
if ! installed_since_pyproject "dev" "dev,local"; then
    install_extras "dev"
fi
echo "==> ruff check"
ruff check src tests benchmarks
echo "==> ruff format --check"
ruff format --check src tests benchmarks
echo "==> mypy --strict"
if python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('llama_cpp') is None)"
then
    mypy
else
    # Without the local extra llama_cpp's values are untyped (Any): returning one would be
    # flagged here though it is typed, and the ignores its real stubs need look unused; the
    # full run (scripts/test.sh) checks both.
    mypy --no-warn-return-any --no-warn-unused-ignores
fi
echo "==> pytest -m 'not llama'"
exec pytest -q -m "not llama" "$@"
