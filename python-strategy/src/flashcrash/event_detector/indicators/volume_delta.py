"""Volume delta: aggressive buy minus aggressive sell notional over the recent window, as a z-score
against the same rolling sum over the baseline before it. Negative: sellers are hitting bids."""

from __future__ import annotations

import math

from flashcrash.event_detector.readings import Indicator, Reading, measure
from flashcrash.event_detector.rolling import RecentAndBaseline, Window

Z_CAP = 1000.0


class VolumeDelta:
    def __init__(self, window_secs: int, baseline_secs: int, warmup_secs: int, z: float) -> None:
        self.per_second = Window(window_secs)
        self.sums = RecentAndBaseline(window_secs, baseline_secs)
        self.warmup = warmup_secs
        self.threshold = z

    def on_second(self, delta: float, learn: bool = True) -> None:
        """`delta`: buy minus sell notional of the second."""
        self.per_second.push(delta)
        self.sums.push(self.per_second.total, learn)

    def z(self) -> float:
        base = self.sums.baseline
        s = self.per_second.total
        sd = base.std
        if sd > 0:
            return max(-Z_CAP, min(Z_CAP, (s - base.mean) / sd))
        return 0.0 if s == base.mean else math.copysign(Z_CAP, s - base.mean)

    def reading(self) -> Reading:
        if not self.sums.baseline_ready(self.warmup):
            return measure(Indicator.VOLUME_DELTA, math.nan, self.threshold, False, False)
        z = self.z()
        return measure(Indicator.VOLUME_DELTA, z, self.threshold, abs(z) >= self.threshold, True)
