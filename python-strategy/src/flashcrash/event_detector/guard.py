"""Validation in front of the detector: NaN, Inf, non-positive prices, negative quantities, bad or
crossed books and events whose time goes back by more than the jitter buffer are dropped and counted
here, so none of them reaches a candle, an indicator or an order.

An event accepted here is never older than `newest_ns - jitter_ns`; the detector's jitter buffer
releases only events older than that, so what it releases is in time order."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence


def _price_ok(p: object) -> bool:
    return isinstance(p, float) and math.isfinite(p) and p > 0


def _qty_ok(q: object) -> bool:
    return isinstance(q, float) and math.isfinite(q) and q >= 0


class InputGuard:
    """Accepts or drops market events; `dropped` counts the reasons."""

    def __init__(self, jitter_ns: int = 1_500_000_000) -> None:
        self.jitter_ns = jitter_ns
        self.newest_ns = 0
        self.dropped: Counter[str] = Counter()

    def trade_ok(self, ts_ns: int, price: float, qty: float) -> bool:
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
    ) -> bool:
        """A book is used only whole: every price finite and positive, every quantity finite and not
        negative, both sides present, bids descending, asks ascending, best bid under best ask."""
        if not bids or not asks:
            self.dropped["book_side_empty"] += 1
            return False
        for side in (bids, asks):
            for level in side:
                if len(level) != 2 or not _price_ok(level[0]):
                    self.dropped["book_bad_price"] += 1
                    return False
                if not _qty_ok(level[1]):
                    self.dropped["book_bad_quantity"] += 1
                    return False
        if any(bids[i][0] <= bids[i + 1][0] for i in range(len(bids) - 1)) or any(
            asks[i][0] >= asks[i + 1][0] for i in range(len(asks) - 1)
        ):
            self.dropped["book_unsorted"] += 1
            return False
        if bids[0][0] >= asks[0][0]:
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
