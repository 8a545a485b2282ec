"""Spread: the relative spread (ask - bid) / mid of the latest book, against its mean over the
baseline (one sample a second, the latest book's)."""

from __future__ import annotations

import math

from flashcrash.event_detector.readings import Indicator, Reading, measure
from flashcrash.event_detector.rolling import RecentAndBaseline


class Spread:
    def __init__(self, baseline_secs: int, warmup_secs: int, ratio: float) -> None:
        self.samples = RecentAndBaseline(1, baseline_secs)
        self.warmup = warmup_secs
        self.threshold = ratio
        self.current = math.nan

    def on_book(self, best_bid: float, best_ask: float) -> None:
        self.current = (best_ask - best_bid) / ((best_ask + best_bid) / 2.0)

    def on_second(self, book_fresh: bool, learn: bool = True) -> None:
        if book_fresh and not math.isnan(self.current):
            self.samples.push(self.current, learn)

    def ratio(self) -> float:
        base = self.samples.baseline.mean
        return self.current / base if base > 0 else math.nan

    def reading(self, book_fresh: bool) -> Reading:
        ready = book_fresh and self.samples.baseline_ready(self.warmup) and self.samples.baseline.mean > 0
        if not ready:
            return measure(Indicator.SPREAD, math.nan, self.threshold, False, False)
        r = self.ratio()
        return measure(Indicator.SPREAD, r, self.threshold, r >= self.threshold, True)
