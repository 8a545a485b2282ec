"""`flashcrash run`: the strategy process. One loop, one thread: poll the engine's channels, feed the
validated market events to the candles, the detector and the strategy, apply responses to the order
manager, and on stop (signal, or the engine announcing it stopped) close any position and write the
session summary and report.

With a `PersistenceService` (`flashcrash run` always opens one; see `persistence/`), the runner also:

* starts a session in the database, or, when the previous one never ended cleanly, recovers from it
  (`start`): the components are restored from its last snapshots, the audit log written after them
  is replayed (orders sent are known again, fills received are applied), then the open orders are
  reconciled with the engine (`OrderManager.reconcile`: nothing is re-sent) before any new entry;
* writes every command sent, every response received, detector transitions, entry decisions and
  rejections, circuit-breaker and emergency-stop changes and every trade (opened, then closed), each
  loop iteration as ONE atomic write (queued: the loop never waits for the disk), followed by a
  snapshot of the trading components whenever the iteration sent a command or got a response;
* snapshots every component every `snapshot_interval_secs` of wall clock and at a clean stop;
* pauses entries while the engine is silent (no data message for `engine_silence_ns`: a killed
  engine says nothing), and reconciles when data flows again before entries resume.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgpack

from flashcrash import wire
from flashcrash.config import Config
from flashcrash.data_client import EngineClient
from flashcrash.event_detector import Candle, CandleBuilder, Detector, State
from flashcrash.persistence import (
    PersistenceError,
    PersistenceService,
    QueueFull,
    write_report,
    write_summary,
)
from flashcrash.persistence.records import EventRecord, SessionRecord
from flashcrash.trading_engine import OrderManager, PercentileStrategy
from flashcrash.trading_engine.breaker import CircuitBreaker
from flashcrash.trading_engine.exits import ExitReason
from flashcrash.trading_engine.portfolio import Lot, Phase

log = logging.getLogger(__name__)

BOOK_CLOSE_LAG_NS = 1_000_000_000
NS = 1_000_000_000
DATA_TYPES = (wire.Trade, wire.OrderBookSnapshot, wire.HealthMetrics, wire.StateChange)
TRADING_COMPONENTS = ("strategy", "orders", "breaker", "runner")


def engine_silence_ns(cfg: Config) -> int:
    """No data message (health is published every `health_interval_ms`) for 5 intervals, at least
    3 s: the engine is gone."""
    return max(3 * NS, 5 * cfg.monitoring.health_interval_ms * 1_000_000)


def install_signal_handlers() -> list[str]:
    """SIGTERM and SIGINT append their name to the returned list instead of killing the process."""
    received: list[str] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return received


class Runner:
    def __init__(
        self,
        cfg: Config,
        client: EngineClient,
        persistence: PersistenceService | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        """`clock` gives command times, order timeouts and the breaker's time: the wall clock live,
        the replay's event time in a backtest (`flashcrash.backtest`, which hands in its own client)."""
        self.cfg = cfg
        self.client = client
        self.db = persistence
        self.clock = clock
        self.detector = Detector(cfg.event_detection)
        self.guard = self.detector.guard  # validates every event before the candles and the detector
        self.candles = CandleBuilder()
        risk = cfg.risk
        self.orders = OrderManager(
            cfg.symbol.name,
            client.send,
            timeout_ns=risk.order_timeout_ms * 1_000_000,
            breaker=CircuitBreaker(risk.breaker_failures, risk.breaker_open_secs * 1_000_000_000),
            clock=clock,
        )
        self.strategy = PercentileStrategy(cfg.strategy, risk, cfg.symbol.order_quantity, self.orders)
        self.history: list[Candle] = []
        self.health: wire.HealthMetrics | None = None
        self.event_ns = 0
        self.stop_reason = ""
        self.started = datetime.now(UTC)
        fees = cfg.raw.get("fees", {})
        self.orders.maker_rate = Decimal(str(fees.get("maker_rate", "0")))
        self.orders.taker_rate = Decimal(str(fees.get("taker_rate", "0")))
        # Engine liveness (wall clock): any data message proves it.
        self.engine_silence_ns = engine_silence_ns(cfg)
        self.last_data_ns = clock()
        self.engine_silent = False
        # Persistence state.
        self.session: SessionRecord | None = None
        self.recovery: dict[str, Any] | None = None
        self._transitions_seen = 0
        self._dirty = False
        self._next_snapshot_ns = 0
        self.persistence_errors = 0

    # ---------------------------------------------------------- persistence
    def start(self) -> SessionRecord | None:
        """Starts the database session; recovers first from a session that never ended cleanly."""
        if self.db is None:
            return None
        crashed = self.db.find_unfinished_session()
        self.session = self.db.start_session()
        if crashed is not None:
            self._recover(crashed)
        self._install_hooks()
        self._next_snapshot_ns = time.time_ns() + self.db.settings.snapshot_interval_secs * NS
        if self.recovery is not None:
            # Entries wait until the engine has answered (QueryOpenOrders is asked again on timeout).
            self._begin_reconcile(f"recovery from session {self.recovery['from_session']}")
            self._update_pause()
            self._save_snapshots("recovery")
        return self.session

    def _install_hooks(self) -> None:
        assert self.db is not None
        self.orders.on_sent = self._on_sent
        self.orders.breaker.on_change = self._on_breaker
        self.strategy.stops.on_change = self._on_stop
        self.strategy.journal = self._on_journal

    def _record(self, fn: Any, *args: Any, **kw: Any) -> None:
        """A persistence call from the loop: never raises. A refused write (queue full) is logged and
        counted by the writer; a stopped writer stops the strategy (it may not trade unrecorded)."""
        if self.db is None:
            return
        try:
            fn(*args, **kw)
        except QueueFull as e:
            self.persistence_errors += 1
            log.error("%s", e)
        except PersistenceError as e:
            self.persistence_errors += 1
            log.critical("persistence failed: %s", e)
            if not self.stop_reason:
                self.stop_reason = "persistence failed"

    def _atomic(self) -> contextlib.AbstractContextManager[None]:
        return self.db.atomic("loop") if self.db is not None else contextlib.nullcontext()

    def _on_sent(self, cmd: object, tag: str) -> None:
        self._dirty = True
        assert self.db is not None
        self._record(self.db.record_command, cmd, tag)

    def _on_breaker(self, previous: str, current: str, why: str) -> None:
        assert self.db is not None
        self._record(
            self.db.record_event,
            "circuit_breaker",
            f"{previous} -> {current}: {why}",
            component="breaker",
            payload={"previous": previous, "current": current, "reason": why},
        )

    def _on_stop(self, stop: str, on: bool, why: str) -> None:
        assert self.db is not None
        self._record(
            self.db.record_event,
            "emergency_stop",
            f"{stop} {'set' if on else 'cleared'}: {why}",
            component="strategy",
            payload={"stop": stop, "set": on, "reason": why},
        )

    def _on_journal(self, kind: str, summary: str, payload: dict[str, Any]) -> None:
        db = self.db
        assert db is not None
        self._dirty = True
        match kind:
            case "trade_opened":
                lot: Lot = payload["lot"]
                pos = lot.position
                self._record(
                    db.open_trade,
                    pos.entry_ns,
                    pos.avg_entry,
                    pos.quantity,
                    pos.entry_reason,
                    entry_client_order_id=lot.entry_coid,
                    entry_score=lot.score,
                    fees=pos.fees,
                )
            case "trade_closed":
                lot = payload["lot"]
                trade = payload["trade"]
                self._record(
                    db.record_trade,
                    trade,
                    trade_key=lot.entry_coid,
                    entry_reason=trade.entry_reason,
                    entry_score=trade.entry_score,
                    entry_client_order_id=lot.entry_coid,
                    exit_client_order_id=payload["exit_client_order_id"],
                )
            case "reconciled_fill":
                fill: wire.OrderExecution = payload["fill"]
                self._record(
                    db.record_event, "note", f"reconciled fill: {summary}", component="strategy",
                    client_order_id=fill.client_order_id, payload=fill.to_map(),
                )  # fmt: skip
                self._record(db.record_response, fill)
            case _:
                self._record(
                    db.record_event,
                    kind,
                    summary,
                    component="strategy",
                    client_order_id=payload.get("client_order_id"),
                    payload=payload,
                )

    def _record_transitions(self) -> None:
        transitions = self.detector.transitions
        if self.db is not None:
            for t in transitions[self._transitions_seen :]:
                self._record(
                    self.db.record_transition, "detector", str(t.previous), str(t.current), t.reason, t.ts_ns
                )
        self._transitions_seen = len(transitions)

    def snapshots(self) -> dict[str, dict[str, Any]]:
        """Every component's state (the detector's when it can give one)."""
        out: dict[str, dict[str, Any]] = {
            "strategy": self.strategy.snapshot(),
            "orders": self.orders.snapshot(
                c for lot in self.strategy.position.lots.values() for c in lot.order_ids()
            ),
            "breaker": self.orders.breaker.snapshot(),
            "runner": {"event_ns": self.event_ns, "candles": len(self.history)},
        }
        if hasattr(self.detector, "snapshot"):
            out["detector"] = self.detector.snapshot()
        return out

    def _save_snapshots(self, reason: str, names: tuple[str, ...] | None = None) -> None:
        if self.db is None:
            return
        now = time.time_ns()
        for name, state in self.snapshots().items():
            if names is None or name in names:
                try:
                    self._record(self.db.save_snapshot, name, state, reason, now)
                except (ValueError, TypeError) as e:  # not JSON (NaN, an object): that one is skipped
                    self.persistence_errors += 1
                    log.error("snapshot of %s not written: %s", name, e)

    def _after_iteration(self, now: int) -> None:
        self._record_transitions()
        self._update_pause()
        if self.db is None:
            return
        if now >= self._next_snapshot_ns:
            self._next_snapshot_ns = now + self.db.settings.snapshot_interval_secs * NS
            self._save_snapshots("periodic")
            self._dirty = False
        elif self._dirty:
            self._save_snapshots("change", TRADING_COMPONENTS)
            self._dirty = False

    def finish(self, error: BaseException | None = None) -> None:
        """Last snapshots, the session's end (clean, or aborted on an error), every write committed."""
        if self.db is None or self.session is None:
            return
        try:
            if error is None and self.stop_reason != "persistence failed":
                self._save_snapshots("shutdown")
                self.db.end_session(True, self.stop_reason)
            elif error is not None:
                self.db.end_session(False, f"{type(error).__name__}: {error}")
            self.session = None
        except PersistenceError as e:
            log.critical("persistence failed at the end of the session: %s", e)
            raise

    # ------------------------------------------------------------- recovery
    def _recover(self, crashed: SessionRecord) -> None:
        """Restores the components from the newest snapshots of the crashed session (or of the session
        it had recovered from, and so on), then replays the audit log written after them."""
        db = self.db
        assert db is not None and self.session is not None
        chain: list[int] = []
        snaps: dict[str, Any] = {}
        sid: int | None = crashed.id
        while sid is not None and len(chain) < 100:
            chain.append(sid)
            snaps = db.last_snapshots(sid)
            if "strategy" in snaps:
                break
            rec = db.get_session(sid)
            sid = rec.recovered_from if rec is not None else None
        since = snaps["strategy"].ts_ns if "strategy" in snaps else 0
        if "strategy" in snaps:
            self.strategy.restore(snaps["strategy"].state)
        if "orders" in snaps:
            self.orders.restore(snaps["orders"].state)
        if "breaker" in snaps:
            self.orders.breaker.restore(snaps["breaker"].state)
        if "runner" in snaps:
            self.event_ns = int(snaps["runner"].state.get("event_ns", 0))
        self.event_ns = max(self.event_ns, self.strategy.event_ns)
        detector = "not restored"
        if "detector" in snaps:
            if hasattr(self.detector, "restore"):
                self.detector.restore(snaps["detector"].state)
                detector = "restored"
            else:
                detector = "not restorable (Detector.restore missing)"
        self._transitions_seen = len(self.detector.transitions)
        replayed = 0
        for s in reversed(chain):
            for e in db.events_of(s):
                if e.ts_ns > since and self._replay(e):
                    replayed += 1
        lots = self.strategy.position.lots
        open_orders = [c for c, o in self.orders.orders.items() if not o.settled]
        self.recovery = {
            "from_session": crashed.id,
            "snapshot_session": chain[-1] if snaps else None,
            "snapshot_ts_ns": since or None,
            "events_replayed": replayed,
            "positions": {c: str(lot.phase) for c, lot in lots.items()},
            "open_quantity": str(self.strategy.position.quantity),
            "open_orders": open_orders,
            "detector": detector,
        }
        text = (
            f"recovered from session {crashed.id}: "
            + (f"snapshot of session {chain[-1]}" if snaps else "no snapshot")
            + f", {replayed} audit events replayed, {len(lots)} live position(s) "
            f"({self.strategy.position.quantity} open), {len(open_orders)} order(s) to reconcile"
        )
        log.warning("%s", text)
        self._record(db.record_event, "session", text, component="persistence", payload=self.recovery)

    def _replay(self, e: EventRecord) -> bool:
        """Applies one audit event written after the snapshot; True when it changed something."""
        p = e.payload
        strategy, orders = self.strategy, self.orders
        if e.kind == "entry_decision" and isinstance(p.get("lot"), dict):
            lot = Lot.from_snapshot(p["lot"])
            if lot.entry_coid in strategy.position.lots:
                return False
            strategy.position.add(lot)
            strategy.cooldown.on_entry(lot.signal_ns)
            strategy.decisions["taken"] += 1
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
                fill = orders.on_response(msg)
                if fill is not None:
                    strategy.on_fill(fill, strategy.event_ns)
                strategy.apply_reconciled_fills(strategy.event_ns)
                return True
        return False

    # -------------------------------------------------------- engine liveness
    def _begin_reconcile(self, why: str) -> None:
        log.warning("reconciling orders with the engine: %s", why)
        if self.db is not None:
            self._record(self.db.record_event, "note", f"reconciling orders with the engine: {why}",
                         component="strategy")  # fmt: skip
        self._dirty = True
        self.orders.reconcile(self.clock())

    def _watch_engine(self, now: int) -> None:
        if self.engine_silent or now - self.last_data_ns < self.engine_silence_ns:
            return
        self.engine_silent = True
        secs = (now - self.last_data_ns) / NS
        log.error("engine silent for %.1f s: entries paused until it is back and reconciled", secs)
        if self.db is not None:
            self._record(self.db.record_event, "error", f"engine silent for {secs:.1f} s: entries paused",
                         component="engine")  # fmt: skip

    def _on_data(self, now: int) -> None:
        self.last_data_ns = now
        if self.engine_silent:
            self.engine_silent = False
            log.warning("engine back")
            self._begin_reconcile("engine back after silence")

    def _update_pause(self) -> None:
        if self.engine_silent:
            why = "engine silent"
        elif self.orders.reconciling:
            why = "reconciling orders"
        else:
            why = ""
        if why == self.strategy.paused_reason:
            return
        log.warning("entries %s", f"paused: {why}" if why else "resume")
        if self.db is not None:
            self._record(self.db.record_event, "note", f"entries paused: {why}" if why else "entries resume",
                         component="strategy")  # fmt: skip
        self.strategy.paused_reason = why

    # ------------------------------------------------------------- handling
    def handle(self, msg: object) -> None:
        now = self.clock()
        if isinstance(msg, DATA_TYPES):
            self._on_data(now)
        match msg:
            case wire.Trade():
                if not self.detector.on_trade(
                    msg.exchange_ts_ns, msg.price, msg.quantity, msg.aggressor == "buy"
                ):
                    return
                self.event_ns = max(self.event_ns, msg.exchange_ts_ns)
                closed = self.candles.on_trade(
                    msg.exchange_ts_ns, msg.price, msg.quantity, msg.aggressor == "buy"
                )
                if closed is not None:
                    self._on_candle(closed, now)
                self.strategy.on_price(msg.exchange_ts_ns, msg.price, now)
            case wire.OrderBookSnapshot():
                if self.detector.on_book(msg):
                    self.event_ns = max(self.event_ns, msg.exchange_ts_ns)
                    # A book can overtake trades still queued behind it, so it closes a candle only
                    # after the jitter buffer; trades close candles at once.
                    closed = self.candles.advance(msg.exchange_ts_ns - BOOK_CLOSE_LAG_NS)
                    if closed is not None:
                        self._on_candle(closed, now)
            case wire.HealthMetrics():
                self.health = msg
                self.strategy.on_health(msg, now)
            case wire.StateChange(component="engine", current="stopped"):
                log.info("engine stopped: %s", msg.reason)
                self.stop_reason = "engine stopped"
            case wire.StateChange():
                log.info("%s: %s -> %s (%s)", msg.component, msg.previous, msg.current, msg.reason)
            case _:
                if self.db is not None:
                    self._dirty = True
                    coid = None
                    if isinstance(msg, wire.Error):
                        p = self.orders.pending.get(msg.command_id or "")
                        coid = p.client_order_id if p is not None and p.client_order_id else None
                    self._record(self.db.record_response, msg, coid)
                self.strategy.on_response(msg, self.event_ns, now)

    def _on_candle(self, c: Candle, now_wall_ns: int) -> None:
        self.history.append(c)
        self.detector.on_candle(c)
        self.strategy.on_candle(c, self.detector.state, self.detector.readings(), now_wall_ns)

    # ----------------------------------------------------------------- loop
    def run(self, signals: list[str] | None = None) -> None:
        """Runs until the engine stops or a signal name appears in `signals` (filled by the handler
        installed at process start, so a signal during start-up is not lost)."""
        signals = signals if signals is not None else install_signal_handlers()
        while not self.stop_reason:
            if signals:
                self.stop_reason = signals[0]
                break
            with self._atomic():
                self.step(100)
        log.info("stopping: %s", self.stop_reason)
        with self._atomic():
            self.flatten()
            self.detector.shutdown(self.event_ns, self.stop_reason)
            self._after_iteration(time.time_ns())

    def step(self, timeout_ms: int) -> None:
        """One loop iteration: the messages waiting, timeouts, engine liveness, audit and snapshots."""
        for msg in self.client.poll(timeout_ms):
            self.handle(msg)
        now = self.clock()
        self.orders.check_timeouts(now)
        self._watch_engine(now)
        self._after_iteration(now)

    def flatten(self, wait_s: float = 2.0) -> None:
        """Cancels resting entries, closes open positions at market and waits (bounded) for the fills."""
        if self.stop_reason != "engine stopped":
            self.strategy.shutdown(self.clock())
        deadline = time.monotonic() + wait_s
        while self.orders.has_open_order() and time.monotonic() < deadline:
            self.step(50)

    # -------------------------------------------------------------- summary
    def summary(self) -> dict[str, Any]:
        pos = self.strategy.position
        capital = self.cfg.initial_capital
        net = pos.realized
        h = self.health
        trades = [t.to_json() for t in pos.closed]
        wins = sum(1 for t in pos.closed if t.pnl > 0)
        return {
            "symbol": self.cfg.symbol.name,
            "started_utc": self.started.isoformat(),
            "stop_reason": self.stop_reason,
            "messages": {
                "book": self.client.received["OrderBookSnapshot"],
                "trade": self.client.received["Trade"],
                "health": self.client.received["HealthMetrics"],
                "state": self.client.received["StateChange"],
                "responses": sum(
                    n
                    for k, n in self.client.received.items()
                    if k in {c.__name__ for c in wire.RESPONSE_TYPES}
                ),
                "malformed": sum(self.client.malformed.values()),
                "dropped_by_guard": dict(self.guard.dropped),
                "late_trades": self.candles.late_trades,
            },
            "feed": {
                "state": h.feed_state if h else None,
                "resync_count": h.resync_count if h else 0,
                "gap_count": h.gap_count if h else 0,
                "reconnect_count": h.reconnect_count if h else 0,
                "latency_p99_us": h.latency_p99_us if h else None,
            },
            "detector": {
                "candles": len(self.history),
                "state_changes": len(self.detector.transitions),
                "transitions": [
                    {
                        "utc": datetime.fromtimestamp(t.ts_ns / 1e9, tz=UTC).isoformat(),
                        "from": str(t.previous),
                        "to": str(t.current),
                        "reason": t.reason,
                    }
                    for t in self.detector.transitions
                ],
            },
            "decisions": dict(self.strategy.decisions),
            "orders": {
                "sent": self.orders.stats["sent"],
                "placed": self.orders.stats["placed"],
                "fills": self.orders.stats["fills"],
                "errors": self.orders.stats["errors"],
                "timeouts": self.orders.stats["timeouts"],
                "cancels": self.orders.stats["cancels"],
                "queries": self.orders.stats["queries"],
                "resends": self.orders.stats["resends"],
            },
            "risk": {
                "emergency_stops": dict(self.strategy.stops.triggered),
                "emergency_active": sorted(self.strategy.stops.active),
                "breaker": str(self.orders.breaker.state(self.clock())),
                "breaker_events": dict(self.orders.breaker.stats),
            },
            "pnl": {
                "trades": len(trades),
                "win_rate": round(wins / len(trades), 4) if trades else None,
                "fees": str(pos.total_fees),
                "net_pnl": str(net),
                "open_quantity": str(pos.quantity),
                "initial_capital": str(capital),
                "return_pct": str((net / capital * Decimal(100)).quantize(Decimal("0.0001"))),
            },
            "trades": trades,
        }

    def write(self, summary_json: Path | None) -> dict[str, Any]:
        s = self.summary()
        stamp = self.started.strftime("%Y%m%dT%H%M%SZ")
        report = write_report(
            self.cfg.report_dir / f"session_{stamp}.png",
            self.cfg.symbol.name,
            self.history,
            [t for t in self.detector.transitions if t.current is not State.SHUTDOWN],
            self.strategy.entries,
            self.strategy.exits,
            self.strategy.position.closed,
        )
        s["report_png"] = str(report) if report else None
        paths = [self.cfg.report_dir / f"session_{stamp}.json"]
        if summary_json is not None:
            paths.append(summary_json)
        write_summary(s, paths)
        return s
