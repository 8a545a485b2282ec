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
    PersistenceService,
    PersistenceSettings,
    SchemaError,
    SnapshotRecord,
    TradeRecord,
)
from flashcrash.persistence.migrations import LATEST, MIGRATIONS, split_statements
from flashcrash.persistence.records import iso
from flashcrash.persistence.service import session_stats
from flashcrash.persistence.sqlite import SqliteDatabase, SqliteUnitOfWork, connect, migrate, schema_version
from flashcrash.trading_engine.position import ClosedTrade

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


def _raw_session(conn: sqlite3.Connection, status: str) -> None:
    """Session 1 of POLUSDT, started at T0 with `status`, written with the columns every schema has."""
    conn.execute(
        "INSERT INTO sessions (started_ns, started_utc, status, symbol, mode, initial_capital)"
        " VALUES (?, ?, ?, 'POLUSDT', 'paper', '1000')",
        (T0, iso(T0), status),
    )


@pytest.mark.parametrize("start", range(LATEST))
def test_migrates_from_every_earlier_version(tmp_path: Path, start: int) -> None:
    path = tmp_path / "old.db"
    conn = connect(path, 1.0)
    migrate(conn, str(path), MIGRATIONS[:start])
    assert schema_version(conn) == start
    if start >= 1:  # data written by the old schema survives the upgrade
        _raw_session(conn, "running")
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


def test_a_session_holds_the_trades_it_recovered_open(uow: SqliteUnitOfWork) -> None:
    """A trade opened by session 1 and still held when it crashed is the recovering session 2's too
    (open there, not only in session 1); if 2 crashes as well and 3 closes it, it is 2's as closed by
    a later session and 3's as closed. A trade session 1 closed itself is 1's alone."""
    s1 = _session(uow)
    uow.trades.add(TradeRecord(s1, "held", "POLUSDT", Decimal("500"), T0, Decimal("0.2"), "bullish"))
    uow.trades.add(_closed(s1, "done", "0.8", exit_ns=T0 + 1))
    uow.sessions.end(s1, T0 + 2, "crashed", "no clean end")
    s2 = uow.sessions.create(T0 + 3, "POLUSDT", "paper", Decimal("1000"), recovered_from=s1).id
    assert [t.trade_key for t in uow.trades.of_session(s2)] == ["held"]
    st2 = session_stats(uow.trades.of_session(s2), s2)
    assert (st2.trades, st2.open_trades, st2.fees) == (0, 1, Decimal(0))
    uow.sessions.end(s2, T0 + 4, "crashed", "no clean end")
    s3 = uow.sessions.create(T0 + 5, "POLUSDT", "paper", Decimal("1000"), recovered_from=s2).id
    assert [t.trade_key for t in uow.trades.of_session(s3)] == ["held"]  # two sessions back
    uow.trades.add(_closed(s3, "held", "-0.3"))
    st2 = session_stats(uow.trades.of_session(s2), s2)
    assert (st2.trades, st2.open_trades, st2.closed_later) == (0, 0, 1)
    st3 = session_stats(uow.trades.of_session(s3), s3)
    assert (st3.trades, st3.open_trades, st3.net_pnl) == (1, 0, Decimal("-0.3"))
    uow.sessions.end(s3, T0 + 6, "clean", "SIGTERM")
    fresh = _session(uow)  # carries nothing on
    assert uow.trades.of_session(fresh) == []
    assert {t.trade_key for t in uow.trades.of_session(s1)} == {"held", "done"}


def test_a_crashed_session_ends_at_its_last_wall_clock_time(tmp_path: Path) -> None:
    """A detector transition and a trade carry the venue's event time, an hour ahead of the wall
    clock in a fast replay: the crashed session is ended at its last wall-clock record (its newest
    event or snapshot other than a transition), before the session that found it started."""
    ahead = T0 + 3600 * 10**9
    db = PersistenceService.open(PersistenceSettings(tmp_path / "c.db"))
    db.start_session("POLUSDT", "paper", Decimal("1000"), now_ns=T0)
    db.record_event("note", "wall clock", ts_ns=T0 + 5)
    db.save_snapshot("runner", {"event_ns": ahead}, ts_ns=T0 + 7)
    db.record_transition("detector", "SLEEP", "ALERT", "volatility", ts_ns=ahead)
    db.open_trade(ahead, Decimal("0.2"), Decimal("500"), "bullish", entry_client_order_id="k")
    db.record_trade(
        ClosedTrade(ahead, ahead + 10**9, Decimal("500"), Decimal("0.2"), Decimal("0.21"), Decimal("0.1"),
                    Decimal("4.9"), "target"),
        trade_key="k",
    )  # fmt: skip
    db.close()  # killed: the session never ends
    db = PersistenceService.open(PersistenceSettings(tmp_path / "c.db"))
    try:
        s2 = db.start_session("POLUSDT", "paper", Decimal("1000"), now_ns=T0 + 60 * 10**9)
        s1 = db.get_session(1)
        assert s1 is not None and s1.status == "crashed"
        assert s1.ended_ns == T0 + 7 and s1.ended_ns <= s2.started_ns
    finally:
        db.close()


def test_migration_4_gives_closed_trades_their_closing_session(tmp_path: Path) -> None:
    path = tmp_path / "v3.db"
    conn = connect(path, 1.0)
    migrate(conn, str(path), MIGRATIONS[:3])
    _raw_session(conn, "crashed")
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


def test_every_connection_is_durable_against_a_kill_and_a_power_cut(tmp_path: Path) -> None:
    """The writer's and the readers' connections run with `synchronous = FULL` on the WAL file (a
    commit is on the disk when it returns: neither a killed process nor a power cut loses the order
    written before it is sent), and foreign keys enforced."""
    db = SqliteDatabase.open(tmp_path / "d.db")
    w, r = db.writer(), db.reader()
    for conn in (w.conn, r.conn):
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL (NORMAL is 1)
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    w.close()
    db.close()


def test_a_schema_one_step_newer_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    """A file written by the next version (LATEST + 1) is refused with a message naming the file and
    both versions, read-write and read-only; nothing in it is changed."""
    path = tmp_path / "next.db"
    SqliteDatabase.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_version VALUES (?, 'next', 0, 'x')", (LATEST + 1,))
    conn.commit()
    before = conn.execute("SELECT * FROM schema_version ORDER BY version").fetchall()
    conn.close()
    with pytest.raises(SchemaError, match=rf"next\.db.*version {LATEST + 1}.*{LATEST}"):
        SqliteDatabase.open(path)
    with pytest.raises(SchemaError, match=rf"next\.db.*version {LATEST + 1}"):
        SqliteDatabase.open(path, read_only=True)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT * FROM schema_version ORDER BY version").fetchall() == before
    conn.close()


def _old_file(path: Path, version: int) -> None:
    """A file of schema `version` holding session 1 with a closed and an open trade and an event,
    written with the columns every version has."""
    conn = connect(path, 1.0)
    migrate(conn, str(path), MIGRATIONS[:version])
    _raw_session(conn, "running")
    conn.execute(
        "INSERT INTO trades (session_id, trade_key, symbol, quantity, entry_ns, entry_utc, entry_price,"
        " entry_reason, fees, exit_ns, exit_utc, exit_price, exit_reason, pnl, hold_ns)"
        " VALUES (1, 'won', 'POLUSDT', '500', ?, ?, '0.2', 'bullish', '0.2', ?, ?, '0.202', 'target', '0.8', ?)",
        (T0, iso(T0), T0 + 10**9, iso(T0 + 10**9), 10**9),
    )
    conn.execute(
        "INSERT INTO trades (session_id, trade_key, symbol, quantity, entry_ns, entry_utc, entry_price,"
        " entry_reason, fees) VALUES (1, 'held', 'POLUSDT', '500', ?, ?, '0.2', 'bullish', '0.1')",
        (T0, iso(T0)),
    )
    conn.execute(
        "INSERT INTO events (session_id, ts_ns, ts_utc, kind, summary, payload)"
        " VALUES (1, ?, ?, 'note', 'x', '{}')",
        (T0 + 5, iso(T0 + 5)),
    )
    conn.close()


@pytest.mark.parametrize("version", range(1, LATEST))
def test_read_only_open_reads_an_older_schema_without_migrating_it(tmp_path: Path, version: int) -> None:
    """`flashcrash report` opens read-only: a file of an older schema is read as it is, what it lacks
    as empty (no candles, snapshots, entry scores or event times; a closed trade closed by the session
    that opened it, as migration 4 says), and the file is not changed."""
    path = tmp_path / "old.db"
    _old_file(path, version)
    before = path.read_bytes()
    db = SqliteDatabase.open(path, read_only=True)
    r = db.reader()
    won, held = r.trades.of_session(1)
    assert (won.trade_key, won.closing_session, won.entry_score, won.pnl) == ("won", 1, None, Decimal("0.8"))
    assert held.is_open and held.exit_session_id is None
    st = session_stats([won, held], 1)
    assert (st.trades, st.open_trades, st.net_pnl) == (1, 1, Decimal("0.8"))
    (e,) = r.events.of_session(1)
    assert e.event_ns is None and e.summary == "x"
    assert r.candles.of_session(1) == [] and r.snapshots.latest(1) == {}
    assert r.sessions.last_activity_ns(1) == T0 + 5
    db.close()
    assert path.read_bytes() == before
    conn = sqlite3.connect(path)
    assert schema_version(conn) == version
    conn.close()


def test_the_report_of_a_schema_5_file_draws_its_candles(tmp_path: Path) -> None:
    """A file migrated only to v5 (no `snapshots.after_event_id`): `flashcrash report` prints it and
    draws its stored candles, without migrating it."""
    import io

    from rich.console import Console

    from flashcrash.persistence.session_report import session_report

    path = tmp_path / "v5.db"
    _old_file(path, 5)
    conn = connect(path, 1.0)
    for i in range(60):
        conn.execute("INSERT INTO candles VALUES (1, ?, 0.2, 0.2, 0.2, 0.2, 10.0, 5.0, 1)", (T0 + i * 10**9,))
    conn.close()
    console = Console(file=io.StringIO(), width=200)
    out = tmp_path / "s1.png"
    assert session_report(path, 1, out, console) == out and out.stat().st_size > 10_000
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "price, states and equity" in text and (tmp_path / "s1_trades.csv").exists()
    conn = sqlite3.connect(path)
    assert schema_version(conn) == 5
    conn.close()


def test_read_only_open_refuses_a_file_without_a_schema(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()
    with pytest.raises(SchemaError, match=r"empty\.db has no flashcrash schema"):
        SqliteDatabase.open(path, read_only=True)


def test_a_failing_migration_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    """Every missing step is applied in ONE transaction: a step that fails halfway leaves neither its
    first statements nor the steps before it, and the version unchanged."""
    from flashcrash.persistence.migrations import Migration

    path = tmp_path / "m.db"
    conn = connect(path, 1.0)
    steps = (
        Migration(1, "good", "CREATE TABLE a (x INTEGER) STRICT"),
        Migration(2, "bad", "CREATE TABLE b (x INTEGER) STRICT; INSERT INTO nowhere VALUES (1)"),
    )
    with pytest.raises(SchemaError, match=r"m\.db.*nowhere"):
        migrate(conn, str(path), steps)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == set() and schema_version(conn) == 0 and not conn.in_transaction
    assert migrate(conn, str(path), steps[:1]) == (0, 1)  # the file is still usable
    conn.close()


def test_closing_a_trade_stores_its_final_quantity_and_fees(uow: SqliteUnitOfWork) -> None:
    """A trade recorded open and closed later keeps the exit's quantity and fees (the entry's and the
    exit's), not the ones it had when opened."""
    sid = _session(uow)
    uow.trades.add(TradeRecord(sid, "k1", "POLUSDT", Decimal("400"), T0, Decimal("0.2"), "bullish"))
    closed = _closed(sid, "k1", "0.8")
    uow.trades.add(closed)
    (t,) = uow.trades.of_session(sid)
    assert (t.quantity, t.fees, t.pnl) == (closed.quantity, closed.fees, closed.pnl)


def test_an_out_of_order_response_never_moves_the_order_back(uow: SqliteUnitOfWork) -> None:
    """A late response (older timestamp) neither takes a terminal order out of its status nor moves
    its `updated_ns` back."""
    sid = _session(uow)
    uow.orders.add(_order(sid))
    uow.orders.update("fc-1", "FILLED", T0 + 5, "ex-1", Decimal("500"))
    uow.orders.update("fc-1", "PARTIALLY_FILLED", T0 + 3)
    o = uow.orders.get("fc-1")
    assert o is not None and (o.status, o.updated_ns, o.filled_quantity) == ("FILLED", T0 + 5, Decimal("500"))


def test_a_refused_row_names_the_file_and_the_rule(tmp_path: Path) -> None:
    """A constraint error says which database file and which rule refused the row."""
    db = SqliteDatabase.open(tmp_path / "named.db")
    w = db.writer()
    sid = _session(w)
    with pytest.raises(ConstraintViolation, match=r"named\.db.*CHECK"):
        w.orders.add(_order(sid, side="HOLD"))
    with pytest.raises(ConstraintViolation, match=r"named\.db.*FOREIGN KEY"):
        w.orders.add(_order(999, "fc-x"))
    w.close()
    db.close()


def test_session_stats_count_only_what_the_session_closed(uow: SqliteUnitOfWork) -> None:
    """Fees, wins and losses are those of the trades the session closed: an open trade's or one closed
    by a later session's fees are not in them; a P&L of exactly zero is neither a win nor a loss (as
    in a backtest's figures)."""
    s1 = _session(uow)
    uow.trades.add(_closed(s1, "win", "0.8"))
    uow.trades.add(_closed(s1, "flat", "0"))
    uow.trades.add(
        TradeRecord(s1, "open", "POLUSDT", Decimal("500"), T0, Decimal("0.2"), "bullish", fees=Decimal("7"))
    )
    uow.trades.add(
        TradeRecord(s1, "later", "POLUSDT", Decimal("500"), T0, Decimal("0.2"), "bullish", fees=Decimal("3"))
    )
    uow.sessions.end(s1, None, "crashed", "no clean end")
    s2 = _session(uow)
    uow.trades.add(_closed(s2, "later", "-0.5"))
    st = session_stats(uow.trades.of_session(s1), s1)
    assert (st.trades, st.wins, st.losses, st.open_trades, st.closed_later) == (2, 1, 0, 1, 1)
    assert st.fees == Decimal("0.4") and st.net_pnl == Decimal("0.8")
    st2 = session_stats(uow.trades.of_session(s2), s2)
    assert (st2.trades, st2.losses, st2.fees, st2.net_pnl) == (1, 1, Decimal("0.2"), Decimal("-0.5"))


def test_the_session_report_sums_the_pnl_of_what_the_session_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`flashcrash report`: the equity curve steps by the P&L of the trades the session closed (not of
    one a later session closed, nor their fees), and the CSV carries each trade's exact P&L and fees."""
    import csv
    import io

    from rich.console import Console

    from flashcrash.persistence import session_report as sr

    path = tmp_path / "rep.db"
    db = SqliteDatabase.open(path)
    w = db.writer()
    s1 = _session(w)
    w.trades.add(_closed(s1, "won", "0.8", exit_ns=T0 + 5 * 10**9))
    w.trades.add(_closed(s1, "lost", "-0.3", exit_ns=T0 + 9 * 10**9))
    w.trades.add(TradeRecord(s1, "later", "POLUSDT", Decimal("500"), T0, Decimal("0.2"), "bullish"))
    w.sessions.end(s1, None, "crashed", "no clean end")
    s2 = _session(w)
    w.trades.add(_closed(s2, "later", "5"))
    w.close()
    db.close()
    drawn: dict[str, object] = {}

    def fake_curve(out: Path, title: str, start: int, end: int, pnls: list, *_: object, **__: object) -> Path:
        drawn["pnls"] = pnls
        return out

    monkeypatch.setattr(sr, "write_equity_curve", fake_curve)
    out = tmp_path / "s1.png"
    assert sr.session_report(path, s1, out, Console(file=io.StringIO())) == out
    assert drawn["pnls"] == [(T0 + 5 * 10**9, Decimal("0.8")), (T0 + 9 * 10**9, Decimal("-0.3"))]
    with open(tmp_path / "s1_trades.csv", newline="") as f:
        rows = {r["trade_key"]: r for r in csv.DictReader(f)}
    assert (rows["won"]["pnl"], rows["won"]["fees"]) == ("0.8", "0.2")
    assert (rows["later"]["closing_session"], rows["later"]["pnl"]) == (str(s2), "5")
