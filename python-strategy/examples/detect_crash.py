"""Runs the live detector (the same object `flashcrash run` uses) over the bundled real POLUSDT trades
of 10 Oct 2025 (trades only: the book indicators stay not ready) and prints every state transition
with the recorded UTC time.

    .venv/bin/python python-strategy/examples/detect_crash.py [--config config/config.toml]
"""

from __future__ import annotations

import argparse
import csv
import gzip
from datetime import UTC, datetime
from pathlib import Path

from flashcrash import config
from flashcrash.event_detector import Detector
from flashcrash.launcher import DEMO_DATA


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--config", type=Path, default=config.REPO_SCHEMA.parent / "config.toml")
    args = p.parse_args()
    detector = Detector(config.load(args.config).event_detection)
    with gzip.open(DEMO_DATA, "rt") as f:
        for row in csv.DictReader(f):
            ts, price, qty = int(row["timestamp"]) * 1000, float(row["price"]), float(row["amount"])
            detector.on_trade(ts, price, qty, row["side"] == "buy")
    detector.flush()
    for t in detector.transitions:
        when = datetime.fromtimestamp(t.ts_ns / 1e9, tz=UTC).strftime("%H:%M:%S")
        print(f"{when}  {t.previous:>8} -> {t.current:<8}  {t.reason}")
    print(f"dropped inputs: {dict(detector.guard.dropped)}")


if __name__ == "__main__":
    main()
