"""What the order manager (`orders.py`) keeps of each order and each command awaiting its answer, and
its limits and timings: the order's status, what it counted filled and what the engine said was
filled, whether it is recovered, refused or in doubt, and its snapshot form."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

import msgpack

from flashcrash import wire

MAX_QUERIES = 5  # quick queries of one unanswered order before it is in doubt
MAX_RESENDS = 2  # re-sends (same client order id) of an order the engine says it never saw
DOUBT_QUERY_NS = 5_000_000_000  # period of the queries of an order in doubt
# An open order not heard of for this long is queried: a response lost on the way (a full PUB
# queue drops messages) would otherwise leave it open here for ever.
QUIET_QUERY_NS = 30_000_000_000
# Fills the engine's figures say an order made, not received as OrderExecutions this long after: they
# were lost on the way, and are made up from its figures as after an outage (the order is marked
# recovered and queried).
MISSING_FILLS_NS = 5_000_000_000
DOUBT_OUTCOME = "outcome"  # the engine could not learn whether the venue took it
DOUBT_SILENT = "silent"  # its queries went unanswered or failed
# Trade ids of the fills made up on reconciliation (fills the engine published while nobody listened):
# far above any venue trade id, one per order and reconciliation.
RECONCILED_TRADE_ID = 9_000_000_000_000_000
# The fee asset of those fills: their fee is estimated from `[fees]`, a buy's in the base asset (the
# venue takes it from the coins bought, as Binance, exchange-sim and the paper engine do), a sell's
# in the quote asset.
ESTIMATED_FEE = "estimated"
ESTIMATED_BASE_FEE = "estimated-base"
# After a reconciliation the engine's net position (`OpenOrders.net_position`) is what the positions
# must add up to. A shortfall is asked about again this long after before anything is done about it:
# a fill still on its way from the venue is in by then.
POSITION_RECHECK_NS = 2_000_000_000
ZERO = Decimal(0)


class OrderStatus(StrEnum):
    PENDING = "PENDING"  # sent, not acknowledged
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"


TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED})


def new_client_order_id() -> str:
    """A UUID4 in its 36-character form: matches `^[a-zA-Z0-9-_]{1,36}$`."""
    return str(uuid.uuid4())


@dataclass
class Order:
    cmd: wire.PlaceOrder
    tag: str
    status: OrderStatus = OrderStatus.PENDING
    filled: Decimal = ZERO  # the quantity counted from the OrderExecutions received (and made up)
    venue_filled: Decimal = ZERO  # what the engine said was filled (status, cancel, FILLED)
    resends: int = 0
    cancel_sent: bool = False
    quote: Decimal = ZERO  # sum of price x quantity counted
    # Restored after a restart or reconciled after an engine outage: fills may have been published
    # while nobody listened, so the engine's figures (OrderStatus) are applied as a fill, and the order
    # is never re-sent.
    recovered: bool = False
    # The code of the engine's refusal of this order (`Error` to its PlaceOrder), e.g. HALTED, and its
    # message; not kept in snapshots (a refused order is terminal).
    refusal: str = ""
    refusal_message: str = ""
    # Acknowledged EXPIRED (a market order the book could not fill whole): what it filled is not in
    # the acknowledgement, so it is not settled until a status answer says (a sell sized before its
    # fills arrived would sell them twice).
    fills_unknown: bool = False
    # Why its fate could not be learnt, "" while it can (see the module's doc): DOUBT_OUTCOME (the
    # engine answered UNKNOWN_OUTCOME) or DOUBT_SILENT (queries unanswered or failed). Queried every
    # DOUBT_QUERY_NS until an answer about it comes.
    doubt: str = ""
    # When it was last heard of (a response about it) or asked about (the manager's clock; None
    # until then: not persisted, set at the next check).
    heard_ns: int | None = None

    def snapshot(self) -> dict[str, Any]:
        return {
            "cmd": self.cmd.to_map(),
            "tag": self.tag,
            "status": str(self.status),
            "filled": str(self.filled),
            "venue_filled": str(self.venue_filled),
            "quote": str(self.quote),
            "resends": self.resends,
            "cancel_sent": self.cancel_sent,
            "fills_unknown": self.fills_unknown,
            "doubt": self.doubt,
        }

    @staticmethod
    def from_snapshot(s: dict[str, Any]) -> Order:
        cmd = wire.decode(msgpack.packb(s["cmd"], use_bin_type=True))
        if not isinstance(cmd, wire.PlaceOrder):
            raise ValueError(f"an order's command is a {type(cmd).__name__}, not a PlaceOrder")
        return Order(
            cmd,
            str(s["tag"]),
            OrderStatus(s["status"]),
            Decimal(s["filled"]),
            Decimal(s["venue_filled"]),
            int(s["resends"]),
            bool(s["cancel_sent"]),
            Decimal(s.get("quote", "0")),
            recovered=True,
            fills_unknown=bool(s.get("fills_unknown", False)),
            doubt=str(s.get("doubt", "")),
        )

    @property
    def client_order_id(self) -> str:
        return self.cmd.client_order_id

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def settled(self) -> bool:
        """Terminal, and every fill the engine reported has arrived: nothing can change any more."""
        return self.terminal and not self.fills_unknown and self.filled >= self.venue_filled


@dataclass(frozen=True)
class Pending:
    """A command waiting for its response."""

    kind: str
    client_order_id: str
    sent_ns: int
    queries: int = 0
    # A QueryOrder sent once the order was acknowledged: its UNKNOWN_ORDER answer is the engine's word
    # that the order is gone, not a query overtaken by the acknowledgement.
    after_ack: bool = False
