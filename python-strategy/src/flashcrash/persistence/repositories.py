"""The repository interfaces. Code outside the backend modules (`sqlite.py`, and a future
`postgres.py`) sees only these, so another database is a new module, not a rewrite.

A `UnitOfWork` is one connection: its repositories plus the transaction calls the writer thread
uses. Backends translate their driver's exceptions into `flashcrash.persistence.errors`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from decimal import Decimal
from typing import Protocol

from flashcrash.event_detector.candles import Candle
from flashcrash.persistence.records import (
    EventRecord,
    FillRecord,
    OrderRecord,
    SessionRecord,
    SnapshotRecord,
    TradeRecord,
)


class SessionRepository(Protocol):
    def create(
        self,
        started_ns: int,
        symbol: str,
        mode: str,
        initial_capital: Decimal,
        recovered_from: int | None = None,
        pid: int | None = None,
        host: str | None = None,
        config_json: str | None = None,
    ) -> SessionRecord: ...
    def get(self, session_id: int) -> SessionRecord | None: ...
    def find_unfinished(self) -> SessionRecord | None: ...
    def end(self, session_id: int, ended_ns: int, status: str, reason: str) -> None: ...
    def set_capital(self, session_id: int, capital: Decimal) -> None: ...
    def last_activity_ns(self, session_id: int) -> int | None: ...
    def recent(self, limit: int = 20) -> list[SessionRecord]: ...


class TradeRepository(Protocol):
    def add(self, trade: TradeRecord) -> None:
        """Inserts a trade, or closes the open trade with the same `trade_key`."""
        ...

    def of_session(self, session_id: int) -> list[TradeRecord]:
        """The trades the session opened, closed or held open (one opened by a session it carried on
        after a crash and not closed before it: such a trade is in both sessions)."""
        ...

    def open_of_session(self, session_id: int) -> list[TradeRecord]: ...


class OrderRepository(Protocol):
    def add(self, order: OrderRecord) -> None: ...
    def update(
        self,
        client_order_id: str,
        status: str,
        ts_ns: int,
        exchange_order_id: str | None = None,
        filled_quantity: Decimal | None = None,
    ) -> bool:
        """A terminal status is never overwritten. False when the order is unknown."""
        ...

    def get(self, client_order_id: str) -> OrderRecord | None: ...
    def of_session(self, session_id: int) -> list[OrderRecord]: ...


class FillRepository(Protocol):
    def add(self, fill: FillRecord) -> bool:
        """False (nothing written) when the fill is a duplicate or its order is unknown."""
        ...

    def of_order(self, client_order_id: str) -> list[FillRecord]: ...
    def of_session(self, session_id: int) -> list[FillRecord]: ...


class EventRepository(Protocol):
    def add(self, event: EventRecord) -> None: ...
    def of_session(self, session_id: int, kind: str | None = None) -> list[EventRecord]: ...
    def by_command_id(self, command_id: str) -> list[EventRecord]: ...
    def by_client_order_id(self, client_order_id: str) -> list[EventRecord]: ...


class SnapshotRepository(Protocol):
    def save(self, snapshot: SnapshotRecord) -> None: ...
    def latest(self, session_id: int | None = None) -> dict[str, SnapshotRecord]:
        """The newest snapshot of each component (of one session, or of any)."""
        ...


class CandleRepository(Protocol):
    def add(self, session_id: int, candle: Candle) -> None: ...
    def of_session(self, session_id: int) -> list[Candle]:
        """The session's candles in time order."""
        ...


class UnitOfWork(Protocol):
    """One connection's repositories and its transaction control."""

    sessions: SessionRepository
    trades: TradeRepository
    orders: OrderRepository
    fills: FillRepository
    events: EventRepository
    snapshots: SnapshotRepository
    candles: CandleRepository

    def begin(self) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def item(self) -> AbstractContextManager[None]:
        """A savepoint: a failing item is undone alone, the rest of the batch commits."""
        ...

    def close(self) -> None: ...


class Database(Protocol):
    """An opened, migrated database."""

    name: str  # the file or DSN, for error messages

    def writer(self) -> UnitOfWork:
        """A new connection for the writer thread (call from that thread)."""
        ...

    def reader(self) -> UnitOfWork:
        """The calling thread's read connection (opened on first use)."""
        ...

    def close(self) -> None: ...
