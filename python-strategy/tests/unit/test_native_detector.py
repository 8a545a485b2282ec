"""The compiled detector's boundary: a snapshot restored mid-stream carries on bit for bit (on the
real 10 Oct 2025 POLUSDT crash with the backtest's synthetic book, and on generated streams full of
bad input), its window sums are Python's `math.fsum`, and a configuration it refuses is named.

The port itself was held bit-identical to the Python detector it replaced, event by event, on the
same streams (readings at every closed second, transitions and their reasons, drop counts) before
the Python one was deleted; the Rust crate's own tests carry the component cases."""

from __future__ import annotations

import math
import struct
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import flashcrash_native
from flashcrash import wire
from flashcrash.backtest.book import BookParams, with_books
from flashcrash.config import EventDetectionConfig
from flashcrash.event_detector import Detector, Readings
from flashcrash.event_detector.candles import CandleBuilder
from flashcrash.marketdata import load_trades

S = 1_000_000_000
DATA = Path(__file__).resolve().parents[3] / "data"
POL = DATA / "binance_trades_2025-10-10_POLUSDT_2045-2145.csv.gz"


def _bits(x: float) -> bytes:
    return struct.pack("<d", x) if not math.isnan(x) else b"nan"


def _same_readings(a: Readings, b: Readings) -> None:
    assert a.ts_ns == b.ts_ns
    for ind, ra in a.by_indicator.items():
        rb = b.by_indicator[ind]
        assert (ra.indicator, ra.fired, ra.ready) == (rb.indicator, rb.fired, rb.ready), (ind, ra, rb)
        assert [_bits(x) for x in (ra.value, ra.threshold, ra.strength)] == [
            _bits(x) for x in (rb.value, rb.threshold, rb.strength)
        ], (a.ts_ns, ind, ra, rb)
    assert a.pattern == b.pattern
    assert [_bits(x) for x in (a.spread_ratio, a.liquidity_usd, a.depth_imbalance)] == [
        _bits(x) for x in (b.spread_ratio, b.liquidity_usd, b.depth_imbalance)
    ], (a, b)
    assert a.extreme_imbalance == b.extreme_imbalance
    assert a.bid_walls == b.bid_walls and a.ask_walls == b.ask_walls


def _step(d: Detector, ev: object) -> bool | None:
    match ev:
        case wire.Trade():
            return d.on_trade(ev.exchange_ts_ns, ev.price, ev.quantity, ev.aggressor == "buy")
        case wire.OrderBookSnapshot():
            return d.on_book(ev)
        case ("trade", ts, price, qty, buy):
            return d.on_trade(ts, price, qty, buy)
        case ("lost",):
            d.on_feed_lost()
            return None
    raise AssertionError(ev)


def _compare(a: Detector, b: Detector) -> None:
    _same_readings(a.readings(), b.readings())
    assert a.state == b.state
    assert a.transitions == b.transitions
    assert a.guard.dropped == b.guard.dropped
    assert a.guard.newest_ns == b.guard.newest_ns
    assert a.applied == b.applied


def _run(cfg: EventDetectionConfig, events: list[object], restore_at: int) -> Detector:
    """Two detectors on the same events, the second restored from the first's snapshot (into a fresh
    detector, with the history set as a recovery sets it) at `restore_at`; both compared at every
    closed second and at the end."""
    straight, restored = Detector(cfg), Detector(cfg)
    last_ts = -1
    for i, ev in enumerate(events):
        if i == restore_at:
            again = Detector(cfg)
            again.restore(restored.snapshot())
            again.set_history(list(restored.transitions))
            restored = again
        assert _step(straight, ev) == _step(restored, ev), ev
        ts = straight.readings().ts_ns
        if ts != last_ts:
            last_ts = ts
            _compare(straight, restored)
        assert straight.on_candle(None) == restored.on_candle(None)  # type: ignore[arg-type]
    straight.flush()
    restored.flush()
    _compare(straight, restored)
    return straight


def test_the_real_crash_carries_on_the_same_after_a_snapshot_restored_mid_stream() -> None:
    arr, report, _ = load_trades(POL, None)
    assert report.dropped == 0
    events = list(with_books(arr, BookParams(0.0001, 0.1, 20, 1), "POLUSDT"))
    d = _run(EventDetectionConfig(), events, restore_at=len(events) // 2)
    assert any(t.current.value == "ACTIVE" for t in d.transitions)  # the crash was seen


# ------------------------------------------------------------------ generated streams
_price = st.one_of(
    st.floats(0.5, 2.0),
    st.sampled_from([math.nan, math.inf, -1.0, 0.0]),
    st.just(1),  # an int is not a float price: dropped as a bad price
    st.just("1.0"),
)
_qty = st.one_of(st.floats(0.0, 50.0), st.sampled_from([math.nan, -0.5, math.inf]), st.just(None))


@st.composite
def _stream(draw: st.DrawFn) -> list[object]:
    t = 1_700_000_000 * S
    out: list[object] = []
    for _ in range(draw(st.integers(1, 300))):
        kind = draw(st.sampled_from(["trade", "trade", "trade", "book", "book", "gap", "lost", "back"]))
        if kind == "gap":
            t += draw(st.integers(1, 400)) * S
            continue
        if kind == "back":  # out of order: up to 3 s back (the jitter buffer keeps 1.5 s)
            ts = t - draw(st.integers(0, 3_000)) * 1_000_000
        else:
            t += draw(st.integers(0, 400)) * 1_000_000
            ts = t
        if kind == "lost":
            out.append(("lost",))
        elif kind == "book":
            mid = draw(st.floats(0.5, 2.0))
            n = draw(st.integers(0, 4))
            bids = [(mid - 0.01 * (i + 1), draw(st.floats(0.0, 100.0))) for i in range(n)]
            asks = [
                (mid + 0.01 * (i + 1), draw(st.floats(0.0, 100.0))) for i in range(draw(st.integers(0, 4)))
            ]
            if bids and draw(st.booleans()):
                bids[0] = draw(st.sampled_from([(math.nan, 1.0), (mid, -1.0), (mid + 1, 1.0), (1, 1.0)]))
            out.append(wire.OrderBookSnapshot("X", ts, ts, 1, tuple(bids), tuple(asks)))
        else:
            out.append(("trade", ts, draw(_price), draw(_qty), draw(st.booleans())))
    return out


SMALL = replace(
    EventDetectionConfig(),
    baseline_secs=20,
    warmup_secs=5,
    volatility_window_secs=3,
    volume_delta_window_secs=3,
    velocity_window_secs=2,
    recovery_confirm_secs=4,
    active_hold_secs=2,
    active_confirm_secs=1.0,
    volatility_floor_bps=1.0,
    velocity_min_per_sec=1.0,
    liquidity_min_usd=10.0,
)


@settings(max_examples=150, deadline=None)
@given(_stream(), st.data())
def test_generated_streams_with_bad_input_carry_on_the_same_after_a_restore(
    events: list[object], data: st.DataObject
) -> None:
    assume(events)
    cut = data.draw(st.integers(0, len(events) - 1), label="restore_at")  # a restore in every example
    _run(SMALL, events, restore_at=cut)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), max_size=60))
def test_fsum_is_pythons(xs: list[float]) -> None:
    assert flashcrash_native.fsum(xs) == math.fsum(xs)


def test_a_bad_configuration_names_the_field() -> None:
    with pytest.raises(ValueError, match="jitter_buffer_ms"):
        flashcrash_native.Detector('{"jitter_buffer_ms": -1}')


# ------------------------------------------------------------------ trades as rows
_row_price = st.one_of(st.floats(0.5, 2.0), st.sampled_from([math.nan, math.inf, -1.0, 0.0]))
_row_qty = st.one_of(st.floats(0.0, 50.0), st.sampled_from([math.nan, -0.5, math.inf]))


@st.composite
def _rows(draw: st.DrawFn) -> list[tuple[int, float, float, bool]]:
    t = 1_700_000_000 * S
    out = []
    for _ in range(draw(st.integers(1, 200))):
        t += draw(st.integers(0, 1_500)) * 1_000_000
        back = draw(st.sampled_from([0, 0, 0, 500, 2_000])) * 1_000_000  # out of order now and then
        out.append((t - back, draw(_row_price), draw(_row_qty), draw(st.booleans())))
    return out


@settings(max_examples=150, deadline=None)
@given(_rows(), st.integers(1, 50))
def test_trades_handed_as_rows_are_the_trades_one_at_a_time(
    rows: list[tuple[int, float, float, bool]], run: int
) -> None:
    """`on_trade_rows` (the backtest's runs of trades) leaves the detector and the runner's candles as
    `on_trade` and `CandleBuilder.on_trade` one trade at a time do, bad and late rows included: it
    stops before a trade that would close the open candle, which the caller takes one at a time."""
    one, rowed = Detector(SMALL), Detector(SMALL)
    c_one, c_rowed = CandleBuilder(), CandleBuilder()
    closed_one, closed_rowed = [], []
    last_one = last_rowed = (-1, math.nan)
    for ts, price, qty, buy in rows:
        if one.on_trade(ts, price, qty, buy):
            last_one = (ts, price)
            closed_one.append(c_one.on_trade(ts, price, qty, buy))
    rowed.set_trade_rows(
        np.array([r[0] for r in rows], dtype=np.int64),
        np.array([r[1] for r in rows]),
        np.array([r[2] for r in rows]),
        np.array([r[3] for r in rows], dtype=np.uint8),
    )
    k = 0
    while k < len(rows):
        end = min(len(rows), k + run)
        done, ts, price = rowed.on_trade_rows(k, end, c_rowed)
        if ts >= 0:
            last_rowed = (ts, price)
        if done < end:  # the trade that closes the candle: the runner's, one at a time
            t, p, q, b = rows[done]
            close = c_rowed.open_end_ns()
            assert close is not None and t >= close
            if rowed.on_trade(t, p, q, b):
                last_rowed = (t, p)
                closed_rowed.append(c_rowed.on_trade(t, p, q, b))
            done += 1
        k = done
    _compare(one, rowed)
    assert [c for c in closed_one if c is not None] == closed_rowed
    assert (c_one.late_trades, c_one.open_end_ns()) == (c_rowed.late_trades, c_rowed.open_end_ns())
    assert _bits(last_one[1]) == _bits(last_rowed[1]) and last_one[0] == last_rowed[0]


def test_trade_rows_out_of_the_block_or_of_unequal_lengths_are_refused() -> None:
    d = Detector(SMALL)
    with pytest.raises(ValueError, match="3 times need as many prices"):
        d.set_trade_rows(np.arange(3, dtype=np.int64), np.ones(2), np.ones(3), np.zeros(3, dtype=np.uint8))
    d.set_trade_rows(np.arange(3, dtype=np.int64), np.ones(3), np.ones(3), np.zeros(3, dtype=np.uint8))
    with pytest.raises(ValueError, match=r"trade rows 2\.\.4 of a block of 3"):
        d.on_trade_rows(2, 4, CandleBuilder())
