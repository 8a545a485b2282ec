"""Crash recovery (`flashcrash.recovery.recover`) read straight from a database written by hand, without
an engine: the newest snapshot of the crashed session's lineage is restored, only the audit log
written after it is replayed (in the order it was written), and the detector restored is told the
market went on while the process was down."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from test_runner_fake_engine import REPO

from flashcrash import config, wire
from flashcrash.persistence import PersistenceService, PersistenceSettings, SessionRecord
from flashcrash.recovery import recover
from flashcrash.runner import Runner
from flashcrash.trading_engine.money import Price
from flashcrash.trading_engine.percentile import Plan
from flashcrash.trading_engine.portfolio import Lot
from flashcrash.trading_engine.position import Position

T0 = 1_760_129_100_000_000_000  # 2025-10-10T20:45:00Z
NS = 1_000_000_000
CFG = config.load(REPO / "config" / "config.toml")


def _open(path: Path) -> PersistenceService:
    return PersistenceService.open(PersistenceSettings(db_path=path))


def _start(svc: PersistenceService, now_ns: int) -> SessionRecord:
    return svc.start_session("POLUSDT", "paper", Decimal("1000"), now_ns=now_ns)


def _lot(coid: str) -> dict[str, Any]:
    plan = Plan(Price(Decimal("0.954")), Price(Decimal("0.966")), 0.9, 1.0)
    return Lot(coid, plan, Decimal("500"), T0, 0.5, Position()).snapshot()


def _strategy_state(taken: int, *lots: str) -> dict[str, Any]:
    """A strategy snapshot holding the live lots `lots`, after `taken` entries."""
    runner = Runner(CFG, None)  # type: ignore[arg-type]
    for coid in lots:
        runner.strategy.position.add(Lot.from_snapshot(_lot(coid)))
    runner.strategy.decisions["taken"] = taken
    return runner.strategy.snapshot()


def _decision(svc: PersistenceService, coid: str, ts_ns: int) -> None:
    svc.record_event("entry_decision", f"limit buy {coid}", client_order_id=coid, payload={"lot": _lot(coid)},
                     ts_ns=ts_ns)  # fmt: skip


def _recovered(path: Path, now_ns: int) -> tuple[Runner, PersistenceService]:
    """What `Runner.start` does on a database holding an unfinished session (minus the engine)."""
    svc = _open(path)
    crashed = svc.find_unfinished_session()
    assert crashed is not None
    runner = Runner(CFG, None, svc)  # type: ignore[arg-type]
    runner.session = _start(svc, now_ns)
    recover(runner, crashed)
    return runner, svc


def test_only_the_audit_log_after_the_snapshot_is_replayed(tmp_path: Path) -> None:
    """An entry decided and finished before the snapshot is not replayed (its position does not come
    back); one decided after the snapshot is."""
    path = tmp_path / "r.db"
    svc = _open(path)
    _start(svc, T0)
    _decision(svc, "fc-old", T0 + 1)
    svc.save_snapshot("strategy", _strategy_state(1), "change", T0 + 2)  # fc-old is done by then
    _decision(svc, "fc-new", T0 + 3)
    svc.close()  # killed: the session never ends

    runner, svc = _recovered(path, T0 + 10 * NS)
    try:
        assert list(runner.strategy.position.lots) == ["fc-new"]
        # Both entries were the crashed session's, counted in its summary: this one's counts start at 0.
        assert runner.strategy.decisions["taken"] == 0
        assert runner.recovery is not None and runner.recovery["events_replayed"] == 1
        assert runner.recovery["snapshot_ts_ns"] == T0 + 2
    finally:
        svc.close()


def test_the_newest_snapshot_of_the_lineage_is_restored(tmp_path: Path) -> None:
    """Session 2 recovered from session 1 and snapshot its own state before it died too: recovering
    from session 2 restores session 2's snapshot, not its predecessor's older one."""
    path = tmp_path / "lineage.db"
    svc = _open(path)
    _start(svc, T0)
    svc.save_snapshot("strategy", _strategy_state(1, "fc-1"), "change", T0 + 1)
    svc.close()
    svc = _open(path)
    s2 = _start(svc, T0 + 5 * NS)
    assert s2.recovered_from == 1
    svc.save_snapshot("strategy", _strategy_state(1), "recovery", T0 + 6 * NS)  # fc-1 closed meanwhile
    svc.close()

    runner, svc = _recovered(path, T0 + 10 * NS)
    try:
        assert runner.recovery is not None
        assert (runner.recovery["from_session"], runner.recovery["snapshot_session"]) == (2, 2)
        assert runner.strategy.position.lots == {}
    finally:
        svc.close()


def test_the_audit_logs_of_a_lineage_are_replayed_oldest_first(tmp_path: Path) -> None:
    """Session 2 died before writing any snapshot: the orders session 1 placed after its snapshot and
    the responses session 2 received are replayed in that order, so an order canceled in session 2
    is not left open."""
    path = tmp_path / "order.db"
    svc = _open(path)
    _start(svc, T0)
    svc.save_snapshot("strategy", _strategy_state(0), "change", T0 + 1)
    place = wire.PlaceOrder(
        "cmd-9", T0, "fc-9", "POLUSDT", "BUY", "LIMIT", "GTC", Decimal("500"), Decimal("0.954")
    )
    svc.record_command(place, "entry", ts_ns=T0 + 2)
    svc.close()
    svc = _open(path)
    _start(svc, T0 + 5 * NS)
    canceled = wire.OrderCanceled(None, T0 + 5 * NS, "fc-9", "X-9", "POLUSDT", Decimal(0), "CANCELED")
    svc.record_response(canceled, ts_ns=T0 + 6 * NS)
    svc.close()

    runner, svc = _recovered(path, T0 + 10 * NS)
    try:
        assert runner.recovery is not None and runner.recovery["snapshot_session"] == 1
        assert runner.recovery["events_replayed"] == 2
        assert runner.recovery["open_orders"] == []
        assert runner.orders.orders["fc-9"].settled
    finally:
        svc.close()


def test_a_restored_detector_knows_the_feed_was_lost(tmp_path: Path) -> None:
    """The detector's snapshot is restored and told the feed was lost at the newest event it had seen
    (the market went on while the process was down)."""
    path = tmp_path / "det.db"
    svc = _open(path)
    _start(svc, T0)
    before = Runner(CFG, None)  # type: ignore[arg-type]
    before.detector.on_trade(T0 + 7 * NS - 1, 1.0, 1.0, True)  # held until the next confirms its time
    assert before.detector.on_trade(T0 + 7 * NS, 1.0, 1.0, True)
    svc.save_snapshot("strategy", before.strategy.snapshot(), "change", T0 + 8 * NS)
    svc.save_snapshot("detector", before.detector.snapshot(), "change", T0 + 8 * NS)
    svc.close()

    runner, svc = _recovered(path, T0 + 20 * NS)
    try:
        assert runner.recovery is not None and runner.recovery["detector"] == "restored"
        assert runner.detector.guard.newest_ns == T0 + 7 * NS
        assert runner.detector.snapshot()["detector"]["core"]["lost_after"] == (T0 + 7 * NS) // NS
    finally:
        svc.close()


def test_a_session_that_ended_with_positions_open_is_recovered_once(tmp_path: Path) -> None:
    """A session ended (clean, or aborted by an error) with positions or orders open is found by the
    next start, left with its status and end as they were, and recovered from: its snapshot comes
    back. Once a session has carried it on, it is found no more; a session that ended with nothing
    open is never found, nor is one whose recovery event merely lists orders."""
    path = tmp_path / "ended.db"
    for clean, status in ((True, "clean"), (False, "aborted")):
        path.unlink(missing_ok=True)
        svc = _open(path)
        s1 = _start(svc, T0)
        svc.save_snapshot("strategy", _strategy_state(1, "fc-held"), "shutdown", T0 + 1)
        svc.end_session(clean, "SIGTERM", T0 + 2, open_positions=1, open_orders=2)
        svc.close()

        runner, svc = _recovered(path, T0 + 10 * NS)
        try:
            ended = svc.get_session(s1.id)
            assert ended is not None and (ended.status, ended.ended_ns) == (status, T0 + 2)
            assert (
                ended.stop_reason
                == "SIGTERM; 1 position(s) and 2 order(s) left open: recovered at the next start"
            )
            assert runner.session is not None and runner.session.recovered_from == s1.id
            assert list(runner.strategy.position.lots) == ["fc-held"]
            svc.flush()
            texts = [e.summary for e in svc.events_of(runner.session, "session")]
            assert any(
                f"session {s1.id} ended with positions or orders open: recovering them" in x for x in texts
            )
            assert any(x.startswith(f"recovered from session {s1.id}") for x in texts), texts
            assert svc.find_unfinished_session() == runner.session  # running: only itself
            svc.end_session(True, "TEST", T0 + 20 * NS)
            assert svc.find_unfinished_session() is None, status
        finally:
            svc.close()
