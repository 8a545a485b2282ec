"""The real L2 book of a recorded Binance WebSocket capture (see `trades.TradeFormat.CAPTURE`), rebuilt
with Binance's procedure for a local order book, for backtests that should see the recorded depth
instead of the synthetic model:

* diff events (`depthUpdate`) before the REST snapshot in the capture are buffered; spot: those with
  `u <= lastUpdateId` are dropped, the first applied one must have `U <= lastUpdateId + 1 <= u`, every
  later one must start at the previous `u + 1`; USD-M / COIN-M futures (events with `pu`, ids not
  contiguous): those with `u < lastUpdateId` are dropped, the first applied one must have
  `U <= lastUpdateId <= u`, every later one `pu` equal to the previous `u`;
* a quantity of 0 removes the level;
* after every applied event, the top `levels` of each side become one `OrderBookSnapshot` stamped
  with the event time `E`.

A COIN-M capture's level quantities are contracts: told and converted as `trades.read_trades` tells
and converts its trades (contracts * contract size / price, the size given or Binance's for the
symbol), so that the book and the trades of a backtest are both in the base asset.

A capture holds one snapshot: after a gap, or a crossed or empty book, there is nothing to resync
from, so the books stop there (reported); the replay then keeps the last good book. Bad lines
(not JSON, not UTF-8, non-finite or negative figures, an update id beyond int64 or an event time
outside `trades.MIN_TS_NS`..`MAX_TS_NS`) are dropped and reported by line number, never applied."""

from __future__ import annotations

import heapq
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flashcrash import wire
from flashcrash.marketdata.report import ImportReport
from flashcrash.marketdata.trades import (
    INT64_MAX,
    NOT_UTF8,
    ImportError_,
    Market,
    OutOfRange,
    checked_int,
    checked_ns,
    coinm_contract_size,
    is_coinm,
    open_lines,
    undecodable,
)


@dataclass
class DepthReport(ImportReport):
    """An import report whose rows are the capture's depth events, plus how the book sync ended."""

    snapshot_update_id: int | None = None
    applied: int = 0
    stopped: str = ""  # why the books end early ("" = they cover the whole capture)
    contract_size: float | None = None  # USD per contract, when COIN-M levels were converted

    def summary(self) -> str:
        text = (
            f"{self.source}: snapshot {self.snapshot_update_id}, {self.applied} depth events applied, "
            f"{self.dropped} dropped"
        )
        if self.contract_size is not None:
            text += f"; COIN-M contracts of {self.contract_size:g} USD converted to the base asset"
        return text + (f"; books stop early: {self.stopped}" if self.stopped else "")


def _levels(side: Any, line_no: int) -> list[tuple[float, float]]:
    out = []
    for price, qty in side:
        p, q = float(price), float(qty)
        if not (math.isfinite(p) and math.isfinite(q)) or p <= 0 or q < 0:
            raise ValueError(f"level {price!r} x {qty!r} on line {line_no}")
        out.append((p, q))
    return out


class _Book:
    """The levels as the venue gives them (COIN-M: contracts, so that a 0 removes a level whatever
    the size); `top` gives them in the base asset. The size is converted on the way out because the
    snapshot may come before the first event that names the symbol, which the size depends on."""

    def __init__(self, levels: int) -> None:
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self.levels = levels
        self.contract_size: float | None = None  # COIN-M: USD per contract

    def load(self, bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> None:
        self.bids = {p: q for p, q in bids if q > 0}
        self.asks = {p: q for p, q in asks if q > 0}

    def apply(self, bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> None:
        for side, changes in ((self.bids, bids), (self.asks, asks)):
            for p, q in changes:
                if q == 0:
                    side.pop(p, None)
                else:
                    side[p] = q

    def top(self) -> tuple[tuple[tuple[float, float], ...], tuple[tuple[float, float], ...]]:
        bids = heapq.nlargest(self.levels, self.bids.items())
        asks = heapq.nsmallest(self.levels, self.asks.items())
        if (size := self.contract_size) is not None:  # contracts to the base asset, as the trades
            bids = [(p, q * size / p) for p, q in bids]
            asks = [(p, q * size / p) for p, q in asks]
        return tuple(bids), tuple(asks)


def capture_books(
    path: Path,
    symbol: str | None = None,
    levels: int = 20,
    market: Market | None = None,
    contract_size: float | None = None,
) -> tuple[list[wire.OrderBookSnapshot], DepthReport]:
    """The book after every applied depth event of the capture at `path` (of `symbol`, default the
    first seen), top `levels` a side, in event-time order. `market` and `contract_size` as for
    `trades.read_trades` (a backtest passes those its trades were read with): a COIN-M book's
    contracts are converted to the base asset; `ImportError_` when the contract size is unknown."""
    report = DepthReport(str(path))
    book = _Book(levels)
    units_known = False  # COIN-M or not: decided at the first depth event of the symbol
    buffered: list[tuple[int, dict[str, Any]]] = []
    books: list[wire.OrderBookSnapshot] = []
    last_u: int | None = None  # None: the first event after the snapshot is still to come
    snapshot: int | None = None
    for line_no, line in enumerate(open_lines(path), start=1):
        if report.stopped:
            break
        stamp, _, text = line.strip().partition(" ")
        if not text:
            continue
        if undecodable(line):
            report.rows += 1
            report.drop(line_no, NOT_UTF8)
            continue
        try:
            msg = json.loads(text)
        except json.JSONDecodeError:
            report.rows += 1
            report.drop(line_no, "not JSON")
            continue
        data = msg.get("data", msg) if isinstance(msg, dict) else None
        if not isinstance(data, dict):
            continue
        if "lastUpdateId" in data and snapshot is None:
            try:
                book.load(_levels(data["bids"], line_no), _levels(data["asks"], line_no))
                snapshot = checked_int(data["lastUpdateId"], "lastUpdateId")
            except (KeyError, TypeError, ValueError) as e:
                raise ImportError_(f"{path}: line {line_no}: bad REST snapshot: {e}") from None
            report.snapshot_update_id = snapshot
            pending, buffered = buffered, []
            for n, d in pending:
                last_u = _apply(d, n, book, snapshot, last_u, books, report, symbol)
            continue
        if data.get("e") != "depthUpdate":
            continue
        if symbol is None:
            symbol = str(data.get("s", ""))
        if data.get("s") != symbol:
            continue
        if not units_known:
            units_known = True
            if is_coinm(market, path, symbol or ""):
                book.contract_size = coinm_contract_size(path, contract_size, symbol)
                report.contract_size = book.contract_size
        report.rows += 1
        local_ns = int(stamp) if stamp.isascii() and stamp.isdigit() else 0
        data["_local_ns"] = local_ns if local_ns <= INT64_MAX else 0  # 0: the event time stands in
        if snapshot is None:
            buffered.append((line_no, data))
        else:
            last_u = _apply(data, line_no, book, snapshot, last_u, books, report, symbol)
    if snapshot is None:
        raise ImportError_(f"{path}: no REST depth snapshot (lastUpdateId) in the capture")
    report.kept = report.applied
    return books, report


def _apply(
    d: dict[str, Any],
    line_no: int,
    book: _Book,
    snapshot: int,
    last_u: int | None,
    books: list[wire.OrderBookSnapshot],
    report: DepthReport,
    symbol: str | None,
) -> int | None:
    """Applies one diff event under the sync rules; returns the new last applied `u`."""
    if report.stopped:
        return last_u
    try:
        first, final = checked_int(d["U"], "id"), checked_int(d["u"], "id")
        event_ns = checked_ns(d["E"])
        bids, asks = _levels(d["b"], line_no), _levels(d["a"], line_no)
    except (KeyError, TypeError, ValueError) as e:
        reason = str(e) if isinstance(e, OutOfRange) else f"malformed depth event ({e.__class__.__name__})"
        report.drop(line_no, reason)
        return last_u
    pu = d.get("pu")
    if pu is None:
        # Spot: drop u <= lastUpdateId; the first event spans lastUpdateId + 1, each later one
        # starts at the previous u + 1.
        stale = final <= (snapshot if last_u is None else last_u)
        expected = snapshot + 1 if last_u is None else last_u + 1
        ok = first <= expected <= final if last_u is None else first == expected
    else:
        # USD-M / COIN-M (their ids are not contiguous): drop u < lastUpdateId; the first event has
        # U <= lastUpdateId <= u, each later one pu == the previous u.
        stale = final < snapshot if last_u is None else final <= last_u
        expected = snapshot if last_u is None else last_u
        ok = first <= expected <= final if last_u is None else pu == last_u
    if stale:
        report.drop(line_no, "stale (u at or below the book's update id)")
        return last_u
    if not ok:
        report.stopped = f"gap on line {line_no}: U {first}, expected {expected}"
        return last_u
    book.apply(bids, asks)
    top_bids, top_asks = book.top()
    if not top_bids or not top_asks or top_bids[0][0] >= top_asks[0][0]:
        report.stopped = f"line {line_no}: {'empty' if not top_bids or not top_asks else 'crossed'} book"
        return final
    report.applied += 1
    books.append(
        wire.OrderBookSnapshot(
            symbol or "", event_ns, d.get("_local_ns", 0) or event_ns, final, top_bids, top_asks
        )
    )
    return final


def is_capture(path: Path) -> bool:
    """True when `path` is a recorded WebSocket capture (`<receive time ns> <JSON>` lines): its first
    line is one, or its second is (behind a recorder's log line, which the trade import drops too)."""

    def capture_line(line: str) -> bool:
        stamp, _, text = line.strip().partition(" ")
        return stamp.isdigit() and text.startswith("{")

    lines = (line for line in open_lines(path) if line.strip())
    first, second = next(lines, ""), next(lines, "")
    return capture_line(first) or (" {" not in first and capture_line(second))
