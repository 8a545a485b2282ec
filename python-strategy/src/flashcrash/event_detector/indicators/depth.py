"""Order book depth over the top N levels a side: liquidity (bid + ask notional; the reading fires
when it is sufficient), extreme notional imbalance, and walls (levels over `wall_ratio` times the
median quantity of their side). O(N log N) per book with N fixed by the configuration."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from operator import mul

from flashcrash.event_detector.readings import Indicator, Reading, measure

Levels = Sequence[tuple[float, float]]


@dataclass(frozen=True, slots=True)
class DepthView:
    liquidity_usd: float
    imbalance: float  # (bid - ask) / (bid + ask) of notional
    extreme: bool
    bid_walls: tuple[float, ...]  # prices
    ask_walls: tuple[float, ...]


def median(xs: Sequence[float]) -> float:
    """`statistics.median` (the mean of the two middle values when their count is even), without its
    generality: the same result for floats, in about two thirds of its time on a 20-level side."""
    data = sorted(xs)
    n = len(data)
    i = n // 2
    return data[i] if n % 2 else (data[i - 1] + data[i]) / 2


def notional(side: Levels) -> float:
    """The sum of price x quantity over the levels, in their order (0 for none)."""
    if not side:
        return 0
    prices, quantities = zip(*side, strict=True)
    return sum(map(mul, prices, quantities))


def walls(side: Levels, ratio: float) -> tuple[float, ...]:
    if len(side) < 3:
        return ()
    med = median([q for _, q in side])
    if not med > 0:
        return ()
    limit = ratio * med
    return tuple(p for p, q in side if q > limit)


class Depth:
    def __init__(self, levels: int, min_usd: float, extreme: float, wall_ratio: float) -> None:
        self.levels = levels
        self.min_usd = min_usd
        self.extreme = extreme
        self.wall_ratio = wall_ratio
        self.view: DepthView | None = None

    def on_book(self, bids: Levels, asks: Levels) -> None:
        b, a = bids[: self.levels], asks[: self.levels]
        bid_usd, ask_usd = notional(b), notional(a)
        total = bid_usd + ask_usd
        imb = (bid_usd - ask_usd) / total if total > 0 else 0.0
        self.view = DepthView(
            total, imb, abs(imb) > self.extreme, walls(b, self.wall_ratio), walls(a, self.wall_ratio)
        )

    def reading(self, book_fresh: bool) -> Reading:
        if not book_fresh or self.view is None:
            return measure(Indicator.LIQUIDITY, math.nan, self.min_usd, False, False)
        v = self.view.liquidity_usd
        return measure(Indicator.LIQUIDITY, v, self.min_usd, v >= self.min_usd, True)
