"""Candle patterns on consecutive 1-second candles (a second without a trade breaks a sequence).

* Selling exhaustion: 3 to 5 bearish candles, each with a lower wick over `exhaustion_wick_pct` of its
  range, each lower wick longer than the one before by over `exhaustion_wick_growth_pct`, each body
  smaller than the one before: sellers still win every second but lose ground to buyers.
* Buying climax: 3 to 5 bullish candles, each with an upper wick over `climax_wick_pct` of its range,
  the last with over `climax_volume_ratio` times the mean volume of the ones before it.

The longest matching run ending at the last candle is reported (5, then 4, then 3 candles).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from itertools import pairwise

from flashcrash.event_detector.candles import NS, Candle
from flashcrash.event_detector.readings import Pattern


def _range(c: Candle) -> float:
    return c.high - c.low


def _body(c: Candle) -> float:
    return abs(c.close - c.open)


def _lower_wick(c: Candle) -> float:
    return min(c.open, c.close) - c.low


def _upper_wick(c: Candle) -> float:
    return c.high - max(c.open, c.close)


def selling_exhaustion(run: Sequence[Candle], wick_pct: float, growth_pct: float) -> bool:
    if not all(c.close < c.open and _range(c) > 0 for c in run):
        return False
    if not all(_lower_wick(c) > wick_pct / 100.0 * _range(c) for c in run):
        return False
    growth = 1.0 + growth_pct / 100.0
    return all(_lower_wick(b) > _lower_wick(a) * growth and _body(b) < _body(a) for a, b in pairwise(run))


def buying_climax(run: Sequence[Candle], wick_pct: float, volume_ratio: float) -> bool:
    if not all(c.close > c.open and _range(c) > 0 for c in run):
        return False
    if not all(_upper_wick(c) > wick_pct / 100.0 * _range(c) for c in run):
        return False
    before = run[:-1]
    mean = sum(c.volume for c in before) / len(before)
    return run[-1].volume > volume_ratio * mean


class CandlePatterns:
    def __init__(
        self,
        min_candles: int,
        max_candles: int,
        exhaustion_wick_pct: float,
        exhaustion_growth_pct: float,
        climax_wick_pct: float,
        climax_volume_ratio: float,
    ) -> None:
        self.min = min_candles
        self.max = max(max_candles, min_candles)
        self.ex_wick, self.ex_growth = exhaustion_wick_pct, exhaustion_growth_pct
        self.cl_wick, self.cl_volume = climax_wick_pct, climax_volume_ratio
        self._run: deque[Candle] = deque(maxlen=self.max)
        self.pattern = Pattern.NONE
        self.length = 0
        self.last_start_ns = -1

    def on_candle(self, c: Candle) -> Pattern:
        if self._run and c.start_ns - self._run[-1].start_ns != NS:
            self._run.clear()
        self._run.append(c)
        self.last_start_ns = c.start_ns
        self.pattern, self.length = Pattern.NONE, 0
        # Both patterns need every candle of the run moving the same way with a range, the last one
        # included: only runs within the longest such suffix, and only the pattern of its direction,
        # can match (the same answer as trying both on every run length).
        bearish = c.close < c.open
        if not (bearish or c.close > c.open) or not _range(c) > 0:
            return self.pattern
        candles = list(self._run)
        same = 0
        for x in reversed(candles):
            if (x.close < x.open if bearish else x.close > x.open) and _range(x) > 0:
                same += 1
            else:
                break
        for k in range(min(self.max, same), self.min - 1, -1):
            run = candles[-k:]
            if bearish:
                if selling_exhaustion(run, self.ex_wick, self.ex_growth):
                    self.pattern, self.length = Pattern.SELLING_EXHAUSTION, k
                    break
            elif buying_climax(run, self.cl_wick, self.cl_volume):
                self.pattern, self.length = Pattern.BUYING_CLIMAX, k
                break
        return self.pattern
