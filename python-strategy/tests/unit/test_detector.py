"""The detector's state machine on hand-made readings, and the detector's API."""

from __future__ import annotations

import dataclasses
import logging
import math

import pytest

from flashcrash import wire
from flashcrash.config import EventDetectionConfig
from flashcrash.event_detector import CORE, Detector, Indicator, Pattern, Reading, Readings, State
from flashcrash.event_detector.machine import StateMachine

S = 1_000_000_000
CFG = EventDetectionConfig()


def readings(sec: int, fired: set[Indicator]) -> Readings:
    by = {i: Reading(i, 1.0, 1.0, i in fired, 1.0 if i in fired else 0.0) for i in Indicator}
    return Readings(sec * S, by, Pattern.NONE, math.nan, math.nan)


def drive(seq: list[set[Indicator]], cfg: EventDetectionConfig = CFG) -> tuple[list[State], StateMachine]:
    m = StateMachine(cfg)
    out = []
    for sec, fired in enumerate(seq):
        m.step(readings(sec, fired))
        out.append(m.state)
    return out, m


V, A, OB, SP, VD, MV = (
    Indicator.VOLATILITY,
    Indicator.ACCELERATION,
    Indicator.OBI,
    Indicator.SPREAD,
    Indicator.VOLUME_DELTA,
    Indicator.MESSAGE_VELOCITY,
)


def test_calm_sleeps() -> None:
    assert set(drive([set()] * 100)[0]) == {State.SLEEP}


def test_three_core_for_more_than_two_seconds_activates() -> None:
    s, m = drive([set(), {V, A, VD}, {V, A, VD}, {V, A, VD}, {V, A, VD}])
    assert s == [State.SLEEP, State.ALERT, State.ALERT, State.ALERT, State.ACTIVE]
    assert "3/5 core fired" in m.transitions[-1].reason


def test_two_seconds_are_not_enough() -> None:
    # two seconds of quorum, held one more by the jitter window: 2 s, not more than 2 s
    s, _ = drive([{V, A, VD}] * 2 + [set()] * 3)
    assert State.ACTIVE not in s


def test_velocity_spike_lowers_the_quorum_to_two() -> None:
    assert State.ACTIVE not in drive([{V, SP}] * 6)[0]
    assert drive([{V, SP, MV}] * 6)[0][-1] is State.ACTIVE


def test_a_quorum_needs_a_price_indicator() -> None:
    # Order flow and the book alone (no volatility, no acceleration): not even an alert. On the
    # 10 Oct 2025 files every calm-hour false ACTIVE was spread + volume delta + a velocity spike.
    for fired in ({SP, VD, MV}, {SP, VD, OB}, {SP, VD, OB, MV}):
        s, _ = drive([fired] * 20)
        assert set(s) == {State.SLEEP}
    # one price indicator with the others makes the quorum
    assert drive([{A, VD, MV}] * 6)[0][-1] is State.ACTIVE
    assert drive([{V, SP, VD}] * 6)[0][-1] is State.ACTIVE
    assert drive([{V, A, OB}] * 6)[0][-1] is State.ACTIVE
    # quorum_needs_price = false: any three (two in a spike) count, as before issue 5
    anyone = dataclasses.replace(CFG, quorum_needs_price=False)
    assert drive([{SP, VD, MV}] * 6, anyone)[0][-1] is State.ACTIVE
    assert drive([{SP, VD, OB}] * 6, anyone)[0][-1] is State.ACTIVE


def test_the_alert_level_is_a_price_indicator() -> None:
    # what could start a quorum wakes the detector; volume delta or spread alone (3-23 % of the calm
    # seconds of the 10 Oct 2025 files) does not
    for one in (V, A):
        assert drive([{one}])[0] == [State.ALERT]
    for one in (OB, SP, VD, MV):
        assert drive([{one}] * 5)[0] == [State.SLEEP] * 5
    # once awake, the detector stays alert while any core indicator fires (hysteresis)
    s, _ = drive([{A}] + [{SP, VD}] * (CFG.recovery_confirm_secs + 2))
    assert set(s) == {State.ALERT}
    # quorum_needs_price = false: any core indicator is the alert level
    anyone = dataclasses.replace(CFG, quorum_needs_price=False)
    assert drive([{VD}], anyone)[0] == [State.ALERT]


def test_recovery_needs_a_price_indicator_to_reactivate() -> None:
    s, _ = drive([{V, A, VD}] * 5 + [set()] * 8 + [{SP, VD, MV}] * 6)
    assert s[4] is State.ACTIVE and s[-1] is State.RECOVERY


def test_one_second_gap_is_absorbed_by_the_jitter_window() -> None:
    s, _ = drive([{V, A, VD}, {V, A, VD}, {V, A}, {V, A, VD}, {V, A, VD}])
    assert s[-1] is State.ACTIVE


def test_recovery_then_sleep() -> None:
    q = {V, A, VD}
    seq = [q] * 5 + [{V}] * 6 + [set()] * (CFG.recovery_confirm_secs + 2)
    s, m = drive(seq)
    assert s[4] is State.ACTIVE
    i = s.index(State.RECOVERY)
    assert i == 5 + 1 + CFG.active_hold_secs  # the jitter window holds the quorum one more second
    assert s[-1] is State.SLEEP
    assert [t.current for t in m.transitions] == [State.ALERT, State.ACTIVE, State.RECOVERY, State.SLEEP]
    assert all(t.reason for t in m.transitions)


def test_recovery_sleeps_exactly_recovery_confirm_secs_after_the_last_core_indicator() -> None:
    rc, q = CFG.recovery_confirm_secs, {V, A, VD}
    # V fires last at 10 s; the jitter window counts it at 11 s too (the second RECOVERY begins).
    # The first second without a core indicator is 12 s: SLEEP at 12 + rc, not a second earlier.
    s, m = drive([q] * 5 + [{V}] * 6 + [set()] * (rc + 20))
    assert s[11] is State.RECOVERY and m.transitions[2].ts_ns == 11 * S
    assert set(s[11 : 12 + rc]) == {State.RECOVERY}
    assert set(s[12 + rc :]) == {State.SLEEP}
    assert m.transitions[-1].current is State.SLEEP and m.transitions[-1].ts_ns == (12 + rc) * S
    # Any core indicator (spread alone, no quorum) restarts the wait: SLEEP rc after its last count.
    s, m = drive([q] * 5 + [set()] * 20 + [{SP}] + [set()] * (rc + 20))
    assert s[11] is State.RECOVERY and s[12 + rc] is State.RECOVERY
    assert set(s[11 : 27 + rc]) == {State.RECOVERY} and set(s[27 + rc :]) == {State.SLEEP}
    assert m.transitions[-1].ts_ns == (27 + rc) * S


def test_recovery_reactivates() -> None:
    q = {V, A, VD}
    s, _ = drive([q] * 5 + [set()] * 8 + [q] * 5)
    assert State.RECOVERY in s and s[-1] is State.ACTIVE


def test_alert_falls_asleep_after_calm() -> None:
    # the jitter window holds {V} one more second, then 30 s of calm
    s, _ = drive([{V}] + [set()] * (CFG.recovery_confirm_secs + 2))
    assert s[0] is State.ALERT and s[-1] is State.SLEEP


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
        assert d.on_book(wire.OrderBookSnapshot("X", ts, ts, i, ((99.0, 5.0),), ((101.0, 5.0),)))
        assert d.on_trade(ts + 1, 100.0, 1.0, i % 2 == 0)
    assert not d.on_trade(10 * S, float("nan"), 1.0, True)
    r = d.readings()
    assert r.ts_ns > 0 and r[Indicator.OBI].ready and r[Indicator.OBI].value == 0.0
    assert math.isclose(r.liquidity_usd, 99.0 * 5 + 101.0 * 5)
    assert d.state is State.SLEEP and d.on_candle(None) is None  # type: ignore[arg-type]
    t = d.shutdown(r.ts_ns, "test")
    assert d.state is State.SHUTDOWN and d.transitions[-1] is t


def _velocity_second(cfg: EventDetectionConfig) -> float:
    """Messages counted in the first second: ten books (the touch moves twice) and two trades."""
    d = Detector(cfg)
    touches = [(99.0, 101.0)] * 5 + [(99.0, 102.0)] * 4 + [(98.0, 102.0)]
    for i, (bid, ask) in enumerate(touches):
        ts = S + i * S // 10
        assert d.on_book(wire.OrderBookSnapshot("X", ts, ts, i, ((bid, 5.0), (bid - 1, 5.0)), ((ask, 5.0),)))
        if i in (2, 7):
            assert d.on_trade(ts + 1, 100.0, 1.0, True)
    for k in range(2, 6):  # later seconds release the first and close it
        assert d.on_trade(k * S, 100.0, 1.0, False)
    return d.velocity.counts.recent.items[0]


def test_velocity_counts_trades_and_the_books_that_move_the_touch() -> None:
    # the first book sets the touch (1), two books move it (2), eight repeat it (0); two trades (2)
    assert _velocity_second(CFG) == 5
    # velocity_touch_only = false: every book counts
    assert _velocity_second(dataclasses.replace(CFG, velocity_touch_only=False)) == 12


def test_baselines_pause_while_any_core_indicator_fires_and_learn_a_stir_longer_than_the_window() -> None:
    # A stir (any core indicator, price or not) pauses learning until recovery_confirm_secs without
    # one, or until it has lasted baseline_secs (a new regime); volume delta alone stays SLEEP.
    calm, base = CFG.recovery_confirm_secs, CFG.baseline_secs
    s, m = drive([set(), {VD}] + [set()] * (calm + 1))  # the jitter window holds VD one more second
    assert set(s) == {State.SLEEP} and not m.learns((calm + 2) * S)  # 29 s without
    m.step(readings(calm + 3, set()))
    assert m.learns((calm + 3) * S)
    s, m = drive([set()] + [{VD}] * (base + 1))
    assert set(s) == {State.SLEEP}
    assert not m.learns(base * S) and m.learns((base + 1) * S)
    # ACTIVE never learns; RECOVERY learns once it has lasted baseline_secs
    m = StateMachine(CFG)
    for state, learns_late in ((State.RECOVERY, True), (State.ACTIVE, False)):
        m.state, m.since = state, 1_000 * S
        assert not m.learns(1_000 * S + base * S - 1), state
        assert m.learns(1_000 * S + base * S) is learns_late, state


# ------------------------------------------------------------------------------------------------
# Timings and quorums from the configuration, resuming after an outage, what a transition says, and
# the detector's wiring (mutation audit).

Q4 = {V, A, OB, VD}
OTHER = dataclasses.replace(
    CFG,
    active_confirm_secs=4.0,
    active_hold_secs=3,
    recovery_confirm_secs=10,
    core_quorum=4,
    core_quorum_velocity=3,
)


def test_the_quorums_come_from_the_configuration() -> None:
    """core_quorum 4: three core indicators are not enough; core_quorum_velocity 3: two with a
    velocity spike are not, three are."""
    assert State.ACTIVE not in drive([{V, A, VD}] * 10, OTHER)[0]
    assert State.ACTIVE not in drive([{V, A, MV}] * 10, OTHER)[0]
    assert drive([{V, A, VD, MV}] * 10, OTHER)[0][-1] is State.ACTIVE
    assert drive([Q4] * 10, OTHER)[0][-1] is State.ACTIVE


def test_the_timings_come_from_the_configuration() -> None:
    """active_confirm_secs 4: the quorum from 0 s is held more than 4 s at 5 s (ACTIVE then, not at
    3 s). active_hold_secs 3: the quorum last counts at 6 s (the jitter window's second tick), is
    lost from 7 s, RECOVERY at 7 + 3 = 10 s. recovery_confirm_secs 10: RECOVERY's first second
    without a core indicator is 11 s, SLEEP at 11 + 10 = 21 s."""
    _, m = drive([Q4] * 6 + [set()] * 30, OTHER)
    assert [(t.ts_ns // S, t.current) for t in m.transitions] == [
        (0, State.ALERT),
        (5, State.ACTIVE),
        (10, State.RECOVERY),
        (21, State.SLEEP),
    ]
    # ALERT -> SLEEP after recovery_confirm_secs of calm: V at 0 s, counted at 1 s, calm from 2 s.
    _, m = drive([{V}] + [set()] * 30, OTHER)
    assert [(t.ts_ns // S, t.current) for t in m.transitions] == [(0, State.ALERT), (12, State.SLEEP)]


def test_the_jitter_window_follows_jitter_buffer_ms() -> None:
    """The quorum counts an indicator fired at any of the last ceil(jitter_buffer_ms / 1000) ticks:
    with 1000 ms a one-second gap breaks the quorum (restarting its 2-s hold), with 3000 ms a two-
    second gap does not."""
    gap1 = [{V, A, VD}] * 2 + [{V, A}] + [{V, A, VD}] * 3
    s, _ = drive(gap1, dataclasses.replace(CFG, jitter_buffer_ms=1000))
    assert State.ACTIVE not in s
    assert drive(gap1, CFG)[0][3] is State.ACTIVE  # 1500 ms: two ticks, the gap is absorbed
    gap2 = [{V, A, VD}] * 2 + [{V, A}] * 2 + [{V, A, VD}]
    assert drive(gap2, dataclasses.replace(CFG, jitter_buffer_ms=3000))[0][3] is State.ACTIVE


def test_the_quorum_hold_restarts_when_the_quorum_is_lost() -> None:
    """Two seconds of quorum, three without, one with: the hold counts from the new quorum, not the
    first one (no ACTIVE)."""
    s, _ = drive([{V, A, VD}] * 2 + [{V}] * 3 + [{V, A, VD}] * 3)
    assert State.ACTIVE not in s


def test_a_reactivation_needs_the_full_hold_again_before_recovery() -> None:
    """ACTIVE -> RECOVERY -> ACTIVE, then the quorum drops: RECOVERY again only active_hold_secs
    after this loss, not at once from the timer of the first loss (jitter window of one tick)."""
    one = dataclasses.replace(CFG, jitter_buffer_ms=1000)
    q = {V, A, VD}
    _, m = drive([q] * 4 + [set()] * 6 + [q] * 4 + [set()] * 8, one)
    assert [(t.ts_ns // S, t.current) for t in m.transitions] == [
        (0, State.ALERT),
        (3, State.ACTIVE),
        (9, State.RECOVERY),  # lost from 4 s, for 5 s
        (13, State.ACTIVE),  # the quorum from 10 s held more than 2 s
        (19, State.RECOVERY),  # lost from 14 s, for 5 s
    ]


def test_resume_restarts_the_timers_and_the_jitter_window() -> None:
    """After `resume` (a feed outage) a quorum must hold again in observed time, and what fired
    before the outage no longer counts."""
    m = StateMachine(CFG)
    q = {V, A, VD}
    for sec in range(2):
        m.step(readings(sec, q))
    assert m.state is State.ALERT
    m.resume()
    m.step(readings(10, set()))
    assert m.counted == frozenset() and m.state is State.ALERT
    m = StateMachine(CFG)
    for sec in range(2):
        m.step(readings(sec, q))
    m.resume()
    for sec in (10, 11):  # held 1 s after the outage (3 s counting the seconds before it)
        m.step(readings(sec, q))
    assert m.state is State.ALERT
    m.step(readings(13, q))  # held 3 s from 10 s
    assert m.state is State.ACTIVE


def test_every_transition_is_logged_with_its_reason(caplog: pytest.LogCaptureFixture) -> None:
    """Each transition names the indicators counted, and is logged (INFO) with that reason."""
    with caplog.at_level(logging.INFO, logger="flashcrash.event_detector.detector"):
        _, m = drive([{V}, {V, A, VD}, {V, A, VD}, {V, A, VD}, {V, A, VD}])
    assert [t.reason for t in m.transitions] == [
        "alert level: 1/5 core fired (volatility 1)",
        "quorum held 3s: 3/5 core fired (volatility 1, acceleration 1, volume_delta 1)",
    ]
    logged = [r.getMessage() for r in caplog.records if r.name == "flashcrash.event_detector.detector"]
    assert logged == [f"detector {t.previous} -> {t.current}: {t.reason}" for t in m.transitions]
    _, m = drive([{V, SP, MV}] * 4)
    assert (
        m.transitions[-1].reason
        == "quorum held 3s: 2/5 core fired (volatility 1, spread 1); velocity spike 1x"
    )


def test_core_fired_counts_only_the_five_core_indicators() -> None:
    """Velocity, pattern and liquidity firing do not count as core indicators."""
    r = readings(0, {V, SP, MV, Indicator.PATTERN, Indicator.LIQUIDITY})
    assert r.core_fired() == 2


def test_the_detector_takes_every_threshold_from_its_configuration() -> None:
    """Each `[event_detection]` value reaches the component that uses it (none is a default)."""
    cfg = EventDetectionConfig(
        jitter_buffer_ms=700, baseline_secs=120, warmup_secs=30, volatility_window_secs=7,
        volatility_ratio=6.5, volatility_floor_bps=33.0, acceleration_span_secs=4,
        acceleration_bps_per_s2=9.5, obi_levels=7, obi_threshold=0.45, spread_ratio=3.5,
        volume_delta_window_secs=8, volume_delta_z=4.5, velocity_window_secs=6, velocity_ratio=2.5,
        velocity_min_per_sec=12.0, pattern_min_candles=2, pattern_max_candles=6,
        exhaustion_wick_pct=21.0, exhaustion_wick_growth_pct=11.0, climax_wick_pct=22.0,
        climax_volume_ratio=1.7, depth_levels=15, liquidity_min_usd=55_000.0, extreme_imbalance=0.65,
        wall_ratio=3.3,
    )  # fmt: skip
    d = Detector(cfg)
    assert d.guard.jitter_ns == d._buffer.delay_ns == 700_000_000
    v = d.volatility
    assert (v.returns.recent.size, v.returns.baseline.size, v.warmup) == (7, 120, 30)
    assert (v.ratio, v.floor_bps) == (6.5, 33.0)
    assert (d.acceleration.span, d.acceleration.threshold) == (4, 9.5)
    assert (d.obi.levels, d.obi.threshold) == (7, 0.45)
    assert (d.spread.samples.baseline.size, d.spread.warmup, d.spread.threshold) == (120, 30, 3.5)
    vd = d.volume_delta
    assert (vd.per_second.size, vd.sums.recent.size, vd.sums.baseline.size, vd.threshold) == (8, 8, 120, 4.5)
    mv = d.velocity
    assert (mv.counts.recent.size, mv.counts.baseline.size, mv.warmup) == (6, 120, 30)
    assert (mv.ratio, mv.min_per_sec) == (2.5, 12.0)
    p = d.patterns
    assert (p.min, p.max, p.ex_wick, p.ex_growth, p.cl_wick, p.cl_volume) == (2, 6, 21.0, 11.0, 22.0, 1.7)
    dp = d.depth
    assert (dp.levels, dp.min_usd, dp.extreme, dp.wall_ratio) == (15, 55_000.0, 0.65, 3.3)


def recorded(d: Detector) -> list[Readings]:
    """The readings of every second the detector closes, in order."""
    out: list[Readings] = []
    step = d._machine.step

    def spy(r: Readings) -> object:
        out.append(r)
        return step(r)

    d._machine.step = spy  # type: ignore[method-assign]
    return out


def snap(ts: int, bids: wire.Levels, asks: wire.Levels) -> wire.OrderBookSnapshot:
    return wire.OrderBookSnapshot("X", ts, ts, 1, bids, asks)


def test_book_indicators_go_stale_five_seconds_after_the_last_book() -> None:
    """A book at 1 s is read by the seconds ending at 2 s to 6 s (5 s old: still fresh), not by the
    one ending at 7 s and later."""
    d = Detector(CFG)
    got = recorded(d)
    assert d.on_book(snap(S, ((99.0, 3.0),), ((101.0, 1.0),)))
    for sec in range(1, 12):
        assert d.on_trade(sec * S + 1, 100.0, 1.0, True)
    d.flush()
    ready = {r.ts_ns // S: r[Indicator.OBI].ready for r in got}
    assert ready == {sec: sec <= 6 for sec in range(2, 13)}
    assert got[0][Indicator.OBI].value == 0.5 and got[0].liquidity_usd == 99.0 * 3 + 101.0
    assert math.isnan(got[-1].liquidity_usd)


def test_spread_reads_the_best_bid_and_ask() -> None:
    """The spread is of the touch: bids 99, 98, asks 101, 103 -> (101 - 99) / 100."""
    d = Detector(CFG)
    assert d.on_book(snap(S, ((99.0, 1.0), (98.0, 1.0)), ((101.0, 1.0), (103.0, 1.0))))
    d.flush()
    assert d.spread.current == 0.02


def test_volume_delta_is_buys_minus_sells() -> None:
    """Aggressive buys add their notional, aggressive sells take it away: a buy of 3 x 100 and a
    sell of 5 x 100 in one second are a delta of -200."""
    d = Detector(CFG)
    assert d.on_trade(S + 1, 100.0, 3.0, True)
    assert d.on_trade(S + 2, 100.0, 5.0, False)
    d.flush()
    assert list(d.volume_delta.per_second.items) == [-200.0]


def test_flush_closes_the_last_second() -> None:
    """After `flush` the readings are those of the end of the last second with an event."""
    d = Detector(CFG)
    for sec in range(1, 6):
        assert d.on_trade(sec * S + S // 2, 100.0, 1.0, True)
    d.flush()
    assert d.readings().ts_ns == 6 * S


def test_a_pattern_is_read_only_in_the_second_its_last_candle_closes() -> None:
    """Three candles of selling exhaustion (seconds 1-3, from trades), then books only: the pattern
    is in the readings of second 3 (ending at 4 s), with its length, and in none after it."""
    d = Detector(CFG)
    got = recorded(d)
    for sec, (o, low, cl) in enumerate(((10.0, 8.5, 9.0), (9.0, 7.6, 8.2), (8.2, 6.8, 7.6)), start=1):
        for k, px in enumerate((o, low, cl)):
            assert d.on_trade(sec * S + (k + 1) * S // 10, px, 1.0, False)
    for sec in range(4, 9):
        assert d.on_book(snap(sec * S, ((7.5, 1.0),), ((7.7, 1.0),)))
    d.flush()
    by_end = {r.ts_ns // S: r for r in got}
    assert by_end[4].pattern is Pattern.SELLING_EXHAUSTION
    assert by_end[4][Indicator.PATTERN].fired and by_end[4][Indicator.PATTERN].value == 3.0
    assert all(
        by_end[e].pattern is Pattern.NONE and not by_end[e][Indicator.PATTERN].fired for e in range(5, 10)
    )


def test_on_candle_hands_back_each_new_transition_once() -> None:
    d = Detector(CFG)
    t = d.shutdown(5 * S, "test")
    assert d.on_candle(None) is t  # type: ignore[arg-type]
    assert d.on_candle(None) is None  # type: ignore[arg-type]
