#!/usr/bin/env bash
# Runs every Rust and Python test (installs first). Same as `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
exec make test
