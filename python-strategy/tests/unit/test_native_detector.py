"""The compiled detector (`NativeDetector`, the Rust crate `detector`) against the Python one, event
by event: the same accept/drop answers and drop counts, bit-identical readings at every closed
second, the same transitions with the same reasons, and a snapshot restored mid-stream that carries
on the same. On the real 10 Oct 2025 POLUSDT crash with the backtest's synthetic book, and on
generated streams full of bad input (hypothesis)."""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flashcrash_native
from flashcrash import wire
from flashcrash.backtest.book import BookParams, with_books
from flashcrash.config import EventDetectionConfig
from flashcrash.event_detector import Detector, Readings
from flashcrash.event_detector.native import NativeDetector
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


def _step(py: Detector, nat: NativeDetector, ev: object) -> None:
    match ev:
        case wire.Trade():
            args = (ev.exchange_ts_ns, ev.price, ev.quantity, ev.aggressor == "buy")
            assert py.on_trade(*args) == nat.on_trade(*args), ev
        case wire.OrderBookSnapshot():
            assert py.on_book(ev) == nat.on_book(ev), ev
        case ("trade", ts, price, qty, buy):
            assert py.on_trade(ts, price, qty, buy) == nat.on_trade(ts, price, qty, buy), ev
        case ("lost",):
            py.on_feed_lost()
            nat.on_feed_lost()
        case _:
            raise AssertionError(ev)


def _compare(py: Detector, nat: NativeDetector) -> None:
    _same_readings(py.readings(), nat.readings())
    assert py.state == nat.state
    assert py.transitions == nat.transitions
    assert py.guard.dropped == nat.guard.dropped
    assert py.guard.newest_ns == nat.guard.newest_ns
    assert py.applied == nat.applied


def _run(
    cfg: EventDetectionConfig, events: Iterable[object], restore_at: int | None = None
) -> NativeDetector:
    py, nat = Detector(cfg), NativeDetector(cfg)
    last_ts = -1
    for i, ev in enumerate(events):
        if i == restore_at:  # the native state through a snapshot into a fresh detector
            again = NativeDetector(cfg)
            again.restore(nat.snapshot())
            again.set_history(list(nat.transitions))
            py.snapshot()  # the Python snapshot also hands the pending book to the indicators
            nat = again
        _step(py, nat, ev)
        ts = nat.readings().ts_ns
        if ts != last_ts:
            last_ts = ts
            _compare(py, nat)
        assert py.on_candle(None) == nat.on_candle(None)  # type: ignore[arg-type]
    py.flush()
    nat.flush()
    _compare(py, nat)
    end = py.shutdown(last_ts + 1, "end")
    assert end == nat.shutdown(last_ts + 1, "end")
    assert py.transitions == nat.transitions
    return nat


def test_the_real_crash_with_the_synthetic_book_gives_the_same_seconds_and_transitions() -> None:
    arr, report, _ = load_trades(POL, None)
    assert report.dropped == 0
    events = list(with_books(arr, BookParams(0.0001, 0.1, 20, 1), "POLUSDT"))
    nat = _run(EventDetectionConfig(), events, restore_at=len(events) // 2)
    assert any(t.current.value == "ACTIVE" for t in nat.transitions)  # the crash was seen


def test_every_book_counted_and_velocity_over_all_books() -> None:
    arr, _, _ = load_trades(POL, None)
    arr = arr[:20_000]
    cfg = replace(EventDetectionConfig(), velocity_touch_only=False, warmup_secs=20, baseline_secs=60)
    _run(cfg, with_books(arr, BookParams(0.0001, 0.1, 20, 1), "POLUSDT"))


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
@given(_stream(), st.integers(0, 300))
def test_generated_streams_with_bad_input_give_the_same_answers(events: list[object], cut: int) -> None:
    _run(SMALL, events, restore_at=cut if cut < len(events) else None)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), max_size=60))
def test_fsum_is_pythons(xs: list[float]) -> None:
    assert flashcrash_native.fsum(xs) == math.fsum(xs)


def test_a_bad_configuration_names_the_field() -> None:
    with pytest.raises(ValueError, match="jitter_buffer_ms"):
        flashcrash_native.Detector('{"jitter_buffer_ms": -1}')
