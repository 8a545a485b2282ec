"""Order manager: client order ids, correlation, timeouts that query and never duplicate, re-sends
with the same id, fills applied once, and the circuit breaker fed by command outcomes."""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from decimal import Decimal

import pytest
from trading_fixtures import Outbox, canceled, error, execution, placed

from flashcrash import wire
from flashcrash.trading_engine.breaker import BreakerState, CircuitBreaker
from flashcrash.trading_engine.money import Price, Quantity
from flashcrash.trading_engine.orders import (
    DOUBT_OUTCOME,
    DOUBT_QUERY_NS,
    DOUBT_SILENT,
    ESTIMATED_BASE_FEE,
    ESTIMATED_FEE,
    MAX_QUERIES,
    MISSING_FILLS_NS,
    QUIET_QUERY_NS,
    OrderManager,
    OrderStatus,
)

S = 1_000_000_000
Q = Quantity(Decimal("100"))
P = Price(Decimal("0.2000"))


def make(timeout_ns: int = S) -> tuple[OrderManager, Outbox]:
    out = Outbox()
    return OrderManager("POLUSDT", out, timeout_ns=timeout_ns, clock=lambda: 0), out


def test_uuid_client_order_id_limit_gtc_and_correlation() -> None:
    om, out = make()
    coid = om.place("BUY", Q, P, 0, "entry")
    assert coid is not None and len(coid) == 36 and re.fullmatch(r"[a-zA-Z0-9_-]{1,36}", coid)
    cmd = out.orders[0]
    assert (cmd.order_type, cmd.time_in_force, cmd.price, cmd.quantity) == ("LIMIT", "GTC", P.value, Q.value)
    assert cmd.command_id != coid and cmd.command_id in om.pending
    om.on_response(placed(cmd))
    assert om.get(coid).status is OrderStatus.NEW and cmd.command_id not in om.pending
    market = om.place("SELL", Q, None, 0, "exit")
    m = out.orders[1]
    assert market != coid and (m.order_type, m.time_in_force, m.price) == ("MARKET", None, None)


def test_fills_are_applied_once_and_settle_the_order() -> None:
    om, out = make()
    om.place("BUY", Q, P, 0, "entry")
    cmd = out.orders[0]
    om.on_response(placed(cmd, "FILLED"))  # the acceptance can come before the fills
    assert om.has_open_order()
    f1 = execution(cmd, "0.2", "40", 1, "PARTIALLY_FILLED", cumulative="40")
    assert om.on_response(f1) == f1 and om.on_response(f1) is None
    assert om.stats["duplicate_fills"] == 1 and om.has_open_order()
    om.on_response(execution(cmd, "0.2", "60", 2, cumulative="100"))
    assert not om.has_open_order() and om.get(cmd.client_order_id).filled == Decimal("100")


def test_timeout_queries_by_client_order_id_and_never_places_again() -> None:
    om, out = make()
    coid = om.place("BUY", Q, P, 0, "entry")
    om.check_timeouts(S // 2)
    assert len(out.sent) == 1
    for k in range(1, 4):
        om.check_timeouts(k * S + k)
    assert len(out.orders) == 1
    queries = out.of(wire.QueryOrder)
    assert len(queries) == 3 and all(q.client_order_id == coid for q in queries)
    assert om.stats["timeouts"] == 3
    # The query finds the order: no further command.
    info = wire.OrderInfo(coid, "X-1", "POLUSDT", "BUY", "LIMIT", "GTC", Q.value, P.value,
                          Decimal(0), Decimal(0), "NEW", 1, 1)  # fmt: skip
    om.on_response(wire.OrderStatus(queries[-1].command_id, 1, info))
    assert om.get(coid).status is OrderStatus.NEW and not om.pending
    assert len(out.orders) == 1


def test_unknown_order_is_sent_again_with_the_same_client_order_id() -> None:
    om, out = make()
    coid = om.place("BUY", Q, P, 0, "entry")
    om.check_timeouts(S)
    om.on_response(error(out.of(wire.QueryOrder)[-1], "UNKNOWN_ORDER"))
    assert len(out.orders) == 2
    first, again = out.orders
    assert again.client_order_id == first.client_order_id == coid
    assert again.command_id != first.command_id and om.stats["resends"] == 1
    # The first send arrived after all: the copy is refused as a duplicate, the manager queries.
    om.on_response(placed(first))
    om.on_response(error(again, "DUPLICATE_ORDER"))
    assert out.sent[-1].__class__ is wire.QueryOrder and out.sent[-1].client_order_id == coid
    assert om.get(coid).status is OrderStatus.NEW
    assert {o.client_order_id for o in out.orders} == {coid}


def test_unknown_after_every_resend_gives_the_order_up() -> None:
    om, out = make()
    coid = om.place("BUY", Q, P, 0, "entry")
    t = 0
    for _ in range(3):
        t += S
        om.check_timeouts(t)
        om.on_response(error(out.of(wire.QueryOrder)[-1], "UNKNOWN_ORDER"))
    assert om.get(coid).status is OrderStatus.REJECTED and not om.has_open_order()
    assert {o.client_order_id for o in out.orders} == {coid} and len(out.orders) == 3


def test_an_order_no_query_could_learn_about_stays_in_doubt_and_is_queried_until_answered() -> None:
    """A silent engine (real mode: its worker busy at the venue with this very order for up to
    30 s): after MAX_QUERIES quick queries the order is in doubt, never taken as refused. It stays
    unsettled, is queried every DOUBT_QUERY_NS, and a late answer settles it as it says."""
    om, out = make()
    coid = om.place("BUY", Q, P, 0, "entry")
    for k in range(1, MAX_QUERIES + 3):
        om.check_timeouts(k * S)
    assert len(out.of(wire.QueryOrder)) == MAX_QUERIES
    o = om.get(coid)
    assert (o.status, o.doubt, om.stats["in_doubt"]) == (OrderStatus.PENDING, DOUBT_SILENT, 1)
    assert om.has_open_order() and len(out.orders) == 1
    t = (MAX_QUERIES + 1) * S  # when the last quick query timed out
    om.check_timeouts(t + DOUBT_QUERY_NS - 1)
    assert len(out.of(wire.QueryOrder)) == MAX_QUERIES
    om.check_timeouts(t + DOUBT_QUERY_NS)
    assert len(out.of(wire.QueryOrder)) == MAX_QUERIES + 1
    # Unanswered again: no burst of quick queries, the next one a period later.
    om.check_timeouts(t + DOUBT_QUERY_NS + S)
    assert len(out.of(wire.QueryOrder)) == MAX_QUERIES + 1 and om.stats["in_doubt"] == 1
    # The engine answers at last: the order was placed and filled.
    cmd = out.orders[0]
    om.on_response(placed(cmd))
    assert o.doubt == "" and om.on_response(execution(cmd, "0.2", "100", 1)) is not None
    assert o.status is OrderStatus.FILLED and not om.has_open_order()
    om.check_timeouts(t + 3 * DOUBT_QUERY_NS)
    assert len(out.of(wire.QueryOrder)) == MAX_QUERIES + 1 and not om.doubt_next


def test_an_order_of_unknown_outcome_is_in_doubt_until_the_venue_says() -> None:
    """`UNKNOWN_OUTCOME` (the engine could learn neither way whether the venue took it) is no
    refusal: the order stays unsettled and is queried; the venue finding it filled settles it
    filled, and an order the engine then says it does not know was not placed (never re-sent)."""
    for found in (True, False):
        om, out = make()
        coid = om.place("BUY", Q, P, 0, "entry")
        cmd = out.orders[0]
        om.on_response(error(cmd, "UNKNOWN_OUTCOME", "unknown outcome of new order"))
        o = om.get(coid)
        assert (o.status, o.doubt) == (OrderStatus.PENDING, DOUBT_OUTCOME) and om.has_open_order()
        assert om.breaker.failures == 1 and not out.of(wire.QueryOrder)
        om.check_timeouts(DOUBT_QUERY_NS)
        (q,) = out.of(wire.QueryOrder)
        if found:
            info = wire.OrderInfo(coid, "X-1", "POLUSDT", "BUY", "LIMIT", "GTC", Q.value, P.value,
                                  Q.value, Q.value * P.value, "FILLED", 1, 1)  # fmt: skip
            om.on_response(wire.OrderStatus(q.command_id, 1, info))
            om.on_response(execution(cmd, "0.2", "100", 1))
            assert (o.status, o.filled, o.doubt) == (OrderStatus.FILLED, Q.value, "")
        else:
            om.on_response(error(q, "UNKNOWN_ORDER"))
            assert o.status is OrderStatus.REJECTED and o.venue_filled == 0
        assert not om.has_open_order() and len(out.orders) == 1, found


def test_a_query_the_engine_could_not_answer_puts_the_order_in_doubt() -> None:
    """A query answered with an error other than UNKNOWN_ORDER (the venue unreachable) teaches
    nothing: the order is asked about again a period later instead of being left unqueried."""
    om, out = make()
    coid = om.place("BUY", Q, P, 0, "entry")
    om.on_response(placed(out.orders[0]))
    om.check_timeouts(0)
    om.cancel(coid, 0)
    om.on_response(error(out.of(wire.CancelOrder)[0], "UNKNOWN_ORDER"))  # too late: queried
    (q,) = out.of(wire.QueryOrder)
    om.on_response(error(q, "VENUE", "HTTP 502"))
    assert om.get(coid).doubt == DOUBT_SILENT and om.has_open_order()
    om.check_timeouts(DOUBT_QUERY_NS)
    assert len(out.of(wire.QueryOrder)) == 2


def test_an_order_the_engine_went_quiet_on_is_queried() -> None:
    """A resting order not heard of for QUIET_QUERY_NS is queried (once a period, the answer
    restarting it); one the engine keeps talking about is not."""
    om, out = make()
    coid = om.place("BUY", Q, P, 0, "entry")
    om.on_response(placed(out.orders[0]))  # heard at 0 (the manager's clock)
    om.check_timeouts(QUIET_QUERY_NS - 1)
    assert not out.of(wire.QueryOrder)
    om.check_timeouts(QUIET_QUERY_NS)
    (q,) = out.of(wire.QueryOrder)
    assert q.client_order_id == coid and om.stats["quiet_queries"] == 1
    om.check_timeouts(QUIET_QUERY_NS + S // 2)  # its answer is awaited: not asked again
    assert len(out.of(wire.QueryOrder)) == 1


def test_fills_the_engine_counted_but_never_sent_are_made_up_from_its_figures() -> None:
    """The order's status says 100 filled, its OrderExecution was lost on the way: after
    MISSING_FILLS_NS it is treated as after an outage (recovered, queried), and the answer's figures
    make up the missing fill once; the order settles."""
    clock = [0]
    out = Outbox()
    om = OrderManager("POLUSDT", out, timeout_ns=S, clock=lambda: clock[0])
    coid = om.place("BUY", Q, P, 0, "entry")
    om.on_response(placed(out.orders[0], "FILLED"))  # the fill itself never comes
    o = om.get(coid)
    assert (o.venue_filled, o.filled) == (Q.value, 0) and not o.settled
    om.check_timeouts(MISSING_FILLS_NS - 1)
    assert not out.of(wire.QueryOrder)
    om.check_timeouts(MISSING_FILLS_NS)
    (q,) = out.of(wire.QueryOrder)
    assert o.recovered and om.stats["missing_fills"] == 1
    info = wire.OrderInfo(coid, "X-1", "POLUSDT", "BUY", "LIMIT", "GTC", Q.value, P.value,
                          Q.value, Q.value * P.value, "FILLED", 1, 1)  # fmt: skip
    om.on_response(wire.OrderStatus(q.command_id, 1, info))
    (fill,) = om.reconciled_fills
    assert (fill.last_quantity, fill.last_price) == (Q.value, P.value) and o.settled
    om.check_timeouts(2 * MISSING_FILLS_NS)
    assert len(out.of(wire.QueryOrder)) == 1


def test_rejected_order_is_settled() -> None:
    om, out = make()
    om.place("BUY", Q, P, 0, "entry")
    om.on_response(error(out.orders[0], "VALIDATION"))
    assert not om.has_open_order() and om.stats["errors"] == 1


def test_cancel_waits_for_reported_fills() -> None:
    om, out = make()
    coid = om.place("BUY", Q, P, 0, "entry")
    cmd = out.orders[0]
    om.on_response(placed(cmd))
    assert om.cancel(coid, 0) and not om.cancel(coid, 0)  # one cancel at a time
    om.on_response(canceled(out.of(wire.CancelOrder)[0], filled="30"))
    o = om.get(coid)
    assert o.status is OrderStatus.CANCELED and not o.settled  # 30 filled, fills not here yet
    om.on_response(execution(cmd, "0.2", "30", 7, "PARTIALLY_FILLED", cumulative="30"))
    assert o.settled and o.status is OrderStatus.CANCELED


def test_a_cancel_that_comes_after_the_fill_is_a_race_not_an_error() -> None:
    b = CircuitBreaker(failures=1, open_ns=10 * S)
    out = Outbox()
    om = OrderManager("POLUSDT", out, timeout_ns=S, breaker=b, clock=lambda: 0)
    coid = om.place("BUY", Q, P, 0, "entry")
    om.on_response(placed(out.orders[0]))
    assert om.cancel(coid, 0)
    om.on_response(error(out.of(wire.CancelOrder)[0], "UNKNOWN_ORDER"))
    assert (om.stats["cancel_too_late"], om.stats["errors"]) == (1, 0)
    assert b.state(0) is BreakerState.CLOSED  # one failure would have opened it
    assert out.sent[-1].__class__ is wire.QueryOrder and out.sent[-1].client_order_id == coid
    # Any other refused command (here the status query) is an error and a failure.
    om.on_response(error(out.sent[-1], "NOT_SYNCED"))
    assert om.stats["errors"] == 1 and b.state(0) is BreakerState.OPEN


def test_breaker_opens_on_errors_and_timeouts_half_opens_and_closes() -> None:
    b = CircuitBreaker(failures=3, open_ns=10 * S)
    out = Outbox()
    om = OrderManager("POLUSDT", out, timeout_ns=S, breaker=b, clock=lambda: 0)
    for _ in range(2):
        om.place("BUY", Q, P, 0, "entry")
        om.on_response(error(out.orders[-1], "NOT_SYNCED"))
    assert b.state(0) is BreakerState.CLOSED
    om.place("BUY", Q, P, 0, "entry")
    om.check_timeouts(S)  # a timeout is a failure too: the third in a row
    assert b.state(S) is BreakerState.OPEN and not b.allows_entry(2 * S)
    assert b.state(11 * S) is BreakerState.HALF_OPEN
    assert b.allows_entry(11 * S) and not b.allows_entry(11 * S)  # one trial only
    om.place("BUY", Q, P, 11 * S, "entry")  # the trial, unanswered
    om.check_timeouts(12 * S)
    assert b.state(12 * S) is BreakerState.OPEN
    assert b.allows_entry(22 * S)
    om.place("BUY", Q, P, 22 * S, "entry")
    om.on_response(placed(out.orders[-1]))
    assert b.state(22 * S) is BreakerState.CLOSED


def test_success_resets_the_failure_count() -> None:
    b = CircuitBreaker(failures=2, open_ns=S)
    b.failure(0, "x")
    b.success()
    b.failure(0, "y")
    assert b.state(0) is BreakerState.CLOSED


def test_settled_orders_are_forgotten_unless_a_position_or_a_command_still_needs_them() -> None:
    om, out = make()
    done, kept, open_, cancelling = (om.place("BUY", Q, P, 0, t) for t in ("a", "b", "c", "d"))
    a, b, _, d = out.orders
    om.on_response(placed(d))
    assert om.cancel(cancelling, 0)  # then it fills before the cancel arrives: the answer is awaited
    for cmd in (a, b, d):
        om.on_response(placed(cmd, "FILLED"))
        om.on_response(execution(cmd, "0.2", "100", 1, cumulative="100"))
    assert om.forget_settled(keep=[kept]) == 1
    assert om.get(done) is None and {kept, open_, cancelling} <= set(om.orders)
    assert om.snapshot(keep=[kept])["orders"].keys() == set(om.orders)
    # a late copy of a forgotten order's fill is ignored, never applied again
    assert om.on_response(execution(a, "0.2", "100", 1, cumulative="100")) is None
    assert om.stats["fills"] == 3 and om.forget_settled(keep=[kept]) == 0


def _info(coid: str, status: str = "NEW") -> wire.OrderInfo:
    return wire.OrderInfo(coid, "X-1", "POLUSDT", "BUY", "LIMIT", "GTC", Q.value, P.value,
                          Decimal(0), Decimal(0), status, 1, 1)  # fmt: skip


def test_reconciliation_ignores_the_answer_to_a_query_asked_again() -> None:
    om, out = make()
    coid = om.place("BUY", Q, P, 0, "entry")
    om.on_response(placed(out.orders[0]))
    om.reconcile(0)
    first = out.sent[-1]
    assert isinstance(first, wire.QueryOpenOrders) and om.reconciling
    om.check_timeouts(S)  # no answer: asked again, with a new command id
    again = out.sent[-1]
    assert isinstance(again, wire.QueryOpenOrders) and again.command_id != first.command_id
    assert om.reconcile_id == again.command_id
    # The late answer to the first query (it lists an order unknown here, not ours): ignored. Taken,
    # it would cancel the stranger and query our order.
    sent = len(out.sent)
    stale = wire.OpenOrders(first.command_id, 1, "POLUSDT", (_info("stranger"),))
    assert om.on_response(stale) is None
    assert len(out.sent) == sent and om.reconciling and om.reconcile_id == again.command_id
    assert om.stats["orphans_canceled"] == 0 and "stranger" not in om.orders
    assert om.get(coid).status is OrderStatus.NEW
    # The current query's answer lists our order: reconciled, nothing more to send.
    om.on_response(wire.OpenOrders(again.command_id, 2, "POLUSDT", (_info(coid),)))
    assert not om.reconciling and om.reconcile_id is None and len(out.sent) == sent
    assert om.get(coid).status is OrderStatus.NEW and not om.pending


def test_every_acknowledgement_is_a_success_that_resets_the_failure_count() -> None:
    # With a breaker opening at the second failure in a row, each acknowledgement between two
    # failures must count as a success: the accepted order, the accepted cancel, the status answer
    # (to the query that follows a command unanswered, itself the failure).
    b = CircuitBreaker(failures=2, open_ns=10 * S)
    out = Outbox()
    om = OrderManager("POLUSDT", out, timeout_ns=S, breaker=b, clock=lambda: 0)
    coid = om.place("BUY", Q, P, 0, "entry")
    assert coid is not None

    def status_answer() -> None:
        query = out.of(wire.QueryOrder)[-1]
        om.on_response(wire.OrderStatus(query.command_id, 1, _info(query.client_order_id)))

    acks = (
        (lambda: b.failure(0, "venue"), lambda: om.on_response(placed(out.orders[0]))),
        (
            lambda: b.failure(0, "venue"),
            lambda: (om.cancel(coid, 0), om.on_response(canceled(out.of(wire.CancelOrder)[-1]))),
        ),
        (lambda: (om.place("BUY", Q, P, 0, "entry"), om.check_timeouts(S)), status_answer),
    )
    for k, (fail, ack) in enumerate(acks):
        fail()
        assert b.failures == 1, k
        ack()
        assert b.failures == 0 and b.stats["successes"] == k + 1, k
        assert b.state(0) is BreakerState.CLOSED, k
    b.failure(0, "venue")
    assert b.state(0) is BreakerState.CLOSED


def test_the_timeout_is_the_configured_one_not_a_fixed_second() -> None:
    """A command is followed up once it has been unanswered for `timeout_ns` (here 3 s), and not
    before: a manager that timed out after a fixed second would query a healthy order too early."""
    om, out = make(timeout_ns=3 * S)
    coid = om.place("BUY", Q, P, 0, "entry")
    om.check_timeouts(3 * S - 1)
    assert out.sent == out.orders and om.stats["timeouts"] == 0 and len(om.pending) == 1
    om.check_timeouts(3 * S)
    assert [type(m) for m in out.sent] == [wire.PlaceOrder, wire.QueryOrder]
    assert out.sent[-1].client_order_id == coid and om.stats["timeouts"] == 1


def test_an_order_canceled_before_the_engine_saw_it_is_never_sent_again() -> None:
    """The strategy canceled the order; the cancel is refused (UNKNOWN_ORDER), and so is the follow-up
    query: the engine never got it. Re-sending it would place an order the strategy no longer wants,
    so it is given up (REJECTED, settled) instead."""
    om, out = make()
    coid = om.place("BUY", Q, P, 0, "entry")
    assert coid is not None and om.cancel(coid, 0)
    om.on_response(error(out.of(wire.CancelOrder)[0], "UNKNOWN_ORDER"))
    query = out.sent[-1]
    assert isinstance(query, wire.QueryOrder) and query.client_order_id == coid
    om.on_response(error(query, "UNKNOWN_ORDER"))
    assert len(out.orders) == 1 and om.stats["resends"] == 0
    o = om.get(coid)
    assert o.status is OrderStatus.REJECTED and o.settled and not om.has_open_order()


def test_fills_arriving_out_of_order_are_counted_by_cumulative_quantity() -> None:
    """Fills count by cumulative quantity: the last fill (cumulative 100) arriving before the first
    one (40) counts all 100 at its price (the 40 it covers included), and the first one, arriving
    after, is a duplicate: the filled quantity is 100, never 140."""
    om, out = make()
    coid = om.place("BUY", Q, P, 0, "entry")
    cmd = out.orders[0]
    om.on_response(placed(cmd))
    second = execution(cmd, "0.2", "60", 2, "FILLED", fee="0.06", cumulative="100")
    got = om.on_response(second)
    assert got is not None and (got.last_quantity, got.fee) == (Decimal("100"), Decimal("0.1"))
    o = om.get(coid)
    assert o.status is OrderStatus.FILLED and o.settled and not om.has_open_order()
    first = execution(cmd, "0.2", "40", 1, "PARTIALLY_FILLED", cumulative="40")
    assert om.on_response(first) is None
    assert o.settled and o.filled == Decimal("100") and o.status is OrderStatus.FILLED
    assert o.quote == Decimal("20.0")
    assert (om.stats["fills"], om.stats["duplicate_fills"]) == (1, 1)


def test_a_cancel_refused_for_another_reason_can_be_asked_again() -> None:
    """A cancel the engine refused (not the UNKNOWN_ORDER race) did not happen: the order still rests,
    so the strategy must be able to send another cancel for it."""
    om, out = make()
    coid = om.place("BUY", Q, P, 0, "entry")
    om.on_response(placed(out.orders[0]))
    assert om.cancel(coid, 0)
    om.on_response(error(out.of(wire.CancelOrder)[0], "NOT_SYNCED"))
    assert om.stats["errors"] == 1 and om.get(coid).status is OrderStatus.NEW
    assert om.cancel(coid, 0)
    first, again = out.of(wire.CancelOrder)
    assert again.client_order_id == first.client_order_id == coid and again.command_id != first.command_id


def test_an_acknowledged_order_is_never_sent_again() -> None:
    """Its PlaceOrder timed out and was queried, then the (late) acknowledgement arrived: the order is
    at the engine. A query answer of UNKNOWN_ORDER racing with it must not re-send the order (only an
    order never acknowledged is re-sent)."""
    om, out = make()
    coid = om.place("BUY", Q, P, 0, "entry")
    om.check_timeouts(S)
    query = out.of(wire.QueryOrder)[0]
    om.on_response(placed(out.orders[0]))
    assert om.get(coid).status is OrderStatus.NEW
    om.on_response(error(query, "UNKNOWN_ORDER"))
    assert len(out.orders) == 1 and om.stats["resends"] == 0
    assert om.get(coid).status is OrderStatus.NEW


def test_an_acknowledged_order_the_engine_lost_expires_with_its_fills() -> None:
    """The engine acknowledged the order and reported a fill of 40, then lost the order (a paper
    engine restarted faster than the silence that triggers a reconciliation). The exit's cancel is
    refused as UNKNOWN_ORDER, and so is the query sent after it: the order is gone. It expires with
    the 40 it filled (settled, so the position is free again), is never sent again, and counts as lost
    and as a failure of the engine."""
    b = CircuitBreaker(5, 10 * S)
    out = Outbox()
    om = OrderManager("POLUSDT", out, timeout_ns=S, breaker=b, clock=lambda: 0)
    coid = om.place("BUY", Q, P, 0, "entry")
    assert coid is not None
    cmd = out.orders[0]
    om.on_response(placed(cmd))
    om.on_response(execution(cmd, "0.2", "40", 1, "PARTIALLY_FILLED", cumulative="40"))
    assert om.cancel(coid, 0)
    om.on_response(error(out.of(wire.CancelOrder)[0], "UNKNOWN_ORDER"))
    assert b.failures == 0 and om.stats["cancel_too_late"] == 1
    query = out.sent[-1]
    assert isinstance(query, wire.QueryOrder) and query.client_order_id == coid
    om.on_response(error(query, "UNKNOWN_ORDER"))
    o = om.get(coid)
    assert o.status is OrderStatus.EXPIRED and o.filled == o.venue_filled == Decimal("40")
    assert o.settled and not om.has_open_order() and not om.pending
    assert len(out.orders) == 1 and om.stats["resends"] == 0
    assert om.stats["lost"] == 1 and b.failures == 1


def test_a_late_error_for_a_forgotten_command_is_not_taken_as_the_answer_to_another() -> None:
    """Responses are matched by command id only. The PlaceOrder timed out and its QueryOrder is out;
    an Error then arrives for the PlaceOrder's command id (no longer awaited): it is counted, and the
    query is still awaited (its own timeout keeps following the order up)."""
    om, out = make()
    coid = om.place("BUY", Q, P, 0, "entry")
    om.check_timeouts(S)
    query = out.of(wire.QueryOrder)[0]
    om.on_response(error(out.orders[0], "NOT_SYNCED"))
    assert om.stats["errors"] == 1 and set(om.pending) == {query.command_id}
    assert om.get(coid).status is OrderStatus.PENDING
    om.check_timeouts(2 * S)
    assert len(out.of(wire.QueryOrder)) == 2 and len(out.orders) == 1


def test_a_live_order_status_never_makes_up_a_fill() -> None:
    """Fills come from OrderExecution. For an order of this session (not recovered), a status answer
    saying it is filled makes no fill: the OrderExecution is on its way and would otherwise count the
    quantity twice. The order settles when that execution arrives."""
    om, out = make()
    coid = om.place("BUY", Q, P, 0, "entry")
    cmd = out.orders[0]
    om.check_timeouts(S)
    info = wire.OrderInfo(coid, "X-1", "POLUSDT", "BUY", "LIMIT", "GTC", Q.value, P.value,
                          Q.value, Decimal("20"), "FILLED", 1, 1)  # fmt: skip
    assert om.on_response(wire.OrderStatus(out.sent[-1].command_id, 1, info)) is None
    o = om.get(coid)
    assert om.reconciled_fills == [] and o.filled == 0 and o.status is OrderStatus.FILLED
    assert not o.settled and om.has_open_order()
    om.on_response(execution(cmd, "0.2", "100", 1, cumulative="100"))
    assert o.settled and o.filled == Decimal("100") and om.stats["fills"] == 1


def test_a_fill_does_not_take_the_place_of_the_answer_to_a_cancel() -> None:
    """A fill carries the PlaceOrder's command id: it must not be taken as the answer to the cancel
    out for the same order. The cancel stays awaited, and unanswered it is followed up by a query."""
    om, out = make()
    coid = om.place("BUY", Q, P, 0, "entry")
    cmd = out.orders[0]
    om.on_response(placed(cmd))
    assert om.cancel(coid, 0)
    cancel = out.of(wire.CancelOrder)[0]
    om.on_response(execution(cmd, "0.2", "40", 1, "PARTIALLY_FILLED", cumulative="40"))
    assert set(om.pending) == {cancel.command_id}
    om.check_timeouts(S)
    assert isinstance(out.sent[-1], wire.QueryOrder) and out.sent[-1].client_order_id == coid
    assert om.stats["timeouts"] == 1


def test_a_timed_out_command_of_a_settled_order_is_not_followed_up() -> None:
    """The cancel raced the fill and its answer never came: the order is settled (filled, every fill
    here), nothing about it can change, so the timeout counts as a failure but sends no query and
    leaves nothing awaited."""
    om, out = make()
    coid = om.place("BUY", Q, P, 0, "entry")
    cmd = out.orders[0]
    om.on_response(placed(cmd))
    assert om.cancel(coid, 0)
    om.on_response(execution(cmd, "0.2", "100", 1, cumulative="100"))
    assert om.get(coid).settled
    sent = len(out.sent)
    om.check_timeouts(S)
    assert len(out.sent) == sent and not om.pending and om.stats["timeouts"] == 1


def test_a_recovered_order_canceled_with_fills_nobody_heard_asks_their_price_and_settles() -> None:
    """After a reconciliation, the cancel of a recovered order reports 30 filled that no OrderExecution
    brought (they were published while nobody listened, and will never come again): the manager
    queries the order, and its status (quantity and quote filled) becomes one made-up fill, so the
    order settles instead of waiting forever for those fills."""
    om, out = make()
    coid = om.place("BUY", Q, P, 0, "entry")
    assert coid is not None
    om.on_response(placed(out.orders[0]))
    om.reconcile(0)
    om.on_response(wire.OpenOrders(out.sent[-1].command_id, 1, "POLUSDT", (_info(coid),)))
    assert not om.reconciling and om.get(coid).recovered
    assert om.cancel(coid, 0)
    om.on_response(canceled(out.of(wire.CancelOrder)[0], filled="30"))
    query = out.sent[-1]
    assert isinstance(query, wire.QueryOrder) and query.client_order_id == coid
    o = om.get(coid)
    assert o.status is OrderStatus.CANCELED and not o.settled
    info = wire.OrderInfo(coid, "X-1", "POLUSDT", "BUY", "LIMIT", "GTC", Q.value, P.value,
                          Decimal("30"), Decimal("6.0"), "CANCELED", 1, 2)  # fmt: skip
    om.on_response(wire.OrderStatus(query.command_id, 1, info))
    (fill,) = om.reconciled_fills
    assert (fill.last_quantity, fill.last_price) == (Decimal("30"), Decimal("0.2"))
    assert o.settled and o.filled == Decimal("30") and not om.has_open_order()


def test_a_made_up_fill_estimates_a_buys_fee_in_the_coins_bought_and_a_sells_in_quote() -> None:
    """Every venue (Binance, exchange-sim, the paper engine) takes a buy's commission from the coins
    bought: the made-up fill of a recovered buy estimates its fee in the base asset (30 x 0.001 =
    0.03 of them), of a sell in the quote asset (0.2 x 30 x 0.001 = 0.006)."""
    for side, fee, asset in (
        ("BUY", Decimal("0.03"), ESTIMATED_BASE_FEE),
        ("SELL", Decimal("0.006"), ESTIMATED_FEE),
    ):
        om, out = make()
        om.maker_rate = Decimal("0.001")
        coid = om.place(side, Q, P, 0, "entry")
        assert coid is not None
        om.on_response(placed(out.orders[0]))
        om.reconcile(0)
        om.on_response(wire.OpenOrders(out.sent[-1].command_id, 1, "POLUSDT", ()))
        query = out.sent[-1]
        info = wire.OrderInfo(coid, "X-1", "POLUSDT", side, "LIMIT", "GTC", Q.value, P.value,
                              Decimal("30"), Decimal("6.0"), "CANCELED", 1, 2)  # fmt: skip
        om.on_response(wire.OrderStatus(query.command_id, 1, info))
        (fill,) = om.reconciled_fills
        assert (fill.last_quantity, fill.fee, fill.fee_asset) == (Decimal("30"), fee, asset), side


def _recovered_with_made_up_fill(filled: str, quote: str) -> tuple[OrderManager, Outbox, wire.PlaceOrder]:
    """A SELL of 500 acknowledged, then reconciled (the engine restarted): the engine lists it with
    `filled` of it done for `quote`."""
    om, out = make()
    coid = om.place("SELL", Quantity(Decimal("500")), Price(Decimal("0.966")), 0, "target")
    assert coid is not None
    cmd = out.orders[0]
    om.on_response(placed(cmd))
    om.reconcile(0)
    info = wire.OrderInfo(coid, "X-1", "POLUSDT", "SELL", "LIMIT", "GTC", cmd.quantity, cmd.price,
                          Decimal(filled), Decimal(quote), "PARTIALLY_FILLED", 1, 2)  # fmt: skip
    om.on_response(wire.OpenOrders(out.sent[-1].command_id, 1, "POLUSDT", (info,)))
    return om, out, cmd


def test_the_real_execution_of_a_made_up_fill_is_a_duplicate_and_only_what_it_adds_counts() -> None:
    """The reconciliation made up one fill of 200 from the engine's figures; the restarted engine then
    publishes the venue's own executions of those 200 (a new trade id): they add nothing and are
    dropped as duplicates. An execution reaching 250 adds 50 (not its whole 100), its fee in
    proportion."""
    om, _, cmd = _recovered_with_made_up_fill("200", "193.2")
    (made_up,) = om.reconciled_fills
    o = om.get(cmd.client_order_id)
    assert made_up.last_quantity == Decimal("200") and o.filled == Decimal("200")
    real = execution(cmd, "0.966", "200", 777, "PARTIALLY_FILLED", fee="0.2", cumulative="200")
    assert om.on_response(real) is None
    assert o.filled == Decimal("200") and om.stats["duplicate_fills"] == 1 and om.stats["fills"] == 0
    more = execution(cmd, "0.967", "100", 778, "PARTIALLY_FILLED", fee="0.1", cumulative="250")
    got = om.on_response(more)
    assert got is not None and (got.last_quantity, got.last_price, got.fee) == (
        Decimal("50"),
        Decimal("0.967"),
        Decimal("0.05"),
    )
    assert o.filled == Decimal("250") and o.quote == Decimal("193.2") + Decimal("48.35")
    assert om.stats["fills"] == 1 and om.stats["duplicate_fills"] == 1


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"symbol": "ETHUSDT"}, "symbol ETHUSDT (order's POLUSDT)"),
        ({"side": "SELL"}, "side SELL (order's BUY)"),
        ({"last_quantity": Decimal("1000")}, "last_quantity 1000 above the order's quantity 100"),
        (
            {"cumulative_quantity": Decimal("100.5")},
            "cumulative_quantity 100.5 above the order's quantity 100",
        ),
        ({"last_quantity": Decimal("50")}, "last_quantity 50 above cumulative_quantity 40"),
        ({"last_price": Decimal("1000000")}, "last_price 1000000 past the order's limit 0.2000"),
        # A fee past any rate [fees] allows, either way, in the coins bought or in the quote.
        ({"fee": Decimal("150"), "fee_asset": "POL"}, "fee 150 POL over 0.1 of the fill's 40"),
        ({"fee": Decimal("-50"), "fee_asset": "POL"}, "fee -50 POL over 0.1 of the fill's 40"),
        ({"fee": Decimal("-1" + "0" * 40), "fee_asset": "POL"}, "fee -1" + "0" * 40 + " POL over"),
        ({"fee": Decimal("0.9")}, "fee 0.9 USDT over 0.1 of the fill's 8.0"),
        ({"fee": Decimal("-0.5"), "fee_asset": "BNB"}, "fee -0.5 BNB: a rebate in a third asset"),
    ],
)
def test_an_execution_that_cannot_be_of_the_order_is_refused_and_counted(
    change: dict[str, object], named: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A 100 BUY at 0.2000 takes no execution of another symbol or side, nor one whose last or
    cumulative quantity exceeds the 100 ordered (or the last the cumulative), nor one priced past its
    limit, nor one whose fee no rate of `[fees]` could charge (a fee of 150 % of the coins bought left
    the position short; one of -1e40 stopped the strategy on the sell's rounding): refused (changes
    nothing), counted, logged naming the field."""
    om, out = make()
    coid = om.place("BUY", Q, P, 0, "entry")
    cmd = out.orders[0]
    om.on_response(placed(cmd))
    bad = replace(execution(cmd, "0.2", "40", 1, "PARTIALLY_FILLED", cumulative="40"), **change)
    with caplog.at_level(logging.ERROR, "flashcrash.trading_engine.orders"):
        assert om.on_response(bad) is None
    o = om.get(coid)
    assert o.filled == 0 and o.status is OrderStatus.NEW and o.venue_filled == 0
    assert (om.stats["refused_fills"], om.stats["fills"]) == (1, 0)
    assert f"execution 1 of order {coid} refused: {named}" in caplog.text
    # the right execution of the same trade is still taken
    assert om.on_response(execution(cmd, "0.2", "40", 1, "PARTIALLY_FILLED", cumulative="40")) is not None
    assert o.filled == Decimal("40")


def test_reconciled_figures_with_a_fill_and_no_quote_make_up_no_fill_at_price_zero(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The engine lists a recovered order with 200 filled for a quote of 0: a fill made up from that
    would be priced 0 (coins for nothing). The figures are refused (counted, logged naming the order
    and the fields): no fill, the order as it was."""
    with caplog.at_level(logging.ERROR, "flashcrash.trading_engine.orders"):
        om, _, cmd = _recovered_with_made_up_fill("200", "0")
    o = om.get(cmd.client_order_id)
    assert om.reconciled_fills == [] and om.stats["reconciled_fills"] == 0
    assert om.stats["refused_fills"] == 1
    assert o.filled == 0 and o.venue_filled == 0 and o.status is OrderStatus.NEW
    assert (
        f"order {cmd.client_order_id}: engine's figures refused (filled_quantity 200, quote_filled 0,"
        " order quantity 500)" in caplog.text
    )


def test_a_cancel_lost_with_the_engine_is_asked_again_once_the_order_is_known_still_live() -> None:
    """The cancel went to an engine that was killed: no answer. While it is awaited, a status saying
    the order is NEW does not allow a second cancel (the first may still be on its way). Once it
    timed out, the follow-up query's NEW says it was lost: a new cancel may be sent."""
    om, out = make()
    coid = om.place("BUY", Q, P, 0, "entry")
    om.on_response(placed(out.orders[0]))
    assert om.cancel(coid, 0)
    om.on_response(wire.OrderStatus("other-query", 1, _info(coid)))
    assert om.get(coid).cancel_sent and not om.cancel(coid, 0)
    om.check_timeouts(S)
    query = out.sent[-1]
    assert isinstance(query, wire.QueryOrder) and query.client_order_id == coid
    om.on_response(wire.OrderStatus(query.command_id, 1, _info(coid, "PARTIALLY_FILLED")))
    assert not om.get(coid).cancel_sent
    assert om.cancel(coid, S)
    first, again = out.of(wire.CancelOrder)
    assert again.client_order_id == coid and again.command_id != first.command_id


def test_a_restored_cancel_with_no_answer_is_asked_again_when_the_engine_lists_the_order() -> None:
    """A process restarted after sending a cancel: the cancel is known (`cancel_sent`) but no answer
    is awaited any more. The engine's open orders still list the order: the cancel was lost, and may
    be sent again; an orphan's cancel (the manager's own) is sent again at once."""
    om, out = make()
    coid = om.place("BUY", Q, P, 0, "entry")
    om.on_response(placed(out.orders[0]))
    assert om.cancel(coid, 0)
    restored = OrderManager("POLUSDT", out, timeout_ns=S, clock=lambda: 0)
    restored.restore(om.snapshot())
    assert restored.get(coid).cancel_sent and not restored.pending
    restored.reconcile(0)
    ask = out.sent[-1]
    restored.on_response(wire.OpenOrders(ask.command_id, 1, "POLUSDT", (_info(coid), _info("stranger"))))
    assert not restored.get(coid).cancel_sent and restored.get("stranger").cancel_sent
    assert [c.client_order_id for c in out.of(wire.CancelOrder)] == [coid, "stranger"]
    stranger = restored.get("stranger")
    restored.check_timeouts(S)  # the orphan's cancel went unanswered too: the order is queried
    query = out.sent[-1]
    assert isinstance(query, wire.QueryOrder) and query.client_order_id == "stranger"
    restored.on_response(wire.OrderStatus(query.command_id, 2, _info("stranger")))
    assert stranger.cancel_sent
    assert [c.client_order_id for c in out.of(wire.CancelOrder)] == [coid, "stranger", "stranger"]


def _half_open() -> tuple[OrderManager, Outbox, CircuitBreaker, list[int]]:
    """A manager whose breaker (3 failures, open 10 s) opened at 0 and is half-open at 10 s, with an
    order of its own resting (placed before it opened); its clock is `now[0]`."""
    b = CircuitBreaker(failures=3, open_ns=10 * S)
    out, now = Outbox(), [0]
    om = OrderManager("POLUSDT", out, timeout_ns=S, breaker=b, clock=lambda: now[0])
    om.place("BUY", Q, P, 0, "entry")
    om.on_response(placed(out.orders[0]))
    for _ in range(3):
        b.failure(0, "venue")
    now[0] = 10 * S
    assert b.state(now[0]) is BreakerState.HALF_OPEN
    return om, out, b, now


def test_in_half_open_only_the_answer_to_the_trial_closes_or_reopens_the_breaker() -> None:
    """Messages answering no command awaited (an unsolicited cancel, a late or unknown answer) and
    the answers to other commands decide nothing: the trial's own answer does, by its command id."""
    om, out, b, now = _half_open()
    resting = out.orders[0]
    assert b.allows_entry(now[0])
    trial_coid = om.place("BUY", Q, P, now[0], "entry")
    trial = out.orders[-1]
    assert om.cancel(resting.client_order_id, now[0])  # a command that is not the trial
    cancel = out.of(wire.CancelOrder)[-1]
    for msg in (
        wire.OrderCanceled(None, 1, resting.client_order_id, "X-1", "POLUSDT", Decimal(0), "CANCELED"),
        replace(placed(trial), command_id="not-ours"),
        wire.OrderStatus(None, 1, _info(trial_coid)),
        wire.Error(None, 1, "INTERNAL", None, "venue down"),
        canceled(cancel),
    ):
        om.on_response(msg)
        assert b.state(now[0]) is BreakerState.HALF_OPEN and b.trial_taken, msg
    om.on_response(error(trial, "INTERNAL", "venue down"))
    assert b.state(now[0]) is BreakerState.OPEN and b.stats["to_open"] == 2  # opened again
    now[0] = 20 * S
    assert b.allows_entry(now[0])  # a new trial
    om.place("BUY", Q, P, now[0], "entry")
    om.on_response(placed(out.orders[-1]))
    assert b.state(now[0]) is BreakerState.CLOSED and b.failures == 0


def test_a_half_open_trial_refused_by_a_halted_engine_leaves_the_trial_to_the_next_entry() -> None:
    """A HALTED refusal is neither success nor failure; for the trial no other answer would come, so
    the next entry is the trial (instead of every entry waiting for good)."""
    om, out, b, now = _half_open()
    assert b.allows_entry(now[0]) and not b.allows_entry(now[0])
    om.place("BUY", Q, P, now[0], "entry")
    om.on_response(error(out.orders[-1], "HALTED"))
    assert b.state(now[0]) is BreakerState.HALF_OPEN
    assert b.allows_entry(now[0])


def test_a_message_answering_no_command_awaited_is_neither_success_nor_failure() -> None:
    """Closed, with a failure counted: an unsolicited cancel, a status report of no query and the
    late acknowledgement of an order already queried reset nothing; the query's answer does."""
    b = CircuitBreaker(failures=3, open_ns=10 * S)
    out = Outbox()
    om = OrderManager("POLUSDT", out, timeout_ns=S, breaker=b, clock=lambda: 0)
    coid = om.place("BUY", Q, P, 0, "entry")
    om.check_timeouts(S)  # unanswered: a failure, then a query
    assert b.failures == 1
    for msg in (
        wire.OrderCanceled(None, 1, coid, "X-1", "POLUSDT", Decimal(0), "CANCELED"),
        wire.OrderStatus(None, 1, _info(coid)),
        placed(out.orders[0]),  # its PlaceOrder is no longer awaited
    ):
        om.on_response(msg)
        assert b.failures == 1 and b.stats["successes"] == 0, msg
    om.on_response(wire.OrderStatus(out.of(wire.QueryOrder)[-1].command_id, 1, _info(coid)))
    assert b.failures == 0 and b.stats["successes"] == 1


def test_a_trial_filled_before_its_acknowledgement_arrives_is_closed_by_the_acknowledgement() -> None:
    """A fill carries its PlaceOrder's command id but is no answer to it: the acknowledgement after it
    is still the trial's answer (and still awaited, so a lost one is followed up)."""
    om, out, b, now = _half_open()
    assert b.allows_entry(now[0])
    om.place("BUY", Q, P, now[0], "entry")
    trial = out.orders[-1]
    om.on_response(execution(trial, "0.2", "100", 1))
    assert b.state(now[0]) is BreakerState.HALF_OPEN and trial.command_id in om.pending
    om.on_response(placed(trial, "FILLED"))
    assert b.state(now[0]) is BreakerState.CLOSED and not om.pending


def test_a_trial_out_when_the_breaker_was_snapshotted_is_given_to_the_next_entry_after_a_restore() -> None:
    """A restart loses the trial's command (no answer of then is awaited now): restored HALF_OPEN
    with its trial taken, the breaker lets the next entry through as the trial, and only that
    entry's answer decides it."""
    om, out, b, now = _half_open()
    assert b.allows_entry(now[0])
    om.place("BUY", Q, P, now[0], "entry")
    old_trial = out.orders[-1]
    assert b.trial_id == old_trial.command_id and not b.allows_entry(now[0])
    restored = CircuitBreaker(failures=3, open_ns=10 * S)
    restored.restore(b.snapshot())
    assert restored.state(now[0]) is BreakerState.HALF_OPEN
    assert restored.allows_entry(now[0]) and not restored.allows_entry(now[0])
    om2 = OrderManager("POLUSDT", out, timeout_ns=S, breaker=restored, clock=lambda: now[0])
    om2.place("BUY", Q, P, now[0], "entry")
    om2.on_response(placed(old_trial))  # the old trial's acknowledgement: not awaited here
    assert restored.state(now[0]) is BreakerState.HALF_OPEN
    om2.on_response(placed(out.orders[-1]))
    assert restored.state(now[0]) is BreakerState.CLOSED


def test_an_engine_flatten_fill_that_cannot_be_the_flattens_is_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The engine's own flatten is no order of ours, but its fill is still checked against what it
    says of itself: another symbol, more than its order, a last above its cumulative quantity, or a
    fee no rate could charge is refused and counted; the right one is handed on once."""
    om, _ = make()
    good = wire.OrderExecution(
        "halt-1-flatten", 1, "flatten-1", "X-9", "POLUSDT", "SELL", 7, Decimal("0.2"), Decimal("100"),
        Decimal("100"), Decimal("100"), "FILLED", "taker", Decimal("0.02"), "USDT",
    )  # fmt: skip
    bad = [
        replace(good, symbol="ETHUSDT"),
        replace(good, order_quantity=Decimal("1"), cumulative_quantity=Decimal("1")),
        replace(good, cumulative_quantity=Decimal("50")),
        replace(good, fee=Decimal("5")),
    ]
    with caplog.at_level(logging.ERROR, "flashcrash.trading_engine.orders"):
        assert [om.on_response(m) for m in bad] == [None] * 4
    assert om.stats["refused_fills"] == 4 and om.stats["engine_flatten_fills"] == 0
    assert "execution 7 of order flatten-1 refused: symbol ETHUSDT (order's POLUSDT)" in caplog.text
    assert om.on_response(good) == good and om.on_response(good) is None
    assert om.stats["engine_flatten_fills"] == 1


def test_answers_whose_figures_cannot_be_the_orders_are_refused(caplog: pytest.LogCaptureFixture) -> None:
    """An acknowledgement of another quantity, a cancel or a status saying more was filled than was
    ordered: refused and counted, the order as it was. Taken, they left the order waiting forever
    for fills that could never come (its entry never settled, its position never given a target)."""
    om, out = make()
    coid = om.place("BUY", Q, P, 0, "entry")
    cmd = out.orders[0]
    info = wire.OrderInfo(coid, "X-1", "POLUSDT", "BUY", "LIMIT", "GTC", Q.value, P.value,
                          Decimal(5000), Decimal(1000), "FILLED", 1, 1)  # fmt: skip
    with caplog.at_level(logging.ERROR, "flashcrash.trading_engine.orders"):
        om.on_response(replace(placed(cmd, "FILLED"), quantity=Decimal("1000")))
        om.on_response(replace(placed(cmd), symbol="ETHUSDT"))
        om.on_response(wire.OrderCanceled(None, 1, coid, "X-1", "POLUSDT", Decimal(5000), "CANCELED"))
        om.on_response(wire.OrderStatus(None, 1, info))
        om.on_response(wire.OrderStatus(None, 1, replace(info, side="SELL", filled_quantity=Decimal(0))))
    assert om.stats["refused_answers"] == 5 and om.stats["placed"] == 0
    o = om.get(coid)
    assert o.status is OrderStatus.PENDING and o.venue_filled == 0 and o.filled == 0
    assert f"OrderPlaced of order {coid} refused: quantity 1000 (order's 100)" in caplog.text
    assert f"OrderCanceled of order {coid} refused: filled_quantity 5000 above the order's quantity 100" in (
        caplog.text
    )
    assert f"OrderInfo of order {coid} refused: side SELL (order's BUY)" in caplog.text
    # A refused acknowledgement or cancel leaves the order to a query (its answer awaited is gone).
    assert len(out.of(wire.QueryOrder)) >= 1 and all(
        q.client_order_id == coid for q in out.of(wire.QueryOrder)
    )
    # The true answers are still taken.
    om.on_response(placed(cmd, "FILLED"))
    om.on_response(execution(cmd, "0.2", "100", 1))
    assert o.filled == Q.value and om.get(coid).status is OrderStatus.FILLED


def test_responses_about_orders_not_ours_are_counted(caplog: pytest.LogCaptureFixture) -> None:
    """Responses about an order of none of ours change nothing, and are counted (the first logged)."""
    om, out = make()
    om.place("BUY", Q, P, 0, "entry")
    cmd = replace(out.orders[0], client_order_id="not-ours-123")
    with caplog.at_level(logging.WARNING, "flashcrash.trading_engine.orders"):
        assert om.on_response(execution(cmd, "0.2", "100", 1)) is None
        om.on_response(placed(cmd))
    assert om.stats["unknown_order"] == 2 and om.stats["fills"] == 0 and om.stats["placed"] == 0
    assert (
        "OrderExecution of order not-ours-123, none of ours (or one settled and forgotten): ignored"
        in caplog.text
    )
