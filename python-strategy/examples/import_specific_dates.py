"""Fetches Binance public data for chosen dates (needs internet), then imports it the way
`flashcrash import` does: every bad row reported by line and dropped, the trades cached as `.npz`,
and their 1-second bars built (`flashcrash import --bars FILE` writes them).

    .venv/bin/python python-strategy/examples/import_specific_dates.py \\
        --symbol POLUSDT --market spot --kind aggTrades 2025-10-10 2025-10-11

Without internet, point it at files you already have: `--files data/*.csv.gz`.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from flashcrash.marketdata import Market, load_trades, second_bars
from flashcrash.marketdata.download import DownloadError, daily_url, download

REPO = Path(__file__).resolve().parents[2]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dates", nargs="*", type=date.fromisoformat, help="YYYY-MM-DD, one or more")
    p.add_argument("--symbol", default="POLUSDT")
    p.add_argument(
        "--market",
        choices=[m.value for m in Market],
        help="spot, um or cm: the site's folder to download from (default spot); for --files, as "
        "`flashcrash import --market` (default: detected from the file, else spot)",
    )
    p.add_argument("--kind", choices=["aggTrades", "trades"], default="aggTrades")
    p.add_argument("--files", nargs="*", type=Path, default=[], help="import these instead of downloading")
    p.add_argument("--out", type=Path, default=REPO / "data" / "raw")
    args = p.parse_args()
    market = Market(args.market) if args.market else None
    files = list(args.files)
    for day in args.dates:
        url = daily_url(market or Market.SPOT, args.kind, args.symbol, day)
        try:
            files.append(download(url, args.out))
        except DownloadError as e:
            print(f"skipped {day}: {e}", file=sys.stderr)
    if not files:
        print("nothing to import", file=sys.stderr)
        return 1
    for path in files:
        trades, report, cached = load_trades(path, REPO / "data" / "cache", market=market)
        bars = second_bars(trades)
        print(f"{report.summary()}; {len(bars)} one-second bars{' (from cache)' if cached else ''}")
        for issue in report.issues[:5]:
            print(f"  line {issue.line}: {issue.reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
