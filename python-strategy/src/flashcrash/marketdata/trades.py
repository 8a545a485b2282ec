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
partial file taken for a whole one. A line with bytes that are no UTF-8 is one dropped row, not a
refused file. Times in milliseconds, microseconds or nanoseconds are told apart by size. COIN-M
quantities are contracts of `contract_size` USD each: converted to the base asset as contracts *
contract_size / price. A file is COIN-M when `market` says so, when it is named for a COIN-M symbol,
when its rows name one (a capture's `s`, Tardis' `binance-delivery`), or when it has a `base_qty`
column (COIN-M `trades`, taken as is). Without `contract_size` it is Binance's for the symbol (100
USD for BTC, 10 for the others), the symbol being `symbol`, the rows' or the one the file is named
for; when none says it the file is refused (`ImportError_`): a guess may be off tenfold. The report
(`TradeReport`) says the market and the contract size used.

A row is dropped, with its line number and reason, when a field does not parse, a number is NaN or
infinite, its time is outside `MIN_TS_NS`..`MAX_TS_NS` (2009 to 2100) or its id outside int64 ("time
out of range", "id out of range"), the price is not positive, the quantity is not positive, or it is
out of order: its time before the previous kept row's, or its id not above it (a duplicate or a step
back). A short run of rows ahead of the file (a time or id far ahead), that more rows after it
agree is out of place, is what is dropped, not every row after it (`_InOrder` gives the rule). A
capture's trades are those of its first trade's symbol and stream (`trade` or `aggTrade`: two id
sequences), and only market trades (a futures `trade` event's `X` other than `MARKET` is an
insurance fund or ADL trade, off the market's price: dropped); a Tardis file's are those of its first
trade's exchange and symbol; the others are dropped.
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
from dataclasses import dataclass
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


class RowRejected(ValueError):
    """A row that parses but is not to be kept; the message is the drop reason."""


class OutOfRange(RowRejected):
    """A time or id that parses but no row can hold; the message is the drop reason."""


@dataclass
class TradeReport(ImportReport):
    """An import report that also says how the quantities were read: a COIN-M file's contracts
    converted with a wrong contract size scale every quantity, so the size used is stated."""

    market: Market | None = None
    contract_size: float | None = None  # USD per contract, when COIN-M contracts were converted

    def summary(self) -> str:
        text = super().summary()
        if self.contract_size is not None:
            text += f"; COIN-M contracts of {self.contract_size:g} USD converted to the base asset"
        return text


# What `open_lines` makes of bytes that are no UTF-8: lone surrogates (`surrogateescape`), so that a
# bad byte costs its own line, which every reader drops by its number, not the whole file.
NOT_UTF8 = "not UTF-8 text (undecodable bytes)"
_UNDECODABLE = re.compile("[\udc80-\udcff]")


def undecodable(line: str) -> bool:
    """True when `line` (from `open_lines`) holds bytes that are no UTF-8."""
    return _UNDECODABLE.search(line) is not None


def open_lines(path: Path) -> Iterator[str]:
    """The text lines of `path`: plain, `.gz`, or the first `.csv` member of a `.zip` (UTF-8, a
    byte-order mark dropped; bytes that are no UTF-8 kept as lone surrogates, see `undecodable`, so
    that one bad byte is one bad row). `ImportError_` when the archive is damaged or ends early."""
    n = 0
    try:
        for line in _raw_lines(path):
            n += 1
            yield line
    except (EOFError, zlib.error, zipfile.BadZipFile, gzip.BadGzipFile) as e:
        raise ImportError_(
            f"{path}: damaged or cut short after line {n} ({e.__class__.__name__}: {e}); download it again"
        ) from None


# UTF-8 less a byte-order mark; a byte that is no UTF-8 kept as a lone surrogate (`undecodable`);
# line endings as they are.
_TEXT = {"encoding": "utf-8-sig", "errors": "surrogateescape", "newline": ""}


def _raw_lines(path: Path) -> Iterator[str]:
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if n.lower().endswith(".csv")]
            if not names:
                raise ImportError_(f"{path}: no .csv member in the zip")
            with z.open(names[0]) as raw:
                yield from io.TextIOWrapper(raw, **_TEXT)
        return
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", **_TEXT) as f:  # type: ignore[operator]
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


# A file named for its COIN-M symbol otherwise: BTCUSD_PERP-aggTrades.csv, btcusd_perp_20240808.gz.
NAMED_FOR_COINM = re.compile(r"^([A-Z0-9]+USD_(?:PERP|\d{6}))(?![A-Z0-9])", re.IGNORECASE)


def market_of_name(path: Path) -> Market | None:
    """COIN-M when the file is named as Binance names a COIN-M symbol's data, else unknown (spot and
    USD-M files are named alike, and their quantities are both in the base asset)."""
    named = BINANCE_NAME.match(path.name)
    return Market.COINM if named and COINM_SYMBOL.match(named.group(1)) else None


def symbol_of_name(path: Path) -> str | None:
    """The symbol `path` is named for: a Binance public data name's, or a COIN-M symbol the name
    starts with (it says the contract size when `--market cm` says the market)."""
    named = BINANCE_NAME.match(path.name) or NAMED_FOR_COINM.match(path.name)
    return named.group(1).upper() if named else None


def is_coinm(market: Market | None, path: Path, symbol: str, exchange: str = "") -> bool:
    """Whether a file's quantities are COIN-M contracts: as `market` says; when not given, when the
    file is named as Binance names a COIN-M symbol's data, or its rows name a COIN-M symbol (a
    capture's `s`) or exchange (Tardis' `binance-delivery`)."""
    if market is not None:
        return market is Market.COINM
    named = market_of_name(path) is Market.COINM
    return named or exchange == "binance-delivery" or bool(COINM_SYMBOL.match(symbol.upper()))


def coinm_contract_size(path: Path, given: float | None, symbol: str | None) -> float:
    """The USD a COIN-M contract of `path` is worth: `given` (`--contract-size`), else Binance's for
    the symbol (`symbol`, else the one the file is named for). `ImportError_` when neither is known:
    a guess may be off tenfold (BTC contracts are 100 USD, the others 10), scaling every quantity."""
    if given is not None:
        if not (math.isfinite(given) and given > 0):
            raise ImportError_(f"{path}: contract size {given:g}: expected a positive number of USD")
        return given
    symbol = symbol or symbol_of_name(path)
    if not symbol:
        raise ImportError_(
            f"{path}: COIN-M quantities are contracts, of a size (100 USD for BTC, 10 for the others) "
            "that neither the rows nor the file name tell (no symbol): give --contract-size, or name "
            "the file for its symbol (BTCUSD_PERP-aggTrades-2025-10-10.csv)"
        )
    return contract_size_of(symbol)


def read_trades(
    path: Path,
    fmt: TradeFormat | None = None,
    market: Market | None = None,
    contract_size: float | None = None,
    symbol: str | None = None,
) -> tuple[np.ndarray, TradeReport]:
    """Reads every trade of `path`. `fmt` and `market` are detected when not given (see the module
    text; other files are read as spot, whose quantities are in the base asset as USD-M's are);
    `symbol` (for the COIN-M contract size) defaults to the rows' or the one the file is named for."""
    report = TradeReport(str(path))
    market = market or market_of_name(path)
    ordered = _InOrder(report)
    # A capture's (symbol, event type) or a Tardis file's (exchange, symbol), from its first trade.
    stream: tuple[str, str] | None = None
    size: float | None = None  # COIN-M: USD per contract, from the first row converted
    first = True  # the first non-blank line: a header, and what tells the format
    lines = enumerate(open_lines(path), start=1)
    if fmt in (None, TradeFormat.CAPTURE):
        lines = _capture_behind_junk(lines, report)
    for line_no, line in lines:
        line = line.strip()
        if not line:
            continue
        if undecodable(line):
            report.rows += 1
            report.drop(line_no, NOT_UTF8)
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
                key: tuple[str, str] | None = (row_symbol.upper(), kind)
            else:
                report.rows += 1
                ts, tid, price, qty, buy, row_symbol, exchange = _parse(fmt, fields)  # type: ignore[arg-type]
                key = (exchange.strip(), row_symbol.strip().upper()) if fmt is TradeFormat.TARDIS else None
            if key is not None:
                stream = stream or key
                if key != stream:
                    whose = "capture's" if fmt is TradeFormat.CAPTURE else "file's"
                    report.drop(line_no, f"{' '.join(key)}, not the {whose} {' '.join(stream)}")
                    continue
            if market is None:
                market = Market.COINM if is_coinm(None, path, row_symbol, exchange) else Market.SPOT
            if market is Market.COINM and fmt is TradeFormat.TRADES:
                qty = float(fields[3])  # COIN-M trades: the base quantity column
            elif market is Market.COINM:
                size = size or coinm_contract_size(path, contract_size, symbol or row_symbol.strip())
                qty = qty * size / price if price > 0 else math.nan
        except ImportError_:
            raise  # the whole file refused (no contract size), not a bad row
        except (ValueError, IndexError, KeyError, TypeError) as e:
            if fmt is TradeFormat.CAPTURE:
                report.rows += 1
            report.drop(
                line_no, str(e) if isinstance(e, RowRejected) else f"malformed ({e.__class__.__name__})"
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
                report.symbol = row_symbol.strip().upper()
    trades = ordered.finish()
    report.issues.sort(key=lambda i: i.line)  # a row held back is dropped after later lines
    report.kept = len(trades)
    report.symbol = report.symbol or symbol_of_name(path)
    report.market, report.contract_size = market, size
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


# The longest run of rows ahead of the file (in order among themselves, not with the rows after
# them: a clock glitch, ids of another sequence) that is dropped for the rows after it; a longer one
# is taken for the file's own sequence going on (a jump ahead, as after a recording gap).
MAX_AHEAD = 5


class _InOrder:
    """Keeps the rows in time and id order, deciding up to `MAX_AHEAD` rows late, so that a short run
    of rows far ahead (in time or id) costs those rows, not every row after them, which are all out
    of order with it.

    The rule: rows in order after the last kept row, each after the one before, are pending; once
    more than `MAX_AHEAD` are, the first is kept. A row out of order with the last pending row but in
    order after an earlier one (or the last kept row, or at the start of the file), and not of the
    last pending row's id, starts a rival run from there: the pending rows after its branch point are
    the run ahead it would drop. Each next row in order after the last pending row ends the rival,
    whose rows (steps back) are dropped; else each row in order after the rival's last row joins it,
    and once the rival has more rows than the run ahead (so at least two, in order with each other
    and with the rows before the run, and none with the run's last row) the run ahead is dropped
    ("out of order with the rows after it") and the rival's rows are pending in its place. Any other
    row out of order is dropped; at the end of the file a rival still short of winning is dropped."""

    def __init__(self, report: ImportReport) -> None:
        self.report = report
        self.last: Row | None = None  # the last row kept
        self.rows: list[Row] = []  # kept, not packed yet
        self.packed: list[np.ndarray] = []
        self.pending: list[tuple[int, Row]] = []  # (line, row), in order after `last`
        self.rival: list[tuple[int, Row]] = []  # in order after pending[: self.branch], not after pending[-1]
        self.branch = 0

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
        tail = self.pending[-1][1] if self.pending else self.last
        why = self.why_not_after(tail, row) if tail else None
        if why is None:
            self.drop_rival()  # steps back, the file's sequence going on after them
            self.pend([(line, row)])
        elif self.rival and self.why_not_after(self.rival[-1][1], row) is None:
            self.rival.append((line, row))
            if len(self.rival) > len(self.pending) - self.branch:
                for ahead, _ in self.pending[self.branch :]:
                    self.report.drop(ahead, "out of order with the rows after it (time or id ahead)")
                rival, self.rival = self.rival, []
                del self.pending[self.branch :]
                self.pend(rival)
        elif (
            not self.rival
            and tail is not None
            and row[1] != tail[1]
            and (b := self.branch_of(row)) is not None
        ):
            self.branch, self.rival = b, [(line, row)]
        else:
            self.report.drop(line, why or "")

    def branch_of(self, row: Row) -> int | None:
        """How many pending rows `row` can follow (the latest it is in order after), else None."""
        for b in range(len(self.pending) - 1, 0, -1):
            if self.why_not_after(self.pending[b - 1][1], row) is None:
                return b
        return 0 if self.last is None or self.why_not_after(self.last, row) is None else None

    def pend(self, rows: list[tuple[int, Row]]) -> None:
        self.pending.extend(rows)
        while len(self.pending) > MAX_AHEAD:
            self.keep(self.pending.pop(0)[1])

    def drop_rival(self) -> None:
        """Drops the rival run, each row for how it is out of order with the last pending row."""
        for line, row in self.rival:
            self.report.drop(line, self.why_not_after(self.pending[-1][1], row) or "")
        self.rival = []

    def finish(self) -> np.ndarray:
        """Every row kept, as one TRADE_DTYPE array."""
        self.drop_rival()
        for _, row in self.pending:
            self.keep(row)
        self.pending = []
        parts = [*self.packed, np.array(self.rows, dtype=TRADE_DTYPE)]
        self.packed, self.rows = [], []
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _parse_capture(line: str) -> tuple[str, tuple[int, int, float, float, bool, str, str]] | None:
    """A capture line's event type and trade, or None for any other event. Event time `T` is the
    trade time. `RowRejected` when its `X` (futures `trade` events) says it is no market trade: an
    insurance fund or ADL trade is priced off the market (up to ~10 % in a liquidation cascade) and
    would fill resting orders that the market never reached."""
    _, _, text = line.partition(" ")
    msg = json.loads(text)
    data = msg.get("data", msg) if isinstance(msg, dict) else None
    if not isinstance(data, dict) or data.get("e") not in ("trade", "aggTrade"):
        return None
    kind = data["e"]
    if data.get("X", "MARKET") != "MARKET":
        raise RowRejected(f"X {data['X']}: not a MARKET trade (an insurance fund or ADL trade)")
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
