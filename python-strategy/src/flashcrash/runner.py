"""`flashcrash run`: the strategy process. One loop, one thread: poll the engine's channels, feed the
validated market events to the candles, the detector and the strategy, apply responses to the order
manager, and on stop (signal, or the engine announcing it stopped) close any position and write the
session summary and report."""

from __future__ import annotations

import logging
import signal
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from flashcrash import wire
from flashcrash.config import Config
from flashcrash.data_client import EngineClient
from flashcrash.event_detector import Candle, CandleBuilder, Detector, InputGuard, State
from flashcrash.persistence import write_report, write_summary
from flashcrash.trading_engine import OrderManager, ReboundStrategy

log = logging.getLogger(__name__)

BOOK_CLOSE_LAG_NS = 1_000_000_000


def install_signal_handlers() -> list[str]:
    """SIGTERM and SIGINT append their name to the returned list instead of killing the process."""
    received: list[str] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return received


class Runner:
    def __init__(self, cfg: Config, client: EngineClient) -> None:
        self.cfg = cfg
        self.client = client
        self.guard = InputGuard()
        self.candles = CandleBuilder()
        self.detector = Detector(cfg.event_detection)
        self.orders = OrderManager(cfg.symbol.name, client.send)
        self.strategy = ReboundStrategy(cfg.strategy, cfg.symbol.order_quantity, self.orders)
        self.history: list[Candle] = []
        self.health: wire.HealthMetrics | None = None
        self.event_ns = 0
        self.stop_reason = ""
        self.started = datetime.now(UTC)

    # ------------------------------------------------------------- handling
    def handle(self, msg: object) -> None:
        now = time.time_ns()
        match msg:
            case wire.Trade():
                if not self.guard.trade_ok(msg.exchange_ts_ns, msg.price, msg.quantity):
                    return
                self.event_ns = max(self.event_ns, msg.exchange_ts_ns)
                closed = self.candles.on_trade(
                    msg.exchange_ts_ns, msg.price, msg.quantity, msg.aggressor == "buy"
                )
                if closed is not None:
                    self._on_candle(closed, now)
                self.strategy.on_price(msg.exchange_ts_ns, msg.price, now)
            case wire.OrderBookSnapshot():
                if self.guard.time_ok(msg.exchange_ts_ns):
                    self.event_ns = max(self.event_ns, msg.exchange_ts_ns)
                    # A book can overtake trades still queued behind it, so it closes a candle only
                    # after the jitter buffer; trades close candles at once.
                    closed = self.candles.advance(msg.exchange_ts_ns - BOOK_CLOSE_LAG_NS)
                    if closed is not None:
                        self._on_candle(closed, now)
            case wire.HealthMetrics():
                self.health = msg
            case wire.StateChange(component="engine", current="stopped"):
                log.info("engine stopped: %s", msg.reason)
                self.stop_reason = "engine stopped"
            case wire.StateChange():
                log.info("%s: %s -> %s (%s)", msg.component, msg.previous, msg.current, msg.reason)
            case _:
                fill = self.orders.on_response(msg)
                if fill is not None:
                    self.strategy.on_fill(fill, self.event_ns)

    def _on_candle(self, c: Candle, now_wall_ns: int) -> None:
        self.history.append(c)
        self.detector.on_candle(c)
        self.strategy.on_candle(c, self.detector.state, now_wall_ns)

    # ----------------------------------------------------------------- loop
    def run(self, signals: list[str] | None = None) -> None:
        """Runs until the engine stops or a signal name appears in `signals` (filled by the handler
        installed at process start, so a signal during start-up is not lost)."""
        signals = signals if signals is not None else install_signal_handlers()
        while not self.stop_reason:
            if signals:
                self.stop_reason = signals[0]
                break
            for msg in self.client.poll(100):
                self.handle(msg)
            self.orders.check_timeouts(time.time_ns())
        log.info("stopping: %s", self.stop_reason)
        self.flatten()
        self.detector.shutdown(self.event_ns, self.stop_reason)

    def flatten(self, wait_s: float = 2.0) -> None:
        """Closes an open position at market and waits (bounded) for the fills."""
        if self.strategy.position.is_open and self.stop_reason != "engine stopped":
            self.strategy.exit("shutdown", time.time_ns())
        deadline = time.monotonic() + wait_s
        while self.orders.has_open_order() and time.monotonic() < deadline:
            for msg in self.client.poll(50):
                self.handle(msg)
            self.orders.check_timeouts(time.time_ns())

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
