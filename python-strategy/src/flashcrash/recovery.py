"""Crash recovery of the strategy process: a session that never ended (its process died), or ended with
positions or orders open (`PersistenceService.end_session`), is restored into a new
`Runner` from the newest snapshots of its components, then the audit log written after them is
replayed (entry decisions, order links, commands and responses). The runner then reconciles with
the engine (`Runner.start`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import msgpack

from flashcrash import wire
from flashcrash.event_detector import State
from flashcrash.event_detector.machine import Transition
from flashcrash.persistence.errors import DatabaseCorrupt, PersistenceError
from flashcrash.persistence.records import EventRecord, SessionRecord
from flashcrash.trading_engine.exits import ExitReason
from flashcrash.trading_engine.portfolio import Lot, Phase
from flashcrash.trading_engine.position import ClosedTrade

if TYPE_CHECKING:
    from flashcrash.runner import Runner

log = logging.getLogger("flashcrash.runner")

# What restoring a damaged row raises (a missing key, a value of another type or out of range, an
# unknown enumeration, a decimal that does not parse, a message that does not decode).
DAMAGED = (KeyError, TypeError, ValueError, AttributeError, ArithmeticError, OverflowError, wire.WireError)


@contextmanager
def _restoring(runner: Runner, what: str) -> Iterator[None]:
    """A damaged row met while restoring `what` is a `DatabaseCorrupt` naming the file and the row,
    not a traceback: the strategy refuses to start (exit 2), its session ended failed (`fail_start`),
    the file otherwise left as it is."""
    try:
        yield
    except DAMAGED as e:
        assert runner.db is not None
        raise DatabaseCorrupt(
            f"database {runner.db.db.name}: {what} cannot be restored ({type(e).__name__}: {e});"
            " nothing was changed but the sessions' statuses (one left running marked crashed, this start's"
            " ended failed): repair or move the file"
        ) from e


def recover(runner: Runner, crashed: SessionRecord) -> None:
    """Restores the components from the newest snapshots of the crashed session (or of the session
    it had recovered from, and so on), then replays the audit log written after them."""
    db = runner.db
    assert db is not None and runner.session is not None
    lineage = _lineage(runner, crashed)
    chain: list[int] = []  # the lineage up to the newest session with a strategy snapshot
    snaps: dict[str, Any] = {}
    for sid in lineage:
        chain.append(sid)
        snaps = db.last_snapshots(sid)
        if "strategy" in snaps:
            break
    since = snaps["strategy"].ts_ns if "strategy" in snaps else 0
    # The events written after the snapshot, by their order of writing (ids): a wall clock stepped
    # back must not hide one. By time only for a snapshot of an older file, which has no such id.
    after_id = snaps["strategy"].after_event_id if "strategy" in snaps else None
    for name, restore in (
        ("strategy", runner.strategy.restore),
        ("orders", runner.orders.restore),
        ("breaker", runner.orders.breaker.restore),
    ):
        if name in snaps:
            with _restoring(runner, f"the {name} snapshot of session {chain[-1]}"):
                restore(snaps[name].state)
    if "runner" in snaps:
        with _restoring(runner, f"the runner snapshot of session {chain[-1]}"):
            runner.event_ns = int(snaps["runner"].state.get("event_ns", 0))
    runner.event_ns = max(runner.event_ns, runner.strategy.event_ns)
    detector = "not restored"
    if "detector" in snaps:
        try:
            runner.detector.restore(snaps["detector"].state)
        except DAMAGED as e:  # another detector's snapshot (the Python one's, version 1), or damaged
            log.warning("recovery: detector not restored, it starts afresh: %s", e)
            detector = f"not restored ({e}): starts afresh"
        else:
            runner.detector.on_feed_lost()  # the market went on while this process was down
            detector = "restored"
    replayed = 0
    for s in reversed(chain):
        for e in db.events_of(s):
            after = e.ts_ns > since if after_id is None else (e.id or 0) > after_id
            with _restoring(runner, f"audit event {e.id} ({e.kind}) of session {s}"):
                if after and replay_event(runner, e):
                    replayed += 1
                    runner.event_ns = max(runner.event_ns, e.event_ns or 0)
    with _restoring(runner, f"the trades and transitions of sessions {lineage[-1]} to {lineage[0]}"):
        earlier = _read_history(runner, lineage)  # after the replay: the database has what it re-applied
    runner._transitions_seen = len(runner.detector.transitions)
    _counts_afresh(runner)
    lots = runner.strategy.position.lots
    open_orders = [c for c, o in runner.orders.orders.items() if not o.settled]
    runner.recovery = {
        "from_session": crashed.id,
        "snapshot_session": chain[-1] if snaps else None,
        "snapshot_ts_ns": since or None,
        "events_replayed": replayed,
        "positions": {c: str(lot.phase) for c, lot in lots.items()},
        "open_quantity": str(runner.strategy.position.quantity),
        "open_orders": open_orders,
        "detector": detector,
        # The first closed trades the strategy holds: closed by the sessions carried on, they count in
        # those (the session summary's P&L is this session's own).
        "earlier_trades": earlier,
        # The sessions carried on, oldest first; the detector's transitions read back from them and
        # the input guard's drops its snapshot held (theirs: the summary counts this session's own).
        "earlier_sessions": lineage[::-1],
        "earlier_transitions": runner._transitions_seen,
        "earlier_dropped": dict(runner.guard.dropped),
    }
    text = (
        f"recovered from session {crashed.id}: "
        + (f"snapshot of session {chain[-1]}" if snaps else "no snapshot")
        + f", {replayed} audit events replayed, {len(lots)} live position(s) "
        f"({runner.strategy.position.quantity} open), {len(open_orders)} order(s) to reconcile"
    )
    log.warning("%s", text)
    runner._record(db.record_event, "session", text, component="persistence", payload=runner.recovery)


def _counts_afresh(runner: Runner) -> None:
    """The counts the snapshots held (orders sent and answered, decisions, the breaker's and the
    emergency stops' events), and those the replay added, are the sessions carried on's: each
    session's summary counts what it did itself, as its P&L and the database do. They start at 0;
    the state restored (positions, orders, windows, the breaker's and the stops' states) stays."""
    runner.orders.stats.clear()
    runner.strategy.decisions.clear()
    runner.orders.breaker.stats.clear()
    runner.strategy.stops.triggered.clear()


def fail_start(runner: Runner, error: BaseException) -> None:
    """Ends the session a start opened and could not finish (a damaged row the recovery refused, a
    database failing under it) as "failed", naming `error`, instead of leaving it "running" for the
    next start to call crashed. Nothing is lost: the next start carries on through it what it carried
    on (`PersistenceService.fail_session`). A database that cannot take even that write leaves the
    session running (the next start marks it crashed) and is logged; `error` is the caller's to
    raise."""
    db, session = runner.db, runner.session
    if db is None or session is None:
        return
    try:
        db.fail_session(f"{type(error).__name__}: {error}")
    except PersistenceError as e:
        log.critical("session %d could not be ended as failed: %s", session.id, e)
    runner.session = None


def _lineage(runner: Runner, crashed: SessionRecord) -> list[int]:
    """The sessions this one carries on, newest first: the crashed one, the one it had recovered
    from, and so on to the first. Not cut short: a start that failed (a damaged row) leaves a session
    ended "failed" with no snapshot, and a supervisor restarting the strategy piles them up; a lineage
    cut at 100 of them forgot the position of the session before (it started flat)."""
    db = runner.db
    assert db is not None
    out: list[int] = []
    seen: set[int] = set()
    sid: int | None = crashed.id
    while sid is not None and sid not in seen:
        seen.add(sid)
        out.append(sid)
        rec = db.get_session(sid)
        sid = rec.recovered_from if rec is not None else None
    return out


def _read_history(runner: Runner, lineage: list[int]) -> int:
    """The closed trades, the entry and exit marks and the detector's transitions of the sessions
    this one carries on (`lineage`) and of this one, read back from the trades table and the audit
    log: snapshots leave this history out. An entry or exit is marked once per trade, at its average
    price. The trades the earlier sessions closed come first (each part in exit order); returns how
    many they are."""
    db = runner.db
    assert db is not None and runner.session is not None
    own = runner.session.id
    sessions = [*lineage, own]
    trades = {t.id: t for s in sessions for t in db.trades_of(s)}.values()
    rows = sorted(
        (t for t in trades if t.exit_ns is not None and t.exit_price is not None and t.pnl is not None),
        key=lambda t: (t.closing_session == own, t.exit_ns),
    )
    closed = [
        ClosedTrade(t.entry_ns, t.exit_ns, t.quantity, t.entry_price, t.exit_price, t.fees, t.pnl,
                    t.exit_reason or "", t.entry_reason, t.entry_score)
        for t in rows
    ]  # fmt: skip
    strategy = runner.strategy
    strategy.position.closed = closed
    strategy.entries = sorted((t.entry_ns, float(t.entry_price)) for t in trades)
    strategy.exits = [(c.exit_ns, float(c.exit_price)) for c in closed]
    if hasattr(runner.detector, "set_history"):
        runner.detector.set_history(
            [
                Transition(e.ts_ns, State(e.payload["previous"]), State(e.payload["current"]),
                           str(e.payload.get("reason", "")))
                for s in reversed(lineage)
                for e in db.events_of(s, "transition")
                if e.component == "detector"
            ]
        )  # fmt: skip
    return sum(1 for t in rows if t.closing_session != own)


def replay_event(runner: Runner, e: EventRecord) -> bool:
    """Applies one audit event written after the snapshot; True when it changed something."""
    p = e.payload
    strategy, orders = runner.strategy, runner.orders
    if e.kind == "entry_decision" and isinstance(p.get("lot"), dict):
        lot = Lot.from_snapshot(p["lot"])
        if lot.entry_coid in strategy.position.lots:
            return False
        strategy.position.add(lot)
        strategy.cooldown.on_entry(lot.signal_ns)
        return True
    if e.kind == "note" and "tag" in p and "lot" in p:
        owner = strategy.position.lots.get(p["lot"])
        coid = e.client_order_id
        if owner is None or coid is None:
            return False
        strategy.position.link(owner, coid)
        if p["tag"] == "target":
            owner.target_coid = coid
            if owner.phase is Phase.ENTERING:
                owner.phase = Phase.HOLDING
        else:
            owner.exit_coid = coid
            owner.phase = Phase.EXITING
            owner.exit_attempts += 1
            if p["tag"] in ExitReason.__members__.values():
                owner.exit_reason = ExitReason(p["tag"])
        return True
    if e.kind not in ("command", "response") or not p.get("type"):
        return False
    try:
        msg = wire.decode(msgpack.packb(p, use_bin_type=True))
    except wire.WireError:
        return False
    match msg:
        case wire.PlaceOrder():
            orders.adopt(msg, "")
            return True
        case wire.CancelOrder():
            o = orders.get(msg.client_order_id)
            if o is not None:
                o.cancel_sent = True
            return o is not None
        case wire.OrderPlaced() | wire.OrderExecution() | wire.OrderStatus() | wire.OrderCanceled():
            # At the market time the process had reached when the response arrived (audit logs
            # before schema v4 lack it: the newest known time then).
            at = e.event_ns or strategy.event_ns
            fill = orders.on_response(msg)
            if fill is not None:
                strategy.on_fill(fill, at)
            strategy.apply_reconciled_fills(at)
            return True
    return False
