"""The account's funds in the strategy (`Funds`): an entry the free quote cannot pay for is not sent,
the entries sent count against the funds until a report asked for after their acknowledgement counts
them, and the balances are asked again only when the orders changed, one ask at a time."""

from __future__ import annotations

from decimal import Decimal

from trading_fixtures import (
    ACTIVE,
    GOOD,
    D,
    S,
    balances,
    canceled,
    candle,
    execution,
    make,
    manager,
    placed,
    pump,
    respond,
    setup_window,
)

from flashcrash import wire
from flashcrash.backtest.venue import SimVenue
from flashcrash.event_detector import State
from flashcrash.trading_engine.funds import Funds
from flashcrash.trading_engine.money import Price, Quantity


def venue(cash: str) -> SimVenue:
    """A venue that refuses a buy its free cash cannot pay for (Binance's -2010)."""
    book = (((0.2000, 1000.0),), ((0.2100, 1000.0),))
    return SimVenue(
        "POLUSDT", "POL", "USDT", lambda _now: book, D("0.001"), D("0.001"),
        quantity_step=D("0.1"), cash=D(cash), check_funds=True,
    )  # fmt: skip


def test_an_entry_the_free_cash_cannot_pay_for_is_not_sent() -> None:
    """Entries of 100 at 0.2010-0.2030 (20.1-20.3 each) from 50 of cash: two are sent, the third is
    rejected as `risk_funds` before it leaves, so the venue refuses nothing and the breaker counts no
    failure. Without the check the venue refuses it (-2010), a breaker failure."""
    st, out = make(entry_cooldown_secs=0)
    at = venue("50")
    setup_window(st)  # asks the balances at the first candle, then the first entry
    answers = pump(st, out, at, [3 * S])
    assert st.funds.free == D("29.9") and not st.funds.reserved  # a report after the entry's ack
    st.on_candle(candle(3, 0.2050, 0.2100, 0.2050, 0.2100, 9000), ACTIVE, GOOD, 4 * S)  # entry 0.2020
    answers += pump(st, out, at, [4 * S])
    st.on_candle(candle(4, 0.2100, 0.2150, 0.2100, 0.2150, 9000), ACTIVE, GOOD, 5 * S)  # entry 0.2030
    answers += pump(st, out, at, [5 * S])
    assert st.decisions["taken"] == 2 and st.decisions["rejected_risk_funds"] == 1
    assert not [a for a in answers if isinstance(a, wire.Error)]
    assert st.breaker.failures == 0
    assert st.funds.available(st.orders) == D("9.7")

    st, out = make(entry_cooldown_secs=0)
    st.funds.interval_ns = 10**18  # the first report only: it was asked before any entry
    at = venue("50")
    setup_window(st)
    pump(st, out, at, [3 * S])
    st.on_candle(candle(3, 0.2050, 0.2100, 0.2050, 0.2100, 9000), ACTIVE, GOOD, 4 * S)
    assert st.funds.available(st.orders) == D("50") - D("20.1") - D("20.2")  # both held here, unreported
    st.on_candle(candle(4, 0.2100, 0.2150, 0.2100, 0.2150, 9000), ACTIVE, GOOD, 5 * S)
    assert st.decisions["rejected_risk_funds"] == 1


def test_without_a_report_the_venue_refuses_the_entry_and_the_breaker_counts_it() -> None:
    st, out = make(entry_cooldown_secs=0)
    at = venue("30")
    setup_window(st)
    out.sent = [m for m in out.sent if not isinstance(m, wire.QueryBalances)]  # never answered
    st.orders.balances_id = None
    st.funds.interval_ns = 10**18
    st.on_candle(candle(3, 0.2050, 0.2100, 0.2050, 0.2100, 9000), ACTIVE, GOOD, 4 * S)
    answers = pump(st, out, at, [4 * S])
    refused = [a for a in answers if isinstance(a, wire.Error)]
    assert st.funds.available(st.orders) is None and st.decisions["taken"] == 2
    assert [e.message for e in refused] == ["Account has insufficient balance for requested action."]
    assert st.breaker.failures == 1


def test_balances_are_asked_again_only_when_the_orders_changed_one_ask_at_a_time() -> None:
    om, out = manager()
    funds = Funds(interval_ns=S)
    funds.ask(om, 0)
    funds.ask(om, 5 * S)  # one at a time
    (q,) = out.of(wire.QueryBalances)
    funds.reserve("entry-1", D("20"))
    om.on_response(balances(q, "100"))
    funds.on_balances(om.take_balances())
    assert funds.available(om) == D("80") and om.take_balances() is None  # asked before it was sent
    funds.ask(om, 9 * S)
    assert len(out.of(wire.QueryBalances)) == 1  # nothing changed since
    # The entry is acknowledged: one more ask, whose report counts it (the venue holds its cash).
    coid = om.place("BUY", Quantity(D("100")), Price(D("0.2")), 9 * S, "entry", "entry-1")
    om.on_response(placed(out.orders[-1]))
    funds.ask(om, 9 * S + 1)
    q2 = out.of(wire.QueryBalances)[-1]
    assert q2 is not q and coid == "entry-1"
    om.on_response(balances(q2, "80"))
    funds.on_balances(om.take_balances())
    assert funds.available(om) == D("80") and not funds.reserved


def test_a_lost_or_refused_ask_is_asked_again_and_a_report_without_the_quote_is_ignored() -> None:
    om, out = manager()
    funds = Funds(interval_ns=S)
    funds.ask(om, 0)
    om.check_timeouts(2 * S)  # unanswered: forgotten, no breaker failure
    assert om.balances_id is None and om.breaker.failures == 0
    funds.ask(om, 2 * S)
    q = out.of(wire.QueryBalances)[-1]
    om.on_response(wire.Error(q.command_id, 1, "VENUE", None, "account unavailable"))
    assert om.balances_id is None and funds.available(om) is None
    assert om.breaker.failures == 0  # not the order path
    funds.ask(om, 3 * S)
    q = out.of(wire.QueryBalances)[-1]
    assert len(out.of(wire.QueryBalances)) == 3
    # Nor does an answer end a run of order failures.
    om.breaker.failure(3 * S, "refused", "order-1")
    om.on_response(balances(q, "5"))
    assert om.breaker.failures == 1 and om.take_balances() is not None
    funds.ask(om, 4 * S)
    q = out.of(wire.QueryBalances)[-1]
    om.on_response(wire.Balances(q.command_id, 1, (wire.AssetBalance("POL", D(1), D(0)),)))
    funds.on_balances(om.take_balances())
    assert funds.available(om) is None
    stray = balances(wire.QueryBalances("not-ours", 0), "5")
    om.on_response(stray)
    assert om.take_balances() is None


def test_an_unreported_entry_holds_its_notional_until_settled_then_what_it_paid() -> None:
    """Between reports an entry holds its notional; once it has settled, only what its fills paid
    (a canceled entry gives the rest back at once, not a report later)."""
    om, out = manager()
    funds = Funds(interval_ns=10**18)
    funds.ask(om, 0)
    om.on_response(balances(out.of(wire.QueryBalances)[0], "100"))
    funds.on_balances(om.take_balances())
    coid = om.place("BUY", Quantity(D("100")), Price(D("0.2")), 0, "entry", "entry-1")
    assert coid is not None
    funds.reserve(coid, D("20"))
    buy = out.orders[-1]
    om.on_response(placed(buy))
    assert funds.available(om) == D("80")
    om.on_response(execution(buy, "0.2", "40", 1, status="PARTIALLY_FILLED", cumulative="40"))
    assert funds.available(om) == D("80")  # the rest still rests
    assert om.cancel(coid, 0)
    om.on_response(canceled(out.of(wire.CancelOrder)[-1], "40"))
    assert funds.available(om) == D("92")  # 40 x 0.2 paid


def test_negative_free_cash_leaves_nothing_to_pay_with() -> None:
    om, _ = manager()
    funds = Funds()
    funds.on_balances(balances(wire.QueryBalances("b", 0), "-3"))
    assert funds.available(om) == Decimal(0)


def test_asked_from_the_first_wake_then_on_changes_asleep_too_never_while_paused() -> None:
    """Nothing is asked before the detector first wakes; once it has been, a change of the orders
    while it sleeps again is asked about (the next event meets the account as this one left it);
    nothing while entries are paused."""
    st, out = make()
    st.on_candle(candle(1, 0.2010, 0.2010, 0.2000, 0.2005), State.SLEEP, GOOD, 0)
    assert not out.of(wire.QueryBalances)
    setup_window(st)  # awake: asked, then the entry
    (q,) = out.of(wire.QueryBalances)
    respond(st, balances(q, "1000"), 0)
    buy = out.orders[-1]
    st.on_candle(candle(3, 0.2050, 0.2050, 0.2040, 0.2045), State.SLEEP, GOOD, 2 * S)  # asleep again
    assert len(out.of(wire.QueryBalances)) == 1  # nothing changed
    st.on_response(placed(buy), 0, 3 * S)  # acknowledged: asked while asleep
    assert len(out.of(wire.QueryBalances)) == 2
    st.orders.balances_id = None
    st.paused_reason = "engine silent"
    st.on_response(canceled(out.of(wire.CancelOrder)[-1]), 0, 5 * S)
    assert len(out.of(wire.QueryBalances)) == 2
