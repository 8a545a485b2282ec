"""Emergency stops on their own (`EmergencyStops`), with `[risk]` limits other than the defaults: each
limit comes from the configuration, the latency stop watches the mean latency, and a stop is triggered
(counted, reported) once when it is set, not again while it stays set. The strategy's pause and its
canceled entries are in test_trading.py."""

from __future__ import annotations

import math
from dataclasses import replace

from trading_fixtures import readings

from flashcrash import wire
from flashcrash.config import RiskConfig
from flashcrash.trading_engine.emergency import EmergencyStops

# Every limit away from its default (500 ms, 10x, 1000 USD).
CFG = replace(RiskConfig(), max_latency_ms=200, max_spread_ratio=4.0, min_liquidity_usd=5000.0)


def health(mean_ms: float, p99_ms: float | None = None, state: str = "live") -> wire.HealthMetrics:
    mean, p99 = mean_ms * 1000, (mean_ms if p99_ms is None else p99_ms) * 1000
    return wire.HealthMetrics(
        1, "POLUSDT", state, 10.0, mean, mean, p99, 0, 1, 0, 20, 20, 0, 0, 0, 0, 0, 0, 0, 1
    )


def test_latency_limit_is_the_configured_one_on_the_mean() -> None:
    stops = EmergencyStops(CFG)
    stops.on_health(health(CFG.max_latency_ms))
    assert not stops.paused
    stops.on_health(health(CFG.max_latency_ms + 1))
    assert set(stops.active) == {"latency"}
    stops.on_health(health(CFG.max_latency_ms / 2))
    assert not stops.paused
    # A slow tail alone (p99 far over the limit, mean under it) is no stop: the mean is watched.
    stops.on_health(health(CFG.max_latency_ms / 2, p99_ms=CFG.max_latency_ms * 5))
    assert not stops.paused


def test_spread_and_liquidity_limits_are_the_configured_ones() -> None:
    stops = EmergencyStops(CFG)
    stops.on_readings(readings(spread_ratio=CFG.max_spread_ratio, liquidity_usd=CFG.min_liquidity_usd))
    assert not stops.paused
    stops.on_readings(readings(spread_ratio=CFG.max_spread_ratio * 1.01))
    assert set(stops.active) == {"spread"}
    stops.on_readings(readings(liquidity_usd=CFG.min_liquidity_usd * 0.99))
    assert set(stops.active) == {"liquidity"}
    stops.on_readings(readings())
    assert not stops.paused and stops.triggered == {"spread": 1, "liquidity": 1}


def test_a_stop_is_triggered_once_while_it_stays_set() -> None:
    stops = EmergencyStops(CFG)
    changes: list[tuple[str, bool, str]] = []
    stops.on_change = lambda stop, on, why: changes.append((stop, on, why))
    wide = CFG.max_spread_ratio * 2
    for _ in range(3):
        stops.on_readings(readings(spread_ratio=wide))
    assert stops.triggered == {"spread": 1} and [(s, on) for s, on, _ in changes] == [("spread", True)]
    stops.on_readings(readings(spread_ratio=wide * 2))  # still set: its reason follows the figure
    assert stops.triggered == {"spread": 1} and f"{wide * 2:.1f}x" in stops.describe()
    stops.on_readings(readings())
    stops.on_readings(readings(spread_ratio=wide))  # a new episode
    assert stops.triggered == {"spread": 2}
    assert [(s, on) for s, on, _ in changes] == [("spread", True), ("spread", False), ("spread", True)]


def test_an_unknown_reading_neither_sets_nor_clears_a_stop() -> None:
    """NaN spread or liquidity (no book yet, or none for 5 s) leaves both stops as they were: a
    stop set on a wide, thin book is not lifted because the book went silent."""
    stops = EmergencyStops(CFG)
    stops.on_readings(readings(spread_ratio=math.nan, liquidity_usd=math.nan))
    assert not stops.paused
    stops.on_readings(
        readings(spread_ratio=CFG.max_spread_ratio * 2, liquidity_usd=CFG.min_liquidity_usd / 2)
    )
    assert set(stops.active) == {"spread", "liquidity"}
    stops.on_readings(readings(spread_ratio=math.nan, liquidity_usd=math.nan))
    assert set(stops.active) == {"spread", "liquidity"}
    stops.on_readings(readings(spread_ratio=math.nan))  # liquidity known again, and enough
    assert set(stops.active) == {"spread"}


def test_an_interval_without_a_latency_sample_neither_sets_nor_clears_the_latency_stop() -> None:
    """A health interval without a latency sample reports a mean of 0 (docs/PROTOCOL.md): the
    latency is not known then, which is no reason to resume. The stop stays as it was."""
    stops = EmergencyStops(CFG)
    stops.on_health(health(0))
    assert not stops.paused
    stops.on_health(health(CFG.max_latency_ms * 2))
    stops.on_health(health(0))
    assert set(stops.active) == {"latency"}
    stops.on_health(health(CFG.max_latency_ms / 2))
    assert not stops.paused and stops.triggered == {"latency": 1}
