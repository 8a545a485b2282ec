"""The percentile strategy on hand-made candles and readings: entry and exit prices, every check of an
entry (cooldowns, score, volume, positions, emergency stops, breaker), every exit, and the accounting of
several positions. Orders are answered by hand as the engine would."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from trading_fixtures import (
    ACTIVE,
    GOOD,
    D,
    Outbox,
    S,
    canceled,
    candle,
    enter,
    error,
    execution,
    health,
    make,
    placed,
    readings,
    respond,
    setup_window,
    stop_loss_into_a_thin_bid,
)

from flashcrash import wire
from flashcrash.config import RiskConfig, StrategyConfig
from flashcrash.event_detector import State
from flashcrash.event_detector.readings import Pattern
from flashcrash.trading_engine import PercentileStrategy, Position
from flashcrash.trading_engine.breaker import BreakerState
from flashcrash.trading_engine.cooldown import Cooldown
from flashcrash.trading_engine.portfolio import Phase


def test_limit_entry_at_low_plus_0_2_range_and_resting_target_at_0_8() -> None:
    st, out = make()
    setup_window(st)
    assert st.decisions["taken"] == 1 and len(out.orders) == 1
    buy = out.orders[0]
    assert (buy.side, buy.order_type, buy.time_in_force) == ("BUY", "LIMIT", "GTC")
    assert buy.price == D("0.2010") and buy.quantity == D("100")
    target = enter_fill(st, buy)
    assert (target.side, target.order_type, target.price, target.quantity) == (
        "SELL",
        "LIMIT",
        D("0.2040"),
        D("100"),
    )
    respond(st, placed(target))
    trade = None
    respond(st, execution(target, "0.2040", "100", 2, fee="0.0204"), 9 * S)
    trade = st.position.closed[-1]
    # 100 x (0.2040 - 0.2010) - fees 0.0201 - 0.0204 = 0.2595
    assert trade.pnl == D("0.2595") and trade.exit_reason == "target"
    assert trade.entry_score == 100 and trade.entry_reason == "percentile excellent"
    assert trade.fees == D("0.0405") and trade.hold_secs == 5.5
    assert st.position.realized == D("0.2595") and not st.position.lots
    assert st.entries == [(int(3.5 * S), 0.201)] and st.exits == [(9 * S, 0.204)]


def enter_fill(st: PercentileStrategy, buy: wire.PlaceOrder) -> wire.PlaceOrder:
    respond(st, placed(buy))
    respond(st, execution(buy, "0.2010", "100", 1, fee="0.0201"), int(3.5 * S))
    return st.orders.orders[st.position.lots[buy.client_order_id].target_coid].cmd


def test_no_decision_outside_active_or_recovery_and_no_entry_on_bearish() -> None:
    st, out = make()
    st.on_candle(candle(1, 0.2010, 0.2010, 0.2000, 0.2005), State.SLEEP, GOOD, 0)
    st.on_candle(candle(2, 0.2005, 0.2050, 0.2004, 0.2050, 5000), State.ALERT, GOOD, 0)
    assert out.orders == [] and sum(st.decisions.values()) == 0
    st.on_candle(candle(3, 0.2050, 0.2050, 0.2010, 0.2020, 5000), ACTIVE, GOOD, 0)
    assert st.decisions == {"rejected_not_bullish": 1}
    st.on_candle(candle(4, 0.2020, 0.2060, 0.2020, 0.2060, 5000), State.RECOVERY, GOOD, 0)
    assert st.decisions["taken"] == 1


def test_score_below_the_band_is_rejected_unless_selling_exhaustion() -> None:
    st, out = make()
    st.on_candle(candle(1, 0.2010, 0.2010, 0.2000, 0.2005), ACTIVE, readings(0.65), 0)
    st.on_candle(candle(2, 0.2005, 0.2050, 0.2004, 0.2050, 5000), ACTIVE, readings(0.65), 0)
    assert st.decisions["rejected_score"] == 1 and out.orders == []
    exhausted = readings(0.65, pattern=Pattern.SELLING_EXHAUSTION)
    st.on_candle(candle(3, 0.2050, 0.2060, 0.2040, 0.2060, 5000), ACTIVE, exhausted, 0)
    assert st.decisions["taken"] == 1 and st.decisions["taken_good"] == 1


def test_volume_must_beat_twice_the_average_and_the_minimum() -> None:
    st, _ = make()
    for k in range(60):
        st.on_candle(candle(k, 0.2, 0.2, 0.2, 0.2, 3000), ACTIVE, GOOD, 0)  # average 3000/s
    st.on_candle(candle(60, 0.2010, 0.2010, 0.2000, 0.2005, 3000), ACTIVE, GOOD, 0)
    st.on_candle(candle(61, 0.2005, 0.2050, 0.2004, 0.2050, 6000), ACTIVE, GOOD, 0)  # exactly 2x
    assert st.decisions["rejected_volume"] == 1
    st.on_candle(candle(62, 0.2005, 0.2050, 0.2004, 0.2050, 6200), ACTIVE, GOOD, 0)  # average now 3050
    assert st.decisions["taken"] == 1
    st2, _ = make()
    st2.on_candle(candle(1, 0.2010, 0.2010, 0.2000, 0.2005, 1), ACTIVE, GOOD, 0)
    st2.on_candle(candle(2, 0.2005, 0.2050, 0.2004, 0.2050, 900), ACTIVE, GOOD, 0)  # 184.5 < 200 quote
    assert st2.decisions["rejected_volume"] == 1


def test_entry_cooldown_5s_and_loss_cooldown_10s() -> None:
    st, out = make(exit_on_bearish_candle=False)
    setup_window(st)  # entry decided at 3 s
    st.on_candle(candle(3, 0.2050, 0.2070, 0.2050, 0.2070, 9000), ACTIVE, GOOD, 0)
    assert st.decisions["rejected_cooldown"] == 1
    st.on_candle(candle(7, 0.2050, 0.2080, 0.2050, 0.2080, 9000), ACTIVE, GOOD, 0)  # closes at 8 s
    assert st.decisions["taken"] == 2
    # A losing trade: the first lot's stop loss at 9 s event time.
    buy = out.orders[0]
    respond(st, placed(buy))
    respond(st, execution(buy, "0.2010", "100", 1), 8 * S)
    target = out.orders[-1]
    st.on_price(9 * S, 0.1950, 0)
    respond(st, canceled(out.of(wire.CancelOrder)[-1]))
    sell = out.orders[-1]
    assert sell.order_type == "MARKET" and sell.client_order_id != target.client_order_id
    respond(st, execution(sell, "0.1950", "100", 2), 9 * S)
    assert st.position.closed[-1].pnl < 0
    st.on_candle(candle(17, 0.2050, 0.2090, 0.2050, 0.2090, 9000), ACTIVE, GOOD, 0)  # 18 s < 19 s
    assert st.decisions["rejected_cooldown"] == 2
    st.on_candle(candle(18, 0.2050, 0.2095, 0.2050, 0.2095, 9000), ACTIVE, GOOD, 0)  # 19 s
    assert st.decisions["taken"] == 3


def test_at_most_three_positions() -> None:
    st, out = make(entry_cooldown_secs=0)
    setup_window(st)
    for k in range(3, 6):
        st.on_candle(candle(k, 0.2050, 0.2050 + k / 10000, 0.2050, 0.2050 + k / 10000, 9000), ACTIVE, GOOD, 0)
    assert st.decisions["taken"] == 3 and st.decisions["rejected_risk_max_positions"] == 1
    assert len(out.orders) == 3 and len({o.client_order_id for o in out.orders}) == 3


def test_several_positions_are_accounted_separately() -> None:
    st, out = make(entry_cooldown_secs=0)
    setup_window(st)
    st.on_candle(candle(3, 0.2050, 0.2100, 0.2050, 0.2100, 9000), ACTIVE, GOOD, 0)  # entry 0.2020
    b1, b2 = out.orders
    assert b2.price == D("0.2020")
    respond(st, execution(b1, "0.2010", "100", 1, fee="0.02"), 4 * S)
    respond(st, execution(b2, "0.2020", "100", 2, fee="0.02"), 4 * S)
    t1, t2 = out.orders[2:]
    assert (t1.price, t2.price) == (D("0.2040"), D("0.2080"))
    assert st.position.quantity == D("200")
    respond(st, execution(t2, "0.2080", "100", 3, fee="0.02"), 6 * S)
    assert len(st.position.closed) == 1 and st.position.closed[0].pnl == D("0.56")
    assert st.position.quantity == D("100")
    assert st.position.realized == D("0.56") - D("0.02")  # the open lot's buy fee is spent already


def test_resting_entry_canceled_after_max_wait_new_low_or_detector_asleep() -> None:
    st, out = make(entry_max_wait_secs=5)
    setup_window(st)  # decided at 3 s
    st.on_price(7 * S, 0.2030, 0)
    assert out.of(wire.CancelOrder) == []
    st.on_price(8 * S, 0.2030, 0)
    assert len(out.of(wire.CancelOrder)) == 1
    assert st.decisions["entry_canceled_max_wait"] == 0  # counted once the cancel is confirmed
    respond(st, canceled(out.of(wire.CancelOrder)[0]))
    assert not st.position.lots and st.decisions["entry_canceled_unfilled"] == 1
    assert st.decisions["entry_canceled_max_wait"] == 1

    st, out = make()
    setup_window(st)
    st.on_candle(candle(3, 0.2010, 0.2010, 0.1990, 0.1995), ACTIVE, GOOD, 0)
    respond(st, canceled(out.of(wire.CancelOrder)[-1]))
    assert st.decisions["entry_canceled_new"] == 1

    st, out = make()
    setup_window(st)
    st.on_price(4 * S, 0.2060, 0)  # above the target: still waiting for the pullback
    st.on_candle(candle(4, 0.2050, 0.2060, 0.2050, 0.2060), State.SLEEP, GOOD, 0)
    respond(st, canceled(out.of(wire.CancelOrder)[-1]))
    assert st.decisions["entry_canceled_detector"] == 1


def test_a_new_event_plans_from_its_own_low_not_from_an_old_crash() -> None:
    """A crash to 0.20, the price back at 0.30 a thousand seconds of SLEEP later, then a new event's
    dip to 0.27: its window is that of the new event (low 0.27, high 0.30), so the limit buy rests
    at 0.2760, not at 0.2200 from the old crash's low, far under a market that never goes back."""
    st, out = make()
    st.on_candle(candle(1, 0.2100, 0.2100, 0.2000, 0.2010), ACTIVE, GOOD, 0)  # the old crash's low
    for k in range(2, 1002):
        p = round(0.2 + 0.1 * (k - 1) / 1000, 4)
        st.on_candle(candle(k, p, p, p, p), State.SLEEP, GOOD, 0)
    st.on_candle(candle(1002, 0.3000, 0.3000, 0.2700, 0.2710), ACTIVE, GOOD, 0)  # the detector wakes
    st.on_candle(candle(1003, 0.2710, 0.2800, 0.2705, 0.2800, 50000), ACTIVE, GOOD, 0)
    assert (st.window.low, st.window.high) == (0.27, 0.30)
    assert [o.price for o in out.orders] == [D("0.2760")]


def test_a_new_events_window_keeps_the_seconds_the_detector_took_to_wake() -> None:
    """The detector sees a move a jitter buffer late, over its indicators' windows: the low made a
    few seconds before it woke is the new event's low."""
    st, out = make()
    for k in range(1, 100):
        st.on_candle(candle(k, 0.3000, 0.3000, 0.3000, 0.3000), State.SLEEP, GOOD, 0)
    st.on_candle(candle(100, 0.3000, 0.3000, 0.2700, 0.2710), State.SLEEP, GOOD, 0)  # not seen yet
    st.on_candle(candle(101, 0.2710, 0.2740, 0.2710, 0.2720), State.SLEEP, GOOD, 0)
    st.on_candle(candle(103, 0.2720, 0.2800, 0.2715, 0.2800, 50000), ACTIVE, GOOD, 0)  # awake
    assert (st.window.low, st.window.high) == (0.27, 0.30)
    assert [o.price for o in out.orders] == [D("0.2760")]


def test_the_range_filter_measures_the_signal_candle_against_the_ranges_before_it() -> None:
    """The signal candle's range must reach the 50th percentile of the ranges before it: a candle
    making a new local high (which starts the distribution again) is no exception, and the candle
    does not count itself among them."""
    # Ranges before the signal: 0.0020 x 5 (the new high at 2 s started them). The signal's range of
    # 0.0003 makes a new high.
    st, out = make()
    st.on_candle(candle(1, 0.2010, 0.2010, 0.2000, 0.2005), ACTIVE, GOOD, 0)
    for k in range(2, 7):
        st.on_candle(candle(k, 0.2040, 0.2040, 0.2020, 0.2030), ACTIVE, GOOD, 0)
    st.on_candle(candle(7, 0.2038, 0.2041, 0.2038, 0.2041, 9000), ACTIVE, GOOD, 0)
    assert st.decisions["rejected_range"] == 1 and out.orders == []
    # Ranges before the signal: 0.0020, 0.0005, 0.0005, 0.0020, 0.0020 (p50 0.0020). The signal's
    # range of 0.0010 counted among them would make the p50 its own range, reached.
    st, out = make()
    st.on_candle(candle(1, 0.2010, 0.2010, 0.2000, 0.2005), ACTIVE, GOOD, 0)
    for k, (hi, lo) in enumerate(((0.2040, 0.2020), (0.2035, 0.2030), (0.2035, 0.2030), (0.2040, 0.2020),
                                  (0.2040, 0.2020)), start=2):  # fmt: skip
        st.on_candle(candle(k, hi, hi, lo, lo), ACTIVE, GOOD, 0)
    st.on_candle(candle(7, 0.2025, 0.2035, 0.2025, 0.2035, 9000), ACTIVE, GOOD, 0)
    assert st.decisions["rejected_range"] == 1 and out.orders == []


def exit_by(st: PercentileStrategy, out: Outbox, reason: str) -> None:
    """The target is canceled first; only then a market sell of the position, which closes the trade."""
    cancels = out.of(wire.CancelOrder)
    assert len(cancels) == 1 and out.orders[-1].order_type == "LIMIT"
    respond(st, canceled(cancels[0]))
    sell = out.orders[-1]
    assert (sell.side, sell.order_type, sell.quantity) == ("SELL", "MARKET", D("100"))
    respond(st, execution(sell, "0.2000", "100", 9), 30 * S)
    assert st.position.closed[-1].exit_reason == reason and not st.position.lots


def test_stop_loss() -> None:
    st, out = make()
    enter(st, out)
    st.on_price(4 * S, 0.1981, 0)  # 1.44 % below 0.2010
    st.on_price(int(4.1 * S), 0.1981, 0)
    assert out.of(wire.CancelOrder) == []
    st.on_price(int(4.2 * S), 0.1979, 0)  # 1.54 %
    exit_by(st, out, "stop_loss")


def test_max_hold() -> None:
    st, out = make()
    enter(st, out, fill_ns=4 * S)
    st.on_price(23 * S, 0.2020, 0)
    assert out.of(wire.CancelOrder) == []
    st.on_price(24 * S, 0.2020, 0)
    exit_by(st, out, "max_hold")


def test_gap_against_the_position() -> None:
    st, out = make()
    enter(st, out)
    st.on_price(4 * S, 0.2030, 0)
    st.on_price(4 * S, 0.2028, 0)  # -0.099 %
    assert out.of(wire.CancelOrder) == []
    st.on_price(4 * S, 0.2025, 0)  # -0.148 %
    exit_by(st, out, "gap")


def test_bearish_candle_after_the_entry_second() -> None:
    st, out = make()
    enter(st, out)  # filled at 3.5 s
    st.on_candle(candle(3, 0.2030, 0.2030, 0.2010, 0.2015), ACTIVE, GOOD, 0)  # the entry's own second
    assert out.of(wire.CancelOrder) == []
    st.on_candle(candle(4, 0.2030, 0.2030, 0.2020, 0.2025), ACTIVE, GOOD, 0)
    exit_by(st, out, "bearish_candle")


def test_trailing_stop_from_the_highest_price() -> None:
    st, out = make(trailing_stop=True, trailing_stop_pct=0.5)
    enter(st, out)
    for p in (0.2020, 0.2030, 0.2035, 0.2034, 0.2032, 0.2030, 0.2029, 0.2028, 0.2027, 0.2026):
        st.on_price(4 * S, p, 0)
    assert out.of(wire.CancelOrder) == []  # 0.2026 is 0.44 % under 0.2035
    st.on_price(4 * S, 0.2025, 0)
    st.on_price(4 * S, 0.2024, 0)  # 0.54 %
    exit_by(st, out, "trailing_stop")


def test_target_filling_during_its_cancel_is_never_sold_twice() -> None:
    st, out = make()
    target = enter(st, out)
    st.on_price(4 * S, 0.1970, 0)  # stop loss: cancel the target
    respond(st, execution(target, "0.2040", "100", 5), 5 * S)  # ... but it had filled
    respond(st, error(out.of(wire.CancelOrder)[0], "UNKNOWN_ORDER"))
    assert [o.order_type for o in out.orders] == ["LIMIT", "LIMIT"]  # no market sell
    assert st.position.closed[-1].exit_reason == "target" and not st.position.lots


def test_partial_target_fill_then_exit_sells_the_rest() -> None:
    st, out = make()
    target = enter(st, out)
    respond(st, execution(target, "0.2040", "30", 5, "PARTIALLY_FILLED", cumulative="30"), 4 * S)
    st.on_price(5 * S, 0.1970, 0)
    respond(st, canceled(out.of(wire.CancelOrder)[0], filled="30"))
    sell = out.orders[-1]
    assert sell.order_type == "MARKET" and sell.quantity == D("70")
    respond(st, execution(sell, "0.1970", "70", 6), 5 * S)
    t = st.position.closed[-1]
    assert t.quantity == D("100") and t.exit_reason == "stop_loss"


def test_emergency_stops_pause_and_resume() -> None:
    st, out = make(entry_cooldown_secs=0)
    setup_window(st)
    assert st.decisions["taken"] == 1
    st.on_health(health(latency_ms=600), 0)  # latency over 500 ms: the resting entry goes
    assert len(out.of(wire.CancelOrder)) == 1 and st.stops.paused
    st.on_candle(candle(3, 0.2050, 0.2060, 0.2050, 0.2060, 9000), ACTIVE, GOOD, 0)
    assert st.decisions["rejected_emergency_stop"] == 1
    st.on_health(health(latency_ms=20), 0)
    assert not st.stops.paused
    st.on_candle(candle(4, 0.2050, 0.2070, 0.2050, 0.2070, 9000), ACTIVE, GOOD, 0)
    assert st.decisions["taken"] == 2
    for bad in (readings(spread_ratio=10.5), readings(liquidity_usd=500.0)):
        st.on_candle(candle(5, 0.2050, 0.2080, 0.2050, 0.2080, 9000), ACTIVE, bad, 0)
        assert st.stops.paused and st.decisions["rejected_emergency_stop"] >= 2
    st.on_health(health(state="reconnecting"), 0)
    assert set(st.stops.active) == {"liquidity", "feed"}
    st.on_health(health(), 0)
    st.on_candle(candle(6, 0.2050, 0.2090, 0.2050, 0.2090, 9000), ACTIVE, readings(spread_ratio=math.nan), 0)
    assert not st.stops.paused and st.decisions["taken"] == 3
    assert st.stops.triggered == {"latency": 1, "spread": 1, "liquidity": 1, "feed": 1}


def test_spread_and_liquidity_stops_cancel_the_resting_entry() -> None:
    # As the latency stop does (above): a stop set by a candle's readings cancels the resting entry
    # at once, not only the next entry. The candle makes no new low and the entry is 1 s old, so the
    # stop is the only reason to cancel it.
    for why, bad in (("spread", readings(spread_ratio=10.5)), ("liquidity", readings(liquidity_usd=500.0))):
        st, out = make(entry_cooldown_secs=0)
        setup_window(st)
        buy = out.orders[-1]
        respond(st, placed(buy))
        assert out.of(wire.CancelOrder) == []
        st.on_candle(candle(3, 0.2050, 0.2060, 0.2050, 0.2060, 9000), ACTIVE, bad, 0)
        assert set(st.stops.active) == {why}, why
        cancels = out.of(wire.CancelOrder)
        assert [c.client_order_id for c in cancels] == [buy.client_order_id], why
        assert st.decisions["rejected_emergency_stop"] == 1 and st.decisions["taken"] == 1, why
        respond(st, canceled(cancels[0]))
        assert not st.position.lots, why
        assert st.decisions["entry_canceled_emergency_stop"] == 1, why


def test_emergency_stop_boundaries_are_strict() -> None:
    # Spread exactly max_spread_ratio (10x), latency exactly max_latency_ms (500 ms) and liquidity
    # exactly min_liquidity_usd (100,000) set nothing; just beyond each does.
    at_limit = readings(spread_ratio=10.0, liquidity_usd=100000.0)
    st, out = make(entry_cooldown_secs=0)
    setup_window(st)
    st.on_health(health(latency_ms=500), 0)
    st.on_candle(candle(3, 0.2050, 0.2060, 0.2050, 0.2060, 9000), ACTIVE, at_limit, 0)
    assert not st.stops.paused and st.stops.triggered == {}
    assert out.of(wire.CancelOrder) == [] and st.decisions["rejected_emergency_stop"] == 0
    assert st.decisions["taken"] == 2
    cases = (
        ("latency", lambda s: s.on_health(health(latency_ms=500.001), 0)),
        ("spread", lambda s: s.on_candle(candle(3, 0.205, 0.206, 0.205, 0.206, 9000), ACTIVE,
                                         readings(spread_ratio=10.001), 0)),
        ("liquidity", lambda s: s.on_candle(candle(3, 0.205, 0.206, 0.205, 0.206, 9000), ACTIVE,
                                            readings(liquidity_usd=99999.99), 0)),
    )  # fmt: skip
    for why, step in cases:
        st, out = make(entry_cooldown_secs=0)
        setup_window(st)
        step(st)
        assert set(st.stops.active) == {why}, why
        assert len(out.of(wire.CancelOrder)) == 1, why


def test_the_configured_score_bands_decide_entries() -> None:
    # config/config.toml lowers the bands to 55/35/30: a selling-exhaustion candle scoring 32.5 is
    # taken, the same score without the pattern is not (the design's 85/70/60 would refuse both).
    bands = {"score_excellent": 55.0, "score_good": 35.0, "score_exhaustion": 30.0}
    st, out = make(**bands)
    st.on_candle(candle(1, 0.2010, 0.2010, 0.2000, 0.2005), ACTIVE, readings(0.325), 0)
    st.on_candle(candle(2, 0.2005, 0.2050, 0.2004, 0.2050, 5000), ACTIVE, readings(0.325), 0)
    assert st.decisions["rejected_score"] == 1 and out.orders == []
    exhausted = readings(0.325, pattern=Pattern.SELLING_EXHAUSTION)
    st.on_candle(candle(3, 0.2050, 0.2060, 0.2040, 0.2060, 5000), ACTIVE, exhausted, 0)
    assert st.decisions["taken"] == 1 and st.decisions["taken_good"] == 1


def test_breaker_open_refuses_entries() -> None:
    st, out = make(entry_cooldown_secs=0, exit_on_bearish_candle=False)
    setup_window(st)
    for k in range(3):
        respond(st, error(out.orders[-1], "VENUE"))
        st.on_candle(
            candle(3 + k, 0.2050, 0.2060 + k / 10000, 0.2050, 0.2060 + k / 10000, 9000), ACTIVE, GOOD, 0
        )
    assert st.breaker.state(0) == "open" and st.decisions["rejected_breaker"] == 1
    assert st.decisions["taken"] == 3


def test_sell_fill_without_position_is_refused() -> None:
    p = Position()
    try:
        p.on_fill("SELL", D("1"), D("1"), D("0"), S, "x")
    except ValueError:
        pass
    else:
        raise AssertionError("a sell without a position must not become a trade")
    assert p.closed == []


prices = hs.one_of(
    hs.floats(allow_nan=True, allow_infinity=True),
    hs.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.2, 1e-12, 0.2, 0.2001, 1e300]),
)


@settings(max_examples=150, deadline=None)
@given(hs.lists(hs.tuples(prices, prices, prices, prices, prices), min_size=1, max_size=12))
def test_nan_inf_or_negative_prices_never_reach_an_order(rows: list[tuple[float, ...]]) -> None:
    st, out = make(entry_cooldown_secs=0, signal_range_percentile=0.0)
    setup_window(st)  # a valid window first, so later candles can move it
    for k, (o, h, lo, c, trade) in enumerate(rows):
        st.on_price((3 + k) * S, trade, 0)
        st.on_candle(candle(3 + k, o, h, lo, c, 9000), ACTIVE, GOOD, 0)
        if out.orders and out.orders[-1].side == "BUY":
            buy = out.orders[-1]
            respond(st, execution(buy, str(buy.price), "100", 100 + k), (3 + k) * S)
    for cmd in out.orders:
        assert cmd.quantity.is_finite() and cmd.quantity > 0
        if cmd.price is not None:
            assert cmd.price.is_finite() and cmd.price > 0 and cmd.price % D("0.0001") == 0
        assert wire.decode(wire.encode(cmd)) == cmd


def test_lot_phases() -> None:
    st, out = make()
    setup_window(st)
    lot = next(iter(st.position.lots.values()))
    assert lot.phase is Phase.ENTERING
    enter_fill(st, out.orders[0])
    assert lot.phase is Phase.HOLDING and st.position.is_open
    assert isinstance(st.position.realized, Decimal)


def test_half_open_breaker_lets_one_trial_entry_through() -> None:
    # Open, the breaker refuses every entry, and is its reason before the later checks (the candle at
    # 3 s has too little volume too); once `open_ns` has passed, the first entry is the trial and the
    # next one is refused until the trial's order is acknowledged.
    st, out = make(entry_cooldown_secs=0, signal_range_percentile=0.0)
    b = st.breaker
    for _ in range(b.max_failures):
        b.failure(0, "venue")
    setup_window(st)
    st.on_candle(candle(3, 0.2050, 0.2060, 0.2050, 0.2060, 1), ACTIVE, GOOD, 0)
    assert st.decisions["rejected_breaker"] == 2 and st.decisions["rejected_volume"] == 0
    assert out.orders == []
    half_open = b.open_ns
    st.on_candle(candle(4, 0.2050, 0.2070, 0.2050, 0.2070, 9000), ACTIVE, GOOD, half_open)
    st.on_candle(candle(5, 0.2050, 0.2080, 0.2050, 0.2080, 9000), ACTIVE, GOOD, half_open)
    assert st.decisions["taken"] == 1 and st.decisions["rejected_breaker"] == 3
    assert len(out.orders) == 1
    respond(st, placed(out.orders[0]))  # the trial went through: closed again
    st.on_candle(candle(6, 0.2050, 0.2090, 0.2050, 0.2090, 9000), ACTIVE, GOOD, half_open)
    assert st.decisions["taken"] == 2 and st.decisions["rejected_breaker"] == 3


def test_a_half_open_trial_that_could_not_be_sent_reopens_the_breaker_for_another_trial() -> None:
    # The trial entry's order never leaves (the command queue refuses it): no answer will come, so it
    # counts as the trial failing. The breaker opens again, and after `open_ns` a new trial goes out,
    # instead of every later entry being refused as "trial already out" for good.
    st, out = make(entry_cooldown_secs=0, signal_range_percentile=0.0)
    b = st.breaker
    for _ in range(b.max_failures):
        b.failure(0, "venue")
    setup_window(st)
    half_open = b.open_ns
    out.accept = False
    st.on_candle(candle(4, 0.2050, 0.2070, 0.2050, 0.2070, 9000), ACTIVE, GOOD, half_open)
    assert st.decisions["rejected_send_failed"] == 1 and out.orders == []
    assert b.state(half_open) is BreakerState.OPEN
    out.accept = True
    st.on_candle(candle(5, 0.2050, 0.2080, 0.2050, 0.2080, 9000), ACTIVE, GOOD, half_open + 1)
    assert st.decisions["taken"] == 0 and out.orders == []  # open again: no entry yet
    st.on_candle(candle(6, 0.2050, 0.2090, 0.2050, 0.2090, 9000), ACTIVE, GOOD, 2 * half_open)
    assert st.decisions["taken"] == 1 and len(out.orders) == 1  # the new trial


def test_a_position_being_sold_still_counts_toward_max_positions() -> None:
    st, out = make(entry_cooldown_secs=0, signal_range_percentile=0.0)
    enter(st, out)
    st.on_price(4 * S, 0.1970, 0)  # stop loss: the target's cancel is out, nothing sold yet
    (lot,) = st.position.lots.values()
    assert lot.phase is Phase.EXITING and st.position.is_open
    for k in range(4, 4 + st.risk.max_positions):
        price = 0.2060 + k / 10000
        st.on_candle(candle(k, 0.2050, price, 0.2050, price, 9000), ACTIVE, GOOD, 0)
    assert st.decisions["taken"] == st.risk.max_positions  # the exiting lot and max_positions - 1
    assert st.decisions["rejected_risk_max_positions"] == 1


@pytest.mark.parametrize("limit", [1, 4])
def test_max_positions_comes_from_the_risk_config(limit: int) -> None:
    st, out = make(replace(RiskConfig(), max_positions=limit), entry_cooldown_secs=0)
    setup_window(st)
    for k in range(3, 3 + limit):
        price = 0.2050 + k / 10000
        st.on_candle(candle(k, 0.2050, price, 0.2050, price, 9000), ACTIVE, GOOD, 0)
    assert st.decisions["taken"] == limit and st.decisions["rejected_risk_max_positions"] == 1
    assert len(st.position.lots) == len(out.orders) == limit


def test_an_acceptance_reporting_filled_changes_no_position_until_the_execution() -> None:
    # Positions change only from OrderExecution: an OrderPlaced with status FILLED (the acceptance
    # can come before the fills) neither opens the position nor sends the target.
    st, out = make()
    setup_window(st)
    buy = out.orders[0]
    respond(st, placed(buy, "FILLED"))
    (lot,) = st.position.lots.values()
    assert lot.phase is Phase.ENTERING and not st.position.is_open and st.entries == []
    assert len(out.orders) == 1
    respond(st, execution(buy, "0.2010", "100", 1), 4 * S)
    assert lot.phase is Phase.HOLDING and st.position.quantity == D("100")
    assert [o.side for o in out.orders] == ["BUY", "SELL"]


def _paused(st: PercentileStrategy, out: Outbox) -> None:
    st.paused_reason = "orders being reconciled"
    setup_window(st)


def _no_readings(st: PercentileStrategy, out: Outbox) -> None:
    st.on_candle(candle(1, 0.2010, 0.2010, 0.2000, 0.2005), ACTIVE, None, 0)
    st.on_candle(candle(2, 0.2005, 0.2050, 0.2004, 0.2050, 5000), ACTIVE, None, 0)


def _cooldown(st: PercentileStrategy, out: Outbox) -> None:
    setup_window(st)
    st.on_candle(candle(3, 0.2050, 0.2070, 0.2050, 0.2070, 9000), ACTIVE, GOOD, 0)


def _range(st: PercentileStrategy, out: Outbox) -> None:
    st.on_candle(candle(1, 0.2010, 0.2010, 0.2000, 0.2005), ACTIVE, GOOD, 0)
    for k in range(2, 2 + st.cfg.range_min_samples):  # wide bearish candles fill the distribution
        st.on_candle(candle(k, 0.2050, 0.2060, 0.2010, 0.2040), ACTIVE, GOOD, 0)
    k = 2 + st.cfg.range_min_samples
    st.on_candle(candle(k, 0.2040, 0.2045, 0.2040, 0.2045), ACTIVE, GOOD, 0)  # range 0.0005


def _invalid_price(st: PercentileStrategy, out: Outbox) -> None:
    st.on_candle(candle(1, 0.20000, 0.20003, 0.20000, 0.20003), ACTIVE, GOOD, 0)  # under a tick


def _window(st: PercentileStrategy, out: Outbox) -> None:
    setup_window(st)


def _unsized(st: PercentileStrategy, out: Outbox) -> None:
    st.quantity = None  # a backtest's equity x position_fraction under one step (`Replay._size`)
    setup_window(st)


def _no_step_fits(st: PercentileStrategy, out: Outbox) -> None:
    st.quantity_step = D("1")  # one step at the target, 0.2040, is over max_order_notional 0.2
    setup_window(st)


def _send_failed(st: PercentileStrategy, out: Outbox) -> None:
    out.accept = False
    setup_window(st)


# The window of `setup_window` plans entry 0.2010, target 0.2040: an edge of 1.49 %, 20.10 notional.
REJECTIONS: list[tuple[str, RiskConfig, Callable[[PercentileStrategy, Outbox], None]]] = [
    ("paused", RiskConfig(), _paused),
    ("no_readings", RiskConfig(), _no_readings),
    ("cooldown", RiskConfig(), _cooldown),
    ("range", RiskConfig(), _range),
    ("invalid_price", RiskConfig(), _invalid_price),
    ("risk_size", RiskConfig(), _unsized),
    ("risk_edge", replace(RiskConfig(), min_edge_pct=1.5), _window),
    ("risk_notional", replace(RiskConfig(), max_order_notional=D("0.2")), _no_step_fits),
    ("send_failed", RiskConfig(), _send_failed),
]


def test_an_entry_is_cut_so_that_its_take_profit_fits_max_order_notional() -> None:
    """`[risk] max_order_notional` 20.30: 100 at the entry, 0.2010, is 20.10, within it, but at the
    target, 0.2040, 20.40, over it: the engine would refuse the take-profit sell, and the position
    would be sold at market instead. The entry is cut to the quantity step so that its target fits
    (99.5: 20.298 at the target), and the target sells what it bought within the limit. Under a limit
    that does not bind, the entry is the whole quantity."""
    st, out = make(replace(RiskConfig(), max_order_notional=D("20.3")))
    st.quantity_step = D("0.1")
    setup_window(st)
    buy = out.orders[-1]
    assert (buy.side, buy.price, buy.quantity) == ("BUY", D("0.2010"), D("99.5")) and st.decisions[
        "taken"
    ] == 1
    respond(st, placed(buy))
    respond(st, execution(buy, "0.2010", "99.5", 1, fee="0.0199"), int(3.5 * S))
    target = out.orders[-1]
    assert (target.side, target.order_type, target.price, target.quantity) == (
        "SELL",
        "LIMIT",
        D("0.2040"),
        D("99.5"),
    )
    assert target.quantity * target.price <= D("20.3")
    st, out = make(replace(RiskConfig(), max_order_notional=D("20.4")))
    st.quantity_step = D("0.1")
    setup_window(st)
    assert out.orders[-1].quantity == D("100")


@pytest.mark.parametrize(("reason", "risk", "scene"), REJECTIONS, ids=[r[0] for r in REJECTIONS])
def test_each_refused_entry_is_counted_and_journaled_under_its_own_reason(
    reason: str, risk: RiskConfig, scene: Callable[[PercentileStrategy, Outbox], None]
) -> None:
    st, out = make(risk)
    journal: list[tuple[str, str, dict]] = []
    st.journal = lambda kind, summary, payload: journal.append((kind, summary, payload))
    scene(st, out)
    rejected = {k: v for k, v in st.decisions.items() if k.startswith("rejected_")}
    rejected.pop("rejected_not_bullish", None)  # counted, not journaled
    assert rejected == {f"rejected_{reason}": 1}
    journaled = [p["reason"] for kind, _, p in journal if kind == "entry_rejected" and "reason" in p]
    assert journaled == [reason]
    if reason != "cooldown":
        assert st.decisions["taken"] == 0 and not st.position.lots


def test_a_breakeven_trade_starts_no_loss_cooldown() -> None:
    cfg = StrategyConfig()
    entry_ns, loss_ns = cfg.entry_cooldown_secs * S, cfg.loss_cooldown_secs * S
    c = Cooldown(cfg.entry_cooldown_secs, cfg.loss_cooldown_secs)
    c.on_entry(0)
    c.on_trade_closed(S, Decimal(0))
    assert not c.blocks(entry_ns)
    c.on_trade_closed(S, Decimal("-0.0001"))
    assert c.blocks(entry_ns) and c.blocks(S + loss_ns - 1) and not c.blocks(S + loss_ns)
    assert c.why == "loss"


def test_a_shorter_cooldown_never_cuts_a_longer_one_short() -> None:
    # The schema allows loss_cooldown_secs under entry_cooldown_secs: a loss right after an entry must
    # not end the entry's cooldown early.
    cfg = replace(StrategyConfig(), entry_cooldown_secs=5, loss_cooldown_secs=2)
    c = Cooldown(cfg.entry_cooldown_secs, cfg.loss_cooldown_secs)
    c.on_entry(0)
    c.on_trade_closed(S, Decimal(-1))
    assert c.blocks(cfg.entry_cooldown_secs * S - 1) and not c.blocks(cfg.entry_cooldown_secs * S)
    assert c.why == "entry"


def test_an_exit_refused_three_times_goes_on_a_few_seconds_apart_until_sold() -> None:
    """Three exits in a row refused (an engine resyncing its book answers NOT_SYNCED): the lot does
    not stay open for good; the exit is sent again 5 s later, and sells."""
    st, out = make()
    target = enter(st, out)
    respond(st, placed(target))
    st.on_price(4 * S, 0.2010, 0)
    st.on_price(int(4.1 * S), 0.1960, 0)  # the stop-loss: the target is canceled, then a market sell
    respond(st, canceled(out.of(wire.CancelOrder)[-1]))
    for _ in range(3):
        respond(st, error(out.orders[-1], "NOT_SYNCED"))
    sells = [o for o in out.orders if o.order_type == "MARKET"]
    assert len(sells) == 3
    st.on_health(health(), int(4.9 * S))
    assert len([o for o in out.orders if o.order_type == "MARKET"]) == 3  # not yet
    st.on_health(health(), 5 * S)
    sells = [o for o in out.orders if o.order_type == "MARKET"]
    last = sells[-1]
    assert len(sells) == 4 and last.side == "SELL" and last.quantity == D("100")
    respond(st, execution(last, "0.1950", "100", 9), 5 * S)
    assert not st.position.lots and st.position.closed[-1].exit_reason == "stop_loss"


def test_a_lot_left_with_less_than_one_step_is_written_off() -> None:
    """An entry canceled after a partial fill of one step whose fee the venue took in the coins
    bought: 0.0999 is held, under the 0.1 step, which no venue would sell. The lot is written off at
    its cost and ends, instead of holding a position slot forever."""
    st, out = make()
    st.quantity_step = D("0.1")
    setup_window(st)
    buy = out.orders[-1]
    respond(st, placed(buy))
    fill = replace(execution(buy, "0.2010", "0.1", 1, "PARTIALLY_FILLED", fee="0.0001"), fee_asset="POL")
    respond(st, fill, 3 * S)
    st.on_candle(candle(4, 0.2005, 0.2006, 0.1990, 0.1995), ACTIVE, GOOD, 0)  # a new low: entry canceled
    respond(st, canceled(out.of(wire.CancelOrder)[-1], "0.1"))
    assert not st.position.lots
    assert st.decisions["exit_written_off"] == 1
    assert [o.side for o in out.orders] == ["BUY"]  # nothing was sent to sell what cannot be sold
    assert st.position.realized == -(D("0.2010") * D("0.1"))  # the coins' cost, fee included


def test_a_lot_worth_less_than_the_minimum_notional_is_written_off() -> None:
    """An entry of 100 canceled after 20 filled: 20 x 0.2010 is about 4 USDT, under the venue's
    minimum notional of 5, so no sell of it would be taken (the engine refuses it, the target and
    every exit after it). The lot is written off at its cost, nothing is sent to sell it."""
    st, out = make()
    st.quantity_step, st.min_notional = D("0.1"), D("5")
    setup_window(st)
    buy = out.orders[-1]
    respond(st, placed(buy))
    respond(st, execution(buy, "0.2010", "20", 1, "PARTIALLY_FILLED"), 3 * S)
    st.on_candle(candle(4, 0.2005, 0.2006, 0.1990, 0.1995), ACTIVE, GOOD, 0)  # a new low: entry canceled
    respond(st, canceled(out.of(wire.CancelOrder)[-1], "20"))
    assert not st.position.lots
    assert st.decisions["exit_written_off"] == 1
    assert [o.side for o in out.orders] == ["BUY"]
    assert st.position.realized < 0
    # The trade is closed like any other: 20 bought at 0.2010, nothing received, journaled, and
    # its loss starts the loss cooldown.
    (trade,) = st.position.closed
    assert (trade.quantity, trade.entry_price, trade.exit_price, trade.exit_reason) == (
        D("20"),
        D("0.2010"),
        D("0"),
        "written_off",
    )
    assert trade.pnl == -(D("20") * D("0.2010")) - D("0.01")
    assert st.cooldown.why == "loss" and st.cooldown.until_ns == trade.exit_ns + st.cooldown.loss_ns


def test_an_entry_under_the_minimum_notional_is_not_sent() -> None:
    """An entry must be worth the minimum notional at its stop-loss, 1 % to spare: 100 at 0.2010 is
    20.10, 19.80 at the 1.5 % stop-loss: refused under a minimum of 20 (or 25), sent under 19.5."""
    for minimum, sent in (("25", False), ("20", False), ("19.5", True)):
        st, out = make()
        st.min_notional = D(minimum)
        setup_window(st)
        assert bool(out.orders) is sent, minimum
        assert st.decisions["rejected_risk_min_notional"] == (0 if sent else 1), minimum


def test_an_exit_the_engine_values_under_the_minimum_notional_is_written_off() -> None:
    """The last trade values the lot at 19.60, over a minimum notional of 19.5, so the stop-loss
    sells it; the engine values a market sell at the bid (19.49) and refuses it (NOTIONAL). No sell of
    it would be taken: the lot is written off, not offered every 5 s for ever."""
    st, out = make()
    st.min_notional = D("19.5")
    target = enter(st, out)
    respond(st, placed(target))
    st.on_price(4 * S, 0.2010, 0)
    st.on_price(int(4.1 * S), 0.1960, 0)  # the stop-loss: the target is canceled, then a market sell
    respond(st, canceled(out.of(wire.CancelOrder)[-1]))
    sell = out.orders[-1]
    assert (sell.side, sell.order_type, sell.quantity) == ("SELL", "MARKET", D("100"))
    respond(st, error(sell, "VALIDATION", "quantity: notional 19.49 below the minimum 19.5 (NOTIONAL)"))
    assert not st.position.lots and st.decisions["exit_written_off"] == 1
    st.on_health(health(), 10 * S)
    assert [o.order_type for o in out.orders if o.side == "SELL"] == ["LIMIT", "MARKET"]


def test_a_market_exit_the_book_fills_only_in_part_is_not_sold_twice() -> None:
    """A stop-loss market sell of 99.9 against 60 on the bid expires after filling 60. The venue
    acknowledges it EXPIRED before its fill arrives; the strategy asks its status before it sizes the
    next sell, which is the 39.9 left: the venue ends flat, never short (before: 60, 60, 39.9)."""
    st, venue = stop_loss_into_a_thin_bid(60.0)
    assert [(f.side, f.quantity) for f in venue.fills] == [
        ("BUY", D("100")),
        ("SELL", D("60")),
        ("SELL", D("39.9")),
    ]
    assert venue.position == 0 and not st.position.lots
    assert st.position.closed[-1].quantity == D("99.9")
