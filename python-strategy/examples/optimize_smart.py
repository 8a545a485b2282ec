"""Tune the strategy on the bundled real POLUSDT crash hour of 10 Oct 2025 (or any trade file) with
Optuna, walk-forward: optimise on 20:45-21:15, then replay the best values and the baseline config on
21:15-21:45, unseen by the study; prints the study, the in-sample and out-of-sample figures side by
side, writes results.json and (with --save-best) config/best_params.toml.

    .venv/bin/python python-strategy/examples/optimize_smart.py \
        [--mode quick|random|bayesian] [--n-trials 20] [--n-jobs 2] [--save-best] \
        [--storage postgresql+psycopg://USER@HOST:5432/DB] [--data FILE --train A/B --test C/D]

The same as `flashcrash optimize --data FILE --train A/B --test C/D ...`; the best values are then
used with `flashcrash backtest --data FILE --overlay config/best_params.toml`.
"""

from __future__ import annotations

import sys

from flashcrash.backtest.commands import REPO
from flashcrash.cli import main

DEFAULT_DATA = REPO / "data" / "binance_trades_2025-10-10_POLUSDT_2045-2145.csv.gz"
DEFAULT_TRAIN = "2025-10-10T20:45:00Z/2025-10-10T21:15:00Z"
DEFAULT_TEST = "2025-10-10T21:15:00Z/2025-10-10T21:45:00Z"
DEFAULT_OUT = REPO / "reports" / "optimize_example"

if __name__ == "__main__":
    args = sys.argv[1:]
    if "--data" not in args:
        args += ["--data", str(DEFAULT_DATA)]
        if not any(a in args for a in ("--train", "--from", "--to")):
            args += ["--train", DEFAULT_TRAIN]
            if "--test" not in args:
                args += ["--test", DEFAULT_TEST]
    if "--out" not in args:
        args += ["--out", str(DEFAULT_OUT)]
    sys.exit(main(["optimize", *args]))
