#!/usr/bin/env bash
# Formatting, lints (clippy -D warnings, ruff) and every test.
set -euo pipefail
cd "$(dirname "$0")/.."
make lint
make test
