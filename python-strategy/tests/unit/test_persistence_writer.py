"""The persistence writer thread and `PersistenceService`: never a silent drop (a full queue raises and
counts, a fatal error counts every write it loses), a refused row is undone alone and does not stop
the writer, `close()` commits every queued write, an atomic group is one write reaching disk whole
and only when it ends, and the order rows follow the engine's responses exactly."""

from __future__ import annotations

import logging
import sqlite3
import threading
from decimal import Decimal
from pathlib import Path

import pytest

from flashcrash import wire
from flashcrash.persistence import (
    ConstraintViolation,
    EventRecord,
    PersistenceError,
    PersistenceService,
    PersistenceSettings,
    QueueFull,
    StorageError,
    WriterFailed,
    WriteTimeout,
)
from flashcrash.persistence.sqlite import SqliteDatabase
from flashcrash.persistence.writer import Writer

T0 = 1_760_129_100_000_000_000  # 2025-10-10T20:45:00Z
WAIT = 10.0  # bound of every wait on the writer thread (never reached when things work)


def _service(path: Path, queue_size: int = 100) -> PersistenceService:
    svc = PersistenceService.open(PersistenceSettings(db_path=path, queue_size=queue_size))
    svc.start_session("POLUSDT", "paper", Decimal("1000"), now_ns=T0)
    return svc


def _rows(path: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """What is committed in the file, read by a connection of its own."""
    conn = sqlite3.connect(path)
    try:
        return [tuple(r) for r in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


class _Blocker:
    """A write that holds the writer thread until released, so that what is queued behind it stays
    queued (deterministically) while the test looks."""

    def __init__(self, then: BaseException | None = None) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.then = then

    def __call__(self, _uow: object) -> None:
        self.started.set()
        assert self.release.wait(WAIT), "blocker never released"
        if self.then is not None:
            raise self.then


def _held(w: Writer, then: BaseException | None = None, label: str = "blocker") -> _Blocker:
    """A blocker submitted to `w` and holding its thread (what is queued behind it stays queued)."""
    block = _Blocker(then)
    w.submit(block, label)
    assert block.started.wait(WAIT)
    return block


def _note(sid: int, i: int):
    return lambda uow: uow.events.add(EventRecord(sid, T0 + i, "note", f"n{i}"))


def _stuck_with_two_queued(path: Path) -> tuple[PersistenceService, _Blocker]:
    """A service whose writer is held by a blocker, with two notes (n1, n2) filling its queue of 2."""
    svc = _service(path, queue_size=2)
    sid, w = svc.session_id, svc.writer
    block = _held(w)
    w.submit(_note(sid, 1), "n1")
    w.submit(_note(sid, 2), "n2")
    return svc, block


def _wait_for(cond, what: str) -> None:
    done = threading.Event()
    for _ in range(int(WAIT / 0.01)):
        if cond():
            return
        done.wait(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_full_queue_raises_and_counts_never_drops_silently(tmp_path: Path) -> None:
    """With the writer busy and the queue full, `submit` raises `QueueFull` naming the write and counts
    it in `stats["rejected"]`; everything that was accepted is committed."""
    svc, block = _stuck_with_two_queued(tmp_path / "q.db")
    sid, w = svc.session_id, svc.writer
    with pytest.raises(QueueFull, match=r"q\.db.*n3 not recorded"):
        w.submit(_note(sid, 3), "n3")
    assert w.stats["rejected"] == 1
    block.release.set()
    svc.close()
    assert _rows(tmp_path / "q.db", "SELECT summary FROM events WHERE kind = 'note' ORDER BY id") == [
        ("n1",),
        ("n2",),
    ]


def test_a_write_waited_for_past_its_timeout_is_a_persistence_error_and_stays_queued(tmp_path: Path) -> None:
    """A write-ahead (`call`, `commit_now`) that is not committed in the time waited for it (the
    writer held, e.g. retrying a database another process locked) raises `WriteTimeout`, a
    `PersistenceError` the runner refuses the order on, never a bare `TimeoutError` that would
    escape it; the write itself stays queued and is committed once the writer is free."""
    path = tmp_path / "slow.db"
    svc = _service(path)
    sid, w = svc.session_id, svc.writer
    block = _held(w)
    with pytest.raises(WriteTimeout, match=r"slow\.db: n1 not committed within 0.05 s") as e:
        w.call(_note(sid, 1), "n1", timeout=0.05)
    assert isinstance(e.value, PersistenceError)
    assert w.stats["timed_out"] == 1
    block.release.set()
    svc.close()
    assert _rows(path, "SELECT summary FROM events WHERE kind = 'note'") == [("n1",)]


def test_closing_behind_a_full_queue_is_a_writer_failure_that_says_what_is_unstored(tmp_path: Path) -> None:
    """When the stop cannot even be queued (the writer stuck, the queue full), `close` raises
    `WriterFailed` naming the database and how many writes are not stored yet, not a bare
    `queue.Full`; once the writer is freed, calling `close` again commits them."""
    path = tmp_path / "stuck.db"
    svc, block = _stuck_with_two_queued(path)
    w = svc.writer
    with pytest.raises(WriterFailed, match=r"stuck\.db.*queue stayed full.*2 queued writes"):
        w.close(timeout=0.05)
    block.release.set()
    w.close(timeout=WAIT)
    assert _rows(path, "SELECT summary FROM events WHERE kind = 'note' ORDER BY id") == [("n1",), ("n2",)]


def test_close_commits_every_write_still_queued(tmp_path: Path) -> None:
    """`close()` drains the queue: writes queued behind a busy writer, in the same batch as the stop,
    are all committed before the thread ends (the next process finds them)."""
    path = tmp_path / "drain.db"
    svc = _service(path)
    sid, w = svc.session_id, svc.writer
    block = _held(w)
    for i in range(5):
        w.submit(_note(sid, i), f"n{i}")
    closer = threading.Thread(target=svc.close)
    closer.start()
    _wait_for(lambda: w.queue.qsize() == 6, "the stop marker behind the queued writes")
    block.release.set()
    closer.join(WAIT)
    assert not closer.is_alive()
    assert len(_rows(path, "SELECT 1 FROM events WHERE kind = 'note'")) == 5
    assert w.stats["written"] >= 6 and w.stats["lost"] == 0


def test_service_close_without_flush_loses_nothing(tmp_path: Path) -> None:
    """`record_*` only queues; `close()` alone (no `flush()`) still puts every record on disk, and the
    session stays "running" so that the next start sees a crash."""
    path = tmp_path / "close.db"
    svc = _service(path)
    for i in range(50):
        svc.record_event("note", f"n{i}", ts_ns=T0 + i)
    svc.save_snapshot("strategy", {"x": 1}, ts_ns=T0 + 99)
    svc.close()
    assert len(_rows(path, "SELECT 1 FROM events WHERE kind = 'note'")) == 50
    assert _rows(path, "SELECT component FROM snapshots") == [("strategy",)]
    assert _rows(path, "SELECT status FROM sessions") == [("running",)]


def test_a_refused_row_is_undone_alone_and_the_writer_goes_on(tmp_path: Path) -> None:
    """A write breaking a constraint raises to its caller (or is logged and counted in
    `stats["failed"]`); the writes around it commit and the writer keeps accepting writes."""
    path = tmp_path / "refuse.db"
    svc = _service(path)
    sid, w = svc.session_id, svc.writer
    w.submit(_note(sid, 1), "before")
    w.submit(lambda uow: uow.events.add(EventRecord(sid, T0, "gossip", "bad kind")), "bad")
    w.submit(_note(sid, 2), "after")
    with pytest.raises(ConstraintViolation, match=r"refuse\.db.*CHECK"):
        w.call(lambda uow: uow.events.add(EventRecord(sid, T0, "gossip", "bad")), "bad, waited")
    svc.flush()
    assert w.fatal is None and w.stats["failed"] == 2 and any("bad" in f for f in w.failures)
    svc.record_event("note", "still writing", ts_ns=T0 + 3)
    svc.close()
    assert _rows(path, "SELECT summary FROM events WHERE kind = 'note' ORDER BY id") == [
        ("n1",),
        ("n2",),
        ("still writing",),
    ]


def test_a_fatal_error_counts_every_write_it_loses(tmp_path: Path) -> None:
    """A database error other than a constraint (disk full, I/O, corrupt) stops the writer: the failed
    batch and every write still queued are counted in `stats["lost"]`, later writes raise
    `WriterFailed`, and `close()` says how many writes were not stored."""
    svc = _service(tmp_path / "fatal.db")
    sid, w = svc.session_id, svc.writer
    block = _held(w, StorageError("database fatal.db: disk I/O error"), "doomed")
    for i in range(3):
        w.submit(_note(sid, i), f"n{i}")
    block.release.set()
    w._thread.join(WAIT)
    assert not w._thread.is_alive()
    assert w.stats["lost"] == 4 and w.stats["written"] == 1  # the session start only
    with pytest.raises(WriterFailed, match="disk I/O"):
        svc.record_event("note", "after the failure")
    with pytest.raises(WriterFailed, match="4 queued writes were not stored"):
        svc.close()


def test_an_atomic_group_reaches_disk_only_when_it_ends(tmp_path: Path) -> None:
    """Inside `atomic()` nothing is queued (a flush inside the block commits none of it); at its end
    the group is committed whole."""
    path = tmp_path / "group.db"
    svc = _service(path)
    with svc.atomic("loop"):
        svc.record_event("note", "a", ts_ns=T0 + 1)
        svc.save_snapshot("strategy", {"x": 1}, ts_ns=T0 + 1)
        svc.flush()
        assert _rows(path, "SELECT 1 FROM events WHERE kind = 'note'") == []
        assert _rows(path, "SELECT 1 FROM snapshots") == []
    svc.flush()
    assert len(_rows(path, "SELECT 1 FROM events WHERE kind = 'note'")) == 1
    assert len(_rows(path, "SELECT 1 FROM snapshots")) == 1
    svc.close()


def _place(coid: str, qty: str = "500") -> wire.PlaceOrder:
    return wire.PlaceOrder(
        f"cmd-{coid}", T0, coid, "POLUSDT", "SELL", "LIMIT", "GTC", Decimal(qty), Decimal("0.966")
    )


def _exec(
    coid: str, trade_id: int, last: str, cum: str, status: str, price: str = "0.966"
) -> wire.OrderExecution:
    return wire.OrderExecution(
        None, T0 + trade_id, coid, "X-1", "POLUSDT", "SELL", trade_id, Decimal(price), Decimal(last),
        Decimal(cum), Decimal("500"), status, "maker", Decimal("0.01"), "USDT",
    )  # fmt: skip


def test_a_write_of_a_group_that_fails_halfway_leaves_nothing_of_itself(tmp_path: Path) -> None:
    """In an atomic group, a response whose event is stored but whose fill breaks a rule (price 0) is
    undone whole: no audit event without its fill. The other writes of the group stand."""
    path = tmp_path / "half.db"
    svc = _service(path)
    svc.record_command(_place("fc-1"), "target", ts_ns=T0)
    with svc.atomic("loop"):
        svc.record_event("note", "before", ts_ns=T0 + 1)
        svc.record_response(_exec("fc-1", 7, "200", "200", "PARTIALLY_FILLED", price="0"), ts_ns=T0 + 2)
        svc.record_event("note", "after", ts_ns=T0 + 3)
    svc.flush()
    assert svc.group_failures == 1
    assert _rows(path, "SELECT kind, summary FROM events WHERE kind IN ('note', 'response') ORDER BY id") == [
        ("note", "before"),
        ("note", "after"),
    ]
    assert _rows(path, "SELECT 1 FROM fills") == []
    assert _rows(path, "SELECT status, filled_quantity FROM orders") == [("PENDING", "0")]
    svc.close()


def test_order_rows_follow_executions_by_cumulative_quantity_once_per_trade(tmp_path: Path) -> None:
    """Two partial executions leave the order's cumulative filled quantity (not the last fill's) and
    its status; the same execution delivered twice (same trade id) is stored once."""
    path = tmp_path / "fills.db"
    svc = _service(path)
    svc.record_command(_place("fc-1"), "target", ts_ns=T0)
    svc.record_response(_exec("fc-1", 7, "200", "200", "PARTIALLY_FILLED"), ts_ns=T0 + 1)
    svc.record_response(_exec("fc-1", 7, "200", "200", "PARTIALLY_FILLED"), ts_ns=T0 + 2)  # redelivered
    svc.flush()
    assert _rows(path, "SELECT status, filled_quantity FROM orders") == [("PARTIALLY_FILLED", "200")]
    svc.record_response(_exec("fc-1", 8, "300", "500", "FILLED"), ts_ns=T0 + 3)
    svc.flush()
    assert _rows(path, "SELECT status, filled_quantity FROM orders") == [("FILLED", "500")]
    assert _rows(path, "SELECT trade_id, quantity FROM fills ORDER BY id") == [(7, "200"), (8, "300")]
    svc.close()


@pytest.mark.parametrize("heard", ["placed", "execution only"])
def test_the_engines_own_flatten_is_kept_as_an_order_with_its_fills(tmp_path: Path, heard: str) -> None:
    """The engine's flatten (`flatten-<ms>`, an order the strategy never sent): its `OrderPlaced`
    makes its row, tagged `engine_flatten`, and its executions are fills like any other. A flatten
    whose `OrderPlaced` went unheard, or the fill made up for one the engine made while nobody
    listened (`flatten-unheard-<ns>`): its first execution makes its row (a MARKET sell of the
    order's quantity), and it is a fill row, not an orphan."""
    path = tmp_path / "flatten.db"
    svc = _service(path)
    if heard == "placed":
        coid = "flatten-1700"
        placed = wire.OrderPlaced(
            "halt-1-flatten", T0, coid, "X-9", "POLUSDT", "SELL", "MARKET", None, Decimal("500"),
            None, "FILLED",
        )  # fmt: skip
        svc.record_response(placed, ts_ns=T0)
    else:
        coid = "flatten-unheard-99"
    svc.record_response(_exec(coid, 7, "500", "500", "FILLED"), ts_ns=T0 + 1)
    svc.flush()
    assert _rows(path, "SELECT client_order_id, side, order_type, quantity, tag, status FROM orders") == [
        (coid, "SELL", "MARKET", "500", "engine_flatten", "FILLED")
    ]
    assert _rows(path, "SELECT client_order_id, trade_id, quantity FROM fills") == [(coid, 7, "500")]
    assert svc.orphan_fills == 0
    svc.close()


def test_an_execution_of_an_unknown_order_is_counted_and_logged_not_dropped_silently(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An execution whose order has no row (never recorded by this database) cannot be a fill row; it
    is counted and logged, and its audit event keeps the whole message. A redelivered execution of a
    known order is not counted as one."""
    path = tmp_path / "orphan.db"
    svc = _service(path)
    svc.record_command(_place("fc-1"), "target", ts_ns=T0)
    svc.record_response(_exec("fc-1", 7, "200", "200", "PARTIALLY_FILLED"), ts_ns=T0 + 1)
    svc.record_response(_exec("fc-1", 7, "200", "200", "PARTIALLY_FILLED"), ts_ns=T0 + 2)  # redelivered
    with caplog.at_level(logging.WARNING, logger="flashcrash.persistence.service"):
        svc.record_response(_exec("fc-ghost", 9, "50", "50", "FILLED"), ts_ns=T0 + 3)
        svc.flush()
    assert svc.orphan_fills == 1
    assert any("fc-ghost" in r.getMessage() and "audit log" in r.getMessage() for r in caplog.records)
    assert _rows(path, "SELECT client_order_id FROM fills") == [("fc-1",)]
    assert _rows(path, "SELECT client_order_id FROM events WHERE message_type = 'OrderExecution'") == [
        ("fc-1",),
        ("fc-1",),
        ("fc-ghost",),
    ]
    svc.close()


def test_cancel_and_refusal_responses_update_the_order_row(tmp_path: Path) -> None:
    """An `OrderCanceled` stores the quantity filled before the cancel; an `Error` refusing a
    PlaceOrder marks its order REJECTED (a MALFORMED one, never parsed, and a DUPLICATE_ORDER, whose
    order is at the engine, change nothing). A refused cancel changes nothing either: fc-5 filled
    before its cancel arrived (UNKNOWN_ORDER), and the status that says so is kept."""
    path = tmp_path / "cancel.db"
    svc = _service(path)
    for coid in ("fc-1", "fc-2", "fc-3", "fc-4", "fc-5"):
        svc.record_command(_place(coid), "target", ts_ns=T0)
    svc.record_response(
        wire.OrderCanceled(None, T0 + 1, "fc-1", "X-1", "POLUSDT", Decimal("120"), "CANCELED"), ts_ns=T0 + 1
    )
    err = wire.Error
    svc.record_response(
        err("cmd-fc-2", T0 + 2, "VALIDATION", "price", "too far"), "fc-2", T0 + 2, "PlaceOrder"
    )
    svc.record_response(err("cmd-fc-3", T0 + 3, "MALFORMED", None, "bad frame"), "fc-3", T0 + 3, "PlaceOrder")
    svc.record_response(err("cmd-fc-4", T0 + 4, "DUPLICATE_ORDER", None, "dup"), "fc-4", T0 + 4, "PlaceOrder")
    svc.record_response(
        err("c-fc-5", T0 + 5, "UNKNOWN_ORDER", None, "unknown"), "fc-5", T0 + 5, "CancelOrder"
    )
    info = wire.OrderInfo("fc-5", "X-5", "POLUSDT", "SELL", "LIMIT", "GTC", Decimal("500"), Decimal("0.2"),
                          Decimal("500"), Decimal("100"), "FILLED", T0, T0 + 5)  # fmt: skip
    svc.record_response(wire.OrderStatus("q-fc-5", T0 + 6, info), ts_ns=T0 + 6)
    svc.flush()
    assert _rows(path, "SELECT client_order_id, status, filled_quantity FROM orders ORDER BY id") == [
        ("fc-1", "CANCELED", "120"),
        ("fc-2", "REJECTED", "0"),
        ("fc-3", "PENDING", "0"),
        ("fc-4", "PENDING", "0"),
        ("fc-5", "FILLED", "500"),
    ]
    svc.close()


def test_a_crashed_session_is_ended_at_its_last_recorded_activity(tmp_path: Path) -> None:
    """A session left "running" by a killed process is marked crashed by the next start, ended at the
    newest thing it recorded (not at its start), and the new session points at it."""
    path = tmp_path / "crash.db"
    svc = _service(path)
    svc.record_event("note", "last words", ts_ns=T0 + 42)
    svc.close()  # no end_session: the process died
    svc = PersistenceService.open(PersistenceSettings(db_path=path))
    assert svc.find_unfinished_session() is not None
    s2 = svc.start_session("POLUSDT", "paper", Decimal("1000"), now_ns=T0 + 100)
    s1 = svc.get_session(1)
    assert s1 is not None and (s1.status, s1.ended_ns) == ("crashed", T0 + 42)
    assert s2.recovered_from == 1 and svc.find_unfinished_session() == s2
    svc.close()


def test_commit_now_returns_only_once_the_group_so_far_is_committed(tmp_path: Path) -> None:
    """Write-ahead: `commit_now()` inside an atomic group commits what the group holds so far and
    waits for it, so that the order is on disk before it leaves (a kill right after loses nothing)."""
    path = tmp_path / "ahead.db"
    svc = _service(path)
    block = _held(svc.writer)
    done = threading.Event()

    def send() -> None:
        with svc.atomic("loop"):
            svc.record_command(_place("fc-1"), "entry", ts_ns=T0)
            svc.commit_now()
            done.set()  # where the order would leave
            svc.record_event("note", "after the send", ts_ns=T0 + 1)

    t = threading.Thread(target=send)
    t.start()
    _wait_for(lambda: svc.writer.queue.qsize() == 1, "the write-ahead group queued")
    assert not done.wait(0.3)  # still waiting for the commit: the writer is busy
    block.release.set()
    t.join(WAIT)
    assert done.is_set()
    svc.flush()
    assert _rows(path, "SELECT client_order_id FROM orders") == [("fc-1",)]
    assert len(_rows(path, "SELECT 1 FROM events WHERE kind = 'note'")) == 1
    svc.close()


def test_commit_soon_returns_at_once_and_its_future_is_done_once_the_group_so_far_is_committed(
    tmp_path: Path,
) -> None:
    """Write-ahead without waiting: `commit_soon()` inside an atomic group queues what the group holds
    so far and returns at once, the writer busy; its Future (a done-callback runs on the writer
    thread) is done only once that is on disk; what the group gets after it is committed apart. A
    writer that fails under it fails the Future with the error."""
    path = tmp_path / "soon.db"
    svc = _service(path)
    block = _held(svc.writer)
    called: list[str] = []
    with svc.atomic("loop"):
        svc.record_command(_place("fc-1"), "entry", ts_ns=T0)
        commit = svc.commit_soon()
        commit.add_done_callback(lambda _f: called.append(threading.current_thread().name))
        svc.record_event("note", "after the send", ts_ns=T0 + 1)
    assert not commit.done() and svc.writer.queue.qsize() == 2  # the write-ahead, then the rest
    assert _rows(path, "SELECT client_order_id FROM orders") == []
    block.release.set()
    assert commit.result(WAIT) is None
    _wait_for(lambda: called, "the done-callback")
    assert called == ["persistence-writer"]
    assert _rows(path, "SELECT client_order_id FROM orders") == [("fc-1",)]
    svc.flush()
    assert len(_rows(path, "SELECT 1 FROM events WHERE kind = 'note'")) == 1

    block = _held(svc.writer, then=StorageError("disk I/O error"))
    with svc.atomic("loop"):
        svc.record_command(_place("fc-2"), "entry", ts_ns=T0 + 2)
        failed = svc.commit_soon()
    block.release.set()
    with pytest.raises(PersistenceError):
        failed.result(WAIT)
    with pytest.raises(WriterFailed):
        svc.close()
    assert _rows(path, "SELECT client_order_id FROM orders") == [("fc-1",)]


def test_writer_on_an_unopenable_database_fails_at_construction(tmp_path: Path) -> None:
    """A writer whose connection cannot open raises at once (the service never starts half-alive)."""
    db = SqliteDatabase.open(tmp_path / "ok.db")
    db.path = tmp_path / "missing-dir" / "sub" / "x.db"  # a folder that does not exist
    with pytest.raises(StorageError):
        Writer(db, 10)
    db.close()
