"""The percentile strategy's window and prices on hand-made candles."""

from __future__ import annotations

import math
from decimal import Decimal

from trading_fixtures import S, candle

from flashcrash.config import EventDetectionConfig
from flashcrash.trading_engine.money import Price
from flashcrash.trading_engine.percentile import RangeWindow, plan, wake_lead_secs

TICK = Decimal("0.0001")
LEAD = 12  # seconds of candles a restart is built from


def test_window_tracks_the_rebound_from_the_latest_low() -> None:
    w = RangeWindow(1000, LEAD)
    assert w.on_candle(candle(1, 1.00, 1.01, 0.99, 1.00)) is True
    assert w.on_candle(candle(2, 1.00, 1.00, 0.90, 0.91)) is True  # new low: window restarts
    assert (w.low, w.high) == (0.90, 1.00)
    assert list(w.ranges) == [0.09999999999999998]
    assert w.on_candle(candle(3, 0.91, 0.95, 0.91, 0.95)) is False
    assert (w.low, w.high) == (0.90, 1.00) and len(w.ranges) == 2
    assert w.on_candle(candle(4, 0.95, 1.02, 0.94, 1.01)) is False  # a new high: the low stays ...
    assert (w.low, w.high) == (0.90, 1.02)
    assert list(w.ranges) == [1.02 - 0.94]  # ... the distribution starts again from this candle
    assert w.on_candle(candle(5, 1.01, 1.015, 0.99, 1.0)) is False
    assert (w.low, w.high) == (0.90, 1.02) and len(w.ranges) == 2
    assert w.on_candle(candle(6, 1.0, 1.0, 0.85, 0.86)) is True  # a new low resets both
    assert (w.low, w.high, len(w.ranges)) == (0.85, 1.0, 1)


def test_a_restart_keeps_only_the_candles_of_the_lead() -> None:
    """A new event: the window forgets the old extremes and the distribution, and is built again from
    the candles of the last `LEAD` seconds before it (the move the detector woke on)."""
    w = RangeWindow(1000, LEAD)
    w.on_candle(candle(1, 0.30, 0.30, 0.20, 0.21))  # an old crash
    for k in range(2, 101):
        w.on_candle(candle(k, 0.30, 0.31, 0.29, 0.30))
    w.on_candle(candle(101, 0.30, 0.30, 0.27, 0.28))
    assert (w.low, w.high) == (0.20, 0.31)
    w.restart((101 + LEAD) * S)  # the candle at 101 is `LEAD` seconds old: kept; the crash at 1 is gone
    assert (w.low, w.high, list(w.ranges)) == (0.27, 0.30, [0.30 - 0.27])
    w.restart((102 + LEAD) * S)
    assert (w.low, w.high, len(w.ranges)) == (math.inf, -math.inf, 0)
    restored = RangeWindow(1000, LEAD)
    restored.restore(w.snapshot())
    assert restored.snapshot() == w.snapshot()


def test_the_lead_is_the_jitter_buffer_and_the_longest_core_indicator_window() -> None:
    cfg = EventDetectionConfig(jitter_buffer_ms=1500, volatility_window_secs=10, acceleration_span_secs=3,
                               volume_delta_window_secs=20)  # fmt: skip
    assert wake_lead_secs(cfg) == 2 + 20


def test_distribution_is_bounded_and_percentiles_are_nearest_rank() -> None:
    w = RangeWindow(10, LEAD)
    w.on_candle(candle(0, 1.0, 2.0, 0.5, 1.0))  # the extremes: no later candle resets the distribution
    for k in range(1, 21):
        w.on_candle(candle(k, 1.0, 1.0 + k / 100, 1.0, 1.0))
    assert len(w.ranges) == 10 and (w.low, w.high) == (0.5, 2.0)
    assert math.isclose(w.percentile(50), 0.15) and math.isclose(w.percentile(100), 0.20)
    assert math.isclose(w.percentile(0), 0.11)


def test_entry_at_low_plus_0_2_range_and_target_at_low_plus_0_8_range() -> None:
    w = RangeWindow(1000, LEAD)
    w.on_candle(candle(1, 0.2010, 0.2010, 0.2000, 0.2005))
    w.on_candle(candle(2, 0.2005, 0.2050, 0.2004, 0.2050))
    p = plan(w, 0.2, 0.8, TICK)
    assert p is not None
    # range 0.2050 - 0.2000 = 0.0050: entry 0.2000 + 0.0010, target 0.2000 + 0.0040
    assert p.entry == Price(Decimal("0.2010")) and p.target == Price(Decimal("0.2040"))
    assert p.edge_pct == (Decimal("0.0030") / Decimal("0.2010") * 100)


def test_prices_round_down_to_the_tick() -> None:
    w = RangeWindow(1000, LEAD)
    w.on_candle(candle(1, 0.20003, 0.20077, 0.20003, 0.20077))
    p = plan(w, 0.2, 0.8, TICK)
    assert p is not None
    assert p.entry.value == Decimal("0.2001") and p.target.value == Decimal("0.2006")
    assert p.entry.value % TICK == 0 and p.target.value % TICK == 0


def test_no_plan_when_the_range_is_under_a_tick_or_empty() -> None:
    w = RangeWindow(1000, LEAD)
    assert plan(w, 0.2, 0.8, TICK) is None
    w.on_candle(candle(1, 0.2, 0.20003, 0.2, 0.20003))
    assert plan(w, 0.2, 0.8, TICK) is None  # both round to 0.2000: the target is not above
