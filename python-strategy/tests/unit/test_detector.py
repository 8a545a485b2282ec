"""The detector's state machine on hand-made readings, and the detector's API."""

from __future__ import annotations

import dataclasses
import math

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
