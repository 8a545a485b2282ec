"""The writer thread: the hot path only puts a closure on a bounded queue; this thread applies
queued writes in batches, one transaction per batch, each write inside its own savepoint.

* A full queue raises `QueueFull` at once (counted in `stats["rejected"]`): never a silent drop.
* A write that breaks a constraint is undone alone, logged and counted (`stats["failed"]`,
  `failures`); the rest of its batch commits.
* A locked database is retried with backoff for up to `locked_giveup_s`; a caller waiting for its
  write (`call`, `flush`) for less than that gets `WriteTimeout`, and the write stays queued.
* `submit_waited` queues a write with a Future and returns at once: the Future is done (its result,
  or its error) once the write's batch is committed (or has failed). The writer thread completes it,
  so its done-callbacks run on that thread (the runner's write-ahead wakes its loop from one).
* Any other database error (corrupt file, disk full, I/O) stops the writer: later writes raise
  `WriterFailed`, and the writes still queued are counted in `stats["lost"]` and logged.
* Batches commit in queue order, so what is on disk after a crash is a prefix of what was queued.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from flashcrash.persistence.errors import (
    Closed,
    ConstraintViolation,
    DatabaseLocked,
    PersistenceError,
    QueueFull,
    WriterFailed,
    WriteTimeout,
)
from flashcrash.persistence.repositories import Database, UnitOfWork

log = logging.getLogger(__name__)

WriteFn = Callable[[UnitOfWork], Any]


@dataclass
class _Item:
    fn: WriteFn
    label: str
    future: Future[Any] | None


_STOP = object()


class Writer:
    def __init__(
        self,
        db: Database,
        queue_size: int,
        *,
        max_batch: int = 500,
        locked_giveup_s: float = 30.0,
    ) -> None:
        self.db = db
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self.queue_size = queue_size
        self.max_batch = max_batch
        self.locked_giveup_s = locked_giveup_s
        self.stats: Counter[str] = Counter()
        self.failures: deque[str] = deque(maxlen=100)
        self.fatal: PersistenceError | None = None
        self._closed = False
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="persistence-writer", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self.fatal is not None:
            raise self.fatal

    # ------------------------------------------------------------ producers
    def submit(self, fn: WriteFn, label: str) -> None:
        """Queues a write without blocking; raises `QueueFull`, `WriterFailed` or `Closed`."""
        self._check()
        try:
            self.queue.put_nowait(_Item(fn, label, None))
        except queue.Full:
            with self._lock:
                self.stats["rejected"] += 1
            raise QueueFull(
                f"database {self.db.name}: write queue full ({self.queue_size} waiting): {label} not recorded"
            ) from None
        with self._lock:
            self.stats["queued"] += 1

    def submit_waited(self, fn: WriteFn, label: str, timeout: float | None = 30.0) -> Future[Any]:
        """Queues a write and returns at once a Future of it: done with the write's result once it is
        committed, or with its error (a `PersistenceError` when its batch failed: nothing of it is on
        disk). Waits only for room in a full queue, up to `timeout` (None: for ever), then raises
        `QueueFull`; raises `WriterFailed` or `Closed` as `submit` does. Writes commit in queue order:
        once the Future is done without error, every write queued before it is committed too."""
        self._check()
        fut: Future[Any] = Future()
        try:
            self.queue.put(_Item(fn, label, fut), timeout=timeout)
        except queue.Full:
            with self._lock:
                self.stats["rejected"] += 1
            raise QueueFull(f"database {self.db.name}: write queue full for {timeout} s: {label}") from None
        with self._lock:
            self.stats["queued"] += 1
        return fut

    def call(self, fn: WriteFn, label: str, timeout: float | None = 30.0) -> Any:
        """Queues a write (waiting for room) and waits until it is committed; returns its result or
        raises its error."""
        fut = self.submit_waited(fn, label, timeout)
        try:
            return fut.result(timeout)
        except TimeoutError:
            with self._lock:
                self.stats["timed_out"] += 1
            raise WriteTimeout(
                f"database {self.db.name}: {label} not committed within {timeout} s (still queued)"
            ) from None

    def flush(self, timeout: float | None = 30.0) -> None:
        """Returns when every write queued before it is committed (or failed)."""
        self.call(lambda _uow: None, "flush", timeout)

    def close(self, timeout: float | None = 60.0) -> None:
        """Drains the queue, commits, stops the thread. Raises `WriterFailed` if the writer had failed,
        or if the stop could not be queued within `timeout` (the queue full behind a stuck write:
        nothing is lost yet, and `close` may be called again)."""
        if not self._closed:
            self._closed = True
            if self._thread.is_alive():
                try:
                    self.queue.put(_STOP, timeout=timeout)
                except queue.Full as e:
                    self._closed = False
                    raise WriterFailed(
                        f"database {self.db.name}: the write queue stayed full for {timeout} s; "
                        f"{self.queue.qsize()} queued writes not yet stored"
                    ) from e
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise WriterFailed(f"database {self.db.name}: writer did not finish within {timeout} s")
        if self.fatal is not None:
            raise WriterFailed(
                f"database {self.db.name}: the writer stopped: {self.fatal}; "
                f"{self.stats['lost']} queued writes were not stored"
            ) from self.fatal

    def _check(self) -> None:
        if self.fatal is not None:
            raise WriterFailed(f"database {self.db.name}: the writer stopped: {self.fatal}") from self.fatal
        if self._closed:
            raise Closed(f"database {self.db.name}: persistence is closed")

    # --------------------------------------------------------------- thread
    def _run(self) -> None:
        try:
            uow = self.db.writer()
        except PersistenceError as e:
            self.fatal = e
            self._ready.set()
            return
        self._ready.set()
        try:
            stop = False
            while not stop:
                first = self.queue.get()
                if first is _STOP:
                    break
                batch = [first]
                while len(batch) < self.max_batch:
                    try:
                        nxt = self.queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is _STOP:
                        stop = True
                        break
                    batch.append(nxt)
                self._write(uow, batch)
                if self.fatal is not None:
                    self._abandon()
                    return
        finally:
            uow.close()

    def _write(self, uow: UnitOfWork, batch: list[_Item]) -> None:
        delay, started = 0.01, time.monotonic()
        while True:
            results: list[tuple[_Item, Any, BaseException | None]] = []
            try:
                uow.begin()
                for item in batch:
                    try:
                        with uow.item():
                            results.append((item, item.fn(uow), None))
                    except (ConstraintViolation, ValueError, TypeError, KeyError, AttributeError) as e:
                        results.append((item, None, e))
                uow.commit()
            except DatabaseLocked as e:
                self._rollback(uow)
                self.stats["lock_retries"] += 1
                if time.monotonic() - started > self.locked_giveup_s:
                    self._fail(batch, e)
                    return
                log.warning("%s; retrying in %.2f s", e, delay)
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            except PersistenceError as e:
                self._rollback(uow)
                self._fail(batch, e)
                return
            break
        self.stats["batches"] += 1
        for item, value, err in results:
            if err is None:
                self.stats["written"] += 1
                if item.future is not None:
                    item.future.set_result(value)
            else:
                self.stats["failed"] += 1
                msg = f"{item.label}: {err}"
                self.failures.append(msg)
                log.error("persistence write refused: %s", msg)
                if item.future is not None:
                    item.future.set_exception(err)

    def _rollback(self, uow: UnitOfWork) -> None:
        with contextlib.suppress(PersistenceError):
            uow.rollback()

    def _fail(self, batch: list[_Item], err: PersistenceError) -> None:
        self.fatal = err
        self.stats["lost"] += len(batch)
        log.critical("persistence writer stopped: %s", err)
        for item in batch:
            if item.future is not None:
                item.future.set_exception(err)

    def _abandon(self) -> None:
        """After a fatal error: fail the waiters still queued and count the writes lost."""
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                continue
            self.stats["lost"] += 1
            if item.future is not None:
                item.future.set_exception(WriterFailed(f"database {self.db.name}: {self.fatal}"))
        if self.stats["lost"]:
            log.critical("persistence: %d writes were not stored", self.stats["lost"])
