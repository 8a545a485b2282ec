"""Binance public data besides trades: klines and futures `bookDepth`, as columnar arrays."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from flashcrash.marketdata.report import ImportReport
from flashcrash.marketdata.trades import (
    NOT_UTF8,
    OutOfRange,
    checked_int,
    checked_ns,
    open_lines,
    undecodable,
)

KLINE_DTYPE = np.dtype(
    [
        ("open_ns", "<i8"),
        ("open", "<f8"),
        ("high", "<f8"),
        ("low", "<f8"),
        ("close", "<f8"),
        ("volume", "<f8"),
        ("trades", "<i8"),
        ("taker_buy_volume", "<f8"),
    ]
)
# `percentage` a float: the bundled file's bands are whole percents (-5..-1, 1..5), but a narrower
# band (-0.20) is a band all the same, not a malformed row.
BOOK_DEPTH_DTYPE = np.dtype([("ts_ns", "<i8"), ("percentage", "<f8"), ("depth", "<f8"), ("notional", "<f8")])


def read_klines(path: Path) -> tuple[np.ndarray, ImportReport]:
    """`open_time, open, high, low, close, volume, close_time, quote_volume, count,
    taker_buy_volume, taker_buy_quote_volume, ignore`; a header row (line 1 naming `open_time`) is
    skipped. A bad row (line 1 among them: a row that is no header is a row; a time outside
    `trades.MIN_TS_NS`..`MAX_TS_NS`, more taker buy volume than volume, bytes that are no UTF-8) is
    dropped and reported by line."""
    report = ImportReport(str(path))
    rows = []
    last = -1
    for n, line in enumerate(open_lines(path), start=1):
        f = line.strip().split(",")
        if not line.strip() or (n == 1 and f[0].strip().lower() == "open_time"):
            continue  # a blank line or the header (a row with an empty first field is malformed)
        report.rows += 1
        if undecodable(line):
            report.drop(n, NOT_UTF8)
            continue
        try:
            t = checked_ns(f[0])
            o, h, lo, c, v, tb = (float(f[i]) for i in (1, 2, 3, 4, 5, 9))
            count = checked_int(f[8], "count")
        except (ValueError, IndexError) as e:
            report.drop(n, str(e) if isinstance(e, OutOfRange) else "malformed")
            continue
        if not all(math.isfinite(x) for x in (o, h, lo, c, v, tb)):
            report.drop(n, "NaN or infinite")
        elif min(o, h, lo, c) <= 0 or v < 0 or tb < 0 or count < 0:
            report.drop(n, "price not positive or negative volume")
        elif not lo <= min(o, c) <= max(o, c) <= h:
            report.drop(n, "high/low do not bound open/close")
        elif tb > v:
            report.drop(n, "taker buy volume above the volume")
        elif t <= last:
            report.drop(n, "time not after the previous row")
        else:
            rows.append((t, o, h, lo, c, v, count, tb))
            last = t
    report.kept = len(rows)
    return np.array(rows, dtype=KLINE_DTYPE), report


def read_book_depth(path: Path) -> tuple[np.ndarray, ImportReport]:
    """`timestamp (YYYY-MM-DD HH:MM:SS, UTC), percentage (-5..5, not 0, decimals too), depth,
    notional[, ...]`; header skipped, leading spaces tolerated (the bundled file has one). A bad row
    (a time outside `trades.MIN_TS_NS`..`MAX_TS_NS` among them, a time going back, a percentage
    given twice at one time, bytes that are no UTF-8) is dropped and reported by line."""
    report = ImportReport(str(path))
    rows = []
    last_ts, seen = -1, set()  # the latest time and the percentages given at it
    for n, line in enumerate(open_lines(path), start=1):
        f = [x.strip() for x in line.strip().split(",")]
        if not line.strip() or (n == 1 and f[0].lower() == "timestamp"):
            continue  # a blank line or the header (a row with an empty first field is malformed)
        report.rows += 1
        if undecodable(line):
            report.drop(n, NOT_UTF8)
            continue
        try:
            t = datetime.strptime(f[0], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
            ts = checked_ns(int(t.timestamp()) * 1_000_000_000)
            pct, depth, notional = float(f[1]), float(f[2]), float(f[3])
        except (ValueError, IndexError) as e:
            report.drop(n, str(e) if isinstance(e, OutOfRange) else "malformed")
            continue
        if not (math.isfinite(pct) and math.isfinite(depth) and math.isfinite(notional)):
            report.drop(n, "NaN or infinite")
        elif depth < 0 or notional < 0 or not (-5 <= pct <= 5 and pct != 0):
            report.drop(n, "negative depth or percentage outside -5..5")
        elif ts < last_ts:
            report.drop(n, "time before the previous row")
        elif ts == last_ts and pct in seen:
            report.drop(n, "percentage already given at this time (duplicate)")
        else:
            if ts > last_ts:
                last_ts, seen = ts, set()
            seen.add(pct)
            rows.append((ts, pct, depth, notional))
    report.kept = len(rows)
    return np.array(rows, dtype=BOOK_DEPTH_DTYPE), report
