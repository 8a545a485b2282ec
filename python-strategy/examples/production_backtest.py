"""A production backtest: the bundled real POLUSDT crash hour of 10 Oct 2025 (or any trade file)
replayed tick by tick through the same runner, detector, strategy, risk checks and order manager as
live trading, against the simulated venue, with a progress bar; prints the figures and writes
summary.json, trades.csv, states.csv, backtest.png and backtest.html.

    .venv/bin/python python-strategy/examples/production_backtest.py \
        [--data FILE] [--from 2025-10-10T21:00:00Z --to 2025-10-10T21:30:00Z] \
        [--config config/config.toml] [--out reports/backtest_example]

The same as `flashcrash backtest --data FILE ...`.
"""

from __future__ import annotations

import sys

from flashcrash.backtest.commands import REPO
from flashcrash.cli import main

DEFAULT_DATA = REPO / "data" / "binance_trades_2025-10-10_POLUSDT_2045-2145.csv.gz"
DEFAULT_OUT = REPO / "reports" / "backtest_example"

if __name__ == "__main__":
    args = sys.argv[1:]
    if "--data" not in args:
        args += ["--data", str(DEFAULT_DATA)]
    if "--out" not in args:
        args += ["--out", str(DEFAULT_OUT)]
    sys.exit(main(["backtest", *args]))
