"""Validation in front of the detector: NaN, Inf, non-positive prices, negative quantities and events
whose time goes back by more than the jitter buffer are dropped and counted here, so none of them
reaches a candle, an indicator or an order."""

from __future__ import annotations

import math
from collections import Counter


class InputGuard:
    """Accepts or drops market events; `dropped` counts the reasons."""

    def __init__(self, jitter_ns: int = 1_500_000_000) -> None:
        self.jitter_ns = jitter_ns
        self.newest_ns = 0
        self.dropped: Counter[str] = Counter()

    def trade_ok(self, ts_ns: int, price: float, qty: float) -> bool:
        if not (isinstance(price, float) and math.isfinite(price) and price > 0):
            self.dropped["bad_price"] += 1
            return False
        if not (isinstance(qty, float) and math.isfinite(qty) and qty >= 0):
            self.dropped["bad_quantity"] += 1
            return False
        return self.time_ok(ts_ns)

    def time_ok(self, ts_ns: int) -> bool:
        """Events up to `jitter_ns` older than the newest seen are kept (the candle builder places
        them); older ones are dropped."""
        if ts_ns < self.newest_ns - self.jitter_ns:
            self.dropped["time_backwards"] += 1
            return False
        self.newest_ns = max(self.newest_ns, ts_ns)
        return True
