"""The percentile strategy's price levels.

`RangeWindow` follows the 1-second candles of the detector's current event. In it the local low is the
lowest low since the last new low, the local high the highest high since then (so a new low restarts
both: the swing being measured is the rebound from the latest low), and the rolling distribution holds
the ranges (high - low) of at most `samples` candles since the latest new extremum: a new low or a new
high resets it, as the market it described is gone (the candle that made the extremum is its first
sample).

The extremes are those of the event, not of the session: when the detector wakes (SLEEP to ALERT or
ACTIVE: `restart`), the window forgets what came before and is built again from the candles of the last
`lead_secs` seconds only, in which lies the move the detector woke on (`wake_lead_secs`: it sees the
market a jitter buffer late, over its indicators' windows). Through the event (ALERT, ACTIVE and
RECOVERY, in any order) the window goes on as above. Kept for the session, one crash's low would stay
the low of every later event, whose limit buys would rest far under a market that never goes back.

`plan` turns the window into the two limit prices of a trade: buy at low + `entry_fraction` x range,
sell when price touches low + `exit_fraction` x range (a limit sell resting there).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flashcrash.config import EventDetectionConfig
from flashcrash.event_detector import Candle
from flashcrash.trading_engine.money import Price

NS = 1_000_000_000


def wake_lead_secs(cfg: EventDetectionConfig) -> int:
    """How long before the detector wakes, on the runner's candles, the move it woke on may have
    started: its readings lag the candles by the jitter buffer, and its core indicators look back
    over their windows (volatility, acceleration, volume delta; spread and imbalance are of the
    instant)."""
    windows = (cfg.volatility_window_secs, cfg.acceleration_span_secs, cfg.volume_delta_window_secs)
    return math.ceil(cfg.jitter_buffer_ms / 1000) + max(windows)


class RangeWindow:
    def __init__(self, samples: int, lead_secs: int) -> None:
        self.low = math.inf
        self.high = -math.inf
        self.ranges: deque[float] = deque(maxlen=samples)
        self.resets = 0
        self.lead_ns = lead_secs * NS
        # (start, low, high) of the candles of the last `lead_secs`: what a restart builds on.
        self.recent: deque[tuple[int, float, float]] = deque()

    def snapshot(self) -> dict[str, Any]:
        """JSON-safe (an empty window's infinite low/high are None)."""
        return {
            "low": self.low if math.isfinite(self.low) else None,
            "high": self.high if math.isfinite(self.high) else None,
            "ranges": list(self.ranges),
            "resets": self.resets,
            "recent": [list(r) for r in self.recent],
        }

    def restore(self, s: dict[str, Any]) -> None:
        self.low = math.inf if s["low"] is None else float(s["low"])
        self.high = -math.inf if s["high"] is None else float(s["high"])
        self.ranges.clear()
        self.ranges.extend(float(x) for x in s["ranges"])
        self.resets = int(s["resets"])
        self.recent = deque((int(t), float(lo), float(hi)) for t, lo, hi in s.get("recent", []))

    def on_candle(self, c: Candle) -> bool:
        """Updates the window; True when `c` made a new local low (window and distribution reset; a new
        local high resets the distribution only)."""
        if not (math.isfinite(c.low) and math.isfinite(c.high) and 0 < c.low <= c.high):
            return False
        recent = self.recent
        recent.append((c.start_ns, c.low, c.high))
        while recent[0][0] < c.start_ns - self.lead_ns:
            recent.popleft()
        return self._take(c.low, c.high)

    def _take(self, low: float, high: float) -> bool:
        new_low = low < self.low
        if new_low:
            self.low, self.high = low, high
            self.ranges.clear()
            self.resets += 1
        elif high > self.high:
            self.high = high
            self.ranges.clear()
        self.ranges.append(high - low)
        return new_low

    def restart(self, now_ns: int) -> None:
        """A new event from `now_ns` on: the window is built again from the candles of the
        `lead_secs` before it."""
        self.low, self.high = math.inf, -math.inf
        self.ranges.clear()
        for start, low, high in self.recent:
            if start >= now_ns - self.lead_ns:
                self._take(low, high)

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
