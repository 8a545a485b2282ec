"""What fills and refusals do to the strategy's positions: fees (taken from the coins bought as every
venue of the system takes them), dust below the quantity step, the engine's own flatten, and exits
refused by a halted engine."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

import pytest
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
    respond,
    setup_window,
    stop_loss_into_a_thin_bid,
)

from flashcrash import wire
from flashcrash.config import RiskConfig, StrategyConfig
from flashcrash.launcher import REPO
from flashcrash.trading_engine import OrderManager, PercentileStrategy, Position
from flashcrash.trading_engine.breaker import BreakerState, CircuitBreaker
from flashcrash.trading_engine.orders import ESTIMATED_BASE_FEE, ESTIMATED_FEE, MAX_QUERIES
from flashcrash.trading_engine.portfolio import Phase
from flashcrash.trading_engine.strategy import MAX_EXIT_ATTEMPTS


def test_position_pnl_by_hand() -> None:
    p = Position()
    p.on_fill("BUY", D("0.20"), D("100"), D("0.02"), 1 * S, "")
    p.on_fill("BUY", D("0.22"), D("100"), D("0.022"), 2 * S, "")
    assert p.avg_entry == D("0.21")
    assert p.on_fill("SELL", D("0.25"), D("50"), D("0.0125"), 3 * S, "target") is None
    t = p.on_fill("SELL", D("0.23"), D("150"), D("0.0345"), 4 * S, "target")
    assert t is not None and not p.is_open
    assert t.pnl == D("4.911") and t.entry_price == D("0.21") and t.exit_price == D("0.235")
    assert p.realized == D("5") - D("0.089") and p.total_fees == D("0.089")


def test_a_fee_taken_from_the_coins_bought_is_held_less_and_valued_at_the_buy_price() -> None:
    """Binance takes a buy's commission from the coins it bought: 500 bought with a 0.5 fee in the
    base asset leave 499.5 held, at a cost of 99.9 and a fee worth 0.1. Sold at 0.21 with a quote fee
    of 0.104895: paid 100 for the 500, got 104.790105 back for the 499.5, so 4.790105."""
    p = Position()
    assert p.on_fill("BUY", D("0.2"), D("500"), D("0"), 1 * S, "", base_fee=D("0.5")) is None
    assert (p.quantity, p.cost, p.total_fees) == (D("499.5"), D("99.90"), D("0.10"))
    t = p.on_fill("SELL", D("0.21"), D("499.5"), D("0.104895"), 2 * S, "target", dust=D("0.1"))
    assert t is not None and not p.is_open and t.quantity == D("499.5")
    assert t.pnl == D("4.790105") == p.realized and t.entry_price == D("0.2")


def test_less_than_a_step_left_after_a_sell_is_dust_written_off_at_its_cost() -> None:
    """123.4 bought at 0.2 with 0.1234 taken from them: 123.2766 held, of which a step of 0.1 lets
    123.2 be sold. The 0.0766 left cannot be sold: the trade closes, the dust's cost (0.01532) lost."""
    p = Position()
    p.on_fill("BUY", D("0.2"), D("123.4"), D("0"), 1 * S, "", base_fee=D("0.1234"))
    assert p.quantity == D("123.2766")
    t = p.on_fill("SELL", D("0.2"), D("123.2"), D("0"), 2 * S, "target", dust=D("0.1"))
    assert t is not None and not p.is_open and p.cost == 0
    assert t.pnl == -(D("0.02468") + D("0.01532")) == p.realized  # the buy's fee, the dust


def test_the_strategy_sells_what_it_holds_net_of_a_base_fee_on_the_step_grid() -> None:
    """The entry fills with its fee in POL (the base asset): the target sells what is held, rounded
    down to the quantity step (99.9 of the 100 bought, 0.0999 taken as fee: 99.9001 held). A fee
    in a third asset (BNB) is counted and left out of the P&L."""
    out = Outbox()
    om = OrderManager("POLUSDT", out, breaker=CircuitBreaker(3, 30 * S), clock=lambda: 0)
    st = PercentileStrategy(StrategyConfig(), RiskConfig(), D("100"), om, quantity_step=D("0.1"))
    setup_window(st)
    buy = out.orders[0]
    respond(st, placed(buy))
    fill = replace(execution(buy, "0.2010", "100", 1), fee=D("0.0999"), fee_asset="POL")
    respond(st, fill, int(3.5 * S))
    lot = st.position.lots[buy.client_order_id]
    assert lot.position.quantity == D("99.9001") and lot.position.total_fees == D("0.0999") * D("0.2010")
    target = st.orders.orders[lot.target_coid].cmd  # type: ignore[index]
    assert (target.side, target.quantity) == ("SELL", D("99.9"))
    respond(st, placed(target))
    sold = replace(execution(target, "0.2040", "99.9", 2), fee=D("0.01"), fee_asset="BNB")
    respond(st, sold, 9 * S)
    trade = st.position.closed[-1]
    assert trade.quantity == D("99.9") and st.decisions["fee_in_other_asset"] == 1 and not st.position.lots
    # Paid 20.10 for 100, got 20.3796 for 99.9; the 0.0001 left (cost 0.0000201) is dust.
    assert trade.pnl == D("20.3796") - D("20.10")
    # A fill made up at a real venue after a restart estimates its fee in the base asset as well.
    assert st._fee(replace(fill, fee_asset=ESTIMATED_BASE_FEE)) == (D("0"), D("0.0999"))
    assert st._fee(replace(fill, fee_asset=ESTIMATED_FEE)) == (D("0.0999"), D("0"))


def test_a_contract_symbols_fees_are_read_against_its_pair() -> None:
    """`BCHUSD_PERP` (a COIN-M file replayed as spot): a sell's fee in USD is in the quote asset and
    a buy's in BCH in the base, as on `BCHUSDT`; only a third asset is left out of the P&L."""
    out = Outbox()
    om = OrderManager("BCHUSD_PERP", out, breaker=CircuitBreaker(3, 30 * S), clock=lambda: 0)
    st = PercentileStrategy(StrategyConfig(), RiskConfig(), D("1"), om, quantity_step=D("0.001"))
    fill = wire.OrderExecution(
        "c", 1, "coid", "x", "BCHUSD_PERP", "SELL", 7, D("500"), D("1"), D("1"), D("1"), "FILLED",
        "taker", D("0.5"), "USD",
    )  # fmt: skip
    assert st._fee(fill) == (D("0.5"), D("0"))
    assert st._fee(replace(fill, side="BUY", fee=D("0.001"), fee_asset="BCH")) == (D("0"), D("0.001"))
    assert st._fee(replace(fill, fee_asset="BNB")) == (D("0"), D("0"))
    assert st.decisions["fee_in_other_asset"] == 1


def test_the_strategy_counts_fees_as_the_venues_take_them_in_the_shared_cases() -> None:
    """`tests/fee_cases/cases.json`, the fills every venue of the system gives: what the strategy
    holds moves as the venue's base balance does (a buy's fee taken from the coins bought), and its
    quote figures (notional and fee) as the quote balance does."""
    doc = json.loads((REPO / "tests" / "fee_cases" / "cases.json").read_text())
    st, _ = make()
    for case in doc["cases"]:
        buy = case["side"] == "BUY"
        price, qty = D(doc["ask"] if buy else doc["bid"]), D(case["qty"])
        fill = wire.OrderExecution(
            None, 1, "c", "X-1", doc["symbol"], case["side"], 1, price, qty, qty, qty, "FILLED",
            "taker", D(case["fee"]), case["fee_asset"],
        )  # fmt: skip
        quote_fee, base_fee = st._fee(fill)
        held = qty - base_fee if buy else -qty - base_fee
        quote = -price * qty - quote_fee if buy else price * qty - quote_fee
        assert (held, quote) == (D(case["base_change"]), D(case["quote_change"])), case["name"]


def test_the_engines_own_flatten_closes_the_open_lot() -> None:
    """An `EmergencyHalt` with `flatten`: the engine cancels the resting target and sells its whole
    net position itself (client order id `flatten-<ms>`), here in two fills. The lot follows those
    fills and closes at their price with their fees, exit reason `engine_flatten`; the same fill
    twice changes nothing, and no order follows them."""
    st, out = make()
    target = enter(st, out)  # 100 bought at 0.2010, fee 0.0201 USDT
    respond(st, wire.OrderCanceled(None, 1, target.client_order_id, "X-1", "POLUSDT", D(0), "CANCELED"))
    for exit_sell in [o for o in out.orders if o.order_type == "MARKET"]:
        respond(st, error(exit_sell, "HALTED"))  # the strategy's own exit, refused while halted
    sent = len(out.sent)

    def flatten(trade_id: int, price: str, qty: str, cumulative: str, fee: str) -> wire.OrderExecution:
        return wire.OrderExecution(
            None, 2, "flatten-1700", "X-9", "POLUSDT", "SELL", trade_id, D(price), D(qty), D(cumulative),
            D("100"), "FILLED" if cumulative == "100" else "PARTIALLY_FILLED", "taker", D(fee), "USDT",
        )  # fmt: skip

    respond(st, flatten(8, "0.2030", "60", "60", "0.01218"), 5 * S)
    (lot,) = st.position.lots.values()
    assert lot.position.quantity == D("40") and not st.position.closed
    respond(st, flatten(9, "0.2029", "40", "100", "0.008116"), 5 * S)
    assert not st.position.lots
    trade = st.position.closed[-1]
    assert (trade.exit_reason, trade.quantity, trade.exit_price) == ("engine_flatten", D("100"), D("0.20296"))
    assert trade.pnl == D("20.296") - D("20.10") - D("0.0201") - D("0.01218") - D("0.008116")
    assert st.decisions["exit_engine_flatten"] == 1 and st.orders.stats["engine_flatten_fills"] == 2
    respond(st, flatten(9, "0.2029", "40", "100", "0.008116"), 6 * S)
    assert len(st.position.closed) == 1 and st.orders.stats["duplicate_fills"] == 1
    assert len(out.sent) == sent


def test_an_exit_refused_by_a_halted_engine_waits_and_is_asked_again_each_second() -> None:
    """An engine halted without a flatten cancels the target and refuses every order: each refusal
    (`HALTED`) of the exit is no attempt and no breaker failure; the exit is asked again a second
    later (the engine's health, each second, is the clock), more often than the attempts allow, and
    goes through once the engine runs again."""
    st, out = make()
    target = enter(st, out)
    respond(st, wire.OrderCanceled(None, 1, target.client_order_id, "X-1", "POLUSDT", D(0), "CANCELED"))
    now = 10 * S
    for _ in range(MAX_EXIT_ATTEMPTS + 2):
        exit_sell = out.orders[-1]
        assert (exit_sell.side, exit_sell.order_type) == ("SELL", "MARKET")
        sent = len(out.orders)
        st.on_response(error(exit_sell, "HALTED"), 0, now)
        st.on_health(health(), now + S // 2)
        assert len(out.orders) == sent  # not at once: a second later
        now += S
        st.on_health(health(), now)
        assert len(out.orders) == sent + 1
    assert st.orders.breaker.state(now) is BreakerState.CLOSED
    exit_sell = out.orders[-1]
    respond(st, placed(exit_sell, "FILLED"))
    respond(st, execution(exit_sell, "0.2030", "100", 7), 20 * S)
    assert not st.position.lots and st.position.closed[-1].exit_reason == "target_refused"


def test_an_entry_answered_late_still_becomes_a_position() -> None:
    """The engine answers an entry only after every quick query timed out (real mode: its worker
    looks for an order of unknown outcome for up to 15 s): the entry is in doubt, not refused, so
    the lot waits, the runner's clean-up keeps it, and the late fill makes a held, targeted position."""
    st, out = make()
    setup_window(st)
    buy = out.orders[-1]
    for k in range(1, MAX_QUERIES + 3):
        st.orders.check_timeouts(k * S)
    st.on_candle(candle(4, 0.2050, 0.2050, 0.2040, 0.2045), ACTIVE, GOOD, 0)
    (lot,) = st.position.lots.values()
    st.orders.forget_settled(c for lot in st.position.lots.values() for c in lot.order_ids())
    respond(st, placed(buy), 9 * S)
    respond(st, execution(buy, "0.2010", "100", 1, fee="0.0201"), 9 * S)
    assert st.position.quantity == 100 and lot.phase is Phase.HOLDING
    target = out.orders[-1]
    assert (target.side, target.order_type, target.price) == ("SELL", "LIMIT", D("0.2040"))


def test_an_exit_answered_late_is_never_sold_twice() -> None:
    """The stop loss's market sell goes unanswered past every quick query: it is in doubt, so no
    second sell of the same coins leaves while its fate is unknown; its late fill closes the lot."""
    st, out = make()
    target = enter(st, out)
    respond(st, placed(target))
    st.on_price(4 * S, 0.19, 0)
    respond(st, canceled(out.of(wire.CancelOrder)[-1]))
    sell = out.orders[-1]
    assert (sell.side, sell.order_type) == ("SELL", "MARKET")
    for k in range(1, MAX_QUERIES + 8):
        st.orders.check_timeouts(k * S)
        st.on_health(health(), k * S)
    assert [o.client_order_id for o in out.orders if o.order_type == "MARKET"] == [sell.client_order_id]
    respond(st, placed(sell, "FILLED"))
    respond(st, execution(sell, "0.1900", "100", 9), 20 * S)
    assert not st.position.lots and st.position.closed[-1].exit_reason == "stop_loss"


def test_at_shutdown_an_entry_filled_in_part_is_closed_at_market() -> None:
    """SIGTERM while an entry has filled 40 of 100: its cancel settles with 40 bought, and those
    are sold at market at once (no resting target is left behind an exiting process); no entry is
    decided after the shutdown."""
    st, out = make()
    setup_window(st)
    buy = out.orders[-1]
    respond(st, placed(buy))
    respond(st, execution(buy, "0.2010", "40", 1, "PARTIALLY_FILLED", cumulative="40"), 3 * S)
    st.shutdown(0)
    cancel = out.of(wire.CancelOrder)[-1]
    assert cancel.client_order_id == buy.client_order_id
    respond(st, canceled(cancel, "40"), 3 * S)
    sells = [(o.order_type, o.quantity, o.price) for o in out.orders if o.side == "SELL"]
    assert sells == [("MARKET", D("40"), None)], sells
    (lot,) = st.position.lots.values()
    assert lot.exit_reason == "shutdown"
    sent = len(out.sent)
    setup_window(st, 5)
    assert len(out.sent) == sent and st.decisions["rejected_paused"] >= 1


def test_an_exit_whose_cancel_died_with_the_engine_cancels_again_and_completes() -> None:
    """The stop loss cancels the resting target; the engine is killed with that cancel unserved and
    a new one starts. Reconciling, the new engine lists the target NEW while the cancel may still be
    on its way: nothing more is sent. The cancel times out and the query says NEW again: it was lost.
    A new CancelOrder goes out, and once the target is canceled the market sell closes the lot."""
    st, out = make()
    target = enter(st, out)
    respond(st, placed(target))
    st.on_price(4 * S, 0.1970, 0)  # stop loss: cancel the target
    (cancel,) = out.of(wire.CancelOrder)
    st.orders.reconcile(0)  # the engine restarted
    ask = out.sent[-1]
    assert isinstance(ask, wire.QueryOpenOrders)
    info = wire.OrderInfo(target.client_order_id, "X-2", "POLUSDT", "SELL", "LIMIT", "GTC",
                          target.quantity, target.price, D(0), D(0), "NEW", 1, 2)  # fmt: skip
    respond(st, wire.OpenOrders(ask.command_id, 1, "POLUSDT", (info,)))
    assert out.of(wire.CancelOrder) == [cancel] and not st.orders.reconciling
    st.orders.check_timeouts(S)
    query = out.sent[-1]
    assert isinstance(query, wire.QueryOrder) and query.client_order_id == target.client_order_id
    respond(st, wire.OrderStatus(query.command_id, 2, info))
    cancels = out.of(wire.CancelOrder)
    assert len(cancels) == 2 and cancels[0] is cancel
    again = cancels[1]
    assert again.client_order_id == target.client_order_id and again.command_id != cancel.command_id
    assert [o.order_type for o in out.orders] == ["LIMIT", "LIMIT"]  # no sell while the target rests
    respond(st, wire.OrderCanceled(again.command_id, 3, target.client_order_id, "X-2", "POLUSDT", D(0),
                                   "CANCELED"))  # fmt: skip
    sell = out.orders[-1]
    assert (sell.side, sell.order_type, sell.quantity) == ("SELL", "MARKET", D("100"))
    respond(st, execution(sell, "0.1970", "100", 6), 5 * S)
    assert not st.position.lots and st.position.closed[-1].exit_reason == "stop_loss"


def _entry_filled_in_part(**strategy: object) -> tuple[PercentileStrategy, Outbox, wire.PlaceOrder]:
    """An entry of 100 at 0.2010 (target 0.2040) that bought 60 at 3.2 s, the rest still resting."""
    st, out = make(**strategy)
    setup_window(st)
    buy = out.orders[-1]
    respond(st, placed(buy))
    respond(st, execution(buy, "0.2010", "60", 1, "PARTIALLY_FILLED", cumulative="60"), int(3.2 * S))
    (lot,) = st.position.lots.values()
    assert lot.phase is Phase.ENTERING and lot.position.quantity == 60 and len(out.orders) == 1
    return st, out, buy


def test_an_entry_filled_in_part_gets_its_target_once_the_price_goes_through_it() -> None:
    """The price trades through the target while the entry has bought 60 of 100: the rest of the
    entry is canceled, and what it bought gets its resting target (instead of holding coins with no
    target for the rest of the entry's wait)."""
    st, out, buy = _entry_filled_in_part()
    st.on_price(int(3.5 * S), 0.2045, 0)
    (cancel,) = out.of(wire.CancelOrder)
    assert cancel.client_order_id == buy.client_order_id and len(out.orders) == 1
    respond(st, canceled(cancel, "60"), int(3.6 * S))
    (lot,) = st.position.lots.values()
    target = out.orders[-1]
    assert lot.phase is Phase.HOLDING and lot.target_coid == target.client_order_id
    assert (target.side, target.order_type, target.quantity, target.price) == (
        "SELL",
        "LIMIT",
        D("60"),
        D("0.2040"),
    )
    assert st.decisions["entry_canceled_target"] == 1


def _trail(st: PercentileStrategy) -> None:
    for p in (0.2020, 0.2030, 0.2035, 0.2034, 0.2032, 0.2030, 0.2029, 0.2028, 0.2027, 0.2026, 0.2025, 0.2024):
        st.on_price(4 * S, p, 0)


EXITS_WHILE_ENTERING: dict[str, Callable[[PercentileStrategy], None]] = {
    "stop_loss": lambda st: st.on_price(4 * S, 0.1975, 0),
    "gap": lambda st: (st.on_price(4 * S, 0.2030, 0), st.on_price(4 * S, 0.2025, 0)),
    "bearish_candle": lambda st: st.on_candle(candle(4, 0.2030, 0.2030, 0.2015, 0.2020), ACTIVE, GOOD, 0),
    "max_hold": lambda st: st.on_clock(int(23.2 * S), 0),
    "trailing_stop": _trail,
}


@pytest.mark.parametrize("reason", EXITS_WHILE_ENTERING)
def test_an_exit_rule_on_an_entry_filled_in_part_cancels_its_rest_and_sells_what_it_bought(
    reason: str,
) -> None:
    """An exit rule fires for the 60 an entry has bought while its rest still rests: the rest is
    canceled, and what was bought is sold at market once the entry has settled, as for a held lot;
    a fill that comes with the cancel is sold too, and nothing is sold before it or twice."""
    st, out, buy = _entry_filled_in_part(
        entry_max_wait_secs=60, stop_loss_pct=1.5, gap_exit_pct=0.1, max_hold_secs=20,
        exit_on_bearish_candle=True, trailing_stop=reason == "trailing_stop", trailing_stop_pct=0.5,
    )  # fmt: skip
    EXITS_WHILE_ENTERING[reason](st)
    (lot,) = st.position.lots.values()
    (cancel,) = out.of(wire.CancelOrder)
    assert cancel.client_order_id == buy.client_order_id and lot.exit_reason == reason
    assert len(out.orders) == 1  # nothing sold while the entry may still fill
    respond(st, canceled(cancel, "70"), 5 * S)  # 10 more bought before the cancel: its fill is on its way
    assert len(out.orders) == 1
    respond(st, execution(buy, "0.2010", "10", 2, "CANCELED", cumulative="70"), 5 * S)
    sells = [o for o in out.orders if o.side == "SELL"]
    assert [(o.order_type, o.quantity) for o in sells] == [("MARKET", D("70"))]
    st.on_price(int(5.5 * S), 0.1970, 0)
    respond(st, execution(sells[0], "0.1970", "70", 3), 6 * S)
    assert not st.position.lots and len([o for o in out.orders if o.side == "SELL"]) == 1
    assert st.position.closed[-1].exit_reason == reason and st.position.closed[-1].quantity == 70
    assert st.decisions[f"entry_canceled_{reason}"] == 1


def test_a_market_exit_that_sells_some_is_no_refusal_and_the_rest_is_sold_at_once() -> None:
    """A crash's thin bid (20 at a time) fills each market sell of the stop-loss in part: those sells
    are no refusals, so the rest is sold at once, sell after sell, instead of waiting 5 s after the
    third as attempts refused in a row do."""
    st, venue = stop_loss_into_a_thin_bid(20.0)
    sells = [f.quantity for f in venue.fills if f.side == "SELL"]
    assert sells == [D("20")] * 4 + [D("19.9")]
    assert venue.position == 0 and not st.position.lots
    assert st.position.closed[-1].quantity == D("99.9")


def test_an_entry_is_counted_canceled_once_when_its_cancel_is_confirmed() -> None:
    """The max wait's cancel is refused (the venue slow) and sent again: the entry counts canceled
    once, when the engine confirms it. A cancel that comes too late (the entry filled whole) counts
    nothing."""

    def past_max_wait() -> tuple[PercentileStrategy, Outbox, wire.PlaceOrder]:
        """An entry placed and resting past `entry_max_wait_secs`: its cancel is out."""
        st, out = make()
        setup_window(st)
        buy = out.orders[-1]
        respond(st, placed(buy))
        st.on_clock(18 * S, 0)
        return st, out, buy

    st, out, _ = past_max_wait()
    respond(st, error(out.of(wire.CancelOrder)[-1], "VENUE", "timeout talking to venue"))
    st.on_clock(int(18.5 * S), 0)
    assert len(out.of(wire.CancelOrder)) == 2 and st.decisions["entry_canceled_max_wait"] == 0
    respond(st, canceled(out.of(wire.CancelOrder)[-1]))
    assert not st.position.lots and st.decisions["entry_canceled_max_wait"] == 1

    st, out, buy = past_max_wait()
    respond(st, error(out.of(wire.CancelOrder)[-1], "UNKNOWN_ORDER", "filled"))
    respond(st, execution(buy, "0.2010", "100", 1), 18 * S)
    (lot,) = st.position.lots.values()
    assert lot.phase is Phase.HOLDING and lot.position.quantity == 100
    assert not any(k.startswith("entry_canceled") for k in st.decisions)
