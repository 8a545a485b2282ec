"""Runs the live detector (the same objects `flashcrash run` uses) over the bundled real POLUSDT trades
of 10 Oct 2025 and prints every state transition with the recorded UTC time.

    .venv/bin/python python-strategy/examples/detect_crash.py [--drop-pct 3.0]
"""

from __future__ import annotations

import argparse
import csv
import gzip
from datetime import UTC, datetime

from flashcrash.config import EventDetectionConfig
from flashcrash.event_detector import CandleBuilder, Detector, InputGuard
from flashcrash.launcher import DEMO_DATA


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--drop-pct", type=float, default=3.0)
    p.add_argument("--window", type=int, default=60)
    p.add_argument("--recovery", type=int, default=30)
    args = p.parse_args()
    guard, candles = InputGuard(), CandleBuilder()
    detector = Detector(EventDetectionConfig(args.drop_pct, args.window, args.recovery))
    with gzip.open(DEMO_DATA, "rt") as f:
        for row in csv.DictReader(f):
            ts, price, qty = int(row["timestamp"]) * 1000, float(row["price"]), float(row["amount"])
            if not guard.trade_ok(ts, price, qty):
                continue
            closed = candles.on_trade(ts, price, qty, row["side"] == "buy")
            if closed is not None and (t := detector.on_candle(closed)) is not None:
                when = datetime.fromtimestamp(t.ts_ns / 1e9, tz=UTC).strftime("%H:%M:%S")
                print(f"{when}  {t.previous:>8} -> {t.current:<8}  {t.reason}")
    print(f"dropped inputs: {dict(guard.dropped)}; late trades: {candles.late_trades}")


if __name__ == "__main__":
    main()
