"""Trade files into one columnar array (`TRADE_DTYPE`), every bad row reported and dropped.

Formats (`../shared/data/SOURCES.md` describes each):

* Binance public data `aggTrades` CSV: `agg_trade_id, price, quantity, first_trade_id,
  last_trade_id, transact_time, is_buyer_maker[, is_best_match]` (spot has the last column);
* Binance public data `trades` CSV: `id, price, qty, quote_qty | base_qty, time, is_buyer_maker
  [, is_best_match]` (COIN-M's fourth column is the base quantity);
* Tardis-style trade CSV: `exchange, symbol, timestamp, local_timestamp, id, side, price, amount`;
* raw recorded Binance WebSocket captures (a receive timestamp in ns, a space, the JSON message per
  line): their `trade` / `aggTrade` events (the depth diffs and snapshots are the venue's business:
  exchange-sim replays them as real L2).

Each with or without a header row (and a UTF-8 byte-order mark), plain, gzip or zip (the first CSV
member); a damaged or cut-short archive is an `ImportError_` naming the last line read, never a
partial file taken for a whole one. Times in milliseconds, microseconds or nanoseconds are told
apart by size. COIN-M quantities are contracts of `contract_size` USD each (100 for BTC, 10
otherwise, as Binance lists them): converted to the base asset as contracts * contract_size / price.
A file is COIN-M when `market` says so, when it is named for a COIN-M symbol, when its rows name one
(a capture's `s`, Tardis' `binance-delivery`), or when it has a `base_qty` column (COIN-M `trades`).

A row is dropped, with its line number and reason, when a field does not parse, a number is NaN or
infinite, its time is outside `MIN_TS_NS`..`MAX_TS_NS` (2009 to 2100) or its id outside int64 ("time
out of range", "id out of range"), the price is not positive, the quantity is not positive, or it is
out of order: its time before the previous kept row's, or its id not above it (a duplicate or a step
back). A row that the next two rows, in order after the row before it, are both out of order with
(one time or id far ahead) is the one dropped, not every row after it (`_InOrder`). A capture's trades are those of its
first trade's symbol and stream (`trade` or `aggTrade`: two id sequences); the others are dropped.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import re
import zipfile
import zlib
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from flashcrash.marketdata.report import ImportReport

TRADE_DTYPE = np.dtype([("ts_ns", "<i8"), ("id", "<i8"), ("price", "<f8"), ("qty", "<f8"), ("buy", "?")])

# The times a market data row may carry, ns since the epoch: from 2009-01-01 (before any crypto
# venue's first trade) to 2100-01-01 UTC, excluded. In milliseconds, microseconds and nanoseconds alike
# this span lies inside the size band `to_ns` reads as that unit, so the check never overrules the
# unit detection; a time outside it is corrupt (and may not fit int64 nanoseconds).
MIN_TS_NS = 1_230_768_000 * 1_000_000_000  # 2009-01-01T00:00:00Z
MAX_TS_NS = 4_102_444_800 * 1_000_000_000  # 2100-01-01T00:00:00Z
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class Market(StrEnum):
    SPOT = "spot"
    USDM = "um"
    COINM = "cm"


class TradeFormat(StrEnum):
    AGG_TRADES = "aggTrades"
    TRADES = "trades"
    TARDIS = "tardis"
    CAPTURE = "capture"


class ImportError_(ValueError):
    """A file that cannot be read at all (not a single bad row: those are dropped and reported)."""


class OutOfRange(ValueError):
    """A time or id that parses but no row can hold; the message is the drop reason."""


def open_lines(path: Path) -> Iterator[str]:
    """The text lines of `path`: plain, `.gz`, or the first `.csv` member of a `.zip` (UTF-8, a
    byte-order mark dropped). `ImportError_` when the archive is damaged or ends early."""
    n = 0
    try:
        for line in _raw_lines(path):
            n += 1
            yield line
    except (EOFError, zlib.error, zipfile.BadZipFile, gzip.BadGzipFile) as e:
        raise ImportError_(
            f"{path}: damaged or cut short after line {n} ({e.__class__.__name__}: {e}); download it again"
        ) from None


def _raw_lines(path: Path) -> Iterator[str]:
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if n.lower().endswith(".csv")]
            if not names:
                raise ImportError_(f"{path}: no .csv member in the zip")
            with z.open(names[0]) as raw:
                yield from io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        return
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as f:  # type: ignore[operator]
        yield from f


def to_ns(t: int) -> int:
    """Epoch milliseconds, microseconds or nanoseconds to nanoseconds, told apart by size."""
    if t < 10**14:
        return t * 1_000_000
    if t < 10**17:
        return t * 1_000
    return t


def checked_int(v: Any, what: str) -> int:
    """`v` (an integer string or a JSON number) as an int64; `OutOfRange("<what> out of range")`
    beyond int64 or infinite, ValueError or TypeError when it is no number."""
    try:
        i = int(v)
    except OverflowError:  # int(inf): a JSON number such as 1e999
        raise OutOfRange(f"{what} out of range") from None
    if not INT64_MIN <= i <= INT64_MAX:
        raise OutOfRange(f"{what} out of range")
    return i


def checked_ns(v: Any) -> int:
    """`v`, epoch ms, µs or ns as `to_ns` tells them apart, in ns; `OutOfRange("time out of range")`
    outside `MIN_TS_NS`..`MAX_TS_NS`."""
    ns = to_ns(checked_int(v, "time"))
    if not MIN_TS_NS <= ns < MAX_TS_NS:
        raise OutOfRange("time out of range")
    return ns


def _id(v: Any) -> int:
    return checked_int(v, "id")


def contract_size_of(symbol: str) -> float:
    """Binance COIN-M contract size in USD: 100 for BTC contracts, 10 for the others."""
    return 100.0 if symbol.upper().startswith("BTC") else 10.0


_NUMBER = re.compile(r"-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?")


def _is_header(fields: list[str]) -> bool:
    """A header names its columns: none is a number (a headerless Tardis row starts with its
    exchange's name, but its times, price and amount are numbers)."""
    return not any(_NUMBER.fullmatch(f.strip()) for f in fields)


def detect(first: list[str], header: bool) -> TradeFormat:
    """The format of a file from its first row."""
    if " {" in first[0]:
        return TradeFormat.CAPTURE
    names = [f.strip().lower() for f in first]
    if header:
        if names[:2] == ["exchange", "symbol"]:
            return TradeFormat.TARDIS
        if "agg_trade_id" in names or "first_trade_id" in names:
            return TradeFormat.AGG_TRADES
        if "quote_qty" in names or "base_qty" in names or names[:1] == ["id"]:
            return TradeFormat.TRADES
        if "open_time" in names:
            raise ImportError_("a klines file, not trades: import it with --kind klines")
        if "percentage" in names:
            raise ImportError_("a bookDepth file, not trades: import it with --kind bookDepth")
        raise ImportError_(f"unknown header: {','.join(first)}")
    if len(first) == 8 and not first[0].strip().isdigit():
        return TradeFormat.TARDIS
    # Where the first boolean is: trades' `is_buyer_maker` is the sixth column, aggTrades' the
    # seventh (its sixth is the time). A quantity that happens to be whole says nothing.
    flags = [f.strip().lower() in ("true", "false") for f in first]
    if len(first) >= 6 and flags[5]:
        return TradeFormat.TRADES
    if len(first) >= 7 and flags[6]:
        return TradeFormat.AGG_TRADES
    # Flags written 1/0: aggTrades' fourth column is a trade id (an integer), trades' a quantity.
    if len(first) >= 7 and first[3].strip().isdigit() and first[4].strip().isdigit():
        return TradeFormat.AGG_TRADES
    if len(first) >= 6:
        return TradeFormat.TRADES
    raise ImportError_(f"cannot tell the format of a row of {len(first)} columns")


def _bool(s: str) -> bool:
    v = s.strip().lower()
    if v in ("true", "1"):
        return True
    if v in ("false", "0"):
        return False
    raise ValueError(f"not a boolean: {s!r}")


# Binance's public data files: <SYMBOL>-aggTrades-<date>.zip, <SYMBOL>-trades-<date>.csv, ...
BINANCE_NAME = re.compile(r"^([A-Z0-9]+(?:_[A-Z0-9]+)?)-(?:aggTrades|trades)-")
# COIN-M symbols end in _PERP or a delivery date (BTCUSD_PERP, ETHUSD_251226); spot and USD-M never do.
COINM_SYMBOL = re.compile(r"^[A-Z0-9]+USD_(?:PERP|\d{6})$")


def market_of_name(path: Path) -> Market | None:
    """COIN-M when the file is named as Binance names a COIN-M symbol's data, else unknown (spot and
    USD-M files are named alike, and their quantities are both in the base asset)."""
    named = BINANCE_NAME.match(path.name)
    return Market.COINM if named and COINM_SYMBOL.match(named.group(1)) else None


def read_trades(
    path: Path,
    fmt: TradeFormat | None = None,
    market: Market | None = None,
    contract_size: float | None = None,
    symbol: str | None = None,
) -> tuple[np.ndarray, ImportReport]:
    """Reads every trade of `path`. `fmt` and `market` are detected when not given (see the module
    text; other files are read as spot, whose quantities are in the base asset as USD-M's are);
    `symbol` (for the COIN-M contract size) defaults to the file's column or name."""
    report = ImportReport(str(path))
    market = market or market_of_name(path)
    ordered = _InOrder(report)
    stream: tuple[str, str] | None = None  # a capture's (symbol, event type), from its first trade
    first = True  # the first non-blank line: a header, and what tells the format
    lines = enumerate(open_lines(path), start=1)
    if fmt in (None, TradeFormat.CAPTURE):
        lines = _capture_behind_junk(lines, report)
    for line_no, line in lines:
        line = line.strip()
        if not line:
            continue
        fields = line.split(",")
        if first:
            first = False
            header = _is_header(fields) and " {" not in line
            fmt = fmt or detect(fields, header)
            if header:
                if market is None and "base_qty" in (f.strip().lower() for f in fields):
                    market = Market.COINM
                continue
        try:
            if fmt is TradeFormat.CAPTURE:
                parsed = _parse_capture(line)
                if parsed is None:
                    continue  # not a trade event
                kind, (ts, tid, price, qty, buy, row_symbol, exchange) = parsed
                report.rows += 1
                stream = stream or (row_symbol.upper(), kind)
                if (row_symbol.upper(), kind) != stream:
                    report.drop(line_no, f"{row_symbol} {kind}, not the capture's {stream[0]} {stream[1]}")
                    continue
            else:
                report.rows += 1
                ts, tid, price, qty, buy, row_symbol, exchange = _parse(fmt, fields)  # type: ignore[arg-type]
            if market is None:
                coinm = exchange == "binance-delivery" or COINM_SYMBOL.match(row_symbol.upper())
                market = Market.COINM if coinm else Market.SPOT
            if market is Market.COINM and fmt is TradeFormat.TRADES:
                qty = float(fields[3])  # COIN-M trades: the base quantity column
            elif market is Market.COINM:
                size = contract_size or contract_size_of(symbol or row_symbol or path.name)
                qty = qty * size / price if price > 0 else math.nan
        except (ValueError, IndexError, KeyError, TypeError) as e:
            if fmt is TradeFormat.CAPTURE:
                report.rows += 1
            report.drop(
                line_no, str(e) if isinstance(e, OutOfRange) else f"malformed ({e.__class__.__name__})"
            )
            continue
        if not math.isfinite(price):
            report.drop(line_no, "NaN or infinite")
        elif price <= 0:
            report.drop(line_no, "price not positive")
        elif not math.isfinite(qty):
            report.drop(line_no, "NaN or infinite")
        elif qty <= 0:
            report.drop(line_no, "quantity not positive")
        else:
            ordered.add(line_no, (ts, tid, price, qty, buy))
            if report.symbol is None and row_symbol:
                report.symbol = row_symbol.upper()
    trades = ordered.finish()
    report.issues.sort(key=lambda i: i.line)  # a row held back is dropped after later lines
    report.kept = len(trades)
    if report.symbol is None:
        named = BINANCE_NAME.match(path.name)
        report.symbol = named.group(1) if named else None
    return trades, report


def _capture_behind_junk(lines: Iterator[tuple[int, str]], report: ImportReport) -> Iterator[tuple[int, str]]:
    """The numbered lines, less a first one that is no capture's line when the one after it is (a
    log line the recorder wrote before its first event, an event cut in half): dropped by its line
    number. Before any other line, or alone, a first line stands (its format is told from it)."""
    it = ((n, line) for n, line in lines if line.strip())
    first = next(it, None)
    second = next(it, None)
    if first is not None and second is not None and " {" not in first[1] and " {" in second[1]:
        report.rows += 1
        report.drop(first[0], "not a capture's line (before the capture's first event)")
        first = None
    yield from (x for x in (first, second) if x is not None)
    yield from it


Row = tuple[int, int, float, float, bool]
# Rows kept are packed into TRADE_DTYPE arrays this many at a time: a Python tuple a row costs about
# 230 bytes, a packed row 33, so a day of 10M trades stays near 0.7 GB at its peak instead of 2.3.
CHUNK_ROWS = 65_536


class _InOrder:
    """Keeps the rows in time and id order, deciding one row late. The row held is kept once a row
    comes in order after it. A row that is not, but is in order after the last row kept (and no
    duplicate of the held one), waits: if the next row is in order after the held one, the waiting
    row is dropped; if it is in order after the waiting one instead, two rows in a row say the held
    one is out of place (a time or id far ahead) and it is dropped, not every row after it. Any other
    row out of order is dropped."""

    def __init__(self, report: ImportReport) -> None:
        self.report = report
        self.last: Row | None = None  # the last row kept
        self.rows: list[Row] = []  # kept, not packed yet
        self.packed: list[np.ndarray] = []
        self.held: tuple[int, Row] | None = None
        self.waiting: tuple[int, Row] | None = None

    def keep(self, row: Row) -> None:
        self.last = row
        self.rows.append(row)
        if len(self.rows) >= CHUNK_ROWS:
            self.packed.append(np.array(self.rows, dtype=TRADE_DTYPE))
            self.rows = []

    @staticmethod
    def why_not_after(prev: Row, row: Row) -> str | None:
        if row[0] < prev[0]:
            return "time before the previous row"
        if row[1] <= prev[1]:
            return "id not above the previous row (duplicate or out of order)"
        return None

    def add(self, line: int, row: Row) -> None:
        if self.held is None:
            why = self.why_not_after(self.last, row) if self.last else None
            if why is None:
                self.held = (line, row)
            else:
                self.report.drop(line, why)
            return
        held = self.held[1]
        why = self.why_not_after(held, row)
        if why is None:
            if self.waiting is not None:
                self.report.drop(self.waiting[0], self.why_not_after(held, self.waiting[1]) or "")
                self.waiting = None
            self.keep(held)
            self.held = (line, row)
        elif self.waiting is not None and self.why_not_after(self.waiting[1], row) is None:
            self.report.drop(self.held[0], "out of order with the rows after it (time or id ahead)")
            self.keep(self.waiting[1])
            self.held, self.waiting = (line, row), None
        elif (
            self.waiting is None
            and row[1] != held[1]
            and (self.last is None or self.why_not_after(self.last, row) is None)
        ):
            self.waiting = (line, row)
        else:
            self.report.drop(line, why)

    def finish(self) -> np.ndarray:
        """Every row kept, as one TRADE_DTYPE array."""
        if self.held is not None:
            if self.waiting is not None:
                self.report.drop(self.waiting[0], self.why_not_after(self.held[1], self.waiting[1]) or "")
            self.keep(self.held[1])
        self.held = self.waiting = None
        parts = [*self.packed, np.array(self.rows, dtype=TRADE_DTYPE)]
        self.packed, self.rows = [], []
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _parse_capture(line: str) -> tuple[str, tuple[int, int, float, float, bool, str, str]] | None:
    """A capture line's event type and trade, or None for any other event. Event time `T` is the
    trade time."""
    _, _, text = line.partition(" ")
    msg = json.loads(text)
    data = msg.get("data", msg) if isinstance(msg, dict) else None
    if not isinstance(data, dict) or data.get("e") not in ("trade", "aggTrade"):
        return None
    kind = data["e"]
    tid = data["t"] if kind == "trade" else data["a"]
    return kind, (
        checked_ns(data["T"]),
        _id(tid),
        float(data["p"]),
        float(data["q"]),
        not bool(data["m"]),
        str(data.get("s", "")),
        "",
    )


def _parse(fmt: TradeFormat, f: list[str]) -> tuple[int, int, float, float, bool, str, str]:
    """One row: ts_ns, id, price, quantity (contracts for COIN-M aggTrades), aggressor is buyer,
    symbol (Tardis), exchange (Tardis)."""
    match fmt:
        case TradeFormat.TARDIS:
            side = f[5].strip()
            if side not in ("buy", "sell"):
                raise ValueError(f"side {side!r}")
            return (checked_ns(f[2]), _id(f[4]), float(f[6]), float(f[7]), side == "buy", f[1], f[0])
        case TradeFormat.AGG_TRADES:
            return (checked_ns(f[5]), _id(f[0]), float(f[1]), float(f[2]), not _bool(f[6]), "", "")
        case TradeFormat.TRADES:
            return (checked_ns(f[4]), _id(f[0]), float(f[1]), float(f[2]), not _bool(f[5]), "", "")
    raise ValueError(f"format {fmt}")
