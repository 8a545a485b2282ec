"""The runner's write-ahead without waiting for the disk: a PlaceOrder is held (not handed to the
client) until its commit, with the decision behind it, is done; the loop goes on handling market
data meanwhile and is woken by the commit (not by its poll timeout); every command sent after a held
order queues behind it; a failed commit sends nothing, undoes the orders and stops the runner; a stop
sends what was committed.

Two kinds of tests: on a real database and real sockets (a writer held up by a slow write of the
test's: the disk is slow), and on a stand-in database whose commits are Futures the test completes
(`HeldDb`: which completes first, and how, is the test's)."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from concurrent.futures import Future
from decimal import Decimal
from pathlib import Path

import pytest
from test_runner_fake_engine import REPO, Clock, FakeEngine, RecordingDb, ScriptedLink, config_for

from flashcrash import config, wire, write_ahead
from flashcrash.data_client import EngineClient
from flashcrash.persistence import PersistenceService, StorageError, WriterFailed
from flashcrash.runner import Runner
from flashcrash.trading_engine.money import Price, Quantity
from flashcrash.trading_engine.percentile import Plan
from flashcrash.trading_engine.portfolio import Lot
from flashcrash.trading_engine.position import Position

Q = Quantity(Decimal("100"))
P = Price(Decimal("0.2"))
PLAN = Plan(Price(Decimal("0.2")), Price(Decimal("0.21")), 0.19, 0.22)


class HeldDb(RecordingDb):
    """`RecordingDb` whose write-ahead commits are Futures left to the test (`commits`, in order);
    `waited` counts the commits waited for (`commit_now`)."""

    def __init__(self) -> None:
        super().__init__(60)
        self.commits: list[Future[None]] = []
        self.waited = 0

    def commit_soon(self) -> Future[None]:
        f: Future[None] = Future()
        self.commits.append(f)
        return f

    def commit_now(self) -> None:
        self.waited += 1


class WakeableLink(ScriptedLink):
    """`ScriptedLink` that can wake the loop (`EngineClient.watch`): the fds it is given to poll."""

    def __init__(self) -> None:
        super().__init__()
        self.watched: list[int] = []

    def watch(self, fd: int) -> None:
        self.watched.append(fd)

    def unwatch(self, fd: int) -> None:
        self.watched.remove(fd)


class RefusingLink(WakeableLink):
    """A client whose command queue refuses while `accept` is False."""

    accept = True

    def send(self, msg: object) -> bool:
        return self.accept and super().send(msg)


def _held_runner(link: ScriptedLink | None = None) -> tuple[Runner, ScriptedLink, HeldDb]:
    link, db = link or WakeableLink(), HeldDb()
    runner = Runner(config.load(REPO / "config" / "config.toml"), link, db, clock=Clock())  # type: ignore[arg-type]
    runner.start()
    return runner, link, db


def _coids(sent: list[object]) -> list[tuple[str, str]]:
    return [(type(m).__name__, m.client_order_id) for m in sent]  # type: ignore[attr-defined]


def test_commands_after_a_held_order_leave_after_it_and_in_order() -> None:
    """A cancel of the held order itself, and a second order, wait behind the first order; the
    second's commit done first releases nothing (the first is still not on disk); the first's done,
    all three leave, in the order sent. Nothing held: a command leaves at once."""
    runner, link, db = _held_runner()
    a = runner.orders.place("BUY", Q, P, 0, "entry")
    assert a is not None and link.sent == [] and len(runner.held) == 1
    assert runner.orders.cancel(a, 0)
    b = runner.orders.place("BUY", Q, P, 0, "entry")
    assert b is not None and len(db.commits) == 2 and len(runner.held) == 3
    runner.step(0)
    assert link.sent == []  # no commit done: nothing leaves
    db.commits[1].set_result(None)
    runner.step(0)
    assert link.sent == []  # the second order's commit does not let anything overtake the first
    db.commits[0].set_result(None)
    runner.step(0)
    assert _coids(link.sent) == [("PlaceOrder", a), ("CancelOrder", a), ("PlaceOrder", b)]
    assert not runner.held
    assert runner.orders.cancel(b, 0)
    assert _coids(link.sent)[-1] == ("CancelOrder", b)  # nothing held ahead: at once
    assert runner.orders.stats["sent"] == 2 and runner.orders.stats["cancels"] == 2


def test_a_failed_commit_sends_nothing_undoes_the_orders_and_stops_the_runner(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The first order's commit fails (the writer stopped: the second's fails with it): neither
    order nor the cancel queued between them leaves; each is undone as a command whose send failed
    (the orders not known, no pending entry, the breaker told of each order), one critical line,
    and the runner stops."""
    runner, link, db = _held_runner()
    a = runner.orders.place("BUY", Q, P, 0, "entry")
    assert a is not None and runner.orders.cancel(a, 0)
    b = runner.orders.place("SELL", Q, P, 0, "target")
    assert b is not None and len(runner.held) == 3 and runner.orders.has_open_order()
    failures = runner.orders.breaker.stats["failures"]
    for f in db.commits:
        f.set_exception(WriterFailed("database x: disk I/O error"))
    with caplog.at_level(logging.WARNING):
        runner.step(0)
    assert link.sent == [] and not runner.held
    assert a not in runner.orders.orders and b not in runner.orders.orders
    assert runner.orders.pending == {} and not runner.orders.has_open_order()
    assert runner.orders.breaker.stats["failures"] == failures + 2
    assert runner.orders.stats["sent"] == 0 and runner.orders.stats["send_failed"] == 3
    assert runner.stop_reason == "persistence failed" and runner.persistence_errors == 1
    critical = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(critical) == 1 and "disk I/O error" in critical[0].getMessage(), critical


def test_an_order_whose_commit_failed_before_its_send_is_not_sent() -> None:
    """The commit already failed when the order manager hands the order over: not taken, as a send
    that failed (`place` returns None), and the runner stops."""
    runner, link, db = _held_runner()
    db.commit_soon = lambda: _failed(WriterFailed("database x: the writer stopped"))  # type: ignore[method-assign]
    assert runner.orders.place("BUY", Q, P, 0, "entry") is None
    assert link.sent == [] and not runner.held and not runner.orders.orders
    assert runner.stop_reason == "persistence failed"


def _failed(e: BaseException) -> Future[None]:
    f: Future[None] = Future()
    f.set_exception(e)
    return f


def test_a_held_order_the_client_refuses_at_its_release_is_undone_with_its_cancel() -> None:
    """Committed, but the client refuses it (no engine connected): undone as a failed send, and the
    cancel of it queued behind is dropped; its lot, an entry, is dropped as if `place` had failed
    (not left waiting for an order nobody knows); the next order goes out; the runner goes on."""
    link = RefusingLink()
    runner, link, db = _held_runner(link)
    a = runner.orders.place("BUY", Q, P, 0, "entry")
    assert a is not None and runner.orders.cancel(a, 0)
    runner.strategy.position.add(Lot(a, PLAN, Q.value, 1, 1.0, Position()))
    db.commits[0].set_result(None)
    link.accept = False  # type: ignore[attr-defined]
    runner.step(0)
    assert not runner.held and a not in runner.orders.orders and runner.orders.pending == {}
    assert runner.orders.stats["send_failed"] == 2 and runner.stop_reason == ""
    assert not runner.strategy.position.lots and runner.strategy.decisions["entry_not_sent"] == 1
    link.accept = True  # type: ignore[attr-defined]
    b = runner.orders.place("BUY", Q, P, 0, "entry")
    db.commits[1].set_result(None)
    runner.step(0)
    assert _coids(link.sent) == [("PlaceOrder", b)]


def test_a_stop_sends_what_was_committed_and_waits_a_bounded_time_for_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`flatten` waits for a held order's commit (done later, on another thread) and sends it;
    `finish` too. A commit never done: the order stays held (unsent, unsettled: left to the next
    start) once the bounded wait is over."""
    runner, link, db = _held_runner()
    a = runner.orders.place("BUY", Q, P, 0, "entry")
    threading.Timer(0.2, db.commits[0].set_result, (None,)).start()
    runner.flatten(wait_s=0.05)
    assert _coids(link.sent) == [("PlaceOrder", a)]

    runner, link, db = _held_runner()
    b = runner.orders.place("BUY", Q, P, 0, "entry")
    threading.Timer(0.2, db.commits[0].set_result, (None,)).start()
    runner.finish()
    assert _coids(link.sent) == [("PlaceOrder", b)]

    runner, link, db = _held_runner()
    c = runner.orders.place("BUY", Q, P, 0, "entry")
    waits: list[tuple[object, float]] = []  # (the commit waited for, how long at most)
    real_wait = write_ahead.wait_futures

    def wait(fs: list[Future[None]], timeout: float) -> object:
        waits.append((fs[0], timeout))
        return real_wait(fs, timeout=timeout)

    monkeypatch.setattr(write_ahead, "wait_futures", wait)
    runner._settle_held(0.3)
    assert waits and all(f is db.commits[0] and 0 < w <= 0.3 for f, w in waits)
    assert link.sent == [] and len(runner.held) == 1 and not runner.orders.orders[c].settled  # type: ignore[index]


def test_without_a_database_nothing_is_held() -> None:
    link = WakeableLink()
    runner = Runner(config.load(REPO / "config" / "config.toml"), link, clock=Clock())  # type: ignore[arg-type]
    runner.start()
    a = runner.orders.place("BUY", Q, P, 0, "entry")
    assert _coids(link.sent) == [("PlaceOrder", a)] and not runner.held and link.watched == []


def test_a_client_that_cannot_wake_the_loop_gets_the_order_committed_before_it_leaves() -> None:
    """The backtest's replay link never polls: an order is committed waiting (`commit_now`) and
    leaves at once, at its decision's time, as before; nothing is held."""
    runner, link, db = _held_runner(ScriptedLink())
    a = runner.orders.place("BUY", Q, P, 0, "entry")
    assert _coids(link.sent) == [("PlaceOrder", a)] and not runner.held
    assert db.waited == 1 and db.commits == []


def test_the_runner_polls_its_wakeup_until_it_finishes() -> None:
    runner, link, _ = _held_runner()
    assert len(link.watched) == 1  # type: ignore[attr-defined]
    runner.finish()
    assert link.watched == []  # type: ignore[attr-defined]


def test_the_wakeup_is_read_empty_and_says_whether_it_was_set() -> None:
    from flashcrash.data_client import Wakeup

    w = Wakeup()
    try:
        assert not w.clear()
        for _ in range(3):
            w.set()
        assert w.clear() and not w.clear()
    finally:
        w.close()
    w.set()  # closed: a late commit's callback does nothing


# ------------------------------------------------------------------ real database and sockets
def _committed_commands(db_path: Path, coid: str) -> list[str]:
    """The commands of order `coid` in the database as committed (what a kill would leave)."""
    with sqlite3.connect(db_path) as c:
        rows = c.execute(
            "SELECT message_type FROM events WHERE kind = 'command' AND client_order_id = ?", (coid,)
        ).fetchall()
    return [m for (m,) in rows]


def _slow_disk(db: PersistenceService, then: BaseException | None = None) -> threading.Event:
    """A write that holds the writer up until the returned gate opens (then raises `then`, when
    given): every commit queued behind it waits. Returns once the writer is inside it."""
    gate = threading.Event()

    def slow(_uow: object) -> None:
        gate.wait(30)
        if then is not None:
            raise then

    db.writer.submit(slow, "slow disk")  # type: ignore[arg-type]
    end = time.monotonic() + 5
    while db.writer.queue.qsize() and time.monotonic() < end:
        time.sleep(0.005)
    assert db.writer.queue.qsize() == 0
    return gate


def _real_runner(tmp_path: Path) -> tuple[Runner, EngineClient, PersistenceService, FakeEngine, Path]:
    eng = FakeEngine()
    path = tmp_path / "flashcrash.db"
    cfg = config_for(tmp_path, eng, f'db_path = "{path}"\n')
    client, db = EngineClient(cfg.zmq, "POLUSDT"), PersistenceService.open(cfg)
    runner = Runner(cfg, client, db)
    runner.start()
    return runner, client, db, eng, path


def _step(runner: Runner, timeout_ms: int) -> None:
    with runner._atomic():
        runner.step(timeout_ms)


def _woken(runner: Runner, client: EngineClient) -> list[int]:
    """Spies on the client's poller: the timeouts of the polls that returned with the runner's
    wake-up ready (a commit done), appended as they return."""
    assert runner.write_ahead.wakeup is not None
    fd, poll, woken = runner.write_ahead.wakeup.fileno(), client.poller.poll, []

    def spy(timeout: int | None = None) -> list[tuple[object, int]]:
        ready = poll(timeout)
        if any(s == fd for s, _ in ready):
            woken.append(timeout)
        return ready

    client.poller.poll = spy  # type: ignore[method-assign]
    return woken


def test_the_loop_handles_the_market_during_a_slow_commit_and_the_commit_wakes_it(tmp_path: Path) -> None:
    """On a real database whose disk is slow: the order (and its cancel, right after) are held while
    market data keeps being handled; nothing reaches the engine before the order's commit; once the
    commit is done, a step polling for 10 s is woken by it (not by its timeout) and sends both, the
    order first."""
    runner, client, db, eng, path = _real_runner(tmp_path)
    sends: list[tuple[str, list[str]]] = []
    real_send = client.send

    def send(cmd: object) -> bool:  # what hands a command to the socket
        coid = getattr(cmd, "client_order_id", "")
        sends.append((type(cmd).__name__, _committed_commands(path, coid)))
        return real_send(cmd)

    client.send = send  # type: ignore[method-assign]
    handled: list[object] = []
    real_handle = runner.handle
    runner.handle = lambda msg: (handled.append(msg), real_handle(msg))[1]  # type: ignore[method-assign]
    try:
        for _ in range(25):  # the subscription reaches the publisher
            _step(runner, 20)
        gate = _slow_disk(db)
        with runner._atomic():
            coid = runner.orders.place("BUY", Q, P, time.time_ns(), "entry")
            assert coid is not None and runner.orders.cancel(coid, time.time_ns())
        assert len(runner.held) == 2 and sends == []
        # The market goes on while the commit waits for the disk: every trade is handled.
        t0 = time.monotonic()
        for tid in range(1, 21):
            eng.trade(1000 + tid, 1.0, tid)
        while len(handled) < 20 and time.monotonic() - t0 < 5:
            _step(runner, 20)
        assert len(handled) == 20 and all(isinstance(m, wire.Trade) for m in handled)
        assert sends == [] and eng.recv(50) is None and len(runner.held) == 2
        assert _committed_commands(path, coid) == []  # not on disk yet: not sent either

        woken = _woken(runner, client)
        threading.Timer(0.3, gate.set).start()
        deadline = time.monotonic() + 30
        while runner.held and time.monotonic() < deadline:
            _step(runner, 10_000)
        assert not runner.held and woken == [10_000]  # a 10-s poll ended by the commit's wake-up
        assert [k for k, _ in sends] == ["PlaceOrder", "CancelOrder"]
        assert all("PlaceOrder" in committed for _, committed in sends), sends  # on disk when it left
        first, second = eng.command(), eng.command()
        assert isinstance(first, wire.PlaceOrder) and first.client_order_id == coid
        assert isinstance(second, wire.CancelOrder) and second.client_order_id == coid
    finally:
        client.close()
        db.close()
        eng.close()


def test_a_commit_the_disk_fails_wakes_the_loop_sends_nothing_and_stops_it(tmp_path: Path) -> None:
    """On a real database: the disk fails under the held order's commit (the writer stops). The
    loop is woken, nothing reaches the engine, the order is not known as sent, the runner stops."""
    runner, client, db, eng, _ = _real_runner(tmp_path)
    try:
        for _ in range(25):
            _step(runner, 20)
        gate = _slow_disk(db, then=StorageError("database x: disk I/O error"))
        with runner._atomic():
            coid = runner.orders.place("BUY", Q, P, time.time_ns(), "entry")
        assert coid is not None and runner.held
        woken = _woken(runner, client)
        threading.Timer(0.2, gate.set).start()
        deadline = time.monotonic() + 30
        while runner.held and time.monotonic() < deadline:
            runner.step(10_000)  # outside an atomic group: the writer stopped refuses the group
        assert not runner.held and woken == [10_000]  # a 10-s poll ended by the failed commit's wake-up
        assert runner.stop_reason == "persistence failed"
        assert coid not in runner.orders.orders and runner.orders.pending == {}
        assert eng.recv(200) is None
    finally:
        client.close()
        with pytest.raises(WriterFailed):
            db.close()
        eng.close()
