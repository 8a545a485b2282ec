"""Candles from trades, and the guard in front of them."""

from __future__ import annotations

import math

import pytest

from flashcrash.config import EventDetectionConfig
from flashcrash.event_detector import CandleBuilder, Detector, InputGuard

S = 1_000_000_000


def test_candle_ohlcv_and_close_by_later_event() -> None:
    b = CandleBuilder()
    assert b.on_trade(10 * S + 1, 1.0, 2.0, True) is None
    assert b.on_trade(10 * S + 5, 1.5, 1.0, False) is None
    assert b.on_trade(10 * S + 9, 0.8, 3.0, True) is None
    c = b.advance(11 * S)
    assert c is not None
    assert (c.start_ns, c.open, c.high, c.low, c.close) == (10 * S, 1.0, 1.5, 0.8, 0.8)
    assert (c.volume, c.buy_volume, c.trades) == (6.0, 5.0, 3)
    assert not c.bullish
    assert b.advance(12 * S) is None  # no trade, no candle


def test_trade_of_a_closed_second_is_late_and_dropped() -> None:
    b = CandleBuilder()
    b.on_trade(10 * S, 1.0, 1.0, True)
    closed = b.on_trade(11 * S, 2.0, 1.0, True)
    assert closed is not None and closed.close == 1.0
    assert b.on_trade(10 * S + 500, 9.0, 1.0, True) is None
    assert b.late_trades == 1
    c = b.advance(12 * S)
    assert c is not None and c.high == 2.0


@pytest.mark.parametrize(
    ("price", "qty", "reason"),
    [
        (math.nan, 1.0, "bad_price"),
        (math.inf, 1.0, "bad_price"),
        (-1.0, 1.0, "bad_price"),
        (0.0, 1.0, "bad_price"),
        (1.0, -1.0, "bad_quantity"),
        (1.0, math.nan, "bad_quantity"),
        (1.0, math.inf, "bad_quantity"),
        (math.nan, -1.0, "bad_price"),  # the price is checked (and counted) first
    ],
)
def test_guard_drops_and_counts_bad_values(price: float, qty: float, reason: str) -> None:
    g = InputGuard()
    assert not g.trade_ok(S, price, qty)
    assert g.dropped[reason] == 1 and sum(g.dropped.values()) == 1


def test_guard_keeps_jitter_and_drops_time_going_back() -> None:
    g = InputGuard(jitter_ns=S)
    assert g.trade_ok(10 * S, 1.0, 1.0)
    assert g.trade_ok(10 * S - S // 2, 1.0, 1.0)  # inside the buffer
    assert not g.trade_ok(8 * S, 1.0, 1.0)
    assert g.dropped["time_backwards"] == 1


def test_advance_within_the_open_second_closes_nothing() -> None:
    """`advance` closes the open candle only for a time in a later interval."""
    b = CandleBuilder()
    b.on_trade(10 * S + 1, 1.0, 1.0, True)
    assert b.advance(10 * S + S - 1) is None and b.advance(10 * S) is None
    c = b.advance(11 * S)
    assert c is not None and c.start_ns == 10 * S


def test_a_message_late_within_the_jitter_buffer_reaches_the_indicators_in_time_order() -> None:
    """With a 1.5-s buffer, a trade 1.3 s older than the newest event is kept and applied before the
    later trades of its second: the indicators see event time in order, and no trade is late for
    its candle."""
    d = Detector(EventDetectionConfig(jitter_buffer_ms=1500))
    applied: list[int] = []
    apply = d._apply

    def spy(ts: int, ev: object) -> None:
        applied.append(ts)
        apply(ts, ev)  # type: ignore[arg-type]

    d._apply = spy  # type: ignore[method-assign]
    ms = 1_000_000
    for ts in (10 * S + 200 * ms, 10 * S + 900 * ms, 11 * S + 800 * ms):
        assert d.on_trade(ts, 100.0, 1.0, True)
    assert d.on_trade(10 * S + 500 * ms, 90.0, 1.0, False)  # 1.3 s late: inside the buffer
    assert applied == [10 * S + 200 * ms]  # only what is older than the newest by over 1.5 s
    assert d.on_trade(13 * S, 100.0, 1.0, True)
    d.flush()
    assert applied == [10 * S + 200 * ms, 10 * S + 500 * ms, 10 * S + 900 * ms, 11 * S + 800 * ms, 13 * S]
    assert d.candles.late_trades == 0 and not d.guard.dropped
