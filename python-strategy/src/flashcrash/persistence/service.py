"""`PersistenceService`: what the strategy process calls. Every `record_*`/`save_snapshot` returns at
once (the write is queued for the writer thread; see `writer.py`); `start_session`, `end_session`,
`commit_now` and `flush` wait for the commit; `commit_soon` returns a Future of it. Reads go through
the calling thread's own connection and see what is committed: call `flush()` first to read your own
recent writes.

Config (`[persistence]` of config.toml): `db_path` (relative paths are relative to the repository
root, like `report_dir`), `snapshot_interval_secs` (for the caller's periodic timer: this module
only exposes `save_snapshot`), `queue_size` (writes waiting for the writer thread).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from flashcrash import wire
from flashcrash.config import Config
from flashcrash.event_detector.candles import Candle
from flashcrash.paths import REPO
from flashcrash.persistence.errors import ConstraintViolation, PersistenceError
from flashcrash.persistence.records import (
    EVENT_KINDS,
    EventRecord,
    FillRecord,
    OrderRecord,
    SessionRecord,
    SessionStats,
    SnapshotRecord,
    TradeRecord,
)
from flashcrash.persistence.repositories import Database, UnitOfWork
from flashcrash.persistence.sqlite import SqliteDatabase
from flashcrash.persistence.writer import Writer
from flashcrash.trading_engine import ClosedTrade

log = logging.getLogger(__name__)


def resolve_db_path(value: str | Path, base: Path = REPO) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


@dataclass(frozen=True)
class PersistenceSettings:
    db_path: Path
    snapshot_interval_secs: int = 60
    queue_size: int = 10_000
    busy_timeout_secs: float = 5.0

    @classmethod
    def from_config(cls, cfg: Config) -> PersistenceSettings:
        p = cfg.raw["persistence"]
        return cls(
            db_path=resolve_db_path(p["db_path"]),
            snapshot_interval_secs=int(p["snapshot_interval_secs"]),
            queue_size=int(p["queue_size"]),
        )


def session_stats(trades: list[TradeRecord], session_id: int | None = None) -> SessionStats:
    """P&L, fees, wins and losses of the closed trades (exact, in Decimal). With `session_id`, a trade
    counts in the session that closed it: one opened before a crash and closed by the recovering
    session counts there, and in its first session only as `closed_later`; one still open counts as
    open in every session that held it (`TradeRepository.of_session`)."""
    closed = [t for t in trades if not t.is_open and session_id in (None, t.closing_session)]
    return SessionStats.of_closed(
        closed,
        open_trades=sum(1 for t in trades if t.is_open),
        closed_later=0 if session_id is None else sum(1 for t in trades if not t.is_open) - len(closed),
    )


def _sid(session: int | SessionRecord) -> int:
    """The id of a session given as its record or its id."""
    return session.id if isinstance(session, SessionRecord) else session


def _frozen(payload: dict[str, Any]) -> dict[str, Any]:
    """A deep, JSON-safe copy taken now, so the caller may change its dict after the call."""
    return json.loads(json.dumps(payload, default=str, allow_nan=False))


def _coid(msg: object) -> str | None:
    coid = getattr(msg, "client_order_id", None)
    if coid is None and isinstance(getattr(msg, "order", None), wire.OrderInfo):
        coid = msg.order.client_order_id  # type: ignore[attr-defined]
    return coid


def _engine_flatten_order(
    uow: UnitOfWork,
    session_id: int,
    msg: wire.OrderPlaced | wire.OrderExecution,
    quantity: Decimal,
    price: Decimal | None,
    order_type: str,
) -> None:
    """The engine's own flatten (`ENGINE_FLATTEN_PREFIX`), an order the strategy never sent, gets its
    row at the first answer of it heard, so that its fills are kept with it."""
    coid = msg.client_order_id
    if not coid.startswith(wire.ENGINE_FLATTEN_PREFIX) or uow.orders.get(coid) is not None:
        return
    uow.orders.add(
        OrderRecord(
            session_id=session_id,
            client_order_id=coid,
            command_id=msg.command_id or "",
            symbol=msg.symbol,
            side=msg.side,
            order_type=order_type,
            quantity=quantity,
            price=price,
            tag="engine_flatten",
            created_ns=msg.ts_ns,
        )
    )


class PersistenceService:
    def __init__(
        self, db: Database, writer: Writer, settings: PersistenceSettings, cfg: Config | None
    ) -> None:
        self.db = db
        self.writer = writer
        self.settings = settings
        self.cfg = cfg
        self.session: SessionRecord | None = None
        # The market event time the caller has reached, stamped on each audit event (`event_ns`);
        # the runner sets it to its own clock. None, or a clock at 0: no market yet, stored as NULL.
        self.event_clock: Callable[[], int] | None = None
        self._group: list[tuple[Callable[[UnitOfWork], Any], str]] | None = None
        self.group_failures = 0
        # Executions of an order with no row here (its fill is kept only in the audit event's payload).
        self.orphan_fills = 0

    # ------------------------------------------------------------ atomic groups
    @contextlib.contextmanager
    def atomic(self, label: str = "group") -> Iterator[None]:
        """Every `record_*`/`save_snapshot` inside the block is queued as ONE write, committed whole
        (or, after a crash, not at all): a response, the trade it closes and the snapshot after it stay
        together. Nested blocks join the outer one. A write of the group that breaks a constraint is
        undone alone and logged; the others stand."""
        if self._group is not None:
            yield
            return
        self._group = []
        try:
            yield
        finally:
            group, self._group = self._group, None
            if group:
                self.writer.submit(self._run_group(group), f"{label} ({len(group)} writes)")

    def _run_group(
        self, group: list[tuple[Callable[[UnitOfWork], Any], str]]
    ) -> Callable[[UnitOfWork], None]:
        def write(uow: UnitOfWork) -> None:
            for fn, label in group:
                try:
                    with uow.item():
                        fn(uow)
                except (ConstraintViolation, ValueError, TypeError, KeyError, AttributeError) as e:
                    self.group_failures += 1
                    log.error("persistence write refused: %s: %s", label, e)

        return write

    def commit_now(self, timeout: float | None = 10.0) -> None:
        """Commits every write queued so far, the current atomic group's included, and waits for it.
        The group goes on with what comes after. Raises `QueueFull` or `PersistenceError` when that
        cannot be done. (The runner's write-ahead uses `commit_soon`: its loop does not wait.)"""
        if self._group:
            group, self._group = self._group, []
            self.writer.call(self._run_group(group), f"commit ({len(group)} writes)", timeout)
        else:
            self.writer.flush(timeout)

    def commit_soon(self, timeout: float | None = 10.0) -> Future[None]:
        """`commit_now` without waiting for the disk (write-ahead: the runner holds an order until
        this is done, so that it is on disk before it leaves): every write queued so far, the current
        atomic group's included, is queued at once as one write; the group goes on with what comes
        after. Returns a Future done once that write is committed (with it, every write queued before
        it: the writer commits in queue order), or with the `PersistenceError` that lost it; the
        writer thread completes it (a done-callback runs there). Raises `QueueFull` (the queue still
        full after `timeout`: only then does the caller wait) or `PersistenceError` (the writer
        stopped or closed) when it cannot be queued."""
        if self._group:
            group, self._group = self._group, []
            fn, label = self._run_group(group), f"write-ahead ({len(group)} writes)"
        else:
            fn, label = (lambda _uow: None), "write-ahead"
        return self.writer.submit_waited(fn, label, timeout)

    def _submit(self, fn: Callable[[UnitOfWork], Any], label: str) -> None:
        if self._group is not None:
            self._group.append((fn, label))
        else:
            self.writer.submit(fn, label)

    @classmethod
    def open(cls, cfg: Config | PersistenceSettings) -> PersistenceService:
        """Opens (creating) the database, checks it, migrates it and starts the writer thread."""
        settings = cfg if isinstance(cfg, PersistenceSettings) else PersistenceSettings.from_config(cfg)
        db = SqliteDatabase.open(settings.db_path, settings.busy_timeout_secs)
        try:
            writer = Writer(db, settings.queue_size)
        except BaseException:
            db.close()
            raise
        return cls(db, writer, settings, cfg if isinstance(cfg, Config) else None)

    def __enter__(self) -> PersistenceService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def stats(self) -> dict[str, int]:
        """queued, written, failed, rejected (queue full), lost, batches, lock_retries."""
        return dict(self.writer.stats)

    @property
    def session_id(self) -> int:
        if self.session is None:
            raise PersistenceError(f"database {self.db.name}: no session started")
        return self.session.id

    # ------------------------------------------------------------ sessions
    def find_unfinished_session(self) -> SessionRecord | None:
        """The session to recover from, if any: one that never ended (the process died), or the last
        one if it ended with positions or orders open (`end_session`) or failed to start while carrying
        another on (`fail_session`)."""
        return self.db.reader().sessions.find_unfinished()

    def start_session(
        self,
        symbol: str | None = None,
        mode: str | None = None,
        initial_capital: Decimal | None = None,
        now_ns: int | None = None,
    ) -> SessionRecord:
        """Starts a session. An unfinished one found (`find_unfinished_session`) is first marked
        crashed (ended at its last recorded activity) if it never ended, and the new session points
        at it (`recovered_from`)."""
        if self.session is not None:
            raise PersistenceError(f"database {self.db.name}: session {self.session.id} already started")
        cfg = self.cfg
        symbol = symbol or (cfg.symbol.name if cfg else None)
        mode = mode or (str(cfg.raw["execution"]["mode"]) if cfg else None)
        capital = initial_capital if initial_capital is not None else (cfg.initial_capital if cfg else None)
        if symbol is None or mode is None or capital is None:
            raise ValueError("start_session needs symbol, mode and initial_capital (or open with a Config)")
        now = now_ns if now_ns is not None else time.time_ns()
        config_json = json.dumps(cfg.raw, default=str) if cfg else None

        def write(uow: UnitOfWork) -> SessionRecord:
            crashed = uow.sessions.find_unfinished()
            if crashed is not None and crashed.status == "running":
                last = uow.sessions.last_activity_ns(crashed.id)
                uow.sessions.end(crashed.id, last, "crashed", "no clean end: found at the next start")
            s = uow.sessions.create(
                now,
                symbol,
                mode,
                capital,
                recovered_from=crashed.id if crashed else None,
                pid=os.getpid(),
                host=socket.gethostname(),
                config_json=config_json,
            )
            text = f"session started ({symbol}, {mode})"
            if crashed is not None and crashed.status == "running":
                text += f"; session {crashed.id} had crashed: recovering from it"
            elif crashed is not None and crashed.status == "failed":
                text += (
                    f"; session {crashed.id} failed to start: carrying on through it what session"
                    f" {crashed.recovered_from} left"
                )
            elif crashed is not None:
                text += f"; session {crashed.id} ended with positions or orders open: recovering them"
            uow.events.add(EventRecord(s.id, now, "session", text, component="persistence"))
            return s

        self.session = self.writer.call(write, "start session")
        return self.session

    def end_session(
        self,
        clean: bool = True,
        reason: str = "",
        now_ns: int | None = None,
        open_positions: int = 0,
        open_orders: int = 0,
    ) -> None:
        """Ends the session ("clean", or "aborted" when `clean` is False) and waits for the commit.
        `open_positions` and `open_orders` (unsettled) left behind are told in the stop reason and kept
        in the end event's payload (`left_open`): with any, the next start recovers from this
        session."""
        sid = self.session_id
        now = now_ns if now_ns is not None else time.time_ns()
        status = "clean" if clean else "aborted"
        left = {"left_open": {"positions": open_positions, "orders": open_orders}}
        if open_positions or open_orders:
            reason += (
                f"; {open_positions} position(s) and {open_orders} order(s) left open:"
                " recovered at the next start"
            )

        def write(uow: UnitOfWork) -> None:
            uow.events.add(
                EventRecord(sid, now, "session", f"session ended {status}: {reason}", payload=left)
            )
            uow.sessions.end(sid, now, status, reason)

        self.writer.call(write, "end session")
        self.session = None

    def set_session_capital(self, capital: Decimal, why: str) -> None:
        """The session's capital once measured (`flashcrash.session_capital`: the account's equity at
        its start): its row's `initial_capital`, which `flashcrash report`'s return is on, and a
        `session` event saying where it comes from."""
        sid = self.session_id
        e = EventRecord(
            sid, time.time_ns(), "session", f"session capital {wire.dec_text(capital)}: {why}",
            component="persistence", payload=_frozen({"initial_capital": wire.dec_text(capital)}),
            event_ns=self._event_ns(),
        )  # fmt: skip

        def write(uow: UnitOfWork) -> None:
            uow.sessions.set_capital(sid, capital)
            uow.events.add(e)

        self._submit(write, "session capital")

    def fail_session(self, reason: str, now_ns: int | None = None) -> None:
        """Ends the session as "failed" (its start stopped before it traded: a damaged row the recovery
        refused, say) and waits for the commit, rather than leave it "running" for the next start to
        call crashed. What it carried on (`recovered_from`) is carried on through it by the next start
        (`find_unfinished_session`), so a failed start loses no position; one that carried nothing on
        leaves nothing to recover."""
        sid = self.session_id
        now = now_ns if now_ns is not None else time.time_ns()
        carried = self.session.recovered_from if self.session is not None else None

        def write(uow: UnitOfWork) -> None:
            uow.events.add(
                EventRecord(sid, now, "session", f"session failed to start: {reason}", component="persistence",
                            payload={"failed_start": reason, "carries_on": carried})
            )  # fmt: skip
            uow.sessions.end(sid, now, "failed", f"start failed: {reason}")

        self.writer.call(write, "fail session")
        self.session = None

    def events_of(self, session: int | SessionRecord, kind: str | None = None) -> list[EventRecord]:
        """The audit log of a session, oldest first."""
        return self.db.reader().events.of_session(_sid(session), kind)

    def get_session(self, session_id: int) -> SessionRecord | None:
        return self.db.reader().sessions.get(session_id)

    def session_stats(self, session_id: int) -> SessionStats:
        return session_stats(self.db.reader().trades.of_session(session_id), session_id)

    def _event_ns(self) -> int | None:
        return (self.event_clock() or None) if self.event_clock is not None else None

    # ------------------------------------------------------------ audit log
    def record_event(
        self,
        kind: str,
        summary: str,
        *,
        component: str | None = None,
        command_id: str | None = None,
        client_order_id: str | None = None,
        payload: dict[str, Any] | None = None,
        ts_ns: int | None = None,
    ) -> None:
        """Any audit event (`records.EVENT_KINDS`): entry decisions and rejections, circuit-breaker
        trips, emergency stops, errors."""
        if kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {kind!r}; one of {', '.join(EVENT_KINDS)}")
        e = EventRecord(
            self.session_id,
            ts_ns if ts_ns is not None else time.time_ns(),
            kind,
            summary,
            component=component,
            command_id=command_id,
            client_order_id=client_order_id,
            payload=_frozen(payload or {}),
            event_ns=self._event_ns(),
        )
        self._submit(lambda uow: uow.events.add(e), f"{kind} event")

    def record_order_settled(self, client_order_id: str, status: str, ts_ns: int, why: str) -> None:
        """An order settled without a response that carries its status (a query answered with no such
        order): its row takes `status`, with a note saying why."""
        e = EventRecord(
            self.session_id, time.time_ns(), "note", f"order settled {status}: {why}", component="strategy",
            client_order_id=client_order_id, payload=_frozen({"status": status}), event_ns=self._event_ns(),
        )  # fmt: skip

        def write(uow: UnitOfWork) -> None:
            uow.events.add(e)
            uow.orders.update(client_order_id, status, ts_ns)

        self._submit(write, f"order {client_order_id} settled")

    def record_transition(
        self, component: str, previous: str, current: str, reason: str, ts_ns: int | None = None
    ) -> None:
        """A state change (the detector's, or another component's)."""
        self.record_event(
            "transition",
            f"{previous} -> {current}: {reason}",
            component=component,
            payload={"previous": str(previous), "current": str(current), "reason": reason},
            ts_ns=ts_ns,
        )

    def record_command(self, cmd: object, tag: str = "", ts_ns: int | None = None) -> None:
        """A command sent to the engine; a `PlaceOrder` also creates its order row (same transaction)."""
        sid = self.session_id
        now = ts_ns if ts_ns is not None else time.time_ns()
        name = type(cmd).__name__
        payload = cmd.to_map() if isinstance(cmd, wire._Message) else _frozen(dict(vars(cmd)))
        order: OrderRecord | None = None
        summary = name
        if isinstance(cmd, wire.PlaceOrder):
            summary = f"{name} {cmd.side} {cmd.quantity} {cmd.order_type} {tag}".rstrip()
            order = OrderRecord(
                session_id=sid,
                client_order_id=cmd.client_order_id,
                command_id=cmd.command_id,
                symbol=cmd.symbol,
                side=cmd.side,
                order_type=cmd.order_type,
                quantity=cmd.quantity,
                price=cmd.price,
                tag=tag,
                created_ns=now,
            )
        e = EventRecord(
            sid,
            now,
            "command",
            summary,
            component="strategy",
            command_id=getattr(cmd, "command_id", None),
            client_order_id=_coid(cmd),
            message_type=name,
            payload=payload,
            event_ns=self._event_ns(),
        )

        def write(uow: UnitOfWork) -> None:
            if order is not None:
                uow.orders.add(order)
            uow.events.add(e)

        self._submit(write, f"command {name} {e.command_id}")

    def record_response(
        self,
        msg: object,
        client_order_id: str | None = None,
        ts_ns: int | None = None,
        refused: str | None = None,
    ) -> None:
        """A response from the engine; updates the order it concerns and stores fills. For an `Error`,
        pass the `client_order_id` of the refused command and its kind (`refused`): a refused
        `PlaceOrder` marks its order REJECTED. A refused cancel or query changes no order (the order
        filled before the cancel arrived, say), nor does `DUPLICATE_ORDER` (the order is at the engine)
        or `MALFORMED` (the command was never read)."""
        sid = self.session_id
        now = ts_ns if ts_ns is not None else time.time_ns()
        name = type(msg).__name__
        coid = _coid(msg) or client_order_id
        payload = msg.to_map() if isinstance(msg, wire._Message) else _frozen(dict(vars(msg)))
        summary = name
        if isinstance(msg, wire.OrderExecution):
            summary = f"{name} {msg.side} {msg.last_quantity} @ {msg.last_price} {msg.status}"
        elif isinstance(msg, wire.Error):
            summary = f"{name} {msg.code}: {msg.message}"
        elif hasattr(msg, "status"):
            summary = f"{name} {msg.status}"
        e = EventRecord(
            sid,
            now,
            "response",
            summary,
            component="engine",
            command_id=getattr(msg, "command_id", None),
            client_order_id=coid,
            message_type=name,
            payload=payload,
            event_ns=self._event_ns(),
        )

        def write(uow: UnitOfWork) -> None:
            uow.events.add(e)
            match msg:
                case wire.OrderPlaced():
                    _engine_flatten_order(uow, sid, msg, msg.quantity, msg.price, msg.order_type)
                    uow.orders.update(msg.client_order_id, msg.status, msg.ts_ns, msg.exchange_order_id)
                case wire.OrderExecution():
                    # A flatten whose OrderPlaced went unheard, or made up from the engine's position.
                    _engine_flatten_order(uow, sid, msg, msg.order_quantity, None, "MARKET")
                    added = uow.fills.add(
                        FillRecord(
                            sid,
                            msg.client_order_id,
                            msg.trade_id,
                            msg.side,
                            msg.last_price,
                            msg.last_quantity,
                            msg.fee,
                            msg.fee_asset,
                            msg.liquidity,
                            msg.ts_ns,
                            command_id=msg.command_id,
                        )
                    )
                    if not added and uow.orders.get(msg.client_order_id) is None:
                        self.orphan_fills += 1
                        log.warning(
                            "execution of an order not in the database: %s trade %s (%s %s @ %s);"
                            " kept in the audit log only",
                            msg.client_order_id, msg.trade_id, msg.side, msg.last_quantity, msg.last_price,
                        )  # fmt: skip
                    uow.orders.update(
                        msg.client_order_id,
                        msg.status,
                        msg.ts_ns,
                        msg.exchange_order_id,
                        msg.cumulative_quantity,
                    )
                case wire.OrderStatus(order=o):
                    uow.orders.update(
                        o.client_order_id, o.status, msg.ts_ns, o.exchange_order_id, o.filled_quantity
                    )
                case wire.OrderCanceled():
                    uow.orders.update(
                        msg.client_order_id, "CANCELED", msg.ts_ns, msg.exchange_order_id, msg.filled_quantity
                    )
                case wire.Error() if (
                    coid is not None
                    and refused == "PlaceOrder"
                    and msg.code not in ("MALFORMED", "DUPLICATE_ORDER")
                ):
                    uow.orders.update(coid, "REJECTED", msg.ts_ns)

        self._submit(write, f"response {name} {e.command_id}")

    # ------------------------------------------------------------ trades
    def open_trade(
        self,
        entry_ns: int,
        entry_price: Decimal,
        quantity: Decimal,
        entry_reason: str,
        *,
        symbol: str | None = None,
        entry_client_order_id: str | None = None,
        entry_score: float | None = None,
        fees: Decimal = Decimal(0),
    ) -> str:
        """Records an open trade (entry filled); returns its key for `record_trade`."""
        key = entry_client_order_id or f"trade-{uuid.uuid4().hex}"
        t = TradeRecord(
            self.session_id,
            key,
            symbol or self._symbol(),
            quantity,
            entry_ns,
            entry_price,
            entry_reason,
            fees=fees,
            entry_score=entry_score,
            entry_client_order_id=entry_client_order_id,
        )
        self._submit(lambda uow: uow.trades.add(t), f"open trade {key}")
        return key

    def record_trade(
        self,
        trade: ClosedTrade,
        *,
        trade_key: str | None = None,
        entry_reason: str = "",
        entry_score: float | None = None,
        entry_client_order_id: str | None = None,
        exit_client_order_id: str | None = None,
        symbol: str | None = None,
    ) -> str:
        """Records a closed trade: closes the open one with the same key (`trade_key`, else
        `entry_client_order_id`), or inserts it whole. One row, one write: never half a trade."""
        key = trade_key or entry_client_order_id or f"trade-{uuid.uuid4().hex}"
        t = TradeRecord(
            self.session_id,
            key,
            symbol or self._symbol(),
            trade.quantity,
            trade.entry_ns,
            trade.entry_price,
            entry_reason,
            fees=trade.fees,
            exit_ns=trade.exit_ns,
            exit_price=trade.exit_price,
            exit_reason=trade.exit_reason,
            pnl=trade.pnl,
            entry_score=entry_score,
            entry_client_order_id=entry_client_order_id,
            exit_client_order_id=exit_client_order_id,
        )
        self._submit(lambda uow: uow.trades.add(t), f"trade {key}")
        return key

    def open_trades_of(self, session: int | SessionRecord) -> list[TradeRecord]:
        return self.db.reader().trades.open_of_session(_sid(session))

    def trades_of(self, session: int | SessionRecord) -> list[TradeRecord]:
        return self.db.reader().trades.of_session(_sid(session))

    def _symbol(self) -> str:
        if self.session is not None:
            return self.session.symbol
        raise PersistenceError(f"database {self.db.name}: no session started")

    # ------------------------------------------------------------ snapshots
    def save_snapshot(
        self, name: str, state: dict[str, Any], reason: str = "periodic", ts_ns: int | None = None
    ) -> None:
        """Queues a JSON snapshot of one component (copied now). `reason`: periodic, shutdown, manual."""
        s = SnapshotRecord(
            self.session_id, name, ts_ns if ts_ns is not None else time.time_ns(), _frozen(state), reason
        )
        self._submit(lambda uow: uow.snapshots.save(s), f"snapshot {name}")

    # ------------------------------------------------------------ market history
    def record_candle(self, candle: Candle) -> None:
        """A closed 1-second candle of the session (for its report)."""
        sid = self.session_id
        self._submit(lambda uow: uow.candles.add(sid, candle), "candle")

    def candles_of(self, session: int | SessionRecord) -> list[Candle]:
        """The candles of a session, oldest first (what is committed: `flush()` first)."""
        return self.db.reader().candles.of_session(_sid(session))

    def last_snapshots(self, session: int | SessionRecord | None = None) -> dict[str, SnapshotRecord]:
        """The newest snapshot of each component, of one session or of any."""
        return self.db.reader().snapshots.latest(None if session is None else _sid(session))

    # ------------------------------------------------------------ shutdown
    def flush(self, timeout: float | None = 30.0) -> None:
        self.writer.flush(timeout)

    def close(self, timeout: float | None = 60.0) -> None:
        """Drains and commits every queued write, then closes. A session not ended (`end_session`,
        `fail_session`) stays "running" (the next start marks it crashed)."""
        try:
            self.writer.close(timeout)
        finally:
            self.db.close()
