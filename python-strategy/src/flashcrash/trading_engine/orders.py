"""The order manager: every order has a UUID `client_order_id` (36 characters, within Binance's
`^[a-zA-Z0-9-_]{1,36}$`) and every command a UUID `command_id` that correlates it with its response.

Retries never duplicate an order:

* a command unanswered for `timeout_ns` is followed by a `QueryOrder` for its client order id, never
  by a second `PlaceOrder` with a new id;
* when the query says the engine never saw the order (`UNKNOWN_ORDER`), the same `PlaceOrder` is sent
  again with the same client order id: if the first one did arrive in the meantime, the engine refuses
  the copy (`DUPLICATE_ORDER`), and the manager queries the order instead;
* when a query sent after the acknowledgement says the order is unknown, the engine (or the venue
  behind it) lost it: it expires with what it filled, counted as `lost` and a breaker failure, and is
  never sent again. An answer to a query that the acknowledgement overtook says nothing and is ignored;
* an open order the engine says nothing of for `QUIET_QUERY_NS` is queried (a response lost on the
  way), and the fills of a finished order that its figures count but that never arrived as
  `OrderExecution`s are made up from them after `MISSING_FILLS_NS`, as after an outage;
* an order whose fate cannot be learnt is never taken as refused: after `MAX_QUERIES` unanswered
  queries, a query the engine could not answer, or an `UNKNOWN_OUTCOME` answer to its `PlaceOrder`
  (the venue may hold it), it is *in doubt* (`Order.doubt`): still unsettled, so nothing is sold or bought
  again in its place, and queried every `DOUBT_QUERY_NS` until an answer settles it (an in-doubt order
  of unknown outcome that the engine then says it does not know was not placed: it is refused).

Fills are reported only from `OrderExecution`, applied once by trade id and by cumulative quantity: an
execution whose `cumulative_quantity` is not above what the order has counted already is a duplicate
(`duplicate_fills`), e.g. the engine's own record of fills made up on a reconciliation; otherwise only
`cumulative_quantity` minus what is counted is applied, at the execution's price. An execution that
cannot be of the order (`venue_figures.fill_faults`: its symbol or side is not the order's, a quantity
exceeds the order's, its price is past the order's limit, its fee past any rate) is refused
(`refused_fills`), and so are reconciled figures no fill can be made up from (a filled quantity with
no quote filled); an acknowledgement, cancel or status that cannot be the order's
(`venue_figures.answer_faults`) is refused (`refused_answers`); a response about an order not ours
is counted (`unknown_order`). An order is *settled* when its status is
terminal and every fill the engine reported for it has arrived. Every outcome of a command of ours
feeds the circuit breaker, with the command's id: acknowledgements answering a command awaited are
successes (a message answering none, its command id None or unknown, is neither; a fill, which carries
its PlaceOrder's command id, answers nothing); `Error` responses, timeouts and orders that could not be
sent are failures, except a cancel refused as `UNKNOWN_ORDER`: the order filled before the cancel
arrived (the ordinary race in a fast market), counted as `cancel_too_late` and followed by a query,
not an error. A cancel lost with a killed engine is asked again: a status or open-orders answer saying
the order is still live, with no cancel awaiting its answer, clears `cancel_sent`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import replace
from decimal import Decimal
from typing import Any

from flashcrash import wire
from flashcrash.trading_engine.breaker import CircuitBreaker
from flashcrash.trading_engine.money import Price, Quantity
from flashcrash.trading_engine.order_state import (
    DOUBT_OUTCOME,
    DOUBT_QUERY_NS,
    DOUBT_SILENT,
    ESTIMATED_BASE_FEE,
    ESTIMATED_FEE,
    MAX_QUERIES,
    MAX_RESENDS,
    MISSING_FILLS_NS,
    POSITION_RECHECK_NS,
    QUIET_QUERY_NS,
    RECONCILED_TRADE_ID,
    TERMINAL,
    ZERO,
    Order,
    OrderStatus,
    Pending,
    new_client_order_id,
)
from flashcrash.trading_engine.reconcile import Reconciliation
from flashcrash.trading_engine.venue_figures import answer_faults, fill_faults

# What the rest of the package and its tests import from here.
__all__ = [
    "DOUBT_OUTCOME",
    "DOUBT_QUERY_NS",
    "DOUBT_SILENT",
    "ESTIMATED_BASE_FEE",
    "ESTIMATED_FEE",
    "MAX_QUERIES",
    "MISSING_FILLS_NS",
    "POSITION_RECHECK_NS",
    "QUIET_QUERY_NS",
    "RECONCILED_TRADE_ID",
    "TERMINAL",
    "Order",
    "OrderManager",
    "OrderStatus",
    "Pending",
    "new_client_order_id",
]

log = logging.getLogger(__name__)
# The answers that say a command of ours went through (the circuit breaker's successes). Not the
# balances asked for the funds (`query_balances`): neither their answer nor their failure says
# anything of the order path, and a success would end a run of order failures.
ACKNOWLEDGEMENTS = (wire.OrderPlaced, wire.OrderCanceled, wire.OrderStatus, wire.OpenOrders, wire.Success)
ResponseAboutOrder = wire.OrderPlaced | wire.OrderExecution | wire.OrderCanceled | wire.OrderStatus
UNKNOWN_ORDERS_LOGGED = 10  # responses about orders not ours logged; all are counted


def _coid(msg: ResponseAboutOrder) -> str:
    return msg.order.client_order_id if isinstance(msg, wire.OrderStatus) else msg.client_order_id


class OrderManager(Reconciliation):
    """Sends commands through `send` (False when the command could not be queued)."""

    def __init__(
        self,
        symbol: str,
        send: Callable[[object], bool],
        timeout_ns: int = 1_000_000_000,
        breaker: CircuitBreaker | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.symbol = symbol
        self.send = send
        self.timeout_ns = timeout_ns
        self.breaker = breaker or CircuitBreaker(3, 30_000_000_000)
        self.clock = clock
        self.pending: dict[str, Pending] = {}
        self.orders: dict[str, Order] = {}
        # The orders in doubt and when each is queried next.
        self.doubt_next: dict[str, int] = {}
        self._fills_seen: set[tuple[str, int]] = set()
        self.stats: Counter[str] = Counter()
        # Called with every command (and its tag) before it is handed to `send`: the runner writes it
        # to the audit log, a PlaceOrder durably (write-ahead: a restart finds every order that may
        # have reached the engine). False: it could not be recorded, and it does not leave. The
        # runner's `send` then holds a PlaceOrder (and every command after it, in order) until its
        # commit is done; one whose commit fails, or that the client refuses then, is `unsent`.
        self.before_send: Callable[[object, str], bool] | None = None
        # Reconciliation (`reconcile`): the QueryOpenOrders awaited, and the orders still being queried.
        self.reconcile_id: str | None = None
        self.reconcile_outstanding: set[str] = set()
        # The engine's net position from an answer given once every fill before it was applied here
        # (`take_engine_position`); the QueryOpenOrders asking for it at the end of a reconciliation
        # (when orders had to be queried, the first answer's is out of date), and when one is due.
        self.engine_position: Decimal | None = None
        self.position_check_id: str | None = None
        self.position_check_due: int | None = None
        self._check_after_queries = False
        # Fills made up from the engine's figures for recovered orders; the strategy drains them.
        self.reconciled_fills: list[wire.OrderExecution] = []
        # Fee rates used for those fills (the engine's own fee is not in OrderStatus): maker for LIMIT.
        self.maker_rate = ZERO
        self.taker_rate = ZERO
        # Counts every change of an order's status or fills (what `Funds` asks the balances again on).
        self.changes = 0
        # The QueryBalances awaited (`query_balances`), and its answer until taken (`take_balances`).
        self.balances_id: str | None = None
        self.balances: wire.Balances | None = None

    # ---------------------------------------------------------------- snapshots
    def _needed(self, keep: Iterable[str]) -> dict[str, Order]:
        """Every order that can still change or has a command awaiting its answer, plus those in
        `keep` (the live positions' orders)."""
        keep = set(keep)
        keep.update(p.client_order_id for p in self.pending.values())
        return {c: o for c, o in self.orders.items() if not o.settled or c in keep}

    def forget_settled(self, keep: Iterable[str] = ()) -> int:
        """Drops the orders `_needed` does not keep, with their fills seen, so a session of weeks holds
        only the orders still in play (each one is in the audit log). A late response for a dropped
        order is ignored, as one for an order not ours. Returns how many were dropped."""
        if not self.orders:
            return 0
        needed = self._needed(keep)
        dropped = len(self.orders) - len(needed)
        if dropped:
            self.orders = needed
            self._fills_seen = {f for f in self._fills_seen if f[0] in needed}
        return dropped

    def snapshot(self, keep: Iterable[str] = ()) -> dict[str, Any]:
        """Every order `_needed` keeps."""
        orders = self._needed(keep)
        return {
            "orders": {c: o.snapshot() for c, o in orders.items()},
            "fills_seen": sorted([c, t] for c, t in self._fills_seen if c in orders),
            "stats": dict(self.stats),
        }

    def restore(self, s: dict[str, Any]) -> None:
        """Restored orders are marked recovered (see `Order.recovered`); call `reconcile` next."""
        self.orders = {c: Order.from_snapshot(o) for c, o in s["orders"].items()}
        self._fills_seen = {(str(c), int(t)) for c, t in s["fills_seen"]}
        self.stats = Counter({str(k): int(v) for k, v in s.get("stats", {}).items()})
        self.pending.clear()

    def adopt(self, cmd: wire.PlaceOrder, tag: str) -> Order:
        """An order found in the audit log after the last snapshot: known again, never re-sent."""
        o = self.orders.get(cmd.client_order_id)
        if o is None:
            o = self.orders[cmd.client_order_id] = Order(cmd, tag, recovered=True)
        return o

    def _send(self, cmd: object, tag: str = "") -> bool:
        if self.before_send is not None and not self.before_send(cmd, tag):
            self.stats["unrecorded"] += 1
            return False
        return bool(self.send(cmd))

    def unsent(self, cmd: object, now_ns: int) -> bool:
        """A command `send` took (returned True for) but that never left after all: the runner held
        it behind an order's write-ahead commit, and that commit failed, or the client refused it at
        its release. Undone as a command whose send failed: a new order is not known as sent (its
        order and pending entry dropped, the breaker told of the failure, as `place` does; True: the
        strategy's lot is to hear of it), a cancel may be asked again; a query's (or a resent order's)
        pending entry stays, so that its timeout asks again, as when its send fails."""
        self.stats["send_failed"] += 1
        match cmd:
            case wire.PlaceOrder(client_order_id=coid, command_id=command_id):
                o = self.orders.get(coid)
                if o is not None and o.cmd.command_id == command_id:  # its first send
                    self.pending.pop(command_id, None)
                    del self.orders[coid]
                    self.stats["sent"] -= 1
                    log.warning("order not sent after all: %s %s", o.tag, coid)
                    self.breaker.failure(now_ns, f"{o.tag} order not sent", command_id)
                    return True
                if o is not None:
                    self.stats["resends"] -= 1
            case wire.CancelOrder(client_order_id=coid, command_id=command_id):
                self.pending.pop(command_id, None)
                o = self.orders.get(coid)
                if o is not None and o.cancel_sent:
                    o.cancel_sent = False
                    self.stats["cancels"] -= 1
            case wire.QueryOrder():
                self.stats["queries"] -= 1
            case wire.QueryBalances(command_id=command_id):
                self.pending.pop(command_id, None)
                if self.balances_id == command_id:
                    self.balances_id = None
        return False

    # ---------------------------------------------------------------- queries
    def get(self, client_order_id: str) -> Order | None:
        return self.orders.get(client_order_id)

    def has_open_order(self) -> bool:
        """True while an order can still change a position."""
        return any(not o.settled for o in self.orders.values())

    # --------------------------------------------------------------- commands
    def place(
        self,
        side: str,
        quantity: Quantity,
        price: Price | None,
        now_ns: int,
        tag: str,
        client_order_id: str | None = None,
    ) -> str | None:
        """A LIMIT GTC order at `price`, or a MARKET order when `price` is None, with
        `client_order_id` (a new one when None: a caller that journals the order before it leaves
        chooses it first). Returns the client order id, or None when the command could not be
        recorded or queued."""
        cmd = wire.PlaceOrder(
            command_id=str(uuid.uuid4()),
            ts_ns=now_ns,
            client_order_id=client_order_id or new_client_order_id(),
            symbol=self.symbol,
            side=side,
            order_type="MARKET" if price is None else "LIMIT",
            time_in_force=None if price is None else "GTC",
            quantity=quantity.value,
            price=None if price is None else price.value,
        )
        self.breaker.sent(cmd.command_id)
        if not self._send(cmd, tag):
            self.stats["send_failed"] += 1
            log.warning(
                "order not sent (not recorded, or command queue full): %s %s %s", tag, side, quantity.value
            )
            # A command that never left is a failed command: no answer will ever come to settle it (a
            # half-open breaker whose trial this was would otherwise wait for that answer forever).
            self.breaker.failure(now_ns, f"{tag} order not sent", cmd.command_id)
            return None
        self.stats["sent"] += 1
        self.orders[cmd.client_order_id] = Order(cmd, tag, heard_ns=now_ns)
        # Its timeout counts from the decision (`now_ns`), not from when it leaves: the runner's
        # write-ahead may hold it a few ms for its commit, which is inside the timeout.
        self.pending[cmd.command_id] = Pending("PlaceOrder", cmd.client_order_id, now_ns)
        log.info(
            "order sent: %s %s %s %s @ %s",
            tag,
            side,
            cmd.order_type,
            quantity.value,
            "market" if price is None else price.value,
            extra={"command_id": cmd.command_id, "client_order_id": cmd.client_order_id},
        )
        return cmd.client_order_id

    def cancel(self, client_order_id: str, now_ns: int) -> bool:
        """Asks the engine to cancel an order; False when it is settled or a cancel is already out."""
        o = self.orders.get(client_order_id)
        if o is None or o.terminal or o.cancel_sent:
            return False
        cmd = wire.CancelOrder(str(uuid.uuid4()), now_ns, self.symbol, client_order_id)
        if not self._send(cmd):
            self.stats["send_failed"] += 1
            return False
        o.cancel_sent = True
        self.stats["cancels"] += 1
        self.pending[cmd.command_id] = Pending("CancelOrder", client_order_id, now_ns)
        log.info("cancel sent: %s %s", o.tag, client_order_id)
        return True

    def query_balances(self, now_ns: int) -> None:
        """Asks the engine for the account's balances (`take_balances` hands the answer over).
        Unanswered, or answered by an error, it is forgotten: the caller asks again."""
        q = wire.QueryBalances(str(uuid.uuid4()), now_ns)
        if self._send(q):
            self.balances_id = q.command_id
            self.pending[q.command_id] = Pending("QueryBalances", "", now_ns)

    def take_balances(self) -> wire.Balances | None:
        """The answer to the last `query_balances`, once (None when none is new)."""
        balances, self.balances = self.balances, None
        return balances

    def _query(self, client_order_id: str, now_ns: int, queries: int) -> None:
        q = wire.QueryOrder(str(uuid.uuid4()), now_ns, self.symbol, client_order_id)
        if self._send(q):
            self.stats["queries"] += 1
        o = self.orders.get(client_order_id)
        acked = o is not None and o.status is not OrderStatus.PENDING
        # Even when the queue was full, the pending entry makes the next timeout try again.
        self.pending[q.command_id] = Pending("QueryOrder", client_order_id, now_ns, queries, acked)

    def _resend(self, o: Order, now_ns: int, queries: int) -> None:
        """The same order again, same client order id (the engine refuses it if it has it)."""
        o.resends += 1
        cmd = replace(o.cmd, command_id=str(uuid.uuid4()), ts_ns=now_ns)
        if self._send(cmd, o.tag):
            self.stats["resends"] += 1
        self.pending[cmd.command_id] = Pending("PlaceOrder", o.client_order_id, now_ns, queries)
        log.warning("order %s unknown to the engine: sent again with the same id", o.client_order_id)

    def check_timeouts(self, now_ns: int) -> None:
        """A command unanswered for `timeout_ns` is followed up by `QueryOrder`; never re-sent as new.
        An order in doubt is queried again when its time comes, and so are the orders the engine
        went quiet on (`_check_quiet`)."""
        for command_id, p in list(self.pending.items()):
            if now_ns - p.sent_ns < self.timeout_ns:
                continue
            del self.pending[command_id]
            self.stats["timeouts"] += 1
            if p.kind == "QueryBalances":
                self.balances_id = None
                continue
            if p.kind == "QueryOpenOrders":
                if command_id == self.reconcile_id:  # the engine may still be away: ask again
                    self._query_open(now_ns)
                elif command_id == self.position_check_id:
                    self.check_position(now_ns)
                continue
            self.breaker.failure(now_ns, f"{p.kind} timed out", command_id)
            o = self.orders.get(p.client_order_id)
            if o is None or o.settled:
                self.reconcile_outstanding.discard(p.client_order_id)
                continue
            if p.queries >= MAX_QUERIES:
                self.reconcile_outstanding.discard(p.client_order_id)
                self._doubt(o, now_ns, DOUBT_SILENT, f"no answer after {p.queries} queries")
                continue
            log.warning("%s %s timed out: querying order %s", p.kind, command_id, p.client_order_id)
            self._query(p.client_order_id, now_ns, p.queries + 1)
        for coid, due in list(self.doubt_next.items()):
            o = self.orders.get(coid)
            if o is None or o.settled or not o.doubt:
                del self.doubt_next[coid]
            elif now_ns >= due:
                self.doubt_next[coid] = now_ns + DOUBT_QUERY_NS
                # Unanswered, it stays in doubt (its count is past MAX_QUERIES) instead of starting
                # the quick queries over.
                self._query(coid, now_ns, MAX_QUERIES)
        if self.position_check_due is not None and now_ns >= self.position_check_due:
            self.check_position(now_ns)
        self._after_queries(now_ns)
        self._check_quiet(now_ns)

    def _check_quiet(self, now_ns: int) -> None:
        """Asks about the orders the engine went quiet on: open ones not heard of for QUIET_QUERY_NS,
        and finished ones whose fills are short of the engine's figures for MISSING_FILLS_NS (those
        fills are then made up from its figures, as after an outage)."""
        asked = {p.client_order_id for p in self.pending.values()}
        for coid, o in self.orders.items():
            if o.status is OrderStatus.PENDING or o.doubt or coid in asked or o.settled:
                continue
            if o.heard_ns is None:
                o.heard_ns = now_ns
                continue
            quiet = now_ns - o.heard_ns
            short = o.terminal and o.filled < o.venue_filled
            if short and quiet >= MISSING_FILLS_NS and not o.recovered:
                log.warning(
                    "order %s: %s filled by the engine's figures, %s received: made up from them",
                    coid,
                    o.venue_filled,
                    o.filled,
                )
                self.stats["missing_fills"] += 1
                o.recovered = True
            elif short or quiet < QUIET_QUERY_NS:
                continue
            self.stats["quiet_queries"] += 1
            o.heard_ns = now_ns
            self._query(coid, now_ns, 0)

    def _doubt(self, o: Order, now_ns: int, kind: str, why: str) -> None:
        """The order's fate could not be learnt (`kind`, see `Order.doubt`): it stays unsettled and
        is queried every DOUBT_QUERY_NS until an answer about it comes."""
        if o.doubt != DOUBT_OUTCOME:  # an unknown outcome stays the reason until an answer comes
            o.doubt = kind
        if o.client_order_id not in self.doubt_next:
            self.stats["in_doubt"] += 1
            log.error(
                "order %s (%s, %s): %s; in doubt: queried every %d s until settled",
                o.client_order_id,
                o.tag,
                o.status,
                why,
                DOUBT_QUERY_NS // 1_000_000_000,
            )
            self.doubt_next[o.client_order_id] = now_ns + DOUBT_QUERY_NS

    # -------------------------------------------------------------- responses
    def on_response(self, msg: object) -> wire.OrderExecution | None:
        """Applies a response; returns it when it is a new fill of one of our orders."""
        now = self.clock()
        command_id = getattr(msg, "command_id", None)
        # A fill carries its PlaceOrder's command id, but is no answer to it.
        answers = command_id is not None and not isinstance(msg, wire.OrderExecution)
        pending = self.pending.pop(command_id, None) if answers else None
        if pending is not None and isinstance(msg, ACKNOWLEDGEMENTS):
            self.breaker.success(command_id)
        match msg:
            case wire.OrderPlaced(client_order_id=coid) if coid in self.orders:
                if self._answer_fits(
                    "OrderPlaced",
                    coid,
                    answer_faults(self.orders[coid].cmd, msg.symbol, msg.side, msg.quantity),
                    now,
                ):
                    self.stats["placed"] += 1
                    self._update(coid, msg.status, msg.quantity if msg.status == "FILLED" else ZERO)
                    if msg.status == "EXPIRED":
                        self.orders[coid].fills_unknown = True
                        self._query(coid, now, 0)
            case wire.OrderExecution(client_order_id=coid) if coid in self.orders or coid.startswith(
                wire.ENGINE_FLATTEN_PREFIX
            ):
                key = (coid, msg.trade_id)
                if key in self._fills_seen:
                    self.stats["duplicate_fills"] += 1
                    return None
                o = self.orders.get(coid)
                wrong = fill_faults(o.cmd if o is not None else None, msg, self.symbol)
                if wrong:
                    self.stats["refused_fills"] += 1
                    log.error("execution %s of order %s refused: %s", msg.trade_id, coid, "; ".join(wrong))
                    return None
                if o is None:  # the engine's own flatten: the strategy's lots follow it
                    self._fills_seen.add(key)
                    self.stats["engine_flatten_fills"] += 1
                    return msg
                return self._on_execution(o, msg, key)
            case wire.OrderStatus(order=info) if info.client_order_id in self.orders:
                self.reconcile_outstanding.discard(info.client_order_id)
                self._apply_info(self.orders[info.client_order_id], info, now)
            case wire.OrderCanceled(client_order_id=coid) if coid in self.orders:
                o = self.orders[coid]
                if self._answer_fits(
                    "OrderCanceled", coid, answer_faults(o.cmd, msg.symbol, filled=msg.filled_quantity), now
                ):
                    self.stats["canceled"] += 1
                    if o.recovered and msg.filled_quantity > o.filled:
                        self._query(coid, now, 0)  # fills we missed: the status says at what price
                    self._update(coid, "CANCELED", msg.filled_quantity)
            case wire.OpenOrders() if command_id is not None and command_id == self.reconcile_id:
                self._on_open_orders(msg, now)
            case wire.OpenOrders() if command_id is not None and command_id == self.position_check_id:
                self.position_check_id = None
                self.engine_position = msg.net_position
            case wire.Balances() if command_id is not None and command_id == self.balances_id:
                self.stats["balances"] += 1
                self.balances_id, self.balances = None, msg
            case wire.Error() if pending is not None:
                self._on_error(msg, pending, now)
            case wire.Error():
                self.stats["errors"] += 1
                log.warning("engine error %s on %s: %s", msg.code, msg.field, msg.message)
            case wire.OrderPlaced() | wire.OrderExecution() | wire.OrderCanceled() | wire.OrderStatus():
                self._unknown_order(msg)
        self._after_queries(now)
        return None

    def _answer_fits(self, what: str, coid: str, wrong: list[str], query_ns: int | None = None) -> bool:
        """False (the answer refused, counted and logged) when `wrong` lists what makes `what` (a
        kind of answer) no answer about order `coid`; with `query_ns`, the order is then queried (the
        answer awaited is gone: its status says what became of the order)."""
        if not wrong:
            return True
        self.stats["refused_answers"] += 1
        log.error("%s of order %s refused: %s", what, coid, "; ".join(wrong))
        if query_ns is not None:
            self._query(coid, query_ns, 0)
        return False

    def _unknown_order(self, msg: ResponseAboutOrder) -> None:
        """A response about an order of none of ours: counted, and the first few logged."""
        self.stats["unknown_order"] += 1
        if self.stats["unknown_order"] <= UNKNOWN_ORDERS_LOGGED:
            log.warning(
                "%s of order %s, none of ours (or one settled and forgotten): ignored",
                type(msg).__name__,
                _coid(msg),
            )

    def _on_execution(
        self, o: Order, msg: wire.OrderExecution, key: tuple[str, int]
    ) -> wire.OrderExecution | None:
        """Applies what the execution adds to the quantity counted; returns the fill applied."""
        self._fills_seen.add(key)
        new = msg.cumulative_quantity - o.filled
        if new <= 0:
            self.stats["duplicate_fills"] += 1
            log.warning(
                "execution %s of order %s: cumulative_quantity %s already counted (%s): duplicate dropped",
                msg.trade_id,
                o.client_order_id,
                msg.cumulative_quantity,
                o.filled,
            )
            return None
        if new != msg.last_quantity:
            log.warning(
                "execution %s of order %s: last_quantity %s, but cumulative_quantity %s over the %s"
                " counted adds %s: that is applied",
                msg.trade_id,
                o.client_order_id,
                msg.last_quantity,
                msg.cumulative_quantity,
                o.filled,
                new,
            )
            msg = replace(msg, last_quantity=new, fee=msg.fee * new / msg.last_quantity)
        self.stats["fills"] += 1
        o.filled += new
        o.quote += new * msg.last_price
        self._update(o.client_order_id, msg.status, msg.cumulative_quantity)
        return msg

    def _on_error(self, msg: wire.Error, p: Pending, now: int) -> None:
        if p.kind == "QueryBalances":
            self.stats["errors"] += 1
            log.warning("engine error %s on the balances asked: %s", msg.code, msg.message)
            self.balances_id = None
            return
        if p.kind == "QueryOpenOrders" and msg.command_id in (self.reconcile_id, self.position_check_id):
            # The venue did not answer it (real mode): asked again a timeout from now, as when no
            # answer comes at all. Left unanswered, the reconciliation would never end.
            self.stats["errors"] += 1
            log.warning("engine error %s on the open orders asked: %s; asked again", msg.code, msg.message)
            self.pending[msg.command_id] = replace(p, sent_ns=now)
            return
        o = self.orders.get(p.client_order_id)
        if o is not None and (p.kind, msg.code) == ("CancelOrder", "UNKNOWN_ORDER"):
            # The order filled (or was never placed) before the cancel arrived: the ordinary race of a
            # cancel with a fill in a fast market, not a failure. The query tells which.
            self.stats["cancel_too_late"] += 1
            log.info("cancel of %s came too late (%s): querying its status", o.client_order_id, msg.message)
            self._query(o.client_order_id, now, p.queries + 1)
            return
        self.stats["errors"] += 1
        log.warning(
            "engine error %s on %s %s (%s): %s", msg.code, p.kind, p.client_order_id, msg.field, msg.message
        )
        if o is None:
            return
        if p.kind == "QueryOrder" and o.fills_unknown:
            # No status to learn an expired order's fills from: it settles on the fills received.
            o.fills_unknown = False
            log.warning("order %s expired; its fills are those received (%s)", o.client_order_id, o.filled)
        match (p.kind, msg.code):
            case ("PlaceOrder", "UNKNOWN_OUTCOME"):
                # Neither placed nor refused for all the engine knows: it may be live at the venue.
                self.breaker.failure(now, f"{msg.code}: {msg.message}", msg.command_id)
                self._doubt(o, now, DOUBT_OUTCOME, f"its outcome at the venue is unknown: {msg.message}")
            case ("QueryOrder", "UNKNOWN_ORDER") if o.doubt == DOUBT_OUTCOME:
                # The engine gave up looking for it, and the venue still does not know it: not placed.
                self.reconcile_outstanding.discard(o.client_order_id)
                o.status, o.doubt = OrderStatus.REJECTED, ""
                o.venue_filled = o.filled
                log.warning("order %s of unknown outcome was not placed", o.client_order_id)
            case ("PlaceOrder", "DUPLICATE_ORDER"):
                # Our own earlier send of this order reached the engine: ask how it is doing.
                self._query(o.client_order_id, now, p.queries + 1)
            case ("QueryOrder", "UNKNOWN_ORDER") if o.recovered or (p.after_ack and not o.terminal):
                # Never re-sent: the engine lost it (it restarted) or never got it. An order it had
                # acknowledged is gone (a paper engine restarted within the silence that triggers a
                # reconciliation, or the venue no longer knows it): what was filled stays filled.
                if not o.recovered:
                    self.stats["lost"] += 1
                    self.breaker.failure(now, "acknowledged order lost", msg.command_id)
                self.reconcile_outstanding.discard(o.client_order_id)
                o.status = OrderStatus.REJECTED if o.status is OrderStatus.PENDING else OrderStatus.EXPIRED
                o.venue_filled = o.filled
                log.warning("order %s unknown to the engine: %s", o.client_order_id, o.status)
            case ("QueryOrder", "UNKNOWN_ORDER") if o.status is OrderStatus.PENDING:
                self.breaker.failure(now, "order lost", msg.command_id)
                if o.resends < MAX_RESENDS and not o.cancel_sent:
                    self._resend(o, now, p.queries)
                else:
                    o.status = OrderStatus.REJECTED
            case ("PlaceOrder", "HALTED"):
                # The engine halted on purpose (an operator, its feed, the venue): not a failure of
                # the command path; the strategy waits for it to run again.
                self.breaker.untried(msg.command_id)
                o.status, o.refusal = OrderStatus.REJECTED, msg.code
            case ("PlaceOrder", _):
                self.breaker.failure(now, f"{msg.code}: {msg.message}", msg.command_id)
                o.status, o.refusal, o.refusal_message = OrderStatus.REJECTED, msg.code, msg.message
            case ("CancelOrder", _):
                self.breaker.failure(now, f"{msg.code}: {msg.message}", msg.command_id)
                o.cancel_sent = False  # the strategy may ask again
            case ("QueryOrder", code) if code != "UNKNOWN_ORDER" and not o.settled:
                # No answer to learn from: asked again later, never assumed.
                self.breaker.failure(now, f"{msg.code}: {msg.message}", msg.command_id)
                self._doubt(o, now, DOUBT_SILENT, f"its query failed: {msg.code} {msg.message}")
            case _:
                self.breaker.failure(now, f"{msg.code}: {msg.message}", msg.command_id)

    def _update(self, coid: str, status: str, venue_filled: Decimal) -> None:
        o = self.orders[coid]
        self.changes += 1
        o.doubt = ""  # an answer about it: its fate is known again
        o.heard_ns = self.clock()
        o.venue_filled = max(o.venue_filled, venue_filled)
        if status == "FILLED":
            o.venue_filled = max(o.venue_filled, o.cmd.quantity)
        if o.terminal:
            return
        o.status = OrderStatus(status)
