"""The percentile strategy's price levels.

`RangeWindow` follows the 1-second candles: the local low is the lowest low since the last new low,
the local high the highest high since then (so a new low restarts both: the swing being measured is
the rebound from the latest low), and the rolling distribution holds the ranges (high - low) of at most
`samples` candles since the latest new extremum: a new low or a new high resets it, as the market it
described is gone (the candle that made the extremum is its first sample).

`plan` turns the window into the two limit prices of a trade: buy at low + `entry_fraction` x range,
sell when price touches low + `exit_fraction` x range (a limit sell resting there).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flashcrash.event_detector import Candle
from flashcrash.trading_engine.money import Price


class RangeWindow:
    def __init__(self, samples: int) -> None:
        self.low = math.inf
        self.high = -math.inf
        self.ranges: deque[float] = deque(maxlen=samples)
        self.resets = 0

    def snapshot(self) -> dict[str, Any]:
        """JSON-safe (an empty window's infinite low/high are None)."""
        return {
            "low": self.low if math.isfinite(self.low) else None,
            "high": self.high if math.isfinite(self.high) else None,
            "ranges": list(self.ranges),
            "resets": self.resets,
        }

    def restore(self, s: dict[str, Any]) -> None:
        self.low = math.inf if s["low"] is None else float(s["low"])
        self.high = -math.inf if s["high"] is None else float(s["high"])
        self.ranges.clear()
        self.ranges.extend(float(x) for x in s["ranges"])
        self.resets = int(s["resets"])

    def on_candle(self, c: Candle) -> bool:
        """Updates the window; True when `c` made a new local low (window and distribution reset; a new
        local high resets the distribution only)."""
        if not (math.isfinite(c.low) and math.isfinite(c.high) and 0 < c.low <= c.high):
            return False
        new_low = c.low < self.low
        if new_low:
            self.low, self.high = c.low, c.high
            self.ranges.clear()
            self.resets += 1
        elif c.high > self.high:
            self.high = c.high
            self.ranges.clear()
        self.ranges.append(c.high - c.low)
        return new_low

    @property
    def range(self) -> float:
        return self.high - self.low if math.isfinite(self.low) else math.nan

    def percentile(self, pct: float) -> float:
        """Nearest-rank percentile of the candle ranges (nan when empty)."""
        if not self.ranges:
            return math.nan
        ordered = sorted(self.ranges)
        rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
        return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True)
class Plan:
    """A trade's two limit prices and the window they came from."""

    entry: Price
    target: Price
    low: float
    high: float

    @property
    def edge_pct(self) -> Decimal:
        return (self.target.value - self.entry.value) / self.entry.value * 100


def plan(window: RangeWindow, entry_fraction: float, exit_fraction: float, tick: Decimal) -> Plan | None:
    """None when the window does not give two valid prices with the target above the entry."""
    if not (math.isfinite(window.low) and math.isfinite(window.high)) or window.high <= window.low:
        return None
    # In decimal from the floats' shortest forms, so 0.2 + 0.2 x 0.005 is 0.201, not 0.20099999...
    low, high = Decimal(repr(window.low)), Decimal(repr(window.high))
    entry = Price.on_tick(low + Decimal(repr(entry_fraction)) * (high - low), tick)
    target = Price.on_tick(low + Decimal(repr(exit_fraction)) * (high - low), tick)
    if entry is None or target is None or target.value <= entry.value:
        return None
    return Plan(entry, target, low, window.high)
