"""`flashcrash run`: the strategy process. One loop, one thread: poll the engine's channels, feed the
validated market events to the candles, the detector and the strategy, apply responses to the order
manager, and on stop (signal, or the engine announcing it stopped) close any position and write the
session summary and report.

With a `PersistenceService` (`flashcrash run` always opens one; see `persistence/`), the runner also:

* starts a session in the database, or, when the previous one never ended (the process died) or
  ended with positions or orders still open (a stop whose flatten could not finish, an exception
  in the loop), recovers from it (`start`, `flashcrash.recovery`): the components are restored
  from its last snapshots, the audit log written after them is replayed (orders sent are known
  again, fills received are applied), then the open orders are reconciled with the engine
  (`OrderManager.reconcile`: nothing is re-sent) before any new entry;
* writes every command sent, every response received, detector transitions, entry decisions and
  rejections, circuit-breaker and emergency-stop changes and every trade (opened, then closed), each
  loop iteration as ONE atomic write (queued: the loop never waits for the disk), followed by a
  snapshot of the trading components whenever the iteration sent a command or got a response;
* writes ahead: a `PlaceOrder` leaves only once it and the decision behind it are committed (`write_ahead`);
* snapshots every component every `snapshot_interval_secs` of wall clock and at a clean stop;
* asks the engine for the account's balances once it is first seen: the session's capital, what
  its equity, return and drawdown are measured against (`session_capital`);
* pauses entries while the engine is silent (no data message for `engine_silence_ns`: a killed
  engine says nothing), and reconciles when data flows again before entries resume; a new engine
  start in `HealthMetrics` (a restart shorter than that silence) reconciles too;
* busy-polls while its detector is awake (ALERT, ACTIVE, RECOVERY): the engine client spins up to
  `[zmq] strategy_busy_poll_us` before it sleeps in the poll (`EngineClient.busy_poll`), so that a
  crash's messages meet a running loop; asleep, the loop sleeps in the poll.

Operations (`flashcrash.monitoring`), each optional: `metrics` are updated at most once a second of the
runner's clock (never per message: the loop only counts the messages of each poll batch); `alerts`
get the emergency stops, the breaker opening, engine/feed halts, watchdog findings and a drawdown over
`[monitoring] alert_drawdown_pct` (measured by the metrics, so that one needs both); with `config_path`, an engine StateChange of component `config`
(the engine applied a `ReloadConfig`) makes the runner re-read its thresholds and limits from that
file (`monitoring/reload.py`).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flashcrash import wire
from flashcrash.config import Config
from flashcrash.data_client import EngineClient, StatePublisher
from flashcrash.event_detector import Candle, CandleBuilder, Closed, Detector, RowRun, State
from flashcrash.feed_counts import FeedCounts
from flashcrash.persistence import (
    PersistenceError,
    PersistenceService,
    QueueFull,
    write_report,
    write_summary,
)
from flashcrash.persistence.records import SessionRecord
from flashcrash.recovery import fail_start, recover
from flashcrash.session_capital import SessionCapital
from flashcrash.session_summary import session_summary
from flashcrash.trading_engine import OrderManager, PercentileStrategy
from flashcrash.trading_engine.breaker import CircuitBreaker
from flashcrash.trading_engine.percentile import wake_lead_secs
from flashcrash.trading_engine.portfolio import Lot
from flashcrash.trading_engine.strategy import SILENT_STATES
from flashcrash.write_ahead import Held, WriteAhead, not_recorded

if TYPE_CHECKING:
    from flashcrash.monitoring.alerts import AlertSender
    from flashcrash.monitoring.metrics import StrategyMetrics

log = logging.getLogger(__name__)

BOOK_CLOSE_LAG_NS = 1_000_000_000
NS = 1_000_000_000
DATA_TYPES = (wire.Trade, wire.OrderBookSnapshot, wire.HealthMetrics, wire.StateChange)
TRADING_COMPONENTS = ("strategy", "orders", "breaker", "runner")


def engine_silence_ns(cfg: Config) -> int:
    """No data message (health is published every `health_interval_ms`) for 5 intervals, at least
    3 s: the engine is gone."""
    return max(3 * NS, 5 * cfg.monitoring.health_interval_ms * 1_000_000)


# 1-second candles kept in memory for the session report when there is no database (the last hour);
# with one, every candle is stored and the report reads them back, so memory stays flat.
HISTORY_CANDLES = 3600

# The loop's collector thresholds (`quiet_gc`; the backtest replay sets them too).
LOOP_GC_THRESHOLDS = (100_000, 50, 1000)


def quiet_gc() -> None:
    """The loop's garbage-collector settings: what start-up built is frozen out of every collection,
    and the young generation is collected every 100,000 allocations instead of 700 (objects are freed
    by reference counting; the collector only looks for cycles), so its pauses in the loop are rarer
    and shorter (docs/benchmarks/strategy-process.md)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*LOOP_GC_THRESHOLDS)


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
        publisher: StatePublisher | None = None,
        metrics: StrategyMetrics | None = None,
        alerts: AlertSender | None = None,
        config_path: Path | None = None,
    ) -> None:
        """`clock` gives command times, order timeouts and the breaker's time: the wall clock live,
        the replay's event time in a backtest (`flashcrash.backtest`, which hands in its own client).
        `publisher`, when given, publishes every detector and breaker transition as a StateChange;
        `metrics`, `alerts` and `config_path`: see the module's doc."""
        self.cfg = cfg
        self.client = client
        # The engine client's busy polling, on while the detector is awake (not the backtest's link).
        self._busy_poll: Callable[[bool], None] | None = getattr(client, "busy_poll", None)
        self.db = persistence
        self.publisher = publisher
        self.clock = clock
        self.detector = Detector(cfg.event_detection)
        self.guard = self.detector.guard  # validates every event before the candles and the detector
        self.candles = CandleBuilder()
        risk = cfg.risk
        self.orders = OrderManager(
            cfg.symbol.name,
            self._send_command,
            timeout_ns=risk.order_timeout_ms * 1_000_000,
            breaker=CircuitBreaker(risk.breaker_failures, risk.breaker_open_secs * 1_000_000_000),
            clock=clock,
        )
        self.orders.breaker.on_change = self._on_breaker
        self.strategy = PercentileStrategy(
            cfg.strategy, risk, cfg.symbol.order_quantity, self.orders, cfg.symbol.quantity_step,
            cfg.symbol.min_notional, wake_lead_secs(cfg.event_detection),
        )  # fmt: skip
        self.strategy.stops.on_change = self._on_stop
        self.strategy.journal = self._on_journal
        self.history: deque[Candle] = deque(maxlen=0 if persistence is not None else HISTORY_CANDLES)
        self.candle_count = 0
        self.health: wire.HealthMetrics | None = None
        # Feed latency over the session: the last health interval with latency samples and the worst
        # interval's p99. An interval without samples reports 0: the one after the feed goes quiet,
        # and every one of a replay faster than real time (its event times run ahead of the clock).
        self.latency_health: wire.HealthMetrics | None = None
        self.latency_p99_max_us = 0.0
        self.event_ns = 0
        self.stop_reason = ""
        self.started = datetime.now(UTC)
        self.feed_counts = FeedCounts()  # the summary's: every engine heard, added up
        fees = cfg.raw.get("fees", {})
        self.orders.maker_rate = Decimal(str(fees.get("maker_rate", "0")))
        self.orders.taker_rate = Decimal(str(fees.get("taker_rate", "0")))
        # Engine liveness (wall clock): any data message proves it.
        self.engine_silence_ns = engine_silence_ns(cfg)
        self.last_data_ns = clock()
        self.engine_silent = False
        self.engine_halted = False  # the engine said it halted (StateChange), until it says otherwise
        # The engine's start (`HealthMetrics.started_ts_ns`): a new one is a restart, perhaps shorter
        # than the silence above, after which the engine no longer holds what it held.
        self.engine_started_ns: int | None = None
        # A live start with nothing to recover: the engine is reconciled with when first seen.
        self.check_engine_on_sight = False
        self.engine_restarts = 0
        # Persistence state.
        self.session: SessionRecord | None = None
        self.recovery: dict[str, Any] | None = None
        self._transitions_seen = 0
        self._dirty = False
        self._next_snapshot_ns = 0
        self.persistence_errors = 0
        # Write-ahead (`write_ahead`): the commands held behind their orders' commits; the wake-up.
        self.write_ahead = WriteAhead(self._send_now, self._unsent, self._persistence_failed, clock)
        # Operations.
        self.metrics = metrics
        self.alerts = alerts
        self.config_path = config_path
        self.batch_last = 0  # messages of the last poll batch (the metrics read these)
        self.batch_max = 0  # largest batch since the metrics last read it
        self._trigger: object = None  # the message being handled (its receive stamp times orders)
        self._next_monitor_ns = 0
        self._drawdown_alerted = False
        self._feed_was_live = False
        # The feed's state from its newest StateChange: newer than the last HealthMetrics (one a second).
        self.feed_state: str | None = None
        # What the session's equity, return and drawdown are measured against (`session_capital`).
        self.capital = SessionCapital(cfg.initial_capital, cfg.symbol.name, risk.order_timeout_ms * 1_000_000)

    # ---------------------------------------------------------- persistence
    def start(self) -> SessionRecord | None:
        """Starts the database session; recovers first from a session that never ended cleanly, and
        reconciles with the engine at once (asked again on timeout). Otherwise the engine is asked
        for its open orders and net position when first seen (its first HealthMetrics): an order of
        the symbol nobody here knows is canceled, coins no position manages are reported (a database
        started afresh against an account that holds some). A start that raises once its session is
        open ends that session "failed" (`recovery.fail_start`)."""
        crashed = None
        if self.db is not None:
            crashed = self.db.find_unfinished_session()
            self.session = self.db.start_session()
            self.capital.source = "initial_capital: the engine not seen, the balances not asked"
        try:
            if self.db is not None:
                self.db.event_clock = lambda: self.event_ns  # audit events carry the market time reached
                if crashed is not None:
                    recover(self, crashed)
                watch = getattr(self.client, "watch", None)  # not the backtest's replay link
                if watch is not None:
                    watch(self.write_ahead.open())
                self.orders.before_send = self._before_send  # the audit log, write-ahead for orders
                self._next_snapshot_ns = self.clock() + self.db.settings.snapshot_interval_secs * NS
            if self.recovery is not None:
                self._begin_reconcile(f"recovery from session {self.recovery['from_session']}")
                self._update_pause()
                self._save_snapshots("recovery")
            else:
                self.check_engine_on_sight = True
        except BaseException as e:
            fail_start(self, e)
            raise
        self._follow_detector()  # a detector recovered awake
        return self.session

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

    def _before_send(self, cmd: object, tag: str) -> bool:
        """Every command goes to the audit log before it leaves; a PlaceOrder (with the decision
        journaled just before it) is written ahead: its commit is queued at once (`commit_soon`) and
        `_send_command`, which the order manager calls next, holds it until that is done (see the
        module's doc; without a wake-up, it is committed here, waiting). An order whose commit cannot
        even be queued is not sent."""
        self._dirty = True
        db = self.db
        assert db is not None
        self._record(db.record_command, cmd, tag)
        if not isinstance(cmd, wire.PlaceOrder):
            return True
        wakeup = self.write_ahead.wakeup
        try:
            if wakeup is None:  # a loop nothing can wake (a replay): on disk now, at its decision's time
                db.commit_now()
                return True
            commit = db.commit_soon()
        except (QueueFull, PersistenceError) as e:
            self._persistence_failed(not_recorded(cmd, e))
            return False
        self.write_ahead.written(cmd, commit)
        return True

    def _persistence_failed(self, text: str) -> None:
        self.persistence_errors += 1
        log.critical("%s", text)
        if not self.stop_reason:
            self.stop_reason = "persistence failed"

    def _send_command(self, cmd: object) -> bool:
        """The order manager's `send`: the client's, timing event-to-order for a PlaceOrder; a
        PlaceOrder written ahead, and any command behind a held one, is held instead (True: taken)."""
        # The engine's receive stamp of the market event being handled (none for a response).
        stamp = getattr(self._trigger, "local_ts_ns", 0)
        return self.write_ahead.take(cmd, stamp)

    def _send_now(self, cmd: object, stamp: int) -> bool:
        if not self.client.send(cmd):
            return False
        if stamp and self.metrics is not None and isinstance(cmd, wire.PlaceOrder):
            self.metrics.observe_order_latency((time.time_ns() - stamp) / NS)
        return True

    def _unsent(self, cmd: object, now: int) -> None:
        """A held command that does not leave: undone in the order manager, and a new order's lot
        told (it may place another: the runner holds or sends it as any)."""
        if self.orders.unsent(cmd, now):
            self.strategy.order_unsent(cmd.client_order_id, now)  # type: ignore[attr-defined]

    @property
    def held(self) -> deque[Held]:
        """The commands held, oldest first (`WriteAhead.held`)."""
        return self.write_ahead.held

    def _settle_held(self, wait_s: float | None = None) -> None:
        """At a stop: sends what is held, waiting a bounded time for the commits still out
        (`WriteAhead.settle`)."""
        self.write_ahead.settle(wait_s)

    def _alert(self, kind: str, text: str) -> None:
        if self.alerts is not None:
            self.alerts.alert(kind, f"{self.cfg.symbol.name}: {text}")

    def _on_breaker(self, previous: str, current: str, why: str) -> None:
        if current == "open":
            self._alert("breaker_open", f"circuit breaker {previous} -> open: {why}")
        if self.publisher is not None:
            self.publisher.state_change(self.clock(), "breaker", previous, current, why)
        if self.db is None:
            return
        self._record(
            self.db.record_event,
            "circuit_breaker",
            f"{previous} -> {current}: {why}",
            component="breaker",
            payload={"previous": previous, "current": current, "reason": why},
        )

    def _on_stop(self, stop: str, on: bool, why: str) -> None:
        # The feed stop is set while the feed first connects and syncs: not worth an alert until the
        # feed has been live once.
        if on and (stop != "feed" or self._feed_was_live):
            self._alert("emergency_stop", f"emergency stop {stop}: {why} (entries paused)")
        if self.db is None:
            return
        self._record(
            self.db.record_event,
            "emergency_stop",
            f"{stop} {'set' if on else 'cleared'}: {why}",
            component="strategy",
            payload={"stop": stop, "set": on, "reason": why},
        )

    def _on_journal(self, kind: str, summary: str, payload: dict[str, Any]) -> None:
        if kind == "entry_decision" and self.metrics is not None:
            self.metrics.observe_entry_score(float(payload["lot"]["score"]))
        db = self.db
        if db is None:
            return
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
        if len(transitions) == self._transitions_seen:
            return
        for t in transitions[self._transitions_seen :]:
            previous, current = str(t.previous), str(t.current)
            if self.publisher is not None:
                self.publisher.state_change(t.ts_ns, "detector", previous, current, t.reason)
            if self.db is not None:
                self._record(self.db.record_transition, "detector", previous, current, t.reason, t.ts_ns)
        self._transitions_seen = len(transitions)
        self._follow_detector()

    def _follow_detector(self) -> None:
        """The engine client busy-polls while the detector is awake (ALERT, ACTIVE, RECOVERY)."""
        if self._busy_poll is not None:
            self._busy_poll(self.detector.state not in (State.SLEEP, State.SHUTDOWN))

    def _lot_orders(self) -> Iterator[str]:
        """The client order ids the open positions refer to."""
        return (c for lot in self.strategy.position.lots.values() for c in lot.order_ids())

    def snapshots(self, names: tuple[str, ...] | None = None) -> dict[str, dict[str, Any]]:
        """The state of every component named (all: `None`; the detector's when it can give one).
        Only those named are taken: the detector's is the costly one (its windows and baselines, about
        2 ms), and a trading change saves the trading components alone."""
        takes: dict[str, Callable[[], dict[str, Any]]] = {
            "strategy": self.strategy.snapshot,
            "orders": lambda: self.orders.snapshot(self._lot_orders()),
            "breaker": self.orders.breaker.snapshot,
            "runner": lambda: {"event_ns": self.event_ns, "candles": self.candle_count},
        }
        if hasattr(self.detector, "snapshot"):
            takes["detector"] = self.detector.snapshot
        return {name: take() for name, take in takes.items() if names is None or name in names}

    def _save_snapshots(self, reason: str, names: tuple[str, ...] | None = None) -> None:
        if self.db is None:
            return
        now = time.time_ns()
        for name, state in self.snapshots(names).items():
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
        """What is still held sent once committed (`_settle_held`: the client must still be open),
        last snapshots, the session's end (clean, or aborted on an error), every write committed.
        The positions and unsettled orders still open are told to the database, whose next start
        recovers them (`PersistenceService.end_session`)."""
        if self.held:
            try:
                self._settle_held()
            except Exception as e:  # the client closed already: they stay held, as unanswered
                log.error("%d command(s) held not sent at the end: %s", len(self.held), e)
        self.write_ahead.close(getattr(self.client, "unwatch", None))
        if self.db is None or self.session is None:
            return
        positions = len(self.strategy.position.lots)
        orders = sum(1 for o in self.orders.orders.values() if not o.settled)
        if positions or orders:
            log.warning(
                "%d position(s) and %d unsettled order(s) remain open: recovered on the next start",
                positions,
                orders,
            )
        try:
            if error is None and self.stop_reason != "persistence failed":
                self._save_snapshots("shutdown")
                self.db.end_session(True, self.stop_reason, open_positions=positions, open_orders=orders)
            elif error is not None:
                self.db.end_session(
                    False, f"{type(error).__name__}: {error}", open_positions=positions, open_orders=orders
                )
            self.session = None
        except PersistenceError as e:
            log.critical("persistence failed at the end of the session: %s", e)
            raise

    # -------------------------------------------------------- engine liveness
    def _begin_reconcile(self, why: str, level: int = logging.WARNING) -> None:
        log.log(level, "reconciling orders with the engine: %s", why)
        if self.db is not None:
            self._record(self.db.record_event, "note", f"reconciling orders with the engine: {why}",
                         component="strategy")  # fmt: skip
        self._dirty = True
        self.orders.reconcile(self.clock())

    def _watch_engine(self, now: int) -> None:
        if self.engine_silent or now - self.last_data_ns < self.engine_silence_ns:
            return
        self.engine_silent = True
        self._feed_lost()
        secs = (now - self.last_data_ns) / NS
        log.error("engine silent for %.1f s: entries paused until it is back and reconciled", secs)
        if self.db is not None:
            self._record(self.db.record_event, "error", f"engine silent for {secs:.1f} s: entries paused",
                         component="engine")  # fmt: skip

    def _on_engine_start(self, started_ns: int) -> None:
        """A new engine start seen in its health: a paper engine lost its orders, a real one forgot
        what filled while it was down. Reconcile, unless a reconciliation (after a silence) is already
        on its way to this engine."""
        known, self.engine_started_ns = self.engine_started_ns, started_ns
        if known is None:
            since = datetime.fromtimestamp(started_ns / NS, tz=UTC).isoformat(timespec="milliseconds")
            log.info("engine up since %s", since)
            if self.check_engine_on_sight and not self.orders.reconciling:
                self._begin_reconcile("first sight of the engine: anything it holds that no position here manages",
                                      logging.INFO)  # fmt: skip
            self.check_engine_on_sight = False
            return
        log.warning("engine restarted (started %d, was %d)", started_ns, known)
        self.engine_restarts += 1
        # Nothing between the old engine's last event and the new one's first was observed; its
        # feed's return to live (`_on_engine_state`), heard before its first event, told so. Told
        # here after the new engine's first events instead, this changes nothing.
        self._feed_lost()
        if self.db is not None:
            self._record(self.db.record_event, "error", "engine restarted", component="engine")
        if not self.orders.reconciling:
            self._begin_reconcile("engine restarted")

    def _feed_lost(self) -> None:
        """Nothing after the newest event seen was observed until the next one: the detector's
        windows and the strategy's volume average leave that time out."""
        self.detector.on_feed_lost()
        self.strategy.on_feed_lost()

    def _engine_back(self) -> None:
        """The first data message after a silence (`_watch_engine`): reconcile before entries resume."""
        self.engine_silent = False
        log.warning("engine back")
        self._begin_reconcile("engine back after silence")

    def _update_pause(self) -> None:
        if self.engine_silent:
            why = "engine silent"
        elif self.orders.reconciling:
            why = "reconciling orders"
        elif self.engine_halted:
            why = "engine halted"
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
            self._data_seen(now)
        match msg:
            case wire.Trade():
                self._trade(msg.exchange_ts_ns, msg.price, msg.quantity, msg.aggressor == "buy", now)
            case wire.OrderBookSnapshot():
                taken = self.detector.on_book(msg)
                if self.detector.released:
                    self._released(now)
                if taken:
                    self._book_taken(msg.exchange_ts_ns, now)
            case wire.HealthMetrics():
                self.health = msg
                self.feed_counts.on_health(msg)
                if msg.started_ts_ns != self.engine_started_ns:
                    self._on_engine_start(msg.started_ts_ns)
                if msg.latency_mean_us > 0:
                    self.latency_health = msg
                    self.latency_p99_max_us = max(self.latency_p99_max_us, msg.latency_p99_us)
                if msg.feed_state == "live":
                    self._feed_was_live = True
                if self.session is not None:
                    self._ask_capital(now)
                self.strategy.on_health(msg, now)
            case wire.StateChange(component="engine", current="stopped"):
                log.info("engine stopped: %s", msg.reason)
                self.stop_reason = "engine stopped"
            case wire.StateChange():
                log.info("%s: %s -> %s (%s)", msg.component, msg.previous, msg.current, msg.reason)
                self._on_engine_state(msg, now)
            case _:
                if self.db is not None:
                    self._dirty = True
                    coid = kind = None
                    if isinstance(msg, wire.Error):
                        p = self.orders.pending.get(msg.command_id or "")
                        if p is not None:
                            coid, kind = p.client_order_id or None, p.kind
                    self._record(self.db.record_response, msg, coid, refused=kind)
                if isinstance(msg, (wire.Balances, wire.Error)) and self.capital.answers(msg):
                    self._on_capital_answer(msg)
                    return
                self.strategy.on_response(msg, self.event_ns, now)
                if self.db is not None and isinstance(msg, wire.Error) and kind == "QueryOrder" and coid:
                    self._record_settled_unknown(coid, msg)

    def handle_trade(self, ts: int, price: float, qty: float, buy: bool) -> None:
        """A `Trade`'s fields (its exchange time, price, quantity, whether the taker bought), as
        `handle` takes the message (the backtest's trades, read from their rows)."""
        now = self.clock()
        self._data_seen(now)
        self._trade(ts, price, qty, buy, now)

    def _trade(self, ts: int, price: float, qty: float, buy: bool, now: int) -> None:
        taken = self.detector.on_trade(ts, price, qty, buy)
        if self.detector.released:
            self._released(now)
        if taken:
            self._trade_taken(ts, price, qty, buy, now)

    def _trade_taken(self, ts: int, price: float, qty: float, buy: bool, now: int) -> None:
        """A trade the detector took, at `ts`: the event clock, the runner's candle, the strategy's
        price."""
        if ts > self.event_ns:
            self.event_ns = ts
        closed = self.candles.on_trade(ts, price, qty, buy)
        if closed is not None:
            self._on_candle(closed, now)
        self.strategy.on_price(ts, price, now)
        if self.capital.balances is not None:  # the account's coins wait for a price
            self._measure_capital()

    def _released(self, now: int, books: bool = True) -> None:
        """The events the detector held (a jump ahead in time) and its last call released, the jump
        confirmed by the event of that call: taken as they would have been, before that event (the
        books but when `books` is False: a run of books is taken by its last)."""
        for r in self.detector.released:
            if r.price is not None:
                self._trade_taken(r.ts_ns, r.price, r.qty, r.is_buy, now)
            elif books:
                self._book_taken(r.ts_ns, now)

    def _ask_capital(self, now: int) -> None:
        """With every HealthMetrics: the balances asked for the session's capital, once (asked again
        only while the ask could not leave); said once when they have not answered in time."""
        cap = self.capital
        q = cap.ask(now)
        if q is not None:
            if self.client.send(q):
                cap.asked(q, now)
                if self.db is not None:
                    self._record(self.db.record_command, q, "capital")
        elif cap.overdue_now(now):
            self._capital_kept(
                f"the balances never answered (asked {(now - (cap.asked_ns or now)) / NS:.1f} s ago)"
            )

    def _on_capital_answer(self, msg: wire.Balances | wire.Error) -> None:
        why = self.capital.on_answer(msg)
        if why is not None:
            self._capital_kept(why)
        else:
            self._measure_capital()

    def _measure_capital(self) -> None:
        cap = self.capital
        if not cap.measure(self.strategy.last_price, self.strategy.position):
            return
        if not cap.from_account:
            self._capital_kept(cap.source)
            return
        log.info("session capital %s (%s)", wire.dec_text(cap.value), cap.source)
        if self.db is not None and self.session is not None:
            self._record(self.db.set_session_capital, cap.value, cap.source)

    def _capital_kept(self, why: str) -> None:
        """The session's capital stays initial_capital: logged and in the audit log."""
        why = why.removeprefix("initial_capital: ")
        text = (
            f"session capital: {why}: return and drawdown against initial_capital {self.cfg.initial_capital}"
        )
        log.warning("%s", text)
        if self.db is not None and self.session is not None:
            self._record(self.db.record_event, "note", text, component="strategy")

    def _record_settled_unknown(self, coid: str, msg: wire.Error) -> None:
        """A query the engine answered with no such order, after which the order manager settled the
        order (never placed, or gone with what it filled): its row says so too, not its last status."""
        assert self.db is not None
        o = self.orders.orders.get(coid)
        if o is not None and o.terminal:
            self._record(self.db.record_order_settled, coid, o.status.value, msg.ts_ns, msg.message)

    def _on_engine_state(self, msg: wire.StateChange, now: int) -> None:
        """The engine's feed, engine, watchdog and config changes (rare): metrics, alerts, reload,
        and the feed's emergency stop."""
        component, current = msg.component, msg.current
        if component == "config":
            if self.config_path is not None:
                from flashcrash.monitoring.reload import reload

                reload(self, self.config_path)
            return
        if component == "engine":
            self.engine_halted = current == "halted"  # it refuses every order until it runs again
        if component == "feed":
            self.feed_state = current
            if "live" in (msg.previous, current):
                self._feed_was_live = True
            if (msg.previous == "live") != (current == "live"):
                # Out of live: nothing is published until it is live again. Back to live: told again
                # (the same gap), for an engine restarted faster than its silence is noticed, whose
                # old feed's loss was never heard: its new feed's return (after the engine's start-up
                # requests and its book's sync, time for our subscription to reconnect) comes before
                # its first event, where its new start in the health may come after.
                self._feed_lost()
            self.strategy.on_feed(current, now)
        if self.metrics is not None:
            self.metrics.on_state_change(component, msg.previous, current)
        if component in ("engine", "feed") and current == "halted":
            self._alert(f"{component}_halted", f"{component} halted: {msg.reason}")
        elif component == "watchdog" and current != "ok":
            self._alert("watchdog", f"watchdog {current}: {msg.reason}")

    def _monitor(self, now: int) -> None:
        """About once a second: the metrics, and the drawdown alert (once per crossing)."""
        self._next_monitor_ns = now + NS
        m = self.metrics
        assert m is not None
        m.update(self, time.time_ns())
        limit = self.cfg.monitoring.alert_drawdown_pct
        dd = m.drawdown_of_capital_pct
        if dd > limit and not self._drawdown_alerted:
            self._drawdown_alerted = True
            self._alert("drawdown", f"drawdown {dd:.2f} % of the session's capital, over {limit:g} %")
        elif dd <= limit:
            self._drawdown_alerted = False

    def handle_books(self, start: int, end: int) -> int:
        """Books `start:end` of the block the detector holds (`Detector.set_book_rows`: the backtest's
        synthetic books, a run with nothing between them), as `handle` takes each book. Only the last
        can close the runner's candle: the caller ends a run at the first book at or after
        `book_closes_candle_at()` (a trade the detector held, released by these books, is taken
        first, as it would have been before them). Returns how many books (rows with a bid) the
        detector took."""
        now = self.clock()
        self._data_seen(now)
        taken, last = self.detector.on_book_rows(start, end)
        if self.detector.released:
            self._released(now, books=False)  # `last` counts the books released
        if last >= 0:
            self._book_taken(last, now)
        return taken

    def handle_rows(
        self,
        trades: tuple[int, int],
        books: tuple[int, int],
        through_silent: bool = False,
        before_candles: Callable[[RowRun], None] | None = None,
    ) -> RowRun:
        """Trade rows `trades` and book rows `books` of the blocks the detector holds
        (`Detector.set_trade_rows`, `set_book_rows`: the backtest's), merged in time order, as
        `handle` and `handle_books` take them, up to the first that would close the runner's candle:
        that one is left to them, as the strategy acts on its candle (and so is the first the detector
        would hold, or that would release a held one: it releases nothing). With `through_silent`,
        a candle closed while the detector is in a state in which the strategy sends nothing
        (`SILENT_STATES`: SLEEP) does not end the run: the strategy takes it after the run
        (`before_candles(run)` is called first, whether the run closed a candle or not: the caller's
        own work on the rows taken), with the state and stop figures the detector had at its
        close, as `_on_candle` would have then; the run ends after the first close into another
        state, whose candle the strategy takes as `_on_candle` does. Only for a run in which nothing
        is open (no lot, order, command or answer under way: a silent strategy acts on nothing but
        its windows, and no trade's price or book's time has a limit to check). The clock is read
        after `before_candles` (the replay's sets it to the run's last event)."""
        through = SILENT_STATES if through_silent else ()
        run = self.detector.on_rows(trades, books, self.candles, BOOK_CLOSE_LAG_NS, through)
        if before_candles is not None:
            before_candles(run)
        now = self.clock()
        self._data_seen(now)
        last = max(run.book_ns, run.trade_ns)
        if last > self.event_ns:
            self.event_ns = last
        if run.closed:
            *silent, final = run.closed
            for closed in silent:
                self._on_candle(closed.candle, closed.ts_ns, closed)
            self._on_candle(final.candle, final.ts_ns, final if final.state in through else None)
        if run.book_ns >= 0:
            self.strategy.on_clock(run.book_ns, now)
        if run.trade_ns >= 0:
            self.strategy.on_price(run.trade_ns, run.price, now)
        return run

    def _data_seen(self, now: int) -> None:
        """Any data message proves the engine alive."""
        self.last_data_ns = now
        if self.engine_silent:
            self._engine_back()

    def _book_taken(self, ts: int, now: int) -> None:
        """A book the detector took, at `ts`: the event clock, the runner's candle, and the
        strategy's time limits (a quiet market may have books and no trade). A book can overtake
        trades still queued behind it, so it closes a candle only after the jitter buffer; trades
        close candles at once."""
        if ts > self.event_ns:
            self.event_ns = ts
        closed = self.candles.advance(ts - BOOK_CLOSE_LAG_NS)
        if closed is not None:
            self._on_candle(closed, now)
        self.strategy.on_clock(ts, now)

    def book_closes_candle_at(self) -> int | None:
        """The earliest book time at which a book makes the runner act: the book that closes its
        open candle, or the one at which a time limit of the strategy runs out (a position's
        maximum hold, an entry's maximum wait); None while neither is due. A replay ends a run of
        books there, so that the runner acts at that book's time."""
        end = self.candles.open_end_ns()
        due = (end + BOOK_CLOSE_LAG_NS if end is not None else None, self.strategy.next_time_limit_ns())
        return min((t for t in due if t is not None), default=None)

    def _on_candle(self, c: Candle, now_wall_ns: int, closed: Closed | None = None) -> None:
        """A closed candle to the strategy, with the detector's state and readings now, or as `closed`
        lists them (a candle closed inside a run of rows, while the strategy was silent: the stops
        take its figures; the readings themselves are read for a candle the strategy may act on)."""
        self.candle_count += 1
        self.history.append(c)
        if self.db is not None and self.session is not None:
            self._record(self.db.record_candle, c)
        if closed is None:
            self.detector.on_candle(c)
            self.strategy.on_candle(c, self.detector.state, self.detector.readings(), now_wall_ns)
        else:
            self.strategy.stops.on_figures(closed.spread_ratio, closed.liquidity_usd)
            self.strategy.on_candle(c, closed.state, None, now_wall_ns)
        self.orders.forget_settled(self._lot_orders())  # a second's work: only orders still in play

    # ----------------------------------------------------------------- loop
    def run(self, signals: list[str] | None = None) -> None:
        """Runs until the engine stops or a signal name appears in `signals` (filled by the handler
        installed at process start, so a signal during start-up is not lost)."""
        signals = signals if signals is not None else install_signal_handlers()
        quiet_gc()
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
            self._after_iteration(self.clock())

    def step(self, timeout_ms: int) -> None:
        """One loop iteration: the messages waiting (or a held order's commit done: the poll wakes),
        the held commands that may leave, timeouts, engine liveness, audit and snapshots."""
        write_ahead = self.write_ahead
        if write_ahead.held:
            write_ahead.release_ready()
        n = 0
        for msg in self.client.poll(timeout_ms):
            self._trigger = msg
            self.handle(msg)
            n += 1
        self._trigger = None
        write_ahead.release_ready()
        self.batch_last = n
        if n > self.batch_max:
            self.batch_max = n
        now = self.clock()
        self.orders.check_timeouts(now)
        self._watch_engine(now)
        self._after_iteration(now)
        if self.metrics is not None and now >= self._next_monitor_ns:
            self._monitor(now)

    def flatten(self, wait_s: float = 2.0) -> None:
        """Cancels resting entries, closes open positions at market and waits (bounded) for the fills;
        sends what is held once committed (bounded: `_settle_held`)."""
        if self.stop_reason != "engine stopped":
            self.strategy.shutdown(self.clock())
        deadline = time.monotonic() + wait_s
        while (self.orders.has_open_order() or self.held) and time.monotonic() < deadline:
            self.step(50)
        if self.held:
            self._settle_held()

    # -------------------------------------------------------------- summary
    def summary(self) -> dict[str, Any]:
        return session_summary(self)

    def _report_candles(self) -> Sequence[Candle]:
        """The session's candles for its report: every one, from the database when there is one
        (none when it cannot be read: the report then has no price panel), else the last hour."""
        if self.db is None or self.session is None:
            return self.history
        try:
            self.db.flush()
            return self.db.candles_of(self.session)
        except PersistenceError as e:
            log.error("the session's candles could not be read for its report: %s", e)
            return ()

    def write(self, summary_json: Path | None) -> dict[str, Any]:
        s = self.summary()
        stamp = self.started.strftime("%Y%m%dT%H%M%SZ")
        report = write_report(
            self.cfg.report_dir / f"session_{stamp}.png",
            self.cfg.symbol.name,
            self._report_candles(),
            [(t.ts_ns, str(t.current)) for t in self.detector.transitions if t.current is not State.SHUTDOWN],
            self.strategy.entries,
            self.strategy.exits,
            [(t.exit_ns, t.pnl) for t in self.strategy.position.closed],
        )
        s["report_png"] = str(report) if report else None
        paths = [self.cfg.report_dir / f"session_{stamp}.json"]
        if summary_json is not None:
            paths.append(summary_json)
        write_summary(s, paths)
        return s
