"""Emergency stops: conditions under which no new entry is made (and resting entries are canceled).
Each is set and cleared by the latest figure it watches; trading resumes when none is set.

* `LATENCY`: the feed's mean latency (HealthMetrics `latency_mean_us`) over `max_latency_ms`; an
  interval without a latency sample (a mean of 0, docs/PROTOCOL.md) is not known;
* `FEED`: the feed is not `live`, from its StateChange (`on_feed`: at once, and in a backtest, whose
  recording gaps are replayed as the feed's StateChanges) and from HealthMetrics `feed_state` (which
  tells a process that missed the StateChange); the newer of the two holds;
* `SPREAD`: the relative spread over `max_spread_ratio` times its baseline (Readings `spread_ratio`);
* `LIQUIDITY`: bid + ask notional of the top levels under `min_liquidity_usd` (Readings `liquidity_usd`).

A figure that is not known yet (NaN while a baseline warms up) sets nothing.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from flashcrash.config import RiskConfig
from flashcrash.event_detector.readings import Readings
from flashcrash.wire import HealthMetrics

log = logging.getLogger(__name__)


class Stop(StrEnum):
    LATENCY = "latency"
    FEED = "feed"
    SPREAD = "spread"
    LIQUIDITY = "liquidity"


class EmergencyStops:
    def __init__(self, cfg: RiskConfig) -> None:
        self.max_latency_us = cfg.max_latency_ms * 1000.0
        self.max_spread_ratio = cfg.max_spread_ratio
        self.min_liquidity_usd = cfg.min_liquidity_usd
        self.active: dict[Stop, str] = {}
        self.triggered: Counter[str] = Counter()
        # Called with (stop, set?, why) when a stop is set or cleared (the runner audits it).
        self.on_change: Callable[[str, bool, str], None] | None = None

    def snapshot(self) -> dict[str, Any]:
        return {"active": {str(k): v for k, v in self.active.items()}, "triggered": dict(self.triggered)}

    def restore(self, s: dict[str, Any]) -> None:
        self.active = {Stop(k): str(v) for k, v in s.get("active", {}).items()}
        self.triggered = Counter({str(k): int(v) for k, v in s.get("triggered", {}).items()})

    @property
    def paused(self) -> bool:
        return bool(self.active)

    def describe(self) -> str:
        return "; ".join(self.active.values())

    def _set(self, stop: Stop, on: bool, why: str) -> None:
        if on and stop not in self.active:
            self.active[stop] = why
            self.triggered[str(stop)] += 1
            log.warning("emergency stop %s: %s (entries paused)", stop, why)
            if self.on_change is not None:
                self.on_change(str(stop), True, why)
        elif on:
            self.active[stop] = why
        elif stop in self.active:
            del self.active[stop]
            log.info("emergency stop %s cleared%s", stop, "" if self.active else ": trading resumes")
            if self.on_change is not None:
                self.on_change(str(stop), False, "cleared")

    def on_health(self, h: HealthMetrics) -> None:
        if h.latency_mean_us > 0:  # 0: no latency sample in the interval, nothing known
            self._set(
                Stop.LATENCY,
                h.latency_mean_us > self.max_latency_us,
                f"feed latency {h.latency_mean_us / 1000:.0f} ms over {self.max_latency_us / 1000:.0f} ms",
            )
        self.on_feed(h.feed_state)

    def on_feed(self, state: str) -> None:
        """The feed's state (`live`, `syncing`, `reconnecting`, `halted`, ...)."""
        self._set(Stop.FEED, state != "live", f"feed {state}")

    def on_readings(self, r: Readings) -> None:
        self.on_figures(r.spread_ratio, r.liquidity_usd)

    def on_figures(self, spread: float, liq: float) -> None:
        """A second's spread ratio and liquidity (`Readings.spread_ratio`, `liquidity_usd`). A figure
        that is not known (NaN: no book yet, or none for a while) neither sets nor clears its stop."""
        if math.isfinite(spread):
            on = spread > self.max_spread_ratio
            if on or Stop.SPREAD in self.active:  # the reason is written only where it is kept
                self._set(Stop.SPREAD, on, f"spread {spread:.1f}x baseline over {self.max_spread_ratio:g}x")
        if math.isfinite(liq):
            on = liq < self.min_liquidity_usd
            if on or Stop.LIQUIDITY in self.active:
                self._set(Stop.LIQUIDITY, on, f"liquidity {liq:,.0f} under {self.min_liquidity_usd:,.0f}")
