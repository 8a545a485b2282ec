"""What the account can pay for an entry: the quote asset's free balance as the engine last reported
it (a `Balances` answer, whose second asset is always the symbol's quote asset), less the entries
sent that the report may not count yet.

A limit buy holds its notional at the venue from when the venue accepts it. An entry counts against
the funds here from when it is sent (its notional; once settled, what its fills paid) until a report
asked for after its acknowledgement (or any other answer about it) arrives, which counts it itself
(held, spent, or given back). An entry sent after the report was asked for, or acknowledged after
it, is still subtracted, and a sale's proceeds wait for the next report: the estimate may be low for
a report's round trip, never high (unless something else trades on the account).

The strategy asks first when its detector first wakes, then again whenever the orders have changed
since the last ask (an order acknowledged, filled, canceled; so once more after the last change of
an event, and the next event's first entry meets the account as that event left it), at most once
every `interval_ns`, one ask at a time, and not while entries are paused (a warm-up, a
reconciliation, an engine away): a calm market asks nothing. A real account answers it from `GET
/api/v3/account`, request weight 20. Until the first report the venue's own check is the only one
(`available` is None), so a venue that never answers cannot stop the trading.

Without it an entry past the free cash (several fixed-size entries, or equity lost) is refused by
the venue (Binance's -2010), and each refusal counts against the circuit breaker."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING

from flashcrash import wire
from flashcrash.trading_engine.order_state import OrderStatus

if TYPE_CHECKING:
    from flashcrash.trading_engine.orders import OrderManager

log = logging.getLogger(__name__)
ZERO = Decimal(0)
FUNDS_QUERY_INTERVAL_NS = 1_000_000_000


class Funds:
    def __init__(self, interval_ns: int = FUNDS_QUERY_INTERVAL_NS) -> None:
        self.interval_ns = interval_ns
        self.free: Decimal | None = None  # the quote asset's free balance in the last report
        self.asset = ""  # its name
        # The entries sent and not yet counted by a report: client order id -> notional.
        self.reserved: dict[str, Decimal] = {}
        self._covers: frozenset[str] = frozenset()  # those acknowledged when the awaited ask left
        self._asked_changes = -1  # the order manager's `changes` at the last ask
        self._asked_ns: int | None = None

    def available(self, orders: OrderManager) -> Decimal | None:
        """The quote the account can still pay with (None: no report yet): the report's free quote less
        each entry it may not count, its notional while it can still fill, what it paid once settled."""
        if self.free is None:
            return None
        return max(self.free, ZERO) - sum((self._held(orders, c, n) for c, n in self.reserved.items()), ZERO)

    @staticmethod
    def _held(orders: OrderManager, client_order_id: str, notional: Decimal) -> Decimal:
        o = orders.get(client_order_id)
        return o.quote if o is not None and o.settled else notional

    def reserve(self, client_order_id: str, notional: Decimal) -> None:
        """An entry was sent: its notional counts against the funds until a report counts it."""
        self.reserved[client_order_id] = notional

    def ask(self, orders: OrderManager, now_ns: int) -> None:
        """Asks the engine for the balances when due (see the module's docstring)."""
        if orders.balances_id is not None:
            return
        if self.free is not None and orders.changes == self._asked_changes:
            return
        if self._asked_ns is not None and now_ns - self._asked_ns < self.interval_ns:
            return
        self._covers = frozenset(
            c for c in self.reserved if (o := orders.get(c)) is None or o.status is not OrderStatus.PENDING
        )
        self._asked_changes, self._asked_ns = orders.changes, now_ns
        orders.query_balances(now_ns)

    def on_balances(self, msg: wire.Balances) -> None:
        """A report answering our ask."""
        if len(msg.balances) < 2:
            log.error("balances answer without the quote asset (%d assets): ignored", len(msg.balances))
            return
        quote = msg.balances[1]
        self.free, self.asset = quote.free, quote.asset
        for c in self._covers:
            self.reserved.pop(c, None)
        self._covers = frozenset()
