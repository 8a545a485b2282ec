"""Candles from trades, and the guard in front of them."""

from __future__ import annotations

import math

import pytest

from flashcrash.event_detector import CandleBuilder, InputGuard

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
    ],
)
def test_guard_drops_and_counts_bad_values(price: float, qty: float, reason: str) -> None:
    g = InputGuard()
    assert not g.trade_ok(S, price, qty)
    assert g.dropped[reason] == 1


def test_guard_keeps_jitter_and_drops_time_going_back() -> None:
    g = InputGuard(jitter_ns=S)
    assert g.trade_ok(10 * S, 1.0, 1.0)
    assert g.trade_ok(10 * S - S // 2, 1.0, 1.0)  # inside the buffer
    assert not g.trade_ok(8 * S, 1.0, 1.0)
    assert g.dropped["time_backwards"] == 1
