"""Plain records passed to and returned by the repositories. Money is `Decimal`, times are UTC
integer nanoseconds (the repositories add ISO-8601 text beside them for people reading the tables)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

NS = 1_000_000_000

SESSION_STATUSES = ("running", "clean", "aborted", "crashed", "failed")  # failed: its start stopped (v7)
EVENT_KINDS = (
    "transition",  # a detector state change (component "detector"), or another component's
    "entry_decision",  # an entry taken
    "entry_rejected",  # an entry refused, `summary` says why
    "circuit_breaker",
    "emergency_stop",
    "command",  # every command sent (payload: the wire map)
    "response",  # every response received (payload: the wire map)
    "session",  # start, end, crash found, recovery
    "error",
    "note",
)
ORDER_STATUSES = ("PENDING", "NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "REJECTED", "EXPIRED")
TERMINAL_ORDER_STATUSES = ("FILLED", "CANCELED", "REJECTED", "EXPIRED")


def iso(ns: int) -> str:
    """UTC ISO-8601 text with microseconds, e.g. `2025-10-10T20:45:00.123456+00:00`."""
    whole = datetime.fromtimestamp(ns // NS, tz=UTC)
    return (whole + timedelta(microseconds=ns % NS // 1000)).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class SessionRecord:
    id: int
    started_ns: int
    status: str
    symbol: str
    mode: str
    initial_capital: Decimal
    ended_ns: int | None = None
    stop_reason: str | None = None
    recovered_from: int | None = None
    pid: int | None = None
    host: str | None = None


@dataclass(frozen=True)
class SessionStats:
    """Computed from the session's closed trades."""

    trades: int
    wins: int
    losses: int
    net_pnl: Decimal
    fees: Decimal
    open_trades: int
    closed_later: int = 0  # opened here, closed by a later session (counted there)

    @property
    def win_rate(self) -> float | None:
        return self.wins / self.trades if self.trades else None

    @classmethod
    def of_closed(cls, closed: Sequence[Any], open_trades: int = 0, closed_later: int = 0) -> SessionStats:
        """The figures of the `closed` trades (each with its `pnl` and `fees`: a `TradeRecord`, or the
        strategy's `ClosedTrade`). A break-even trade is neither a win nor a loss."""
        pnl = [t.pnl for t in closed if t.pnl is not None]
        return cls(
            trades=len(closed),
            wins=sum(1 for x in pnl if x > 0),
            losses=sum(1 for x in pnl if x < 0),
            net_pnl=sum(pnl, Decimal(0)),
            fees=sum((t.fees for t in closed), Decimal(0)),
            open_trades=open_trades,
            closed_later=closed_later,
        )


@dataclass(frozen=True)
class TradeRecord:
    """A round trip. Open while `exit_ns` is None; closed ones have every exit field."""

    session_id: int
    trade_key: str
    symbol: str
    quantity: Decimal
    entry_ns: int
    entry_price: Decimal
    entry_reason: str
    fees: Decimal = Decimal(0)
    exit_ns: int | None = None
    exit_price: Decimal | None = None
    exit_reason: str | None = None
    pnl: Decimal | None = None
    entry_score: float | None = None
    entry_client_order_id: str | None = None
    exit_client_order_id: str | None = None
    exit_session_id: int | None = None  # the session that closed it (the recovering one after a crash)
    id: int | None = None

    @property
    def closing_session(self) -> int | None:
        """The session whose P&L the trade counts in: the one that closed it (None while open)."""
        if self.exit_ns is None:
            return None
        return self.exit_session_id if self.exit_session_id is not None else self.session_id

    @property
    def is_open(self) -> bool:
        return self.exit_ns is None

    @property
    def hold_secs(self) -> float | None:
        return None if self.exit_ns is None else (self.exit_ns - self.entry_ns) / NS


@dataclass(frozen=True)
class OrderRecord:
    session_id: int
    client_order_id: str
    command_id: str
    symbol: str
    side: str
    order_type: str
    quantity: Decimal
    created_ns: int
    tag: str = ""
    price: Decimal | None = None
    status: str = "PENDING"
    exchange_order_id: str | None = None
    filled_quantity: Decimal = Decimal(0)
    updated_ns: int | None = None


@dataclass(frozen=True)
class FillRecord:
    session_id: int
    client_order_id: str
    trade_id: int
    side: str
    price: Decimal
    quantity: Decimal
    fee: Decimal
    fee_asset: str
    liquidity: str
    ts_ns: int
    command_id: str | None = None


@dataclass(frozen=True)
class EventRecord:
    """One line of the audit log; `command_id`/`client_order_id` correlate commands and responses."""

    session_id: int
    ts_ns: int
    kind: str
    summary: str
    component: str | None = None
    command_id: str | None = None
    client_order_id: str | None = None
    message_type: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    event_ns: int | None = None  # the market event time the process had reached (ts_ns: wall clock)
    id: int | None = None


@dataclass(frozen=True)
class SnapshotRecord:
    session_id: int
    component: str
    ts_ns: int
    state: dict[str, Any]
    reason: str = "periodic"  # periodic | shutdown | manual | change | recovery
    id: int | None = None
    # The id of the newest audit event written before it (None: an older file's snapshot).
    after_event_id: int | None = None
