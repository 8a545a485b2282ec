"""The SQLite tables of the persistence service (stdlib `sqlite3`): one repository per table, rows
mapped to and from the records of `records.py`, and `sqlite3` errors translated into the service's
(`translate`). Transactions, connections and migrations are in `sqlite.py`; these two modules are the
only ones that speak SQL.
"""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from typing import Any

from flashcrash.event_detector.candles import Candle
from flashcrash.persistence.errors import (
    ConstraintViolation,
    DatabaseCorrupt,
    DatabaseLocked,
    PersistenceError,
    StorageError,
)
from flashcrash.persistence.records import (
    TERMINAL_ORDER_STATUSES,
    EventRecord,
    FillRecord,
    OrderRecord,
    SessionRecord,
    SnapshotRecord,
    TradeRecord,
    iso,
)
from flashcrash.wire import dec_text

_LOCKED = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
_CORRUPT = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}


def translate(exc: sqlite3.Error, name: str, doing: str) -> PersistenceError:
    """The `PersistenceError` for a driver error, naming the file and what was being done."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    text = str(exc)
    if isinstance(exc, sqlite3.IntegrityError):
        return ConstraintViolation(f"database {name}: {doing}: constraint failed: {text}")
    if primary in _LOCKED or "locked" in text:
        return DatabaseLocked(
            f"database {name} is locked by another connection or process ({text}) while {doing}; "
            "is another flashcrash running on the same file?"
        )
    if primary in _CORRUPT or "malformed" in text or "not a database" in text:
        return DatabaseCorrupt(
            f"database {name} is corrupt ({text}) while {doing}; it was not changed: "
            "move it aside to keep it, and start with a new file"
        )
    return StorageError(f"database {name}: {doing}: {text}")


def _dec(v: str | None) -> Decimal | None:
    return None if v is None else Decimal(v)


def _opt_dec(d: Decimal | None) -> str | None:
    return None if d is None else dec_text(d)


class _Repo:
    def __init__(self, conn: sqlite3.Connection, name: str) -> None:
        self.conn = conn
        self.name = name

    def _x(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, params)
        except sqlite3.Error as e:
            raise translate(e, self.name, sql.split("(")[0].strip().lower()[:60]) from e

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        try:
            return self.conn.execute(sql, params).fetchall()
        except sqlite3.Error as e:
            raise translate(e, self.name, "reading") from e


# ------------------------------------------------------------------ sessions
def _session(r: sqlite3.Row) -> SessionRecord:
    return SessionRecord(
        id=r["id"],
        started_ns=r["started_ns"],
        status=r["status"],
        symbol=r["symbol"],
        mode=r["mode"],
        initial_capital=Decimal(r["initial_capital"]),
        ended_ns=r["ended_ns"],
        stop_reason=r["stop_reason"],
        recovered_from=r["recovered_from"],
        pid=r["pid"],
        host=r["host"],
    )


class SqliteSessions(_Repo):
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
    ) -> SessionRecord:
        cur = self._x(
            "INSERT INTO sessions (started_ns, started_utc, status, symbol, mode, initial_capital,"
            " recovered_from, pid, host, config_json) VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?)",
            (
                started_ns,
                iso(started_ns),
                symbol,
                mode,
                dec_text(initial_capital),
                recovered_from,
                pid,
                host,
                config_json,
            ),
        )
        assert cur.lastrowid is not None
        got = self.get(cur.lastrowid)
        assert got is not None
        return got

    def get(self, session_id: int) -> SessionRecord | None:
        rows = self._rows("SELECT * FROM sessions WHERE id = ?", (session_id,))
        return _session(rows[0]) if rows else None

    def find_unfinished(self) -> SessionRecord | None:
        """The session the next start carries on: one still running (its process died), else the
        newest session if its end left positions or orders open (its end event's payload counts them:
        `left_open`, `{"positions": n, "orders": n}`), or if it failed to start while carrying on
        another (`failed` with a `recovered_from`: what that one held is carried on through it)."""
        rows = self._rows(
            "SELECT * FROM sessions WHERE status = 'running' OR (id = (SELECT max(id) FROM sessions)"
            " AND ((status = 'failed' AND recovered_from IS NOT NULL)"
            " OR EXISTS (SELECT 1 FROM events WHERE events.session_id = sessions.id"
            " AND kind = 'session' AND (json_extract(payload, '$.left_open.positions') > 0"
            " OR json_extract(payload, '$.left_open.orders') > 0))))"
            " ORDER BY id DESC LIMIT 1"
        )
        return _session(rows[0]) if rows else None

    def end(self, session_id: int, ended_ns: int | None, status: str, reason: str) -> None:
        cur = self._x(
            "UPDATE sessions SET ended_ns = ?, ended_utc = ?, status = ?, stop_reason = ?"
            " WHERE id = ? AND status = 'running'",
            (ended_ns, None if ended_ns is None else iso(ended_ns), status, reason, session_id),
        )
        if cur.rowcount != 1:
            raise ConstraintViolation(f"database {self.name}: session {session_id} is not running")

    def set_capital(self, session_id: int, capital: Decimal) -> None:
        """The session's capital once measured (the account's equity at its start)."""
        self._x("UPDATE sessions SET initial_capital = ? WHERE id = ?", (dec_text(capital), session_id))

    def last_activity_ns(self, session_id: int) -> int | None:
        """The session's last wall-clock time on record: its newest audit event or snapshot, else its
        start. Venue event times are left out (a detector transition's time, a trade's entry and exit:
        a replay faster than real time runs them ahead of the clock), so a crashed session never ends
        after the session that found it started."""
        r = self._rows(
            "SELECT max(t) AS t FROM (SELECT max(ts_ns) AS t FROM events WHERE session_id = ?1"
            " AND kind <> 'transition'"
            " UNION ALL SELECT max(ts_ns) FROM snapshots WHERE session_id = ?1"
            " UNION ALL SELECT started_ns FROM sessions WHERE id = ?1)",
            (session_id,),
        )
        return r[0]["t"] if r else None

    def recent(self, limit: int = 20) -> list[SessionRecord]:
        return [_session(r) for r in self._rows("SELECT * FROM sessions ORDER BY id DESC LIMIT ?", (limit,))]


# ------------------------------------------------------------------ trades
def _trade(r: sqlite3.Row) -> TradeRecord:
    return TradeRecord(
        id=r["id"],
        session_id=r["session_id"],
        trade_key=r["trade_key"],
        symbol=r["symbol"],
        quantity=Decimal(r["quantity"]),
        entry_ns=r["entry_ns"],
        entry_price=Decimal(r["entry_price"]),
        entry_reason=r["entry_reason"],
        entry_client_order_id=r["entry_client_order_id"],
        exit_ns=r["exit_ns"],
        exit_price=_dec(r["exit_price"]),
        exit_reason=r["exit_reason"],
        exit_client_order_id=r["exit_client_order_id"],
        exit_session_id=r["exit_session_id"],
        fees=Decimal(r["fees"]),
        pnl=_dec(r["pnl"]),
        entry_score=r["entry_score"],
    )


class SqliteTrades(_Repo):
    def add(self, t: TradeRecord) -> None:
        closed = t.exit_ns is not None
        exit_cols = (
            t.exit_ns,
            iso(t.exit_ns) if t.exit_ns is not None else None,
            _opt_dec(t.exit_price),
            t.exit_reason,
            t.exit_client_order_id,
            _opt_dec(t.pnl),
            t.exit_ns - t.entry_ns if t.exit_ns is not None else None,
        )
        if closed:
            # Closing a trade recorded open (at its first fill): the exit columns, fees, quantity and
            # entry price (the average of every entry fill) are updated at once.
            cur = self._x(
                "UPDATE trades SET exit_ns = ?, exit_utc = ?, exit_price = ?, exit_reason = ?,"
                " exit_client_order_id = ?, pnl = ?, hold_ns = ?, exit_session_id = ?, fees = ?,"
                " quantity = ?, entry_price = ? WHERE trade_key = ? AND exit_ns IS NULL",
                (
                    *exit_cols,
                    t.session_id,
                    dec_text(t.fees),
                    dec_text(t.quantity),
                    dec_text(t.entry_price),
                    t.trade_key,
                ),
            )
            if cur.rowcount == 1:
                return
        self._x(
            "INSERT INTO trades (session_id, trade_key, symbol, quantity, entry_ns, entry_utc, entry_price,"
            " entry_reason, entry_client_order_id, entry_score, exit_ns, exit_utc, exit_price, exit_reason,"
            " exit_client_order_id, pnl, hold_ns, exit_session_id, fees)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                t.session_id,
                t.trade_key,
                t.symbol,
                dec_text(t.quantity),
                t.entry_ns,
                iso(t.entry_ns),
                dec_text(t.entry_price),
                t.entry_reason,
                t.entry_client_order_id,
                t.entry_score,
                *exit_cols,
                t.session_id if closed else None,
                dec_text(t.fees),
            ),
        )

    def of_session(self, session_id: int) -> list[TradeRecord]:
        """The trades the session opened, closed or held: one opened by a session it carried on
        (`recovered_from`, and so on) and not closed by one of those was open while it ran (a trade
        recovered from a crash is in both sessions)."""
        return [
            _trade(r)
            for r in self._rows(
                "WITH RECURSIVE lineage(id) AS ("
                " SELECT recovered_from FROM sessions WHERE id = ?1 AND recovered_from IS NOT NULL"
                " UNION SELECT s.recovered_from FROM sessions s JOIN lineage l ON s.id = l.id"
                " WHERE s.recovered_from IS NOT NULL)"
                " SELECT * FROM trades WHERE session_id = ?1 OR exit_session_id = ?1"
                " OR (session_id IN lineage AND (exit_session_id IS NULL OR exit_session_id NOT IN lineage))"
                " ORDER BY entry_ns, id",
                (session_id,),
            )
        ]

    def open_of_session(self, session_id: int) -> list[TradeRecord]:
        return [
            _trade(r)
            for r in self._rows(
                "SELECT * FROM trades WHERE session_id = ? AND exit_ns IS NULL ORDER BY entry_ns, id",
                (session_id,),
            )
        ]


# ------------------------------------------------------------------ orders and fills
def _order(r: sqlite3.Row) -> OrderRecord:
    return OrderRecord(
        session_id=r["session_id"],
        client_order_id=r["client_order_id"],
        command_id=r["command_id"],
        symbol=r["symbol"],
        side=r["side"],
        order_type=r["order_type"],
        quantity=Decimal(r["quantity"]),
        price=_dec(r["price"]),
        tag=r["tag"],
        status=r["status"],
        exchange_order_id=r["exchange_order_id"],
        filled_quantity=Decimal(r["filled_quantity"]),
        created_ns=r["created_ns"],
        updated_ns=r["updated_ns"],
    )


class SqliteOrders(_Repo):
    def add(self, o: OrderRecord) -> None:
        self._x(
            "INSERT INTO orders (session_id, client_order_id, command_id, symbol, side, order_type, quantity,"
            " price, tag, status, exchange_order_id, filled_quantity, created_ns, created_utc, updated_ns)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                o.session_id,
                o.client_order_id,
                o.command_id,
                o.symbol,
                o.side,
                o.order_type,
                dec_text(o.quantity),
                _opt_dec(o.price),
                o.tag,
                o.status,
                o.exchange_order_id,
                dec_text(o.filled_quantity),
                o.created_ns,
                iso(o.created_ns),
                o.updated_ns if o.updated_ns is not None else o.created_ns,
            ),
        )

    def update(
        self,
        client_order_id: str,
        status: str,
        ts_ns: int,
        exchange_order_id: str | None = None,
        filled_quantity: Decimal | None = None,
    ) -> bool:
        terminal = ", ".join(f"'{s}'" for s in TERMINAL_ORDER_STATUSES)
        self._x(
            "UPDATE orders SET exchange_order_id = coalesce(?, exchange_order_id),"
            " filled_quantity = coalesce(?, filled_quantity), updated_ns = max(updated_ns, ?)"
            " WHERE client_order_id = ?",
            (exchange_order_id, _opt_dec(filled_quantity), ts_ns, client_order_id),
        )
        cur = self._x(
            f"UPDATE orders SET status = ? WHERE client_order_id = ? AND status NOT IN ({terminal})",
            (status, client_order_id),
        )
        if cur.rowcount:
            return True
        return bool(self._rows("SELECT 1 FROM orders WHERE client_order_id = ?", (client_order_id,)))

    def get(self, client_order_id: str) -> OrderRecord | None:
        rows = self._rows("SELECT * FROM orders WHERE client_order_id = ?", (client_order_id,))
        return _order(rows[0]) if rows else None

    def of_session(self, session_id: int) -> list[OrderRecord]:
        return [
            _order(r)
            for r in self._rows("SELECT * FROM orders WHERE session_id = ? ORDER BY id", (session_id,))
        ]


def _fill(r: sqlite3.Row) -> FillRecord:
    return FillRecord(
        session_id=r["session_id"],
        client_order_id=r["client_order_id"],
        command_id=r["command_id"],
        trade_id=r["trade_id"],
        side=r["side"],
        price=Decimal(r["price"]),
        quantity=Decimal(r["quantity"]),
        fee=Decimal(r["fee"]),
        fee_asset=r["fee_asset"],
        liquidity=r["liquidity"],
        ts_ns=r["ts_ns"],
    )


class SqliteFills(_Repo):
    def add(self, f: FillRecord) -> bool:
        cur = self._x(
            "INSERT INTO fills (session_id, client_order_id, command_id, trade_id, side, price, quantity,"
            " fee, fee_asset, liquidity, ts_ns, ts_utc)"
            " SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?"
            " WHERE EXISTS (SELECT 1 FROM orders WHERE client_order_id = ?2)"
            " ON CONFLICT (client_order_id, trade_id) DO NOTHING",
            (
                f.session_id,
                f.client_order_id,
                f.command_id,
                f.trade_id,
                f.side,
                dec_text(f.price),
                dec_text(f.quantity),
                dec_text(f.fee),
                f.fee_asset,
                f.liquidity,
                f.ts_ns,
                iso(f.ts_ns),
            ),
        )
        return cur.rowcount == 1

    def of_order(self, client_order_id: str) -> list[FillRecord]:
        return [
            _fill(r)
            for r in self._rows(
                "SELECT * FROM fills WHERE client_order_id = ? ORDER BY id", (client_order_id,)
            )
        ]

    def of_session(self, session_id: int) -> list[FillRecord]:
        return [
            _fill(r)
            for r in self._rows("SELECT * FROM fills WHERE session_id = ? ORDER BY id", (session_id,))
        ]


# ------------------------------------------------------------------ events and snapshots
def _event(r: sqlite3.Row) -> EventRecord:
    return EventRecord(
        id=r["id"],
        session_id=r["session_id"],
        ts_ns=r["ts_ns"],
        kind=r["kind"],
        summary=r["summary"],
        component=r["component"],
        command_id=r["command_id"],
        client_order_id=r["client_order_id"],
        message_type=r["message_type"],
        payload=json.loads(r["payload"]),
        event_ns=r["event_ns"],
    )


class SqliteEvents(_Repo):
    def add(self, e: EventRecord) -> None:
        self._x(
            "INSERT INTO events (session_id, ts_ns, ts_utc, kind, component, command_id, client_order_id,"
            " message_type, summary, payload, event_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                e.session_id,
                e.ts_ns,
                iso(e.ts_ns),
                e.kind,
                e.component,
                e.command_id,
                e.client_order_id,
                e.message_type,
                e.summary,
                json.dumps(e.payload, default=str, allow_nan=False),
                e.event_ns,
            ),
        )

    def of_session(self, session_id: int, kind: str | None = None) -> list[EventRecord]:
        if kind is None:
            rows = self._rows("SELECT * FROM events WHERE session_id = ? ORDER BY id", (session_id,))
        else:
            rows = self._rows(
                "SELECT * FROM events WHERE session_id = ? AND kind = ? ORDER BY id", (session_id, kind)
            )
        return [_event(r) for r in rows]

    def by_command_id(self, command_id: str) -> list[EventRecord]:
        return [
            _event(r)
            for r in self._rows("SELECT * FROM events WHERE command_id = ? ORDER BY id", (command_id,))
        ]

    def by_client_order_id(self, client_order_id: str) -> list[EventRecord]:
        return [
            _event(r)
            for r in self._rows(
                "SELECT * FROM events WHERE client_order_id = ? ORDER BY id", (client_order_id,)
            )
        ]


def _snapshot(r: sqlite3.Row) -> SnapshotRecord:
    return SnapshotRecord(
        id=r["id"],
        session_id=r["session_id"],
        component=r["component"],
        ts_ns=r["ts_ns"],
        reason=r["reason"],
        state=json.loads(r["state"]),
        after_event_id=r["after_event_id"],
    )


class SqliteSnapshots(_Repo):
    def save(self, s: SnapshotRecord) -> None:
        self._x(
            "INSERT INTO snapshots (session_id, component, ts_ns, ts_utc, reason, state, after_event_id)"
            " VALUES (?, ?, ?, ?, ?, ?, (SELECT max(id) FROM events))",
            (
                s.session_id,
                s.component,
                s.ts_ns,
                iso(s.ts_ns),
                s.reason,
                json.dumps(s.state, default=str, allow_nan=False, sort_keys=True),
            ),
        )

    def latest(self, session_id: int | None = None) -> dict[str, SnapshotRecord]:
        where = "" if session_id is None else "WHERE session_id = ?"
        rows = self._rows(
            f"SELECT * FROM snapshots WHERE id IN (SELECT max(id) FROM snapshots {where} GROUP BY component)"
            " ORDER BY component",
            () if session_id is None else (session_id,),
        )
        return {r["component"]: _snapshot(r) for r in rows}


class SqliteCandles(_Repo):
    def add(self, session_id: int, c: Candle) -> None:
        self._x(
            "INSERT INTO candles (session_id, start_ns, open, high, low, close, volume, buy_volume, trades)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (session_id, c.start_ns, c.open, c.high, c.low, c.close, c.volume, c.buy_volume, c.trades),
        )

    def of_session(self, session_id: int) -> list[Candle]:
        rows = self._rows(
            "SELECT start_ns, open, high, low, close, volume, buy_volume, trades FROM candles"
            " WHERE session_id = ? ORDER BY start_ns",
            (session_id,),
        )
        return [Candle(*r) for r in rows]
