"""Order book imbalance: (bid - ask) / (bid + ask) of the quantities of the top N levels, in [-1, 1];
it fires on its size (positive: bids outweigh asks)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from flashcrash.event_detector.readings import Indicator, Reading, measure


def imbalance(bids: Sequence[tuple[float, float]], asks: Sequence[tuple[float, float]], levels: int) -> float:
    b = sum(q for _, q in bids[:levels])
    a = sum(q for _, q in asks[:levels])
    return (b - a) / (b + a) if b + a > 0 else 0.0


class OrderBookImbalance:
    def __init__(self, levels: int, threshold: float) -> None:
        self.levels = levels
        self.threshold = threshold
        self.current = math.nan

    def on_book(self, bids: Sequence[tuple[float, float]], asks: Sequence[tuple[float, float]]) -> None:
        self.current = imbalance(bids, asks, self.levels)

    def reading(self, book_fresh: bool) -> Reading:
        ready = book_fresh and not math.isnan(self.current)
        v = self.current
        return measure(Indicator.OBI, v, self.threshold, ready and abs(v) >= self.threshold, ready)
