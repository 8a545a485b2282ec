"""Acceleration: the second derivative of the log price, as the second difference of the 1-second
closes over steps of `span` seconds, in basis points per second squared. It fires on its size (a
sudden dive or a sudden rebound); its sign is the direction.

The reading is the largest (by size) of the last `span` second differences: a price path in a crash
zigzags, and the raw second difference flips sign every second or two, so the shock is held for the
span it is measured over (it may then count together with the slower indicators for the quorum)."""

from __future__ import annotations

import math
from collections import deque

from flashcrash.event_detector.readings import Indicator, Reading, measure

BPS = 1e4


class Acceleration:
    def __init__(self, span_secs: int, threshold_bps_s2: float) -> None:
        self.span = span_secs
        self.threshold = threshold_bps_s2
        self._log_closes: deque[float] = deque(maxlen=2 * span_secs + 1)
        self._recent: deque[float] = deque(maxlen=span_secs)

    def on_second(self, price: float) -> None:
        if not math.isnan(price):
            self._log_closes.append(math.log(price) * BPS)
            a = self.second_difference()
            if not math.isnan(a):
                self._recent.append(a)

    def restart(self) -> None:
        """The price path starts afresh (after a feed outage): not ready until it is long enough."""
        self._log_closes.clear()
        self._recent.clear()

    def value(self) -> float:
        """The largest (by size) second difference of the last `span` seconds (nan before ready)."""
        return max(self._recent, key=abs) if self._recent else math.nan

    def second_difference(self) -> float:
        c = self._log_closes
        if len(c) < c.maxlen:  # type: ignore[operator]
            return math.nan
        k = self.span
        return (c[-1] - 2.0 * c[-1 - k] + c[0]) / (k * k)

    def reading(self) -> Reading:
        a = self.value()
        ready = not math.isnan(a)
        return measure(Indicator.ACCELERATION, a, self.threshold, ready and abs(a) >= self.threshold, ready)
