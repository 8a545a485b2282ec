"""The SQLite backend (stdlib `sqlite3`): connections, transactions (`SqliteUnitOfWork`, one
repository per table from `sqlite_tables.py`) and migrations; with `sqlite_tables.py` the only
modules that speak SQL.

WAL journal, `synchronous=FULL` (every commit is on the disk when it returns: neither a killed
process nor a power cut loses the order written before it is sent), foreign keys on, STRICT tables.
The writer thread owns one connection; every reading thread opens its own (`query_only`). Only the
live and paper strategy writes here (a backtest keeps no database), and its writer thread commits in
batches: the loop never waits for the disk (an order waits, held by the runner, for its write-ahead
commit; the loop goes on). A read-only open
(`flashcrash report`) reads a file of any older schema as it is, never migrating it: what the file
lacks reads as empty (`migrations.read_views`).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from flashcrash.persistence.errors import DatabaseCorrupt, SchemaError, StorageError
from flashcrash.persistence.migrations import (
    LATEST,
    MIGRATIONS,
    SCHEMA_VERSION_TABLE,
    Migration,
    read_views,
    split_statements,
)
from flashcrash.persistence.records import iso
from flashcrash.persistence.sqlite_tables import (
    SqliteCandles,
    SqliteEvents,
    SqliteFills,
    SqliteOrders,
    SqliteSessions,
    SqliteSnapshots,
    SqliteTrades,
    translate,
)


# ------------------------------------------------------------------ connection, transactions
class SqliteUnitOfWork:
    def __init__(self, conn: sqlite3.Connection, name: str) -> None:
        self.conn = conn
        self.name = name
        self.sessions = SqliteSessions(conn, name)
        self.trades = SqliteTrades(conn, name)
        self.orders = SqliteOrders(conn, name)
        self.fills = SqliteFills(conn, name)
        self.events = SqliteEvents(conn, name)
        self.snapshots = SqliteSnapshots(conn, name)
        self.candles = SqliteCandles(conn, name)

    def _exec(self, sql: str, doing: str) -> None:
        try:
            self.conn.execute(sql)
        except sqlite3.Error as e:
            raise translate(e, self.name, doing) from e

    def begin(self) -> None:
        self._exec("BEGIN IMMEDIATE", "starting a write transaction")

    def commit(self) -> None:
        self._exec("COMMIT", "committing")

    def rollback(self) -> None:
        if self.conn.in_transaction:
            self._exec("ROLLBACK", "rolling back")

    @contextmanager
    def item(self) -> Iterator[None]:
        self._exec("SAVEPOINT item", "starting a savepoint")
        try:
            yield
        except BaseException:
            self._exec("ROLLBACK TO item", "undoing a failed write")
            self._exec("RELEASE item", "undoing a failed write")
            raise
        self._exec("RELEASE item", "ending a savepoint")

    def close(self) -> None:
        self.conn.close()


def connect(
    path: Path, busy_timeout_s: float, *, read_only: bool = False, views: Sequence[str] = ()
) -> sqlite3.Connection:
    """A connection to `path`; `read_only`: `query_only`, after creating the temporary `views`."""
    name = str(path)
    try:
        conn = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        conn.execute("PRAGMA synchronous = FULL")
        for view in views:
            conn.execute(view)
        if read_only:
            conn.execute("PRAGMA query_only = ON")
    except sqlite3.Error as e:
        raise translate(e, name, "opening") from e
    return conn


def schema_version(conn: sqlite3.Connection) -> int:
    has = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if not has:
        return 0
    return int(conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0])


def migrate(
    conn: sqlite3.Connection, name: str, migrations: tuple[Migration, ...] = MIGRATIONS
) -> tuple[int, int]:
    """Applies the missing steps in one transaction; returns (version before, version after).
    Foreign keys are off while the steps run (a step may rebuild a table others refer to, as v7 does
    `sessions`: its DROP would otherwise take their rows' parents away) and checked after them; the
    connection's setting is put back."""
    try:
        fk_on = int(conn.execute("PRAGMA foreign_keys").fetchone()[0])
        conn.execute("PRAGMA foreign_keys = OFF")  # a no-op inside a transaction: set before it
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                before = schema_version(conn)
                target = migrations[-1].version if migrations else 0
                if before == 0:
                    others = conn.execute(
                        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                        " AND name <> 'schema_version' LIMIT 3"
                    ).fetchall()
                    if others:
                        raise SchemaError(
                            f"database {name} has tables ({', '.join(r[0] for r in others)}) but no "
                            "schema_version: not a flashcrash database"
                        )
                if before > LATEST:
                    raise _newer_schema(name, before)
                conn.execute(SCHEMA_VERSION_TABLE)
                for m in migrations:
                    if m.version <= before:
                        continue
                    for stmt in split_statements(m.sql):
                        conn.execute(stmt)
                    now = time.time_ns()
                    conn.execute(
                        "INSERT INTO schema_version (version, name, applied_ns, applied_utc) VALUES (?, ?, ?, ?)",
                        (m.version, m.name, now, iso(now)),
                    )
                fk = conn.execute("PRAGMA foreign_key_check").fetchall()
                if fk:
                    raise SchemaError(f"database {name}: foreign key check failed after migrating: {fk[:3]}")
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        finally:
            conn.execute(f"PRAGMA foreign_keys = {fk_on}")
    except sqlite3.Error as e:
        err = translate(e, name, "migrating the schema")
        if type(err) is StorageError:
            err = SchemaError(str(err))
        raise err from e
    return before, max(before, target)


def _newer_schema(name: str, version: int) -> SchemaError:
    return SchemaError(
        f"database {name} has schema version {version}, newer than this program's {LATEST}: "
        "use a newer flashcrash"
    )


def _emptied(path: Path) -> bool:
    """An existing file of 0 bytes with no write-ahead log beside it: what a truncation leaves. (A
    database in WAL mode may keep its first writes in `<name>-wal` with the file itself still empty.)"""
    try:
        if path.stat().st_size:
            return False
    except OSError:
        return False  # no file: a new database
    wal = path.with_name(path.name + "-wal")
    return not (wal.exists() and wal.stat().st_size)


class SqliteDatabase:
    """An opened, checked and migrated SQLite file."""

    def __init__(self, path: Path, busy_timeout_s: float) -> None:
        self.path = path
        self.name = str(path)
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.migrated_from = 0
        self.read_views: list[str] = []  # a read-only open of an older file: what it lacks, as views

    @classmethod
    def open(
        cls, path: Path, busy_timeout_s: float = 5.0, *, read_only: bool = False, check: str = "quick"
    ) -> SqliteDatabase:
        """Opens (creating it and its folder unless `read_only`), checks and migrates the file.
        `read_only` changes nothing: an older schema is read as it is, what it lacks as empty.

        `check` is "quick" (`PRAGMA quick_check`), "full" (`integrity_check`) or "none"."""
        path = Path(path)
        db = cls(path, busy_timeout_s)
        if path.is_dir():
            raise StorageError(f"database {path} is a directory")
        if read_only and not path.exists():
            raise StorageError(f"database {path} does not exist")
        if not read_only and _emptied(path):
            raise DatabaseCorrupt(
                f"database {path} is empty (0 bytes, no write-ahead log): a database emptied, not a new "
                "one, and starting from it would forget every position; it was not changed: move it "
                "aside or delete it to start afresh"
            )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StorageError(f"database {path}: cannot create its folder: {e}") from e
        conn = connect(path, busy_timeout_s)
        try:
            try:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
                if not read_only:
                    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                    if str(mode).lower() != "wal":
                        raise StorageError(f"database {path}: cannot use WAL journal mode (got {mode})")
                if check != "none":
                    pragma = "quick_check" if check == "quick" else "integrity_check"
                    result = [r[0] for r in conn.execute(f"PRAGMA {pragma}").fetchall()]
                    if result != ["ok"]:
                        raise DatabaseCorrupt(
                            f"database {path} is corrupt ({pragma}: {'; '.join(result[:3])}); "
                            "it was not changed: move it aside to keep it, and start with a new file"
                        )
            except sqlite3.Error as e:
                raise translate(e, str(path), "opening") from e
            if read_only:
                version = schema_version(conn)
                if version > LATEST:
                    raise _newer_schema(str(path), version)
                if version == 0:
                    raise SchemaError(f"database {path} has no flashcrash schema (no schema_version)")
                db.migrated_from = version
                db.read_views = read_views(version)
            else:
                db.migrated_from, _ = migrate(conn, str(path))
        finally:
            conn.close()
        return db

    def writer(self) -> SqliteUnitOfWork:
        return SqliteUnitOfWork(connect(self.path, self.busy_timeout_s), self.name)

    def reader(self) -> SqliteUnitOfWork:
        uow = getattr(self._local, "uow", None)
        if uow is None:
            conn = connect(self.path, self.busy_timeout_s, read_only=True, views=self.read_views)
            with self._lock:
                self._readers.append(conn)
            uow = self._local.uow = SqliteUnitOfWork(conn, self.name)
        return uow

    def close(self) -> None:
        with self._lock:
            for c in self._readers:
                c.close()
            self._readers.clear()
        self._local = threading.local()
