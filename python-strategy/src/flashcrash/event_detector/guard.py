"""Validation in front of the detector: NaN, Inf, non-positive prices, negative quantities, bad or
crossed books and events whose time goes back by more than the jitter buffer are dropped and counted
here, so none of them reaches a candle, an indicator or an order.

An event accepted here is never older than `newest_ns - jitter_ns`; the detector's jitter buffer
releases only events older than that, so what it releases is in time order."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from operator import gt, lt

from flashcrash.wire import book_levels_ok

_INF = math.inf


def _price_ok(p: object) -> bool:
    return isinstance(p, float) and math.isfinite(p) and p > 0


def _qty_ok(q: object) -> bool:
    return isinstance(q, float) and math.isfinite(q) and q >= 0


def _level_fault(*sides: Sequence[tuple[float, float]]) -> str | None:
    """The first bad level's reason, bids first, level by level."""
    for side in sides:
        for level in side:
            if len(level) != 2 or not _price_ok(level[0]):
                return "book_bad_price"
            if not _qty_ok(level[1]):
                return "book_bad_quantity"
    return None


class InputGuard:
    """Accepts or drops market events; `dropped` counts the reasons."""

    def __init__(self, jitter_ns: int = 1_500_000_000) -> None:
        self.jitter_ns = jitter_ns
        self.newest_ns = 0
        self.dropped: Counter[str] = Counter()

    def trade_ok(self, ts_ns: int, price: float, qty: float) -> bool:
        # Inline `_price_ok`/`_qty_ok`/`time_ok` for the common case (comparisons are False for NaN).
        if (
            isinstance(price, float)
            and 0.0 < price < _INF
            and isinstance(qty, float)
            and 0.0 <= qty < _INF
            and type(ts_ns) is int
            and ts_ns > 0
            and ts_ns >= self.newest_ns - self.jitter_ns
        ):
            if ts_ns > self.newest_ns:
                self.newest_ns = ts_ns
            return True
        if not _price_ok(price):
            self.dropped["bad_price"] += 1
            return False
        if not _qty_ok(qty):
            self.dropped["bad_quantity"] += 1
            return False
        return self.time_ok(ts_ns)

    def book_ok(
        self,
        ts_ns: int,
        bids: Sequence[tuple[float, float]],
        asks: Sequence[tuple[float, float]],
        proven: bool = False,
    ) -> bool:
        """A book is used only whole: every price finite and positive, every quantity finite and not
        negative, both sides present, bids descending, asks ascending, best bid under best ask.
        `proven`: the levels were already found to pass `book_levels_ok` (`wire.levels_proven`), so
        only the time is checked."""
        if proven or book_levels_ok(bids, asks):
            # `time_ok`, inline for the common case (as in `trade_ok`).
            if type(ts_ns) is int and ts_ns > 0 and ts_ns >= self.newest_ns - self.jitter_ns:
                if ts_ns > self.newest_ns:
                    self.newest_ns = ts_ns
                return True
            return self.time_ok(ts_ns)
        if not bids or not asks:
            self.dropped["book_side_empty"] += 1
            return False
        fault = _level_fault(bids, asks)
        if fault is not None:
            self.dropped[fault] += 1
            return False
        bp, ap = tuple(lv[0] for lv in bids), tuple(lv[0] for lv in asks)
        if not all(map(gt, bp, bp[1:])) or not all(map(lt, ap, ap[1:])):
            self.dropped["book_unsorted"] += 1
            return False
        if bp[0] >= ap[0]:
            self.dropped["book_crossed"] += 1
            return False
        return self.time_ok(ts_ns)

    def time_ok(self, ts_ns: int) -> bool:
        """Events up to `jitter_ns` older than the newest seen are kept (the jitter buffer orders
        them); older ones are dropped."""
        if not isinstance(ts_ns, int) or isinstance(ts_ns, bool) or ts_ns <= 0:
            self.dropped["bad_time"] += 1
            return False
        if ts_ns < self.newest_ns - self.jitter_ns:
            self.dropped["time_backwards"] += 1
            return False
        self.newest_ns = max(self.newest_ns, ts_ns)
        return True
