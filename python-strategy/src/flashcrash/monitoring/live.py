"""`flashcrash monitor`: a live terminal view of the running system (rich).

It only listens, so it never disturbs what it watches: a SUB to the engine's data channel (books of the
symbol, `HealthMetrics`, the feed/engine/watchdog `StateChange`s; not the trades), a SUB to the
strategy's StateChange channel (detector and circuit breaker), and an HTTP GET of the strategy's
Prometheus metrics every second (indicators, positions, last trades, P&L; `monitoring/metrics.py`).

It shows the detector's state and how long it has been in it, each indicator against its threshold
(and the price's move against `price_move_sigmas`), the top of the book, open positions, the last
trades, P&L and drawdown, and the feed's health.
`--once` renders one frame to stdout (after waiting up to `--seconds` for the first figures) and exits.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from flashcrash import config as config_mod
from flashcrash import wire
from flashcrash.data_client.client import connect

NS = 1_000_000_000
PREFIX = "flashcrash_strategy_"
Samples = dict[str, list[tuple[dict[str, str], float]]]


def parse_metrics(text: str) -> Samples:
    """Prometheus text → {sample name without the strategy prefix: [(labels, value)]}."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            name = s.name[len(PREFIX) :] if s.name.startswith(PREFIX) else s.name
            out.setdefault(name, []).append((dict(s.labels), float(s.value)))
    return out


@dataclass
class View:
    """Everything the dashboard shows, as last heard."""

    symbol: str
    book: wire.OrderBookSnapshot | None = None
    book_wall_ns: int = 0
    health: wire.HealthMetrics | None = None
    health_wall_ns: int = 0
    engine: dict[str, str] = field(default_factory=dict)  # component -> state (feed, engine, watchdog)
    detector: str | None = None
    detector_since_ns: int = 0  # wall clock estimate of the last transition
    breaker: str | None = None
    events: deque[str] = field(default_factory=lambda: deque(maxlen=6))
    metrics: Samples = field(default_factory=dict)
    metrics_wall_ns: int = 0
    metrics_error: str = ""

    # ------------------------------------------------------------ inputs
    def on_message(self, msg: object, now_ns: int) -> None:
        match msg:
            case wire.OrderBookSnapshot() if msg.symbol == self.symbol:
                self.book, self.book_wall_ns = msg, now_ns
            case wire.HealthMetrics():
                self.health, self.health_wall_ns = msg, now_ns
                self.engine["feed"] = msg.feed_state
            case wire.StateChange(component="detector"):
                self.detector, self.detector_since_ns = msg.current, now_ns
                self._event(msg)
            case wire.StateChange(component="breaker"):
                self.breaker = msg.current
                self._event(msg)
            case wire.StateChange():
                self.engine[msg.component] = msg.current
                self._event(msg)

    def _event(self, msg: wire.StateChange) -> None:
        stamp = time.strftime("%H:%M:%S", time.gmtime(msg.ts_ns / NS))
        self.events.appendleft(f"{stamp} {msg.component} {msg.previous} → {msg.current}: {msg.reason}")

    def on_metrics(self, samples: Samples, now_ns: int) -> None:
        self.metrics, self.metrics_wall_ns, self.metrics_error = samples, now_ns, ""
        state = next((lb["state"] for lb, v in samples.get("detector_state", []) if v == 1), None)
        if state is not None:
            self.detector = state
            self.detector_since_ns = now_ns - int(self.value("detector_state_seconds") * NS)
        breaker = next((lb["state"] for lb, v in samples.get("breaker_state", []) if v == 1), None)
        if breaker is not None:
            self.breaker = breaker

    # ------------------------------------------------------------ reading
    def value(self, name: str, default: float = math.nan, **labels: str) -> float:
        for lb, v in self.metrics.get(name, []):
            if all(lb.get(k) == want for k, want in labels.items()):
                return v
        return default

    def by_label(self, name: str, label: str) -> dict[str, float]:
        return {lb[label]: v for lb, v in self.metrics.get(name, []) if label in lb}


def _num(v: float, fmt: str = ".4g") -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def _age(now_ns: int, then_ns: int) -> str:
    return "never" if not then_ns else f"{(now_ns - then_ns) / NS:.1f} s ago"


def _uptime(now_ns: int, started_ns: int) -> str:
    s = max(0, (now_ns - started_ns) // NS)
    return f"{s // 3600}h {s % 3600 // 60:02d}m {s % 60:02d}s"


def render(v: View, now_ns: int) -> Group:
    """One frame."""
    # Header: detector state and time in it.
    head = Text()
    state = v.detector or "unknown"
    color = {"SLEEP": "green", "ALERT": "yellow", "ACTIVE": "red", "RECOVERY": "cyan"}.get(state, "white")
    head.append(f"{v.symbol}  detector ", style="bold")
    head.append(state, style=f"bold {color}")
    if v.detector_since_ns:
        head.append(f" for {max(0.0, (now_ns - v.detector_since_ns) / NS):.0f} s")
    head.append(f"   breaker {v.breaker or '-'}")
    stops = [s for s, on in v.by_label("emergency_stop", "stop").items() if on == 1]
    head.append(f"   emergency stops {', '.join(stops) if stops else 'none'}")
    if v.metrics_error:
        head.append(f"\nstrategy metrics: {v.metrics_error}", style="red")

    ind = Table(title="indicators", expand=True)
    for col in ("indicator", "value", "threshold", "fires"):
        ind.add_column(col, justify="left" if col == "indicator" else "right")
    values = v.by_label("indicator_value", "indicator")
    for name, val in values.items():
        fired = v.value("indicator_fired", indicator=name) == 1
        ready = v.value("indicator_ready", indicator=name) == 1
        ind.add_row(
            name,
            _num(val),
            _num(v.value("indicator_threshold", indicator=name)),
            Text("FIRES", style="bold red") if fired else Text("no" if ready else "warming up"),
        )
    move, enough = v.value("price_move_sigmas"), v.value("price_move_threshold_sigmas")
    if not math.isnan(enough):  # the price's move, which stands for volatility and acceleration
        moves = enough > 0 and move >= enough
        ind.add_row(
            "price move (sigmas)",
            _num(move),
            _num(enough) if enough > 0 else "off",
            Text("MOVES", style="bold red") if moves else Text("warming up" if math.isnan(move) else "no"),
        )
    ind.add_row("entry score", _num(v.value("entry_score"), ".1f"), "", "")

    book = Table(title="book top", expand=True)
    for col in ("side", "price", "quantity"):
        book.add_column(col, justify="right")
    b = v.book
    if b is not None and b.bids and b.asks:
        book.add_row("ask", _num(b.asks[0][0], ".6g"), _num(b.asks[0][1], ".6g"))
        book.add_row("bid", _num(b.bids[0][0], ".6g"), _num(b.bids[0][1], ".6g"))
        mid = (b.asks[0][0] + b.bids[0][0]) / 2
        book.add_row("spread", f"{(b.asks[0][0] - b.bids[0][0]) / mid * 1e4:.2f} bps", "")
        book.caption = f"update {b.update_id}, {_age(now_ns, v.book_wall_ns)}"
    else:
        book.add_row("-", "no book yet", "")

    feed = Table(title="feed health", expand=True)
    feed.add_column("figure")
    feed.add_column("value", justify="right")
    h = v.health
    feed.add_row("feed", v.engine.get("feed", "-"))
    feed.add_row("engine", v.engine.get("engine", "-"))
    feed.add_row("watchdog", v.engine.get("watchdog", "-"))
    if h is not None:
        feed.add_row("msgs/s", f"{h.msgs_per_sec:.0f}")
        feed.add_row("latency p50/p99", f"{h.latency_p50_us / 1000:.1f} / {h.latency_p99_us / 1000:.1f} ms")
        feed.add_row("gaps/resyncs/reconnects", f"{h.gap_count}/{h.resync_count}/{h.reconnect_count}")
        feed.add_row("trades missed", str(h.trades_missed_count))
        feed.add_row("engine up", _uptime(now_ns, h.started_ts_ns))  # a restart starts it again
        feed.add_row("health", _age(now_ns, v.health_wall_ns))
    else:
        feed.add_row("health", "none yet")

    pos = Table(title="open positions", expand=True)
    for col in ("lot", "phase", "quantity", "entry", "target", "unrealized"):
        pos.add_column(col, justify="left" if col in ("lot", "phase") else "right")
    last = v.value("last_price")
    entries = v.by_label("lot_entry_price", "lot")
    targets = v.by_label("lot_target_price", "lot")
    for lb, qty in v.metrics.get("lot_quantity", []):
        lot, entry = lb.get("lot", ""), entries.get(lb.get("lot", ""), math.nan)
        unreal = qty * (last - entry) if lb.get("phase") != "entering" else math.nan
        pos.add_row(lot[:8], lb.get("phase", ""), _num(qty), _num(entry, ".6g"),
                    _num(targets.get(lot, math.nan), ".6g"), _num(unreal, "+.4f"))  # fmt: skip
    if not v.metrics.get("lot_quantity"):
        pos.add_row("none", "", "", "", "", "")

    trades = Table(title="last trades", expand=True)
    for col in ("#", "quantity", "entry", "exit", "pnl", "reason"):
        trades.add_column(col, justify="right")
    for lb, pnl in sorted(v.metrics.get("last_trade_pnl", []), key=lambda x: int(x[0].get("rank", "0"))):
        r = lb.get("rank", "")
        trades.add_row(
            r,
            _num(v.value("last_trade_quantity", rank=r)),
            _num(v.value("last_trade_entry_price", rank=r), ".6g"),
            _num(v.value("last_trade_exit_price", rank=r), ".6g"),
            _num(pnl, "+.4f"),
            lb.get("reason", ""),
        )
    if not v.metrics.get("last_trade_pnl"):
        trades.add_row("none", "", "", "", "", "")

    pnl = Table(title="P&L", expand=True)
    pnl.add_column("figure")
    pnl.add_column("value", justify="right")
    trades_n = v.value("trades_total", 0.0)
    pnl.add_row("realized (net)", _num(v.value("pnl"), "+.4f"))
    pnl.add_row("unrealized", _num(v.value("unrealized_pnl"), "+.4f"))
    pnl.add_row("equity", _num(v.value("equity"), ".2f"))
    pnl.add_row("funds available", _num(v.value("funds_available"), ".2f"))
    pnl.add_row("drawdown", f"{_num(v.value('drawdown'), '.4f')} ({_num(v.value('drawdown_pct'), '.2f')} %)")
    pnl.add_row("trades / win rate", f"{trades_n:.0f} / {v.value('win_rate', 0.0) * 100:.0f} %")
    pnl.add_row("entries", _num(v.value("entries_total", 0.0), ".0f"))
    rejections = v.by_label("rejections_total", "reason")
    top = sorted(rejections.items(), key=lambda kv: -kv[1])[:3]
    pnl.add_row("top rejections", ", ".join(f"{k} {n:.0f}" for k, n in top) or "-")
    cooldown = v.value("cooldown_remaining_seconds", 0.0)
    pnl.add_row("cooldown", f"{cooldown:.0f} s" if cooldown > 0 else "none")

    grid = Table.grid(expand=True)
    grid.add_column(ratio=1)
    grid.add_column(ratio=1)
    grid.add_column(ratio=1)
    grid.add_row(ind, Group(book, feed), pnl)
    bottom = Table.grid(expand=True)
    bottom.add_column(ratio=1)
    bottom.add_column(ratio=1)
    bottom.add_row(pos, trades)
    events = Text("\n".join(v.events) if v.events else "no state change seen yet")
    return Group(Panel(head), grid, bottom, Panel(events, title="state changes"))


class Sources:
    """The read-only connections: two SUB sockets and the metrics URL."""

    def __init__(self, cfg: config_mod.Config, metrics_url: str | None) -> None:
        self.symbol = cfg.symbol.name
        self.metrics_url = metrics_url
        self.ctx = zmq.Context()
        self.data = self.ctx.socket(zmq.SUB)
        self.strategy = self.ctx.socket(zmq.SUB)
        for s in (self.data, self.strategy):
            s.setsockopt(zmq.LINGER, 0)
            s.setsockopt(zmq.RCVHWM, 10_000)
        for topic in (f"book.{self.symbol}", "health", "state"):
            self.data.setsockopt_string(zmq.SUBSCRIBE, topic)
        self.strategy.setsockopt_string(zmq.SUBSCRIBE, "state")
        connect(self.data, cfg.zmq.data_endpoint)
        connect(self.strategy, cfg.zmq.strategy_endpoint)
        self.poller = zmq.Poller()
        self.poller.register(self.data, zmq.POLLIN)
        self.poller.register(self.strategy, zmq.POLLIN)

    def poll(self, view: View, timeout_ms: int) -> None:
        """Everything waiting (or arriving within `timeout_ms`) into `view`."""
        ready = dict(self.poller.poll(timeout_ms))
        for sock in (self.data, self.strategy):
            if sock not in ready:
                continue
            for _ in range(10_000):
                try:
                    frames = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                if (msg := wire.decode_published(frames)) is not None:
                    view.on_message(msg, time.time_ns())

    def scrape(self, view: View, timeout_s: float = 0.5) -> None:
        if self.metrics_url is None:
            view.metrics_error = "not served ([monitoring] strategy_metrics_port = 0)"
            return
        try:
            with urllib.request.urlopen(self.metrics_url, timeout=timeout_s) as r:
                text = r.read().decode("utf-8", errors="replace")
            view.on_metrics(parse_metrics(text), time.time_ns())
        except (OSError, ValueError) as e:
            view.metrics_error = f"{self.metrics_url}: {e}"

    def close(self) -> None:
        self.data.close()
        self.strategy.close()
        self.ctx.term()


def metrics_url(cfg: config_mod.Config) -> str | None:
    port = cfg.monitoring.strategy_metrics_port
    return f"http://127.0.0.1:{port}/metrics" if port else None


def _complete(v: View, no_metrics: bool) -> bool:
    """Book, health and strategy figures heard (what `--once` waits for)."""
    return v.book is not None and v.health is not None and (no_metrics or bool(v.metrics))


def run(cfg: config_mod.Config, once: bool, seconds: float | None, console: Console) -> int:
    view = View(cfg.symbol.name)
    src = Sources(cfg, metrics_url(cfg))
    try:
        if once:
            deadline = time.monotonic() + (seconds if seconds is not None else 5.0)
            next_scrape = 0.0
            while time.monotonic() < deadline and not _complete(view, src.metrics_url is None):
                if time.monotonic() >= next_scrape:
                    next_scrape = time.monotonic() + 0.5
                    src.scrape(view)
                src.poll(view, 100)
            end = time.monotonic() + 0.3  # what is in flight (state changes come only on a change)
            while time.monotonic() < end:
                src.poll(view, 50)
            console.print(render(view, time.time_ns()))
            return 0
        end = None if seconds is None else time.monotonic() + seconds
        next_scrape = 0.0
        with Live(render(view, time.time_ns()), console=console, refresh_per_second=4) as live:
            while end is None or time.monotonic() < end:
                if time.monotonic() >= next_scrape:
                    next_scrape = time.monotonic() + 1.0
                    src.scrape(view)
                src.poll(view, 250)
                live.update(render(view, time.time_ns()))
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        src.close()


def cmd_monitor(args: argparse.Namespace) -> int:
    try:
        cfg = config_mod.load(args.config)
    except config_mod.ConfigError as e:
        print(e, file=sys.stderr)
        return 2
    console = Console(width=args.width) if args.once else Console()
    return run(cfg, args.once, args.seconds, console)


def add_parser(sub: Any) -> None:
    from flashcrash.launcher import REPO

    m = sub.add_parser("monitor", help="live view of the running engine and strategy (read-only)")
    m.add_argument("--config", type=Path, default=REPO / "config" / "config.toml")
    m.add_argument("--once", action="store_true", help="print one frame to stdout and exit")
    m.add_argument(
        "--seconds", type=float, help="stop after this many seconds (with --once: the wait for data, 5)"
    )
    m.add_argument("--width", type=int, default=160, help="columns of the --once frame")
    m.set_defaults(func=cmd_monitor)
