"""The order manager: one UUID `client_order_id` per order, `command_id` correlation with the
responses channel, and timeouts that query instead of re-sending, so one decision produces at most
one order. Fills are reported only from `OrderExecution` (each applied once)."""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from flashcrash import wire

log = logging.getLogger(__name__)

TERMINAL = {"FILLED", "CANCELED", "REJECTED", "EXPIRED"}


def new_client_order_id() -> str:
    """`fc-` + 32 hex digits: matches Binance's `^[a-zA-Z0-9-_]{1,36}$`."""
    return "fc-" + uuid.uuid4().hex


@dataclass
class Pending:
    """A command waiting for its response."""

    kind: str
    client_order_id: str
    sent_ns: int
    queries: int = 0


@dataclass
class OrderState:
    side: str
    quantity: Decimal
    tag: str
    status: str = "PENDING"
    filled: Decimal = Decimal(0)


class OrderManager:
    """Sends orders through `send` (returns False when the command could not be queued)."""

    def __init__(self, symbol: str, send: Callable[[object], bool], timeout_ns: int = 1_000_000_000) -> None:
        self.symbol = symbol
        self.send = send
        self.timeout_ns = timeout_ns
        self.pending: dict[str, Pending] = {}
        self.orders: dict[str, OrderState] = {}
        self._fills_seen: set[tuple[str, int]] = set()
        self.stats: Counter[str] = Counter()

    def has_open_order(self) -> bool:
        """True while an order can still change the position: not terminal, or FILLED with some of its
        `OrderExecution`s still on their way (the acceptance can arrive before the fills)."""
        return any(
            o.status not in TERMINAL or (o.status == "FILLED" and o.filled < o.quantity)
            for o in self.orders.values()
        )

    def place_market(self, side: str, quantity: Decimal, now_ns: int, tag: str) -> str | None:
        coid = new_client_order_id()
        cmd = wire.PlaceOrder(
            command_id=str(uuid.uuid4()),
            ts_ns=now_ns,
            client_order_id=coid,
            symbol=self.symbol,
            side=side,
            order_type="MARKET",
            time_in_force=None,
            quantity=quantity,
            price=None,
        )
        if not self.send(cmd):
            self.stats["send_failed"] += 1
            log.warning("order not sent (command queue full): %s %s", side, quantity)
            return None
        self.stats["sent"] += 1
        self.orders[coid] = OrderState(side, quantity, tag)
        self.pending[cmd.command_id] = Pending("PlaceOrder", coid, now_ns)
        log.info("order sent", extra={"command_id": cmd.command_id, "client_order_id": coid})
        return coid

    def check_timeouts(self, now_ns: int) -> None:
        """A command unanswered for `timeout_ns` is followed up by `QueryOrder`; never re-sent."""
        for command_id, p in list(self.pending.items()):
            if now_ns - p.sent_ns < self.timeout_ns:
                continue
            del self.pending[command_id]
            self.stats["timeouts"] += 1
            if p.queries >= 5:
                log.error("order %s: no answer after %d queries; giving up", p.client_order_id, p.queries)
                self.orders[p.client_order_id].status = "REJECTED"
                continue
            q = wire.QueryOrder(str(uuid.uuid4()), now_ns, self.symbol, p.client_order_id)
            if self.send(q):
                self.stats["queries"] += 1
            self.pending[q.command_id] = Pending("QueryOrder", p.client_order_id, now_ns, p.queries + 1)
            log.warning("command %s timed out: querying order %s", command_id, p.client_order_id)

    def on_response(self, msg: object) -> wire.OrderExecution | None:
        """Applies a response; returns it when it is a new fill of one of our orders."""
        command_id = getattr(msg, "command_id", None)
        pending = self.pending.pop(command_id, None) if command_id else None
        match msg:
            case wire.OrderPlaced(client_order_id=coid, status=status) if coid in self.orders:
                self.stats["placed"] += 1
                self._status(coid, status)
            case wire.OrderExecution(client_order_id=coid) if coid in self.orders:
                key = (coid, msg.trade_id)
                if key in self._fills_seen:
                    self.stats["duplicate_fills"] += 1
                    return None
                self._fills_seen.add(key)
                self.stats["fills"] += 1
                o = self.orders[coid]
                o.filled += msg.last_quantity
                self._status(coid, msg.status)
                return msg
            case wire.OrderStatus(order=info) if info.client_order_id in self.orders:
                self._status(info.client_order_id, info.status)
            case wire.OrderCanceled(client_order_id=coid) if coid in self.orders:
                self._status(coid, "CANCELED")
            case wire.Error():
                self.stats["errors"] += 1
                log.warning("engine error %s on %s: %s", msg.code, msg.field, msg.message)
                if pending is not None and msg.code != "MALFORMED":
                    # A refused PlaceOrder, or a query for an order the engine never saw: no order exists.
                    self._status(pending.client_order_id, "REJECTED")
        return None

    def _status(self, coid: str, status: str) -> None:
        o = self.orders[coid]
        if o.status in TERMINAL:
            return
        o.status = status
