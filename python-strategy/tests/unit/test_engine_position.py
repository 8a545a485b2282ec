"""The engine's net position (`OpenOrders.net_position`) against the strategy's positions at the end of
a reconciliation: a sale the engine made while nobody here listened (its flatten, with this process
down) closes the lots it sold, once seen twice, and is never sold again; coins no lot manages are
reported, not traded; an answer that fails is asked again instead of ending the reconciliation never."""

from __future__ import annotations

from dataclasses import replace

from trading_fixtures import D, Outbox, S, enter, error, execution, make, placed, respond

from flashcrash import wire
from flashcrash.trading_engine import PercentileStrategy
from flashcrash.trading_engine.orders import POSITION_RECHECK_NS


def _open_orders(ask: object, net: str | None, *orders: wire.OrderInfo) -> wire.OpenOrders:
    assert isinstance(ask, wire.QueryOpenOrders)
    return wire.OpenOrders(ask.command_id, 1, "POLUSDT", orders, None if net is None else D(net))


def _target_info(target: wire.PlaceOrder, status: str) -> wire.OrderInfo:
    return wire.OrderInfo(target.client_order_id, "X-2", "POLUSDT", "SELL", "LIMIT", "GTC",
                          target.quantity, target.price, D(0), D(0), status, 1, 2)  # fmt: skip


def _reconcile_after_a_flatten(net: str) -> tuple[PercentileStrategy, Outbox, wire.QueryOpenOrders]:
    """100 held with the target resting; a reconciliation finds the target gone (queried: canceled by
    the engine's halt) and the engine holding `net`. Returns the strategy, its outbox, and the
    position check asked at the end."""
    st, out = make()
    target = enter(st, out)
    respond(st, placed(target))
    st.orders.reconcile(0)
    respond(st, _open_orders(out.sent[-1], net))  # the target is not open any more: queried
    query = out.sent[-1]
    assert isinstance(query, wire.QueryOrder) and st.orders.reconciling
    respond(st, wire.OrderStatus(query.command_id, 2, _target_info(target, "CANCELED")))
    check = out.sent[-1]
    assert isinstance(check, wire.QueryOpenOrders) and st.orders.reconciling  # asked now, after the query
    return st, out, check


def test_a_flatten_never_heard_closes_the_lots_it_sold_and_nothing_is_sold_again() -> None:
    st, out, check = _reconcile_after_a_flatten("0")
    respond(st, _open_orders(check, "0"))
    assert st.position.lots and st.orders.reconciling  # seen once: asked again before acting
    st.orders.check_timeouts(POSITION_RECHECK_NS - 1)
    assert out.sent[-1] is check
    st.orders.check_timeouts(POSITION_RECHECK_NS)
    again = out.sent[-1]
    respond(st, _open_orders(again, "0"), 5 * S)
    assert not st.position.lots and not st.orders.reconciling
    (trade,) = st.position.closed
    assert (trade.exit_reason, trade.quantity) == ("engine_flatten", D("100"))
    assert st.decisions["engine_sold_unheard"] == 1
    assert [o.side for o in out.orders] == ["BUY", "SELL"]  # the entry and its target: no sell after


def test_a_shortfall_gone_when_asked_again_changes_nothing() -> None:
    """A fill on its way (the venue's report not in yet at the first answer): the second answer agrees."""
    st, out, check = _reconcile_after_a_flatten("100")
    respond(st, _open_orders(check, "40"))
    st.orders.check_timeouts(POSITION_RECHECK_NS)
    respond(st, _open_orders(out.sent[-1], "100"))
    assert [lot.position.quantity for lot in st.position.lots.values()] == [D("100")]
    assert not st.orders.reconciling and st.decisions["engine_sold_unheard"] == 0


def test_coins_no_position_manages_are_reported_not_traded() -> None:
    st, out = make()
    enter(st, out)
    sent = len(out.orders)
    notes: list[tuple[str, str]] = []
    st.journal = lambda kind, summary, _payload: notes.append((kind, summary))
    st.orders.reconcile(0)
    target = out.orders[-1]
    respond(st, _open_orders(out.sent[-1], "150", _target_info(target, "NEW")))  # no query: compared now
    assert not st.orders.reconciling and st.decisions["error_engine_holds_more"] == 1
    assert ("error", "the engine holds 150, the positions 100") in notes
    assert len(out.orders) == sent and [lot.position.quantity for lot in st.position.lots.values()] == [
        D("100")
    ]


def test_an_engine_that_tells_no_position_is_not_asked_for_it() -> None:
    """A backtest's venue (no engine core) answers nil: the reconciliation ends with its answers."""
    st, out = make()
    enter(st, out)
    st.orders.reconcile(0)
    respond(st, _open_orders(out.sent[-1], None, _target_info(out.orders[-1], "NEW")))
    assert not st.orders.reconciling and len(st.position.lots) == 1


def test_a_failed_answer_to_the_open_orders_asked_is_asked_again() -> None:
    """The venue failed the engine's openOrders request (real mode): the reconciliation asks again a
    timeout later instead of waiting for ever with entries paused."""
    st, out = make()
    st.orders.reconcile(0)
    ask = out.sent[-1]
    respond(st, error(ask, "VENUE", "503 Service Unavailable"))
    assert st.orders.reconciling and out.sent[-1] is ask
    st.orders.check_timeouts(st.orders.timeout_ns)
    again = out.sent[-1]
    assert isinstance(again, wire.QueryOpenOrders) and again.command_id != ask.command_id
    respond(st, _open_orders(again, "0"))
    assert not st.orders.reconciling


def test_a_trade_that_closes_while_reconciling_leaves_no_lot_behind() -> None:
    """The target fills while the reconciliation waits for the engine (heard live, or made up from
    the engine's figures while its net position is still asked): the lot holds nothing and its
    orders are settled, so it is finished at once, not left counted as a live position (the end of
    a session stopped before the answer told it open, and the next start recovered it)."""
    st, out = make()
    target = enter(st, out)
    respond(st, placed(target))
    st.orders.reconcile(0)
    respond(st, execution(target, "0.2100", "100", 2))  # heard live, the open orders not answered yet
    assert st.orders.reconciling and not st.position.lots
    assert [t.exit_reason for t in st.position.closed] == ["target"]

    st, out = make()
    target = enter(st, out)
    respond(st, placed(target))
    st.orders.reconcile(0)
    respond(st, _open_orders(out.sent[-1], "100"))  # the target is not listed: queried
    filled = replace(_target_info(target, "FILLED"), filled_quantity=D("100"), quote_filled=D("21.00"))
    respond(st, wire.OrderStatus(out.sent[-1].command_id, 2, filled))  # type: ignore[attr-defined]
    assert isinstance(out.sent[-1], wire.QueryOpenOrders) and st.orders.reconciling  # the position check
    assert not st.position.lots and [t.exit_reason for t in st.position.closed] == ["target"]
    assert [o.side for o in out.orders] == ["BUY", "SELL"]
