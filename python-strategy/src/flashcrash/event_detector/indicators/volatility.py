"""Volatility: realised volatility (root mean square, i.e. the zero-mean standard deviation) of the
1-second log returns of the recent window, against the same over the baseline before it."""

from __future__ import annotations

import math

from flashcrash.event_detector.readings import Indicator, Reading, measure
from flashcrash.event_detector.rolling import RecentAndBaseline

BPS = 1e4


def _rms(n: int, squares: float) -> float:
    return math.sqrt(max(squares, 0.0) / n) if n else math.nan


class Volatility:
    def __init__(
        self, window_secs: int, baseline_secs: int, warmup_secs: int, ratio: float, floor_bps: float
    ):
        self.returns = RecentAndBaseline(window_secs, baseline_secs)
        self.warmup = warmup_secs
        self.ratio = ratio
        self.floor_bps = floor_bps
        self._last = math.nan

    def on_second(self, price: float, learn: bool = True) -> None:
        """`price`: the last trade price at the end of the second (nan before the first trade)."""
        if math.isnan(price):
            return
        if not math.isnan(self._last):
            self.returns.push(math.log(price / self._last) * BPS, learn)
        self._last = price

    def restart(self) -> None:
        """The next price starts the return series afresh (after a feed outage)."""
        self._last = math.nan

    @property
    def recent_bps(self) -> float:
        w = self.returns.recent
        return _rms(len(w), w.squares)

    @property
    def baseline_bps(self) -> float:
        w = self.returns.baseline
        return _rms(len(w), w.squares)

    def reading(self) -> Reading:
        ready = self.returns.baseline_ready(self.warmup)
        if not ready:
            return measure(Indicator.VOLATILITY, math.nan, self.ratio, False, False)
        recent = self.recent_bps
        # A baseline of zero (no trade moved the price) is taken as floor/ratio: the ratio then fires
        # exactly when the floor does.
        value = recent / max(self.baseline_bps, self.floor_bps / self.ratio, 1e-9)
        return measure(
            Indicator.VOLATILITY, value, self.ratio, value >= self.ratio and recent >= self.floor_bps, True
        )
