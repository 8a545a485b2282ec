#!/usr/bin/env bash
# Starts the engine (paper mode) and the strategy with the given configuration; with --sim, also
# exchange-sim replaying the bundled crash. Ctrl-C stops everything cleanly and prints the summary.
#   scripts/start_paper_trading.sh [--config config/config.toml] [--sim] [--speed 30]
set -euo pipefail
cd "$(dirname "$0")/.."
make --no-print-directory .venv/.installed .venv/.native build-release
exec .venv/bin/python -m flashcrash paper "$@"
