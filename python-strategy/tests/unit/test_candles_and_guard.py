"""Candles from trades (the runner's `CandleBuilder`), and the guard in front of the detector as the
Python side reaches it: what the binding (`rust-engine/crates/py-detector`) makes of each argument.
The guard's rules on typed values are the Rust crate's tests (`crates/detector/src/guard.rs`)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from detector_fixtures import started, taken

from flashcrash import wire
from flashcrash.config import EventDetectionConfig
from flashcrash.event_detector import CandleBuilder, Detector, Released

S = 1_000_000_000
MS = 1_000_000


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


def test_advance_within_the_open_second_closes_nothing() -> None:
    """`advance` closes the open candle only for a time in a later interval."""
    b = CandleBuilder()
    b.on_trade(10 * S + 1, 1.0, 1.0, True)
    assert b.advance(10 * S + S - 1) is None and b.advance(10 * S) is None
    c = b.advance(11 * S)
    assert c is not None and c.start_ns == 10 * S


def test_open_end_is_where_advance_closes_the_open_candle() -> None:
    b = CandleBuilder(5 * S)
    assert b.interval_ns == 5 * S
    assert b.open_end_ns() is None
    b.on_trade(12 * S, 1.0, 1.0, True)
    assert b.open_end_ns() == 15 * S
    assert b.advance(15 * S - 1) is None
    c = b.advance(15 * S)
    assert c is not None and c.start_ns == 10 * S
    assert b.open_end_ns() is None


@pytest.mark.parametrize("interval", [0, -S])
def test_candle_interval_must_be_positive(interval: int) -> None:
    with pytest.raises(ValueError, match=f"interval_ns must be positive, got {interval}"):
        CandleBuilder(interval)


# A price or quantity that is not a Python float, a time that is not an int (a bool is not one, nor
# an int past 64 bits): each is the invalid value it stands for, counted under the guard's reason.
# Checked in the guard's order: price, quantity, time.
@pytest.mark.parametrize(
    ("ts", "price", "qty", "reason"),
    [
        (S, 1, 1.0, "bad_price"),  # an int
        (S, True, 1.0, "bad_price"),
        (S, "1.0", 1.0, "bad_price"),
        (S, None, 1.0, "bad_price"),
        (S, 1.0, 1, "bad_quantity"),
        (S, 1.0, False, "bad_quantity"),
        (S, 1.0, "1.0", "bad_quantity"),
        (S, 1.0, None, "bad_quantity"),
        (True, 1.0, 1.0, "bad_time"),
        (1e9, 1.0, 1.0, "bad_time"),  # a float
        ("1000000000", 1.0, 1.0, "bad_time"),
        (None, 1.0, 1.0, "bad_time"),
        (0, 1.0, 1.0, "bad_time"),
        (-S, 1.0, 1.0, "bad_time"),
        (-(2**70), 1.0, 1.0, "bad_time"),
        (2**63, 1.0, 1.0, "bad_time"),  # past 64 bits (the Python detector took it)
        (True, 1, None, "bad_price"),  # the price first
        (None, 1.0, "x", "bad_quantity"),  # then the quantity
        (S, math.nan, 1.0, "bad_price"),
        (S, 1.0, -1.0, "bad_quantity"),
    ],
)
def test_a_trade_argument_of_another_type_is_dropped_as_invalid(
    ts: Any, price: Any, qty: Any, reason: str
) -> None:
    d = Detector(EventDetectionConfig())
    assert not d.on_trade(ts, price, qty, True)
    assert d.guard.dropped == {reason: 1} and d.guard.newest_ns == 0 and d.applied == 0


def test_a_float_subclass_and_any_truth_value_are_taken() -> None:
    """Whatever is a float is a float (a subclass too); the side may be any object (its truth value)."""

    class Price(float):
        pass

    d = Detector(EventDetectionConfig(jitter_buffer_ms=0))
    assert not d.on_trade(S, Price(1.0), Price(2.0), 1) and d.held == 1  # type: ignore[arg-type]
    assert d.on_trade(S + 1, 1.0, 1.0, "")  # type: ignore[arg-type]
    assert d.released == (Released(S, 1.0, 2.0, True),)  # the first, released by the second
    assert d.on_trade(S + 2, 1.0, 1.0, None) and d.released == ()  # type: ignore[arg-type]
    assert not d.guard.dropped and d.guard.newest_ns == S + 2 and d.applied == 2


GOOD_BIDS, GOOD_ASKS = ((10.0, 1.0), (9.9, 2.0)), ((10.1, 1.0), (10.2, 2.0))


@pytest.mark.parametrize(
    ("bids", "asks", "reason"),
    [
        ([[10.0, 1.0], [9.9, 2.0]], [[10.1, 1.0]], None),  # lists are levels too
        (((10.0, 1.0), [9.9, 2.0]), GOOD_ASKS, None),
        (((10.0, 1.0, 3.0),), GOOD_ASKS, "book_bad_price"),  # a level of three
        (GOOD_BIDS, ((10.1, 1.0), (10.2, 2.0, 0.0)), "book_bad_price"),
        (((10.0,),), GOOD_ASKS, "book_bad_price"),  # of one
        (((10, 1.0),), GOOD_ASKS, "book_bad_price"),  # an int price
        (((True, 1.0),), GOOD_ASKS, "book_bad_price"),
        (((10.0, 1),), GOOD_ASKS, "book_bad_quantity"),  # an int quantity
        (((10.0, True),), GOOD_ASKS, "book_bad_quantity"),
        (GOOD_BIDS, ((10.1, 1.0), (10.2, "2")), "book_bad_quantity"),
        ((("a", "b"),), GOOD_ASKS, "book_bad_price"),
        (("ab",), GOOD_ASKS, "book_bad_price"),  # a string of two is not a pair
        (((10.0, 1.0), None), GOOD_ASKS, "book_bad_price"),  # not a level at all (the Python guard raised)
        ((10.0,), GOOD_ASKS, "book_bad_price"),
        (None, GOOD_ASKS, "book_side_empty"),  # not a side (the Python guard raised)
        (GOOD_BIDS, (), "book_side_empty"),
        (((10.0, 1.0, 3.0), (math.nan, 1.0)), GOOD_ASKS, "book_bad_price"),  # level by level
        (((10.0, -1.0), (10.5, "x")), GOOD_ASKS, "book_bad_quantity"),
        (((10.0, 1.0), (10.5, 1.0)), ((10.1, 1),), "book_bad_quantity"),  # levels before order
        (((10.0, 1.0), (10.5, 1.0)), ((10.1, 1.0),), "book_unsorted"),
        (((10.1, 1.0),), [[10.1, 1.0]], "book_crossed"),
    ],
)
def test_a_book_level_that_is_not_a_pair_of_floats_is_dropped_as_invalid(
    bids: Any, asks: Any, reason: str | None
) -> None:
    d = started()
    assert d.on_book(wire.OrderBookSnapshot("X", S, S, 1, bids, asks)) is (reason is None)
    assert d.guard.dropped == ({reason: 1} if reason else {})


@pytest.mark.parametrize("ts", [True, 1e9, None, 0, 2**64])
def test_a_book_time_that_is_not_an_int_is_dropped_as_invalid(ts: Any) -> None:
    d = Detector(EventDetectionConfig())
    assert not d.on_book(wire.OrderBookSnapshot("X", ts, S, 1, GOOD_BIDS, GOOD_ASKS))
    assert d.guard.dropped == {"bad_time": 1}


def test_a_message_late_within_the_jitter_buffer_waits_for_the_later_trades_of_its_second() -> None:
    """With a 1.5-s buffer, a trade 1.3 s older than the newest event is kept, and waits in the buffer
    with the later trades of its second (released only once the newest event is 1.5 s past them:
    time order, `crates/detector/src/jitter.rs`)."""
    d = Detector(EventDetectionConfig(jitter_buffer_ms=1500))
    for ts in (10 * S + 200 * MS, 10 * S + 900 * MS, 11 * S + 800 * MS):
        assert taken(d, d.on_trade(ts, 100.0, 1.0, True))
    assert d.applied == 1  # only what is older than the newest by over 1.5 s
    assert d.on_trade(10 * S + 500 * MS, 90.0, 1.0, False)  # 1.3 s late: inside the buffer
    assert d.applied == 1  # buffered, not applied at once
    assert d.on_trade(13 * S, 100.0, 1.0, True)  # releases 10.5 s and 10.9 s, not 11.8 s
    assert d.applied == 3 and d.readings().ts_ns == 0  # second 10 still open: 11.8 s is buffered
    d.flush()
    assert d.applied == 5 and d.readings().ts_ns == 14 * S and not d.guard.dropped
    assert not d.on_trade(11 * S + 499 * MS, 100.0, 1.0, True)  # over 1.5 s older than 13 s
    assert d.guard.dropped == {"time_backwards": 1}
