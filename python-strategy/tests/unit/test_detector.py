"""The detector's API: readings, transitions and their reasons (logged), what each indicator reads
from the events, and every `[event_detection]` value reaching the detector. The state machine's rules
on hand-made readings (quorums, timings, the jitter window, recovery, learning, the reasons of every
kind of transition) are the Rust crate's tests (`rust-engine/crates/detector/src/machine.rs`)."""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

import pytest
from detector_fixtures import taken

from flashcrash import wire
from flashcrash.config import EventDetectionConfig
from flashcrash.event_detector import (
    CORE,
    Detector,
    Indicator,
    Pattern,
    Reading,
    Readings,
    State,
    Transition,
)

S = 1_000_000_000
MS = 1_000_000
# The crash day's transitions (CRASH_DAY) with the price's move in the quorum, as on the synthetic
# book (config/synthetic_book.toml).
CFG = EventDetectionConfig(quorum_needs_price=True)
V, A, OB, SP, VD, MV = (
    Indicator.VOLATILITY,
    Indicator.ACCELERATION,
    Indicator.OBI,
    Indicator.SPREAD,
    Indicator.VOLUME_DELTA,
    Indicator.MESSAGE_VELOCITY,
)


def readings(sec: int, fired: set[Indicator]) -> Readings:
    by = {i: Reading(i, 1.0, 1.0, i in fired, 1.0 if i in fired else 0.0) for i in Indicator}
    return Readings(sec * S, by, Pattern.NONE, math.nan, math.nan)


def snap(ts: int, bids: wire.Levels, asks: wire.Levels) -> wire.OrderBookSnapshot:
    return wire.OrderBookSnapshot("X", ts, ts, 1, bids, asks)


class Seconds:
    """The readings of every second `d` closes, by the second's end (s), read after each event: the
    tests feed events so that none closes more than one second, which `ok` checks."""

    def __init__(self, d: Detector) -> None:
        self.d = d
        self.by_end: dict[int, Readings] = {}

    def ok(self, accepted: bool) -> None:
        assert taken(self.d, accepted)
        r = self.d.readings()
        end = r.ts_ns // S
        if r.ts_ns and end not in self.by_end:
            assert not self.by_end or end == max(self.by_end) + 1, "a closed second was not seen"
            self.by_end[end] = r


def test_api_readings_before_data_are_not_ready() -> None:
    d = Detector(CFG)
    r = d.readings()
    assert set(r.by_indicator) == set(Indicator)
    assert not any(x.ready or x.fired for x in r.by_indicator.values()) and r.core_fired() == 0
    assert len(CORE) == 5


def test_api_feeds_books_and_trades_and_shuts_down() -> None:
    d = Detector(CFG)
    for i in range(120):
        ts = i * S // 2 + S
        assert taken(d, d.on_book(wire.OrderBookSnapshot("X", ts, ts, i, ((99.0, 5.0),), ((101.0, 5.0),))))
        assert d.on_trade(ts + 1, 100.0, 1.0, i % 2 == 0)
    assert not d.on_trade(10 * S, float("nan"), 1.0, True)
    r = d.readings()
    assert r.ts_ns > 0 and r[Indicator.OBI].ready and r[Indicator.OBI].value == 0.0
    assert math.isclose(r.liquidity_usd, 99.0 * 5 + 101.0 * 5)
    assert d.state is State.SLEEP and d.on_candle(None) is None  # type: ignore[arg-type]
    t = d.shutdown(r.ts_ns, "test")
    assert t == Transition(r.ts_ns, State.SLEEP, State.SHUTDOWN, "test")
    assert d.state is State.SHUTDOWN and d.transitions[-1] == t


T0 = 1_000 * S


def crash_day(d: Detector) -> None:
    """400 s of calm (4 trades a second, a price step of 1 bp a second up and down, a 5-level book with
    every trade), a 20-s dive of -0.125 % every 250 ms (big sells, a wider and thinner book), then
    200 s of calm at the bottom. Plain arithmetic: the same floats everywhere."""
    price = 100.0
    for sec in range(620):
        dive = 400 <= sec < 420
        for k in range(4):
            ts = T0 + sec * S + k * S // 4
            if dive:
                price *= 0.99875
            elif k == 0:
                price *= 1.0001 if sec % 2 else 1 / 1.0001
            half = price * (0.002 if dive else 0.0002)
            bids = tuple((price - half - i * 0.01, 5.0 + i) for i in range(5))
            asks = tuple((price + half + i * 0.01, (1.0 if dive else 5.0) + i) for i in range(5))
            assert taken(d, d.on_book(wire.OrderBookSnapshot("X", ts, ts, sec * 4 + k, bids, asks)))
            qty = 20.0 if dive else 1.0 + (sec * 7 + k * 3) % 5 / 4
            assert d.on_trade(ts + 1, price, qty, (not dive) and (sec + k) % 2 == 0)
    d.flush()


# What the Python detector gave on `crash_day`, transition for transition (the reasons' %.3g numbers).
CRASH_DAY = [
    (402, State.SLEEP, State.ALERT, "alert level: 4/5 core fired (volatility 5.6, acceleration -10.9, spread 10, volume_delta -1e+03)"),
    (405, State.ALERT, State.ACTIVE, "quorum held 3s: 4/5 core fired (volatility 8.85, acceleration -16.8, spread 10, volume_delta -1e+03)"),
    (433, State.ACTIVE, State.RECOVERY, "quorum lost for 5s: 0/5 core fired (none)"),
    (464, State.RECOVERY, State.SLEEP, "stable for 30s: 0/5 core fired (none)"),
]  # fmt: skip


def test_every_transition_has_its_reason_and_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    """Each transition names the indicators counted, and is logged (INFO) once with that reason; the
    transitions of a restored history are not logged again."""
    d = Detector(CFG)
    with caplog.at_level(logging.INFO, logger="flashcrash.event_detector.detector"):
        crash_day(d)
        got = list(d.transitions)
        assert [((t.ts_ns - T0) // S, t.previous, t.current, t.reason) for t in got] == CRASH_DAY
        assert all(t.ts_ns % S == 0 for t in got)
        assert d.on_candle(None) == got[-1]  # type: ignore[arg-type]
        assert d.transitions == got  # read again: logged once
        end = d.shutdown(T0 + 700 * S, "session end")
        history = Detector(CFG)
        history.set_history(list(d.transitions))
        assert history.transitions == [*got, end] and history.on_candle(None) is None  # type: ignore[arg-type]
    logged = [r.getMessage() for r in caplog.records if r.name == "flashcrash.event_detector.detector"]
    assert logged == [f"detector {t.previous} -> {t.current}: {t.reason}" for t in [*got, end]]
    assert logged[-1] == "detector SLEEP -> SHUTDOWN: session end"


def test_core_fired_counts_only_the_five_core_indicators() -> None:
    """Velocity, pattern and liquidity firing do not count as core indicators."""
    r = readings(0, {V, SP, MV, Indicator.PATTERN, Indicator.LIQUIDITY})
    assert r.core_fired() == 2


def _velocity_second(cfg: EventDetectionConfig) -> float:
    """Messages counted in the first second: ten books (the touch moves twice) and two trades. With a
    velocity window of one second, a warm-up of one and no minimum rate, the second after it (one
    trade) reads 1 / that count."""
    cfg = dataclasses.replace(
        cfg, velocity_window_secs=1, baseline_secs=10, warmup_secs=1, velocity_min_per_sec=0.0
    )
    d = Detector(cfg)
    touches = [(99.0, 101.0)] * 5 + [(99.0, 102.0)] * 4 + [(98.0, 102.0)]
    for i, (bid, ask) in enumerate(touches):
        ts = S + i * S // 10
        book = wire.OrderBookSnapshot("X", ts, ts, i, ((bid, 5.0), (bid - 1, 5.0)), ((ask, 5.0),))
        assert taken(d, d.on_book(book))
        if i in (2, 7):
            assert d.on_trade(ts + 1, 100.0, 1.0, True)
    for k in range(2, 6):  # later seconds release the first two and close them
        assert d.on_trade(k * S, 100.0, 1.0, False)
    r = d.readings()
    assert r.ts_ns == 3 * S and r[MV].ready
    return 1 / r[MV].value


def test_velocity_counts_trades_and_the_books_that_move_the_touch() -> None:
    # the first book sets the touch (1), two books move it (2), eight repeat it (0); two trades (2)
    assert _velocity_second(CFG) == 5
    # velocity_touch_only = false: every book counts
    assert _velocity_second(dataclasses.replace(CFG, velocity_touch_only=False)) == 12


def test_price_move_is_the_windows_move_in_baseline_sigmas() -> None:
    """`Readings.price_move`: the sum of the volatility window's 1-second returns over the baseline RMS
    times the square root of the window; NaN until the baseline is warm. A slide of -3 bp a second
    against a baseline of +-2 bp returns: 4 x 3 / (2 x sqrt 4) = 3 sigmas, with the volatility
    reading (dispersion 1.5x) far from firing."""
    cfg = dataclasses.replace(
        CFG, baseline_secs=20, warmup_secs=10, volatility_window_secs=4, volatility_floor_bps=5.0
    )
    d = Detector(cfg)
    prices = [100.0 * (1.0002 if sec % 2 else 1.0) for sec in range(30)]
    for _ in range(4):
        prices.append(prices[-1] * math.exp(-3e-4))
    moves = []
    for sec, price in enumerate(prices, start=1):
        assert taken(d, d.on_trade(sec * S, price, 1.0, True))
        moves.append(d.readings().price_move)
    d.flush()
    assert math.isnan(moves[0]) and d.readings().ts_ns == (len(prices) + 1) * S
    r = d.readings()
    assert r.price_move == pytest.approx(12 / (2 * math.log(1.0002) * 1e4), rel=1e-9)
    assert r[V].value == pytest.approx(1.5, rel=1e-3) and not r[V].fired


def held(d: Detector) -> dict[str, Any]:
    """What the detector's components hold of the configuration, read from its snapshot (version 2:
    `rust-engine/crates/detector/src/detector.rs` lays it out): the keys of `[event_detection]`, each
    with every value it set."""
    s = d.snapshot()["detector"]
    c = s["core"]
    vol, sp, vd, mv, p, dp = (
        c[k] for k in ("volatility", "spread", "volume_delta", "velocity", "patterns", "depth")
    )
    windows = (vol["returns"], sp["samples"], vd["sums"], mv["counts"])
    return {
        "jitter_buffer_ms": (
            s["guard"]["jitter_ns"] // MS,
            s["buffer"]["delay_ns"] // MS,
            c["machine"]["ticks"],
        ),
        "baseline_secs": [w["baseline"]["size"] for w in windows],
        "warmup_secs": [x["warmup"] for x in (vol, sp, vd, mv)],
        "volatility_window_secs": vol["returns"]["recent"]["size"],
        "volatility_ratio": vol["ratio"],
        "volatility_floor_bps": vol["floor_bps"],
        "acceleration_span_secs": c["acceleration"]["span"],
        "acceleration_bps_per_s2": c["acceleration"]["threshold"],
        "obi_levels": c["obi"]["levels"],
        "obi_threshold": c["obi"]["threshold"],
        "spread_ratio": sp["threshold"],
        "volume_delta_window_secs": (vd["per_second"]["size"], vd["sums"]["recent"]["size"]),
        "volume_delta_z": vd["threshold"],
        "velocity_window_secs": mv["counts"]["recent"]["size"],
        "velocity_ratio": mv["ratio"],
        "velocity_min_per_sec": mv["min_per_sec"],
        "velocity_touch_only": c["touch_only"],
        "pattern_candles": (p["min"], p["max"]),
        "patterns": (p["ex_wick"], p["ex_growth"], p["cl_wick"], p["cl_volume"]),
        "depth": (dp["levels"], dp["min_usd"], dp["extreme"], dp["wall_ratio"]),
    }


OTHER = EventDetectionConfig(
    jitter_buffer_ms=700, baseline_secs=120, warmup_secs=30, volatility_window_secs=7,
    volatility_ratio=6.5, volatility_floor_bps=33.0, acceleration_span_secs=4,
    acceleration_bps_per_s2=9.5, obi_levels=7, obi_threshold=0.45, spread_ratio=3.5,
    volume_delta_window_secs=8, volume_delta_z=4.5, velocity_window_secs=6, velocity_ratio=2.5,
    velocity_min_per_sec=12.0, velocity_touch_only=False, pattern_min_candles=2, pattern_max_candles=6,
    exhaustion_wick_pct=21.0, exhaustion_wick_growth_pct=11.0, climax_wick_pct=22.0,
    climax_volume_ratio=1.7, depth_levels=15, liquidity_min_usd=55_000.0, extreme_imbalance=0.65,
    wall_ratio=3.3,
)  # fmt: skip
OTHER_THRESHOLDS = {
    V: 6.5,
    A: 9.5,
    OB: 0.45,
    SP: 3.5,
    VD: 4.5,
    MV: 2.5,
    Indicator.PATTERN: 2.0,
    Indicator.LIQUIDITY: 55_000.0,
}


def test_the_detector_takes_every_value_from_its_configuration() -> None:
    """Each `[event_detection]` value reaches the component that uses it (none is a default): the
    thresholds in the readings before and after data, the jitter buffer in what is kept and released,
    and the rest in what the components hold."""
    d = Detector(OTHER)
    assert d.cfg is OTHER
    assert {i: r.threshold for i, r in d.readings().by_indicator.items()} == OTHER_THRESHOLDS
    assert held(d) == {
        "jitter_buffer_ms": (700, 700, 1),
        "baseline_secs": [120] * 4,
        "warmup_secs": [30] * 4,
        "volatility_window_secs": 7,
        "volatility_ratio": 6.5,
        "volatility_floor_bps": 33.0,
        "acceleration_span_secs": 4,
        "acceleration_bps_per_s2": 9.5,
        "obi_levels": 7,
        "obi_threshold": 0.45,
        "spread_ratio": 3.5,
        "volume_delta_window_secs": (8, 8),
        "volume_delta_z": 4.5,
        "velocity_window_secs": 6,
        "velocity_ratio": 2.5,
        "velocity_min_per_sec": 12.0,
        "velocity_touch_only": False,
        "pattern_candles": (2, 6),
        "patterns": (21.0, 11.0, 22.0, 1.7),
        "depth": (15, 55_000.0, 0.65, 3.3),
    }
    # 700 ms of jitter: an event is released once one 700 ms and 1 ns newer has come; one 700 ms
    # older than the newest is kept, a nanosecond more is dropped. (The first waits for the second.)
    assert not d.on_trade(10 * S, 100.0, 1.0, True) and d.held == 1
    assert d.on_trade(10 * S + 700 * MS, 100.0, 1.0, True) and d.held == 0
    assert d.applied == 0
    assert d.on_trade(10 * S + 700 * MS + 1, 100.0, 1.0, True) and d.applied == 1
    assert d.on_trade(10 * S + 1, 100.0, 1.0, True)
    assert not d.on_trade(10 * S, 100.0, 1.0, True) and d.guard.dropped == {"time_backwards": 1}
    d.flush()
    assert d.readings().ts_ns == 11 * S
    assert {i: r.threshold for i, r in d.readings().by_indicator.items()} == OTHER_THRESHOLDS


def test_reconfigure_applies_the_new_values_and_keeps_the_sizes() -> None:
    """A reload (`reconfigure`): thresholds, ratios, levels, warm-ups and the touch rule take effect;
    the window sizes and the jitter buffer keep their running values."""
    d = Detector(CFG)
    for sec in range(1, 5):
        assert taken(d, d.on_trade(sec * S, 100.0, 1.0, True))
    assert d.readings().ts_ns == 2 * S and d.readings()[V].threshold == CFG.volatility_ratio
    running = held(d)
    d.reconfigure(OTHER)
    assert d.cfg is OTHER
    fixed = ("jitter_buffer_ms", "baseline_secs", "volatility_window_secs", "acceleration_span_secs")
    fixed += ("volume_delta_window_secs", "velocity_window_secs", "pattern_candles")
    now = held(d)
    assert {k: now[k] for k in fixed} == {k: running[k] for k in fixed}
    assert {k: v for k, v in now.items() if k not in fixed} == {
        "warmup_secs": [30] * 4,
        "volatility_ratio": 6.5,
        "volatility_floor_bps": 33.0,
        "acceleration_bps_per_s2": 9.5,
        "obi_levels": 7,
        "obi_threshold": 0.45,
        "spread_ratio": 3.5,
        "volume_delta_z": 4.5,
        "velocity_ratio": 2.5,
        "velocity_min_per_sec": 12.0,
        "velocity_touch_only": False,
        "patterns": (21.0, 11.0, 22.0, 1.7),
        "depth": (15, 55_000.0, 0.65, 3.3),
    }
    assert d.on_trade(5 * S, 100.0, 1.0, True)
    assert d.readings().ts_ns == 3 * S  # a second closed after the reload reads the new thresholds
    assert {i: r.threshold for i, r in d.readings().by_indicator.items()} == {
        **OTHER_THRESHOLDS,
        Indicator.PATTERN: 3.0,  # pattern_min_candles is a size: kept
    }


def test_book_indicators_go_stale_five_seconds_after_the_last_book() -> None:
    """A book at 1 s is read by the seconds ending at 2 s to 6 s (5 s old: still fresh), not by the
    one ending at 7 s and later."""
    d = Detector(CFG)
    got = Seconds(d)
    got.ok(d.on_book(snap(S, ((99.0, 3.0),), ((101.0, 1.0),))))
    for sec in range(1, 15):
        got.ok(d.on_trade(sec * S + 1, 100.0, 1.0, True))
    ready = {end: r[Indicator.OBI].ready for end, r in got.by_end.items()}
    assert ready == {end: end <= 6 for end in range(2, 13)}
    assert got.by_end[2][Indicator.OBI].value == 0.5 and got.by_end[2].liquidity_usd == 99.0 * 3 + 101.0
    assert got.by_end[6][Indicator.LIQUIDITY].ready and not got.by_end[7][Indicator.LIQUIDITY].ready
    assert math.isnan(got.by_end[12].liquidity_usd)


def test_spread_reads_the_best_bid_and_ask() -> None:
    """The spread is of the touch: bids 99, 98, asks 101, 103 are (101 - 99) / 100 = 2 %; a second
    later bids 98, 90, asks 102, 103 are 4 %: twice the first (a baseline of one second)."""
    d = Detector(dataclasses.replace(CFG, baseline_secs=10, warmup_secs=1))
    assert taken(d, d.on_book(snap(S, ((99.0, 1.0), (98.0, 1.0)), ((101.0, 1.0), (103.0, 1.0)))))
    assert d.on_book(snap(2 * S, ((98.0, 1.0), (90.0, 1.0)), ((102.0, 1.0), (103.0, 1.0))))
    for sec in range(3, 6):  # release the books and close their seconds
        assert d.on_trade(sec * S, 100.0, 1.0, True)
    r = d.readings()
    assert r.ts_ns == 3 * S and r[SP].ready
    assert r[SP].value == 2.0 and r.spread_ratio == 2.0


def test_volume_delta_is_buys_minus_sells() -> None:
    """Aggressive buys add their notional, aggressive sells take it away: after a second of +100 and
    one of -100 (a baseline of mean 0 and deviation 100), a buy of 3 x 100 and a sell of 5 x 100 in
    one second are a delta of -200: z = -2."""
    d = Detector(dataclasses.replace(CFG, baseline_secs=10, warmup_secs=2, volume_delta_window_secs=1))
    assert taken(d, d.on_trade(S + 1, 100.0, 1.0, True))
    assert d.on_trade(2 * S + 1, 100.0, 1.0, False)
    assert d.on_trade(3 * S + 1, 100.0, 3.0, True)
    assert d.on_trade(3 * S + 2, 100.0, 5.0, False)
    for sec in range(4, 7):  # no quantity: release and close second 3
        assert d.on_trade(sec * S, 100.0, 0.0, True)
    r = d.readings()
    assert r.ts_ns == 4 * S and r[VD].ready
    assert r[VD].value == -2.0 and not r[VD].fired


def test_flush_closes_the_last_second() -> None:
    """After `flush` the readings are those of the end of the last second with an event."""
    d = Detector(CFG)
    for sec in range(1, 6):
        assert taken(d, d.on_trade(sec * S + S // 2, 100.0, 1.0, True))
    d.flush()
    assert d.readings().ts_ns == 6 * S


def test_a_pattern_is_read_only_in_the_second_its_last_candle_closes() -> None:
    """Three candles of selling exhaustion (seconds 1-3, from trades), then books only: the pattern
    is in the readings of second 3 (ending at 4 s), with its length, and in none after it."""
    d = Detector(CFG)
    got = Seconds(d)
    for sec, (o, low, cl) in enumerate(((10.0, 8.5, 9.0), (9.0, 7.6, 8.2), (8.2, 6.8, 7.6)), start=1):
        for k, px in enumerate((o, low, cl)):
            got.ok(d.on_trade(sec * S + (k + 1) * S // 10, px, 1.0, False))
    for sec in range(4, 12):
        got.ok(d.on_book(snap(sec * S, ((7.5, 1.0),), ((7.7, 1.0),))))
    assert set(got.by_end) == set(range(2, 10))
    assert not any(got.by_end[e][Indicator.PATTERN].fired for e in (2, 3))
    assert got.by_end[4].pattern is Pattern.SELLING_EXHAUSTION
    assert got.by_end[4][Indicator.PATTERN].fired and got.by_end[4][Indicator.PATTERN].value == 3.0
    assert all(
        got.by_end[e].pattern is Pattern.NONE and not got.by_end[e][Indicator.PATTERN].fired
        for e in range(5, 10)
    )


def test_on_candle_hands_back_each_new_transition_once() -> None:
    d = Detector(CFG)
    t = d.shutdown(5 * S, "test")
    assert d.on_candle(None) == t  # type: ignore[arg-type]
    assert d.on_candle(None) is None  # type: ignore[arg-type]
