"""A start that stops once its session is open (a damaged row the recovery refuses with
`DatabaseCorrupt`) ends that session "failed" at once, with the error as its stop reason, instead of
leaving it "running" for the next start to call crashed; the next start carries on through it what
it carried on (the lineage is not cut), and a failed start that carried nothing on leaves nothing to
recover. The schema step that allows the status (v7) keeps every row and reference of a v6 file."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from test_recovery_damaged import _killed_holding_100, _snapshot, _start, _tamper
from test_runner_fake_engine import REPO, Unconnected, config_for
from test_session_reporting import write_run_overlay

from flashcrash import config
from flashcrash.persistence import PersistenceService, PersistenceSettings
from flashcrash.persistence.errors import ConstraintViolation, DatabaseCorrupt
from flashcrash.persistence.migrations import MIGRATIONS
from flashcrash.persistence.records import iso
from flashcrash.persistence.sqlite import SqliteDatabase, connect, migrate, schema_version

T0 = 1_760_129_100_000_000_000  # 2025-10-10T20:45:00Z


@pytest.fixture
def cfg(tmp_path: Path) -> config.Config:
    return config_for(tmp_path, Unconnected(), f'db_path = "{tmp_path / "flashcrash.db"}"\n')  # type: ignore[arg-type]


def _sessions(path: Path) -> list[tuple[int, str, int | None]]:
    c = sqlite3.connect(path)
    try:
        return c.execute("SELECT id, status, recovered_from FROM sessions ORDER BY id").fetchall()
    finally:
        c.close()


def _damaged_breaker(cfg: config.Config) -> tuple[Path, str]:
    """Session 1 holding 100 and killed, its breaker snapshot then damaged; returns the file and the
    good snapshot (to repair it)."""
    path = _killed_holding_100(cfg)
    c = sqlite3.connect(path)
    good = c.execute("SELECT state FROM snapshots WHERE component = 'breaker' ORDER BY id DESC").fetchone()[0]
    c.close()
    _snapshot("breaker", lambda s: {**s, "state": "bogus"})[1](path)
    return path, good


def test_a_start_refused_by_a_damaged_row_ends_its_own_session_failed(cfg: config.Config) -> None:
    path, _ = _damaged_breaker(cfg)
    with pytest.raises(DatabaseCorrupt):
        _start(cfg)
    assert _sessions(path) == [(1, "crashed", None), (2, "failed", 1)]  # none left "running"
    c = sqlite3.connect(path)
    ended, reason = c.execute("SELECT ended_ns, stop_reason FROM sessions WHERE id = 2").fetchone()
    events = c.execute("SELECT summary FROM events WHERE session_id = 2 AND kind = 'session'").fetchall()
    summaries = [r[0] for r in events]
    c.close()
    assert ended is not None and reason.startswith("start failed: DatabaseCorrupt: "), reason
    assert "the breaker snapshot of session 1" in reason and str(path) in reason, reason
    assert any(s.startswith("session failed to start: DatabaseCorrupt") for s in summaries), summaries


def test_the_next_start_carries_on_through_a_failed_session(cfg: config.Config) -> None:
    """Repaired, the next start recovers through the failed session 2 (left "failed", not called
    crashed) the 100 bought in session 1: nothing the failed start held is lost."""
    path, good = _damaged_breaker(cfg)
    for _ in range(2):
        with pytest.raises(DatabaseCorrupt):
            _start(cfg)
    _tamper(path, "UPDATE snapshots SET state = ? WHERE component = 'breaker'", good)
    runner, _, db = _start(cfg)
    try:
        assert runner.session is not None and runner.session.recovered_from == 3
        assert runner.recovery is not None
        assert (runner.recovery["from_session"], runner.recovery["snapshot_session"]) == (3, 1)
        assert runner.strategy.position.quantity == Decimal("100")
        started = db.events_of(runner.session, "session")[0].summary
        assert "session 3 failed to start: carrying on through it what session 2 left" in started, started
    finally:
        db.close()
    assert _sessions(path) == [(1, "crashed", None), (2, "failed", 1), (3, "failed", 2), (4, "running", 3)]


def test_a_failed_start_that_carried_nothing_on_leaves_nothing_to_recover(tmp_path: Path) -> None:
    svc = PersistenceService.open(PersistenceSettings(db_path=tmp_path / "f.db"))
    try:
        s1 = svc.start_session("POLUSDT", "paper", Decimal("1000"), now_ns=T0)
        svc.fail_session("RuntimeError: boom", now_ns=T0 + 5)
        failed = svc.get_session(s1.id)
        assert failed is not None and (failed.status, failed.ended_ns) == ("failed", T0 + 5)
        assert failed.stop_reason == "start failed: RuntimeError: boom"
        assert svc.find_unfinished_session() is None
        s2 = svc.start_session("POLUSDT", "paper", Decimal("1000"), now_ns=T0 + 10)
        assert s2.recovered_from is None
    finally:
        svc.close()


def test_flashcrash_run_refused_by_a_damaged_row_exits_2_and_leaves_no_session_running(
    tmp_path: Path, cfg: config.Config
) -> None:
    path, _ = _damaged_breaker(cfg)
    write_run_overlay(tmp_path, tmp_path / "reports", path)
    r = subprocess.run(
        [sys.executable, "-m", "flashcrash", "run", "--config", str(tmp_path / "config.toml")],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    (line,) = [x for x in r.stderr.splitlines() if x.startswith("persistence error: ")]
    assert "cannot be restored" in line and str(path) in line, r.stderr
    assert _sessions(path) == [(1, "crashed", None), (2, "failed", 1)]


def test_migration_7_keeps_a_v6_file_and_allows_the_failed_status(tmp_path: Path) -> None:
    """The sessions table is rebuilt for its new status: its rows, its one-running index and the
    references of the other tables to it are kept, and the connection's foreign keys are on again."""
    path = tmp_path / "v6.db"
    conn = connect(path, 1.0)
    migrate(conn, str(path), MIGRATIONS[:6])
    for sid, status, ended, parent in ((1, "crashed", None, None), (2, "running", None, 1)):
        conn.execute(
            "INSERT INTO sessions (id, started_ns, started_utc, ended_ns, status, recovered_from, symbol, mode,"
            " initial_capital) VALUES (?, ?, ?, ?, ?, ?, 'POLUSDT', 'paper', '1000')",
            (sid, T0, iso(T0), ended, status, parent),
        )
    conn.execute(
        "INSERT INTO events (session_id, ts_ns, ts_utc, kind, summary, payload) VALUES (2, ?, ?, 'note', 'x', '{}')",
        (T0, iso(T0)),
    )
    assert migrate(conn, str(path)) == (6, 7)
    assert schema_version(conn) == 7
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    rows = conn.execute("SELECT id, status, recovered_from FROM sessions ORDER BY id").fetchall()
    assert [tuple(r) for r in rows] == [(1, "crashed", None), (2, "running", 1)]
    conn.close()
    db = SqliteDatabase.open(path)
    w = db.writer()
    try:
        w.sessions.end(2, T0 + 1, "failed", "start failed: x")
        assert [e.summary for e in w.events.of_session(2)] == ["x"]
        w.sessions.create(T0 + 2, "POLUSDT", "paper", Decimal("1000"), recovered_from=2)
        with pytest.raises(ConstraintViolation):  # still one running session at most
            w.sessions.create(T0 + 3, "POLUSDT", "paper", Decimal("1000"))
        with pytest.raises(ConstraintViolation):  # references are checked again
            w.sessions.create(T0 + 3, "POLUSDT", "paper", Decimal("1000"), recovered_from=99)
        with pytest.raises(sqlite3.IntegrityError):  # a status outside the list is still refused
            w.conn.execute("UPDATE sessions SET status = 'bogus' WHERE id = 3")
    finally:
        w.close()
        db.close()
