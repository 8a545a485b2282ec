"""Message velocity: messages per second over the recent window, against the baseline rate before it.
A spike (panic submission and cancellation) lowers the ACTIVE quorum. The detector counts the
messages: every trade, and every book or (`velocity_touch_only`) only the books that moved the best
bid or ask price."""

from __future__ import annotations

import math

from flashcrash.event_detector.readings import Indicator, Reading, measure
from flashcrash.event_detector.rolling import RecentAndBaseline


class MessageVelocity:
    def __init__(
        self, window_secs: int, baseline_secs: int, warmup_secs: int, ratio: float, min_per_sec: float
    ) -> None:
        self.counts = RecentAndBaseline(window_secs, baseline_secs)
        self.warmup = warmup_secs
        self.ratio = ratio
        self.min_per_sec = min_per_sec

    def on_second(self, messages: int, learn: bool = True) -> None:
        self.counts.push(float(messages), learn)

    def reading(self) -> Reading:
        if not self.counts.baseline_ready(self.warmup):
            return measure(Indicator.MESSAGE_VELOCITY, math.nan, self.ratio, False, False)
        rate = self.counts.recent.mean
        value = rate / max(self.counts.baseline.mean, self.min_per_sec / self.ratio, 1e-9)
        fired = value >= self.ratio and rate >= self.min_per_sec
        return measure(Indicator.MESSAGE_VELOCITY, value, self.ratio, fired, True)
