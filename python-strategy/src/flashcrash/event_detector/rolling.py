"""Rolling windows over per-second samples, with O(1) amortised work per sample.

`RecentAndBaseline` keeps the last `recent` samples and, behind them, the `baseline` samples before
those: the baseline never contains the recent window, so a sudden change is measured against the
market as it was before the change, not against an average it already moved. While `learn` is
False (the market stirs, or the detector is ACTIVE or in RECOVERY: see `StateMachine.learns`),
samples leaving the recent window are not learnt: the baseline stays the market before the event.
"""

from __future__ import annotations

import math
from collections import deque


class Window:
    """Count, sum and sum of squares of the last `size` samples."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: deque[float] = deque()
        self.total = 0.0
        self.squares = 0.0
        self._pushes = 0

    def __len__(self) -> int:
        return len(self.items)

    def push(self, x: float) -> float | None:
        """Adds `x`; returns the sample that left the window, if one did."""
        self.items.append(x)
        self.total += x
        self.squares += x * x
        out = None
        if len(self.items) > self.size:
            out = self.items.popleft()
            self.total -= out
            self.squares -= out * out
        self._pushes += 1
        if self._pushes >= self.size:  # re-sum now and then: no floating drift, still O(1) amortised
            self._pushes = 0
            self.total = math.fsum(self.items)
            self.squares = math.fsum(v * v for v in self.items)
        return out

    @property
    def mean(self) -> float:
        return self.total / len(self.items) if self.items else math.nan

    @property
    def std(self) -> float:
        """Population standard deviation (nan when empty)."""
        n = len(self.items)
        if n == 0:
            return math.nan
        m = self.total / n
        return math.sqrt(max(self.squares / n - m * m, 0.0))


class RecentAndBaseline:
    """The last `recent` samples, and the `baseline` samples that came before them."""

    def __init__(self, recent: int, baseline: int) -> None:
        self.recent = Window(recent)
        self.baseline = Window(baseline)

    def push(self, x: float, learn: bool = True) -> None:
        out = self.recent.push(x)
        if out is not None and learn:
            self.baseline.push(out)

    def baseline_ready(self, min_samples: int) -> bool:
        return len(self.baseline) >= min_samples and len(self.recent) >= self.recent.size
