"""The SQLite repositories, schema migrations and constraints of `flashcrash.persistence`."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from flashcrash.event_detector import Candle
from flashcrash.persistence import (
    ConstraintViolation,
    EventRecord,
    FillRecord,
    OrderRecord,
    SchemaError,
    SnapshotRecord,
    TradeRecord,
)
from flashcrash.persistence.migrations import LATEST, MIGRATIONS, split_statements
from flashcrash.persistence.records import iso
from flashcrash.persistence.service import session_stats
from flashcrash.persistence.sqlite import SqliteDatabase, SqliteUnitOfWork, connect, migrate, schema_version

T0 = 1_760_129_100_000_000_000  # 2025-10-10T20:45:00Z


@pytest.fixture
def uow(tmp_path: Path) -> SqliteUnitOfWork:
    db = SqliteDatabase.open(tmp_path / "t.db")
    w = db.writer()
    yield w
    w.close()
    db.close()


def _session(uow: SqliteUnitOfWork) -> int:
    return uow.sessions.create(T0, "POLUSDT", "paper", Decimal("1000")).id


def _order(sid: int, coid: str = "fc-1", **kw: object) -> OrderRecord:
    base: dict = dict(
        session_id=sid,
        client_order_id=coid,
        command_id="cmd-" + coid,
        symbol="POLUSDT",
        side="BUY",
        order_type="MARKET",
        quantity=Decimal("500"),
        created_ns=T0,
        tag="entry",
    )
    base.update(kw)
    return OrderRecord(**base)


def test_iso_is_exact_to_the_microsecond() -> None:
    assert iso(T0 + 123_456_789) == "2025-10-10T20:45:00.123456+00:00"


def test_open_creates_wal_database_with_latest_schema(tmp_path: Path) -> None:
    db = SqliteDatabase.open(tmp_path / "sub" / "fresh.db")
    conn = sqlite3.connect(tmp_path / "sub" / "fresh.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert schema_version(conn) == LATEST
    assert [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY version")] == [
        m.version for m in MIGRATIONS
    ]
    w = db.writer()
    assert w.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    w.close()
    db.close()
    conn.close()


@pytest.mark.parametrize("start", range(LATEST))
def test_migrates_from_every_earlier_version(tmp_path: Path, start: int) -> None:
    path = tmp_path / "old.db"
    conn = connect(path, 1.0)
    migrate(conn, str(path), MIGRATIONS[:start])
    assert schema_version(conn) == start
    if start >= 1:  # data written by the old schema survives the upgrade
        conn.execute(
            "INSERT INTO sessions (started_ns, started_utc, status, symbol, mode, initial_capital)"
            " VALUES (?, ?, 'running', 'POLUSDT', 'paper', '1000')",
            (T0, iso(T0)),
        )
        conn.execute(
            "INSERT INTO trades (session_id, trade_key, symbol, quantity, entry_ns, entry_utc, entry_price,"
            " entry_reason, fees) VALUES (1, 'k', 'POLUSDT', '500', ?, ?, '0.2', 'bullish', '0')",
            (T0, iso(T0)),
        )
    conn.close()
    db = SqliteDatabase.open(path)
    assert db.migrated_from == start
    r = db.reader()
    if start >= 1:
        (t,) = r.trades.of_session(1)
        assert t.entry_price == Decimal("0.2") and t.entry_score is None
    assert r.snapshots.latest() == {}
    assert r.candles.of_session(1) == []
    db.close()
    # idempotent: opening again applies nothing
    assert SqliteDatabase.open(path).migrated_from == LATEST


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    SqliteDatabase.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_version VALUES (99, 'future', 0, 'x')")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaError, match=r"new\.db.*version 99"):
        SqliteDatabase.open(path)


def test_foreign_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE stuff (x)")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaError, match="not a flashcrash database"):
        SqliteDatabase.open(path)


def test_split_statements_keeps_every_statement() -> None:
    assert len(split_statements(MIGRATIONS[0].sql)) >= 10


def test_sessions(uow: SqliteUnitOfWork) -> None:
    sid = _session(uow)
    s = uow.sessions.get(sid)
    assert s is not None and s.status == "running" and s.initial_capital == Decimal("1000")
    assert uow.sessions.find_unfinished() == s
    with pytest.raises(ConstraintViolation):  # only one running session
        _session(uow)
    uow.events.add(EventRecord(sid, T0 + 5, "note", "x"))
    assert uow.sessions.last_activity_ns(sid) == T0 + 5
    uow.sessions.end(sid, T0 + 10, "clean", "SIGTERM")
    assert uow.sessions.find_unfinished() is None
    with pytest.raises(ConstraintViolation, match="not running"):
        uow.sessions.end(sid, T0 + 11, "clean", "again")
    s2 = uow.sessions.create(T0 + 20, "POLUSDT", "paper", Decimal("1000"), recovered_from=sid)
    assert s2.recovered_from == sid
    assert [x.id for x in uow.sessions.recent()] == [s2.id, sid]
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):  # a clean end needs an end time
        uow.conn.execute("UPDATE sessions SET status = 'clean' WHERE id = ?", (s2.id,))


def test_session_constraints_raw(uow: SqliteUnitOfWork) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        uow.conn.execute(
            "INSERT INTO sessions (started_ns, started_utc, status, symbol, mode, initial_capital)"
            " VALUES (1, 'x', 'bogus', 'A', 'paper', '1')"
        )


def test_orders_and_fills(uow: SqliteUnitOfWork) -> None:
    sid = _session(uow)
    uow.orders.add(_order(sid))
    with pytest.raises(ConstraintViolation, match="UNIQUE"):
        uow.orders.add(_order(sid))  # client_order_id is unique
    with pytest.raises(ConstraintViolation, match="CHECK"):
        uow.orders.add(_order(sid, "fc-2", side="HOLD"))
    with pytest.raises(ConstraintViolation, match="FOREIGN KEY"):
        uow.orders.add(_order(999, "fc-3"))
    assert uow.orders.update("fc-1", "NEW", T0 + 1, "ex-1")
    fill = FillRecord(
        sid, "fc-1", 7, "BUY", Decimal("0.2001"), Decimal("500"), Decimal("0.5"), "USDT", "taker", T0 + 2
    )
    assert uow.fills.add(fill)
    assert not uow.fills.add(fill)  # duplicate trade id: ignored
    assert not uow.fills.add(FillRecord(**{**fill.__dict__, "client_order_id": "fc-unknown"}))
    assert uow.orders.update("fc-1", "FILLED", T0 + 2, filled_quantity=Decimal("500"))
    assert uow.orders.update("fc-1", "CANCELED", T0 + 3)  # terminal status stays
    o = uow.orders.get("fc-1")
    assert o is not None and o.status == "FILLED" and o.exchange_order_id == "ex-1"
    assert o.filled_quantity == Decimal("500") and o.updated_ns == T0 + 3
    assert not uow.orders.update("fc-nope", "NEW", T0)
    assert uow.fills.of_order("fc-1") == [fill]
    assert uow.fills.of_session(sid) == [fill]
    assert [x.client_order_id for x in uow.orders.of_session(sid)] == ["fc-1"]


def test_money_is_exact_text(uow: SqliteUnitOfWork) -> None:
    sid = _session(uow)
    uow.orders.add(_order(sid, quantity=Decimal("0.10000000"), price=Decimal("1E-8")))
    row = uow.conn.execute("SELECT quantity, price, typeof(quantity) FROM orders").fetchone()
    assert tuple(row) == ("0.10000000", "0.00000001", "text")
    o = uow.orders.get("fc-1")
    assert o is not None and o.price == Decimal("0.00000001")
    with pytest.raises(ValueError):
        uow.orders.add(_order(sid, "fc-nan", quantity=Decimal("NaN")))


def _closed(sid: int, key: str, pnl: str, exit_ns: int = T0 + 10 * 10**9) -> TradeRecord:
    return TradeRecord(
        sid,
        key,
        "POLUSDT",
        Decimal("500"),
        T0,
        Decimal("0.2"),
        "bullish candle",
        fees=Decimal("0.2"),
        exit_ns=exit_ns,
        exit_price=Decimal("0.202"),
        exit_reason="take_profit",
        pnl=Decimal(pnl),
        entry_score=0.7,
    )


def test_trades_open_close_and_constraints(uow: SqliteUnitOfWork) -> None:
    sid = _session(uow)
    uow.trades.add(TradeRecord(sid, "k1", "POLUSDT", Decimal("500"), T0, Decimal("0.2"), "bullish"))
    (open_t,) = uow.trades.open_of_session(sid)
    assert open_t.is_open and open_t.hold_secs is None
    uow.trades.add(_closed(sid, "k1", "0.8"))
    assert uow.trades.open_of_session(sid) == []
    (t,) = uow.trades.of_session(sid)
    assert t.pnl == Decimal("0.8") and t.hold_secs == 10.0 and t.exit_reason == "take_profit"
    assert t.entry_reason == "bullish"  # kept from the open trade
    with pytest.raises(ConstraintViolation):  # closing twice
        uow.trades.add(_closed(sid, "k1", "0.8"))
    with pytest.raises(ConstraintViolation, match="CHECK"):  # exit before entry
        uow.trades.add(_closed(sid, "k2", "1", exit_ns=T0 - 1))
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):  # half a closed trade
        uow.conn.execute(
            "INSERT INTO trades (session_id, trade_key, symbol, quantity, entry_ns, entry_utc, entry_price,"
            " entry_reason, fees, exit_ns) VALUES (?, 'k3', 'P', '1', 1, 'x', '1', 'r', '0', 5)",
            (sid,),
        )


def test_a_trade_counts_in_the_session_that_closed_it(uow: SqliteUnitOfWork) -> None:
    s1 = _session(uow)
    uow.trades.add(TradeRecord(s1, "k1", "POLUSDT", Decimal("500"), T0, Decimal("0.2"), "bullish"))
    uow.trades.add(_closed(s1, "k0", "-0.1", exit_ns=T0 + 1))
    uow.sessions.end(s1, None, "crashed", "no clean end")
    s2 = _session(uow)  # recovered the open trade and closed it
    uow.trades.add(_closed(s2, "k1", "0.8"))
    (t,) = [x for x in uow.trades.of_session(s2)]
    assert t.session_id == s1 and t.exit_session_id == s2 and t.closing_session == s2
    assert {x.trade_key for x in uow.trades.of_session(s1)} == {"k0", "k1"}
    st1 = session_stats(uow.trades.of_session(s1), s1)
    st2 = session_stats(uow.trades.of_session(s2), s2)
    assert (st1.trades, st1.net_pnl, st1.closed_later, st1.open_trades) == (1, Decimal("-0.1"), 1, 0)
    assert (st2.trades, st2.net_pnl, st2.wins, st2.closed_later) == (1, Decimal("0.8"), 1, 0)


def test_migration_4_gives_closed_trades_their_closing_session(tmp_path: Path) -> None:
    path = tmp_path / "v3.db"
    conn = connect(path, 1.0)
    migrate(conn, str(path), MIGRATIONS[:3])
    conn.execute(
        "INSERT INTO sessions (started_ns, started_utc, status, symbol, mode, initial_capital)"
        " VALUES (?, ?, 'crashed', 'POLUSDT', 'paper', '1000')",
        (T0, iso(T0)),
    )
    conn.execute(
        "INSERT INTO trades (session_id, trade_key, symbol, quantity, entry_ns, entry_utc, entry_price,"
        " entry_reason, fees, exit_ns, exit_utc, exit_price, exit_reason, pnl, hold_ns)"
        " VALUES (1, 'k', 'POLUSDT', '500', ?, ?, '0.2', 'bullish', '0', ?, ?, '0.21', 'target', '5', 7)",
        (T0, iso(T0), T0 + 7, iso(T0 + 7)),
    )
    conn.execute(
        "INSERT INTO events (session_id, ts_ns, ts_utc, kind, summary, payload) VALUES (1, ?, ?, 'note', 'x', '{}')",
        (T0, iso(T0)),
    )
    conn.close()
    db = SqliteDatabase.open(path)
    r = db.reader()
    (t,) = r.trades.of_session(1)
    assert t.exit_session_id == 1 and session_stats([t], 1).net_pnl == Decimal("5")
    (e,) = r.events.of_session(1)
    assert e.event_ns is None
    db.close()


def test_events_by_correlation_ids(uow: SqliteUnitOfWork) -> None:
    sid = _session(uow)
    uow.events.add(EventRecord(sid, T0, "command", "PlaceOrder", command_id="c1", client_order_id="fc-1"))
    uow.events.add(
        EventRecord(sid, T0 + 1, "response", "OrderPlaced", command_id="c1", client_order_id="fc-1")
    )
    uow.events.add(
        EventRecord(sid, T0 + 2, "transition", "SLEEP -> ALERT", component="detector", payload={"a": [1]})
    )
    assert [e.kind for e in uow.events.by_command_id("c1")] == ["command", "response"]
    assert len(uow.events.by_client_order_id("fc-1")) == 2
    (tr,) = uow.events.of_session(sid, "transition")
    assert tr.payload == {"a": [1]} and tr.event_ns is None
    uow.events.add(EventRecord(sid, T0 + 3, "response", "OrderExecution", event_ns=T0 - 5))
    assert uow.events.of_session(sid, "response")[-1].event_ns == T0 - 5
    with pytest.raises(ConstraintViolation, match="CHECK"):
        uow.events.add(EventRecord(sid, T0, "gossip", "x"))
    plan = " ".join(
        str(r[3]) for r in uow.conn.execute("EXPLAIN QUERY PLAN SELECT * FROM events WHERE command_id = 'c1'")
    )
    assert "events_command" in plan


def test_snapshots_latest_per_component(uow: SqliteUnitOfWork) -> None:
    sid = _session(uow)
    uow.snapshots.save(SnapshotRecord(sid, "detector", T0, {"state": "SLEEP"}))
    uow.snapshots.save(SnapshotRecord(sid, "detector", T0 + 1, {"state": "ALERT"}))
    uow.snapshots.save(SnapshotRecord(sid, "position", T0, {"qty": "0"}, reason="shutdown"))
    latest = uow.snapshots.latest(sid)
    assert latest["detector"].state == {"state": "ALERT"}
    assert latest["position"].reason == "shutdown"
    assert uow.snapshots.latest(sid + 1) == {}
    assert set(uow.snapshots.latest()) == {"detector", "position"}


def test_savepoint_undoes_only_the_failing_item(uow: SqliteUnitOfWork) -> None:
    sid = _session(uow)
    uow.begin()
    with uow.item():
        uow.orders.add(_order(sid, "a"))
    with pytest.raises(ConstraintViolation), uow.item():
        uow.orders.add(_order(sid, "b"))
        uow.orders.add(_order(sid, "a"))
    uow.commit()
    assert [o.client_order_id for o in uow.orders.of_session(sid)] == ["a"]


def test_candles_round_trip_in_time_order_and_bad_ones_are_refused(uow: SqliteUnitOfWork) -> None:
    sid = _session(uow)
    later = Candle(T0 + 10**9, 0.2, 0.21, 0.19, 0.205, 1500.5, 700.25, 12)
    first = Candle(T0, 0.2149, 0.2149, 0.2, 0.2001, 10.0, 0.0, 1)
    uow.candles.add(sid, later)
    uow.candles.add(sid, first)
    assert uow.candles.of_session(sid) == [first, later]  # floats exact, ordered by time
    assert uow.candles.of_session(sid + 1) == []
    bad = [
        Candle(T0 + 2 * 10**9, 0.2, 0.21, 0.22, 0.205, 1.0, 0.0, 1),  # low above high
        Candle(T0 + 3 * 10**9, 0.2, 0.21, 0.19, 0.25, 1.0, 0.0, 1),  # close above high
        Candle(T0 + 4 * 10**9, 0.2, 0.21, 0.19, 0.2, 1.0, 2.0, 1),  # more bought than traded
        Candle(T0 + 5 * 10**9, 0.2, 0.21, 0.19, 0.2, 1.0, 0.0, 0),  # no trade
        Candle(T0 + 6 * 10**9, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1),  # price 0
        later,  # the same second twice
    ]
    for c in bad:
        with pytest.raises(ConstraintViolation):
            uow.candles.add(sid, c)
    assert len(uow.candles.of_session(sid)) == 2
