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
from flashcrash.event_detector import Detector, Readings, State
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
        if draw(st.integers(0, 30)) == 0:  # a gap now and then: the guard holds the row after it
            t += draw(st.sampled_from([5, 60, 900])) * S
        back = draw(st.sampled_from([0, 0, 0, 500, 2_000])) * 1_000_000  # out of order now and then
        far = draw(st.integers(0, 60)) == 0  # stamped at twice the time: dropped, `time_ahead`
        out.append((2 * t if far else t - back, draw(_row_price), draw(_row_qty), draw(st.booleans())))
    return out


@st.composite
def _book_rows(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Books of 2 levels a side every 100-600 ms (a row's bids may be missing or bad)."""
    n = draw(st.integers(0, 120))
    t = 1_700_000_000 * S + draw(st.integers(0, 500)) * 1_000_000
    times, prices, qty, nbids = [], [], [], []
    for _ in range(n):
        t += draw(st.integers(1, 6)) * 100_000_000
        mid = draw(st.floats(0.5, 2.0))
        bid = draw(st.sampled_from([mid - 0.01, mid - 0.01, math.nan, mid + 0.5]))
        times.append(t)
        prices.append([bid, mid - 0.02, mid + 0.01, mid + 0.02])
        qty.append([draw(st.floats(0.0, 100.0)) for _ in range(4)])
        nbids.append(draw(st.sampled_from([2, 2, 1, 0])))
    return (
        np.array(times, dtype=np.int64),
        np.array(prices, dtype=np.float64).reshape(n, 4),
        np.array(qty, dtype=np.float64).reshape(n, 4),
        np.array(nbids, dtype=np.int64),
    )


LAG = 1_000_000_000  # the runner's BOOK_CLOSE_LAG_NS


@settings(max_examples=200, deadline=None)
@given(
    _rows(),
    _book_rows(),
    st.integers(1, 50),
    st.sampled_from([(), (State.SLEEP,), (State.SLEEP, State.ALERT), (State.ALERT, State.RECOVERY)]),
)
def test_trades_and_books_handed_as_rows_are_the_events_one_at_a_time(
    rows: list[tuple[int, float, float, bool]],
    books: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    run: int,
    through: tuple[State, ...],
) -> None:
    """`on_rows` (the backtest's quiet runs) leaves the detector and the runner's candles as the
    trades and books one at a time in the same merged order do (each block in its rows' order, a book
    before the next trade only when strictly earlier; an accepted book advances the candles `LAG`
    behind it, as `Runner._book_taken`; held events released take their place first, as
    `Runner._released`), bad, late and jumping rows included: it stops before the event that would
    close the open candle, and before one the guard would hold or that would release a held one,
    which the caller takes one at a time. A close while the detector is in a state `through` names
    does not stop it: each candle closed is listed with the detector's state and stop figures just
    after the event that closed it, as one at a time reads them then, and the run ends after a close
    that leaves the detector in another state."""
    times = books[0].tolist()
    order: list[tuple[int, int, int]] = []  # (time, 0 for a trade or 1 for a book, row)
    t = b = 0
    while t < len(rows) or b < len(times):
        if b < len(times) and (t == len(rows) or times[b] < rows[t][0]):
            order.append((times[b], 1, b))
            b += 1
        else:
            order.append((rows[t][0], 0, t))
            t += 1
    one, rowed = Detector(SMALL), Detector(SMALL)
    c_one, c_rowed = CandleBuilder(), CandleBuilder()
    for d in (one, rowed):
        d.set_book_rows(*books)
        d.set_trade_rows(
            np.array([r[0] for r in rows], dtype=np.int64),
            np.array([r[1] for r in rows]),
            np.array([r[2] for r in rows]),
            np.array([r[3] for r in rows], dtype=np.uint8),
        )

    def read(d: Detector, closed: list[object]) -> list[object]:
        """Each candle closed (or None) with the detector's state and stop figures now."""
        r = d.readings()
        return [c and (c, d.state, repr(r.spread_ratio), repr(r.liquidity_usd)) for c in closed]

    def one_at_a_time(d: Detector, candles: CandleBuilder, kind: int, i: int) -> list[object]:
        """The candles closed (or None) by the event, and before it by what it released (each with
        the detector's state and stop figures after the event)."""
        if kind == 0:
            ts, price, qty, buy = rows[i]
            took = d.on_trade(ts, price, qty, buy)
        else:
            _, last = d.on_book_rows(i, i + 1)
        closed = [
            candles.on_trade(r.ts_ns, r.price, r.qty, r.is_buy) if r.price is not None
            else candles.advance(r.ts_ns - LAG) if kind == 0
            else None  # a released book in a run of books: `last` counts it
            for r in d.released
        ]  # fmt: skip
        if kind == 0:
            closed.append(candles.on_trade(ts, price, qty, buy) if took else None)
        else:
            closed.append(candles.advance(last - LAG) if last >= 0 else None)
        return read(d, closed)

    closed_one = [c for _, kind, i in order for c in one_at_a_time(one, c_one, kind, i)]
    closed_rowed: list[object] = []
    t = b = e = 0
    while e < len(order):
        chunk = order[e : e + run]
        t_end = t + sum(1 for x in chunk if x[1] == 0)
        b_end = b + len(chunk) - (t_end - t)
        r = rowed.on_rows((t, t_end), (b, b_end), c_rowed, LAG, through)
        e += (r.trade_row - t) + (r.book_row - b)
        t, b = r.trade_row, r.book_row
        assert rowed.released == ()  # a run releases nothing
        closed_rowed += [(c.candle, c.state, repr(c.spread_ratio), repr(c.liquidity_usd)) for c in r.closed]
        assert through or not r.closed
        assert all(c.state in through for c in r.closed[:-1])
        if r.closed and r.closed[-1].state not in through:  # stopped after the close into another state
            assert r.closed[-1].ts_ns == max(r.book_ns, r.trade_ns)
            continue
        if (t, b) != (t_end, b_end):  # stopped before the event that closes the candle, or jumps
            ts, kind, i = order[e]
            close = c_rowed.open_end_ns()
            closes = close is not None and ts - (LAG if kind else 0) >= close
            assert not rowed.plain(ts) or (closes and rowed.state not in through)
            closed_rowed += one_at_a_time(rowed, c_rowed, kind, i)
            t, b, e = t + (kind == 0), b + (kind != 0), e + 1
    _compare(one, rowed)
    assert [c for c in closed_one if c is not None] == [c for c in closed_rowed if c is not None]
    assert (c_one.late_trades, c_one.open_end_ns()) == (c_rowed.late_trades, c_rowed.open_end_ns())


def test_trade_rows_out_of_the_block_or_of_unequal_lengths_are_refused() -> None:
    d = Detector(SMALL)
    with pytest.raises(ValueError, match="3 times need as many prices"):
        d.set_trade_rows(np.arange(3, dtype=np.int64), np.ones(2), np.ones(3), np.zeros(3, dtype=np.uint8))
    d.set_trade_rows(np.arange(3, dtype=np.int64), np.ones(3), np.ones(3), np.zeros(3, dtype=np.uint8))
    with pytest.raises(ValueError, match=r"trade rows 2\.\.4 of a block of 3"):
        d.on_rows((2, 4), (0, 0), CandleBuilder(), LAG)
    with pytest.raises(ValueError, match=r"book rows 0\.\.1 of a block of 0"):
        d.on_rows((0, 3), (0, 1), CandleBuilder(), LAG)
