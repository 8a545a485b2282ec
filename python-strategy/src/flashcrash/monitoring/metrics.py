"""The strategy's Prometheus metrics (`flashcrash_strategy_*`), in a registry of their own, served over
HTTP on loopback by `flashcrash run` (`[monitoring] strategy_metrics_port`; 0 = not served).

The trading loop never pays for them per message: the runner calls `update` at most once a second of
wall clock (and `observe_order_latency` per `PlaceOrder`, `on_state_change` per engine StateChange),
and `update` copies what the loop already counts (the client's message counters, the detector's
readings, the strategy's decisions and positions, the order manager's stats) into the metrics. A
counter mirrors a count of the loop: it grows by the difference since the previous update.

What `flashcrash monitor` reads from here: detector state and seconds in it, every indicator with
its threshold, the price's move against `price_move_sigmas`, open positions (`position_*{lot}`), the
last trades (`last_trade_*{rank}`, rank 1 the newest), P&L and drawdown.
"""

from __future__ import annotations

import math
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from flashcrash.event_detector import State
from flashcrash.session_capital import unrealized as open_pnl
from flashcrash.trading_engine.breaker import BreakerState
from flashcrash.trading_engine.emergency import Stop
from flashcrash.trading_engine.scoring import score

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from flashcrash.runner import Runner

PREFIX = "flashcrash_strategy_"
NS = 1_000_000_000
LAST_TRADES = 5
# Event (engine receive stamp) to PlaceOrder sent, seconds.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
SCORE_BUCKETS = (10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0)


class MetricsError(Exception):
    """The metrics port cannot be bound."""


class _Mirror:
    """A Counter kept equal to a count held by the loop: it grows by the difference since the last sync
    (a count that went down, e.g. restored from a snapshot, is taken as the new base)."""

    def __init__(self, counter: Counter) -> None:
        self.counter = counter
        self.last: dict[tuple[str, ...], float] = {}

    def sync(self, value: float, *labels: str) -> None:
        before = self.last.get(labels)
        self.last[labels] = value
        delta = value - (0 if before is None else before)
        if delta > 0:
            (self.counter.labels(*labels) if labels else self.counter).inc(delta)


class StrategyMetrics:
    def __init__(self, symbol: str, initial_capital: Decimal, registry: CollectorRegistry | None = None):
        r = self.registry = registry if registry is not None else CollectorRegistry()
        self.initial_capital = float(initial_capital)

        def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
            return Gauge(PREFIX + name, doc, labels, registry=r)

        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> _Mirror:
            return _Mirror(Counter(PREFIX + name, doc, labels, registry=r))

        gauge("info", "The traded symbol (always 1)", ("symbol",)).labels(symbol).set(1)
        self.updated = gauge("updated_timestamp_seconds", "Wall time of the last update of these metrics")
        # Detector.
        self.detector_state = gauge("detector_state", "1 for the detector's current state", ("state",))
        self.state_seconds = gauge("detector_state_seconds", "Seconds (event time) in the current state")
        self.transitions = counter("detector_transitions", "Detector state changes")
        self.indicator_value = gauge("indicator_value", "Indicator value, own unit", ("indicator",))
        self.indicator_threshold = gauge("indicator_threshold", "Indicator firing threshold", ("indicator",))
        self.indicator_fired = gauge("indicator_fired", "1 when the indicator fires", ("indicator",))
        self.indicator_ready = gauge("indicator_ready", "0 while its baseline warms up", ("indicator",))
        self.core_fired = gauge("core_fired", "Core indicators firing (of 5)")
        self.price_move = gauge(
            "price_move_sigmas",
            "The price's move over the volatility window, baseline sigmas (NaN: warming up)",
        )
        self.price_move_threshold = gauge(
            "price_move_threshold_sigmas",
            "The move that stands for volatility and acceleration in a quorum (0: off)",
        )
        # Entries.
        self.entry_score = gauge("entry_score", "Entry score (0-100) of the latest readings")
        self.entry_score_taken = Histogram(
            PREFIX + "entry_score_taken",
            "Entry score of the entries taken",
            buckets=SCORE_BUCKETS,
            registry=r,
        )
        self.entries = counter("entries", "Entries taken (limit buys sent)")
        self.rejections = counter("rejections", "Entry candidates rejected, by reason", ("reason",))
        self.exits = counter("exits", "Positions closed, by exit reason", ("reason",))
        self.cooldown_active = gauge("cooldown_active", "1 while an entry cooldown runs")
        self.cooldown_remaining = gauge("cooldown_remaining_seconds", "Seconds (event time) of cooldown left")
        self.emergency_stop = gauge("emergency_stop", "1 while the emergency stop is set", ("stop",))
        self.breaker_state = gauge("breaker_state", "1 for the circuit breaker's current state", ("state",))
        self.entries_paused = gauge("entries_paused", "1 while entries wait (engine silent, reconciling)")
        # Results.
        self.trades = counter("trades", "Trades closed")
        self.wins = counter("wins", "Trades closed with a positive P&L")
        self.win_rate = gauge("win_rate", "Wins / trades (0 before the first trade)")
        self.pnl = gauge("pnl", "Realized P&L net of fees, quote asset")
        self.unrealized = gauge("unrealized_pnl", "Open positions marked at the last trade price, quote")
        self.fees = gauge("fees", "Fees paid, quote asset")
        self.equity = gauge(
            "equity", "The session's capital (the account's equity at its start) + the P&L since, quote"
        )
        self.drawdown = gauge("drawdown", "Equity below its peak, quote asset")
        self.drawdown_pct = gauge("drawdown_pct", "Drawdown in percent of the session's capital")
        # Positions and last trades (what `flashcrash monitor` shows).
        self.open_positions = gauge("open_positions", "Live positions (resting entry, holding or exiting)")
        self.position_quantity = gauge("position_quantity", "Open quantity, base asset")
        self.funds_available = gauge(
            "funds_available",
            "Quote an entry can still use: the engine's last report less entries since (NaN: none)",
        )
        self.last_price = gauge("last_price", "Last trade price seen")
        self.lot_quantity = gauge("lot_quantity", "Quantity of a live position", ("lot", "phase"))
        self.lot_entry = gauge("lot_entry_price", "Entry price (average fill, else the limit)", ("lot",))
        self.lot_target = gauge("lot_target_price", "Target price of a live position", ("lot",))
        self.last_trade_pnl = gauge(
            "last_trade_pnl", "P&L of a recent trade (rank 1 newest)", ("rank", "reason")
        )
        self.last_trade_entry = gauge("last_trade_entry_price", "Entry price of a recent trade", ("rank",))
        self.last_trade_exit = gauge("last_trade_exit_price", "Exit price of a recent trade", ("rank",))
        self.last_trade_qty = gauge("last_trade_quantity", "Quantity of a recent trade", ("rank",))
        self.last_trade_time = gauge("last_trade_exit_timestamp_seconds", "Exit event time", ("rank",))
        # Data path.
        self.messages = counter("messages", "Messages received from the engine, by type", ("type",))
        self.malformed = counter("malformed", "Frames dropped as malformed, by reason", ("reason",))
        self.guard_dropped = counter("guard_dropped", "Market events refused by the input guard", ("reason",))
        self.conflated = counter("conflated", "Book snapshots dropped: a newer one was in the same batch")
        self.trades_missed = counter("trades_missed", "Trades missed: jumps in the trade ids received")
        self.commands_not_queued = counter(
            "commands_not_queued", "Commands not sent: no engine connected, or its queue full"
        )
        self.candles = counter("candles", "1-second candles closed")
        self.batch = gauge("zmq_batch_messages", "Messages handled in the last poll batch")
        self.batch_max = gauge("zmq_batch_messages_max", "Largest poll batch since the previous update")
        self.orders = counter("orders", "Order manager events (sent, placed, fills, errors, ...)", ("event",))
        self.order_latency = Histogram(
            PREFIX + "event_to_order_seconds",
            "Engine receive stamp of the triggering market event to its PlaceOrder sent",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.engine_state = gauge(
            "engine_state", "1 for the engine's current state, per component (feed, engine, watchdog)",
            ("component", "state"),
        )  # fmt: skip
        self.engine_silent = gauge("engine_silent", "1 while no data message arrives from the engine")
        self.engine_restarts = counter("engine_restarts", "Engine restarts seen (a new start in its health)")
        self.persistence_errors = gauge("persistence_errors", "Persistence writes refused or failed")
        self._engine: dict[str, str] = {}
        # The runner's session capital and its P&L base (`session_capital`): a new pair, a new peak.
        self._capital = (self.initial_capital, 0.0)
        self._peak = self.initial_capital
        self._closed_seen = 0
        self._wins_seen = 0
        self._lot_labels: dict[str, tuple[str, str]] = {}
        self._readings_ts = -1
        self._started_ns = time.time_ns()
        self.drawdown_of_capital_pct = 0.0  # what the drawdown alert reads
        self._server: WSGIServer | None = None

    # ---------------------------------------------------------------- serving
    def serve(self, port: int) -> None:
        """Serves `/metrics` on 127.0.0.1:`port` from a daemon thread."""
        try:
            self._server, _ = start_http_server(port, addr="127.0.0.1", registry=self.registry)
        except OSError as e:
            raise MetricsError(f"[monitoring] strategy_metrics_port {port}: cannot bind: {e}") from e

    @property
    def port(self) -> int | None:
        """The port served (useful when `serve(0)` took a free one)."""
        return None if self._server is None else int(self._server.server_port)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # ---------------------------------------------------------------- events
    def observe_entry_score(self, total: float) -> None:
        self.entry_score_taken.observe(total)

    def observe_order_latency(self, seconds: float) -> None:
        self.order_latency.observe(max(0.0, seconds))

    def on_state_change(self, component: str, previous: str, current: str) -> None:
        """An engine StateChange (feed, engine, watchdog): 1 for `current`, 0 for the one it left."""
        old = self._engine.get(component, previous)
        if old != current:
            self.engine_state.labels(component, old).set(0)
        self.engine_state.labels(component, current).set(1)
        self._engine[component] = current

    # ---------------------------------------------------------------- update
    def update(self, runner: Runner, now_ns: int) -> None:
        """Copies the runner's figures into the metrics (call about once a second)."""
        self._detector(runner)
        self._trading(runner)
        self._results(runner)
        self._data(runner)
        self.updated.set(now_ns / NS)

    def _detector(self, runner: Runner) -> None:
        det = runner.detector
        state = det.state
        for s in State:
            self.detector_state.labels(str(s)).set(1 if s is state else 0)
        transitions = det.transitions
        self.transitions.sync(len(transitions))
        if transitions:
            self.state_seconds.set(max(0, runner.event_ns - transitions[-1].ts_ns) / NS)
        else:
            self.state_seconds.set((time.time_ns() - self._started_ns) / NS)
        r = det.readings()
        if r.ts_ns == self._readings_ts:
            return
        self._readings_ts = r.ts_ns
        for ind, reading in r.by_indicator.items():
            name = str(ind)
            self.indicator_value.labels(name).set(reading.value)
            self.indicator_threshold.labels(name).set(reading.threshold)
            self.indicator_fired.labels(name).set(1 if reading.fired else 0)
            self.indicator_ready.labels(name).set(1 if reading.ready else 0)
        self.core_fired.set(r.core_fired())
        self.price_move.set(r.price_move)
        self.price_move_threshold.set(det.cfg.price_move_sigmas)
        st = runner.strategy
        self.entry_score.set(score(r, st.weights, st.bands).total)

    def _trading(self, runner: Runner) -> None:
        st = runner.strategy
        for key, n in st.decisions.items():
            if key.startswith("rejected_"):
                self.rejections.sync(n, key[len("rejected_") :])
            elif key.startswith("exit_"):
                self.exits.sync(n, key[len("exit_") :])
        self.entries.sync(st.decisions.get("taken", 0))
        cd = st.cooldown
        left = max(0, cd.until_ns - st.event_ns) / NS
        self.cooldown_active.set(1 if left > 0 else 0)
        self.cooldown_remaining.set(left)
        for stop in Stop:
            self.emergency_stop.labels(str(stop)).set(1 if stop in st.stops.active else 0)
        breaker = runner.orders.breaker.snapshot()["state"]
        for b in BreakerState:
            self.breaker_state.labels(str(b)).set(1 if str(b) == breaker else 0)
        self.entries_paused.set(1 if st.paused_reason else 0)
        for key, n in runner.orders.stats.items():
            self.orders.sync(n, key)
        lots = st.position.lots
        for coid, (phase, _) in list(self._lot_labels.items()):
            lot = lots.get(coid)
            if lot is None or str(lot.phase) != phase:
                self.lot_quantity.remove(coid, phase)
                if lot is None:
                    self.lot_entry.remove(coid)
                    self.lot_target.remove(coid)
                del self._lot_labels[coid]
        for coid, lot in lots.items():
            phase = str(lot.phase)
            pos = lot.position
            qty = pos.quantity if pos.is_open else lot.quantity
            self.lot_quantity.labels(coid, phase).set(float(qty))
            entry = pos.avg_entry if pos.is_open else lot.plan.entry.value
            self.lot_entry.labels(coid).set(float(entry))
            self.lot_target.labels(coid).set(float(lot.plan.target.value))
            self._lot_labels[coid] = (phase, coid)
        self.open_positions.set(len(lots))

    def _results(self, runner: Runner) -> None:
        st = runner.strategy
        pos = st.position
        closed = pos.closed
        if len(closed) < self._closed_seen:  # restored: count again from the restored list
            self._closed_seen = self._wins_seen = 0
        if len(closed) != self._closed_seen:
            self._wins_seen += sum(1 for t in closed[self._closed_seen :] if t.pnl > 0)
            self._closed_seen = len(closed)
            self._last_trades(closed[-LAST_TRADES:])
        self.trades.sync(self._closed_seen)
        self.wins.sync(self._wins_seen)
        self.win_rate.set(self._wins_seen / self._closed_seen if self._closed_seen else 0.0)
        realized = float(pos.realized)
        price = st.last_price
        unrealized = open_pnl(pos, price)
        if math.isfinite(price):
            self.last_price.set(price)
        # The session's capital (`session_capital`) and the P&L since it was measured; a capital
        # measured (the account's, once; even one equal to initial_capital) is a new peak.
        cap = runner.capital
        capital = float(cap.value)
        if (capital, cap.pnl_base) != self._capital:
            self._capital = (capital, cap.pnl_base)
            self._peak = capital
        equity = capital + realized + unrealized - cap.pnl_base
        self._peak = max(self._peak, equity)
        dd = self._peak - equity
        self.drawdown_of_capital_pct = dd / capital * 100 if capital > 0 else 0.0
        self.pnl.set(realized)
        self.unrealized.set(unrealized)
        self.fees.set(float(pos.total_fees))
        self.equity.set(equity)
        self.drawdown.set(dd)
        self.drawdown_pct.set(self.drawdown_of_capital_pct)
        self.position_quantity.set(float(pos.quantity))
        available = runner.strategy.funds.available(runner.orders)
        self.funds_available.set(math.nan if available is None else float(available))

    def _last_trades(self, recent: list[Any]) -> None:
        for g in (
            self.last_trade_pnl, self.last_trade_entry, self.last_trade_exit, self.last_trade_qty,
            self.last_trade_time,
        ):  # fmt: skip
            g.clear()
        for rank, t in enumerate(reversed(recent), start=1):
            k = str(rank)
            self.last_trade_pnl.labels(k, t.exit_reason).set(float(t.pnl))
            self.last_trade_entry.labels(k).set(float(t.entry_price))
            self.last_trade_exit.labels(k).set(float(t.exit_price))
            self.last_trade_qty.labels(k).set(float(t.quantity))
            self.last_trade_time.labels(k).set(t.exit_ns / NS)

    def _data(self, runner: Runner) -> None:
        client = runner.client
        for kind, n in client.received.items():
            self.messages.sync(n, kind)
        for reason, n in getattr(client, "malformed", {}).items():
            self.malformed.sync(n, reason)
        self.conflated.sync(getattr(client, "conflated", 0))
        self.trades_missed.sync(getattr(client, "trades_missed", 0))
        self.commands_not_queued.sync(getattr(client, "commands_not_queued", 0))
        for reason, n in runner.guard.dropped.items():
            self.guard_dropped.sync(n, str(reason))
        self.candles.sync(runner.candle_count)
        self.batch.set(runner.batch_last)
        self.batch_max.set(runner.batch_max)
        runner.batch_max = 0
        h = runner.health
        if h is not None and self._engine.get("feed") != h.feed_state:
            self.on_state_change("feed", self._engine.get("feed", h.feed_state), h.feed_state)
        self.engine_silent.set(1 if runner.engine_silent else 0)
        self.engine_restarts.sync(runner.engine_restarts)
        self.persistence_errors.set(runner.persistence_errors)
