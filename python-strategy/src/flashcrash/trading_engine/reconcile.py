"""The order manager's reconciliation with the engine (`Reconciliation`, a part of `OrderManager`):
after a restart of either process or an engine outage, the engine's open orders are asked for, our
orders it no longer lists are queried, open orders we do not know are canceled, fills published while
nobody listened are made up once from the engine's figures, and the engine's net position is taken
for the strategy to hold its lots against. Nothing is ever re-sent."""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from decimal import Decimal
from typing import TYPE_CHECKING

from flashcrash import wire
from flashcrash.trading_engine.order_state import (
    ESTIMATED_BASE_FEE,
    ESTIMATED_FEE,
    RECONCILED_TRADE_ID,
    Order,
    OrderStatus,
    Pending,
)
from flashcrash.trading_engine.venue_figures import answer_faults

if TYPE_CHECKING:
    from flashcrash.trading_engine.breaker import CircuitBreaker

log = logging.getLogger("flashcrash.trading_engine.orders")


class Reconciliation:
    """The reconciliation part of `OrderManager` (its state is set up in `OrderManager.__init__`)."""

    symbol: str
    orders: dict[str, Order]
    pending: dict[str, Pending]
    stats: Counter[str]
    breaker: CircuitBreaker
    reconcile_id: str | None
    reconcile_outstanding: set[str]
    engine_position: Decimal | None
    position_check_id: str | None
    position_check_due: int | None
    _check_after_queries: bool
    _fills_seen: set[tuple[str, int]]
    reconciled_fills: list[wire.OrderExecution]
    maker_rate: Decimal
    taker_rate: Decimal

    if TYPE_CHECKING:  # `OrderManager`'s, which the reconciliation uses

        def _send(self, cmd: object, tag: str = "") -> bool: ...
        def _query(self, client_order_id: str, now_ns: int, queries: int) -> None: ...
        def _update(self, coid: str, status: str, venue_filled: Decimal) -> None: ...
        def cancel(self, client_order_id: str, now_ns: int) -> bool: ...
        def _answer_fits(self, what: str, coid: str, wrong: list[str]) -> bool: ...

    @property
    def reconciling(self) -> bool:
        """True from `reconcile` until the engine's open orders, every queried order and the engine's
        net position are known."""
        return (
            self.reconcile_id is not None
            or bool(self.reconcile_outstanding)
            or self._check_after_queries
            or self.position_check_id is not None
            or self.position_check_due is not None
        )

    def reconcile(self, now_ns: int) -> None:
        """After a restart or an engine outage: every unsettled order is marked recovered and the engine
        is asked for its open orders (`QueryOpenOrders`, asked again on timeout). On the answer, our
        orders it lists are updated from its figures, the others are queried (`QueryOrder`), and open
        orders of the symbol we do not know are canceled. Nothing is ever re-sent."""
        for o in self.orders.values():
            if not o.settled:
                o.recovered = True
        self.stats["reconciliations"] += 1
        self._query_open(now_ns)

    def _query_open(self, now_ns: int) -> None:
        q = wire.QueryOpenOrders(str(uuid.uuid4()), now_ns, self.symbol)
        self.reconcile_id = q.command_id
        self._send(q)
        self.pending[q.command_id] = Pending("QueryOpenOrders", "", now_ns)

    def _on_open_orders(self, msg: wire.OpenOrders, now: int) -> None:
        self.reconcile_id = None
        listed = {i.client_order_id: i for i in msg.orders if i.symbol == self.symbol}
        for coid, o in list(self.orders.items()):
            if o.settled:
                continue
            info = listed.pop(coid, None)
            if info is not None:
                self._apply_info(o, info, now)
            else:
                self.reconcile_outstanding.add(coid)
                self._query(coid, now, 0)
        for coid, info in listed.items():
            if coid.startswith("flatten-"):
                continue  # the engine's own flatten order
            log.warning("open order %s at the engine is unknown here: canceling it", coid)
            self.stats["orphans_canceled"] += 1
            cmd = wire.PlaceOrder(
                "", info.created_ts_ns, coid, info.symbol, info.side, info.order_type,
                info.time_in_force, info.quantity, info.price,
            )  # fmt: skip
            self.orders[coid] = Order(cmd, "orphan", OrderStatus(info.status), recovered=True)
            self.cancel(coid, now)
        log.info(
            "reconciliation: %d open at the engine, %d orders queried",
            len(msg.orders),
            len(self.reconcile_outstanding),
        )
        if msg.net_position is not None:  # an engine that tells it (a backtest's venue does not)
            if self.reconcile_outstanding:
                self._check_after_queries = True  # asked again once they are known
            else:
                self.engine_position = msg.net_position

    def reconciled_trade_id(self) -> int:
        """The trade id of the next fill made up from the engine's figures (counted as
        `reconciled_fills`): far above any venue's, one per made-up fill."""
        self.stats["reconciled_fills"] += 1
        return RECONCILED_TRADE_ID + self.stats["reconciled_fills"]

    def check_position(self, now_ns: int, after_ns: int = 0) -> None:
        """Asks the engine for its net position (a `QueryOpenOrders`), now or `after_ns` from now."""
        if after_ns > 0:
            self.position_check_due = now_ns + after_ns
            return
        self.position_check_due = None
        q = wire.QueryOpenOrders(str(uuid.uuid4()), now_ns, self.symbol)
        self.position_check_id = q.command_id
        self._send(q)
        self.pending[q.command_id] = Pending("QueryOpenOrders", "", now_ns)

    def take_engine_position(self) -> Decimal | None:
        """The engine's net position from its latest answer for it, once (None when none is new)."""
        position, self.engine_position = self.engine_position, None
        return position

    def _after_queries(self, now_ns: int) -> None:
        """The reconciliation's queried orders are all known: the engine's net position is asked."""
        if self._check_after_queries and not self.reconcile_outstanding and self.reconcile_id is None:
            self._check_after_queries = False
            self.check_position(now_ns)

    def _cancel_awaited(self, client_order_id: str) -> bool:
        return any(
            p.kind == "CancelOrder" and p.client_order_id == client_order_id for p in self.pending.values()
        )

    def _apply_info(self, o: Order, info: wire.OrderInfo, now: int) -> None:
        """The engine's figures for an order; for a recovered one, fills we missed become one made-up
        fill. An order the engine still has live after our cancel, with no cancel awaiting its answer
        (the engine that got it was killed, or it timed out), may be canceled again. Figures that
        cannot be the order's (another symbol or side, more filled than ordered) are refused."""
        wrong = answer_faults(o.cmd, info.symbol, info.side, info.quantity, info.filled_quantity)
        if not self._answer_fits("OrderInfo", o.client_order_id, wrong):
            return
        missing = info.filled_quantity - o.filled
        if o.recovered and missing > 0 and info.quote_filled <= 0:
            # No fill is made up from figures that cannot be right: at price 0 it would book coins
            # for free. The order stays as it was (unsettled) until figures that can be come.
            self.stats["refused_fills"] += 1
            log.error(
                "order %s: engine's figures refused (filled_quantity %s, quote_filled %s, order quantity"
                " %s): no fill made up for the %s missing",
                o.client_order_id,
                info.filled_quantity,
                info.quote_filled,
                o.cmd.quantity,
                missing,
            )
            return
        if o.recovered and missing > 0:
            price = (info.quote_filled - o.quote) / missing if info.quote_filled > o.quote else None
            if price is None or price <= 0:
                price = o.cmd.price or (info.quote_filled / info.filled_quantity)
            rate = self.taker_rate if o.cmd.order_type == "MARKET" else self.maker_rate
            if o.cmd.side == "BUY":
                fee, fee_asset = missing * rate, ESTIMATED_BASE_FEE
            else:
                fee, fee_asset = price * missing * rate, ESTIMATED_FEE
            fill = wire.OrderExecution(
                o.cmd.command_id, now, o.client_order_id, info.exchange_order_id, o.cmd.symbol,
                o.cmd.side, self.reconciled_trade_id(), price, missing,
                info.filled_quantity, o.cmd.quantity,
                "FILLED" if info.status == "FILLED" else "PARTIALLY_FILLED",
                "taker" if o.cmd.order_type == "MARKET" else "maker", fee, fee_asset,
            )  # fmt: skip
            log.warning(
                "order %s: %s filled while nobody listened; applied as one fill at %s",
                o.client_order_id,
                missing,
                price,
            )
            self._fills_seen.add((o.client_order_id, fill.trade_id))
            o.filled += missing
            o.quote += price * missing
            self.reconciled_fills.append(fill)
        self._update(o.client_order_id, info.status, info.filled_quantity)
        o.fills_unknown = False
        live = info.status in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)
        if o.cancel_sent and live and not o.terminal and not self._cancel_awaited(o.client_order_id):
            o.cancel_sent = False
            log.warning(
                "order %s still %s at the engine: its cancel was lost", o.client_order_id, info.status
            )
            if o.tag == "orphan":
                self.cancel(o.client_order_id, now)
