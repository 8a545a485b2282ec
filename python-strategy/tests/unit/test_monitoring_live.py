"""`flashcrash monitor --once` against a fake engine PUB, a fake strategy PUB and a metrics endpoint
(the strategy's own `StrategyMetrics`, served by prometheus-client) on free loopback ports: the frame
shows the detector state, the top of the book, the feed's health, indicators, positions and P&L."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import pytest
import zmq
from engine_fakes import SilentEngine
from test_runner_fake_engine import ScriptedDetector

from flashcrash import cli, config, wire
from flashcrash.launcher import REPO
from flashcrash.monitoring import live
from flashcrash.monitoring.live import View, parse_metrics, render
from flashcrash.monitoring.metrics import StrategyMetrics
from flashcrash.runner import Runner


def _health(state: str) -> wire.HealthMetrics:
    zero = {f.name: 0 for f in fields(wire.HealthMetrics)}
    return wire.HealthMetrics(**{**zero, "ts_ns": time.time_ns(), "symbol": "POLUSDT", "feed_state": state,
                                 "msgs_per_sec": 321.0, "latency_p50_us": 1500.0, "latency_p99_us": 4200.0,
                                 "resync_count": 2, "started_ts_ns": time.time_ns() - 7_384 * 1_000_000_000})  # fmt: skip


class Publishers:
    """The engine's data PUB and the strategy's state PUB, repeating their messages until stopped (a
    PUB drops what it sends before a subscriber is there)."""

    def __init__(self) -> None:
        self.ctx = zmq.Context()
        self.data = self.ctx.socket(zmq.PUB)
        self.strategy = self.ctx.socket(zmq.PUB)
        self.data_port = self.data.bind_to_random_port("tcp://127.0.0.1")
        self.strategy_port = self.strategy.bind_to_random_port("tcp://127.0.0.1")
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        book = wire.OrderBookSnapshot(
            "POLUSDT", 1, 1, 777, [(0.1234, 5000.0), (0.1233, 100.0)], [(0.1236, 4200.0), (0.1237, 1.0)]
        )
        feed = wire.StateChange(time.time_ns(), "feed", "syncing", "live", "book in sync")
        det = wire.StateChange(time.time_ns(), "detector", "ALERT", "ACTIVE", "quorum held 3s")
        while not self.stop.is_set():
            self.data.send_multipart([b"book.POLUSDT", wire.encode(book)])
            self.data.send_multipart([b"health", wire.encode(_health("live"))])
            self.data.send_multipart([b"state", wire.encode(feed)])
            self.strategy.send_multipart([b"state", wire.encode(det)])
            time.sleep(0.05)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        for s in (self.data, self.strategy):
            s.close(0)
        self.ctx.term()


@pytest.fixture
def pubs() -> Iterator[Publishers]:
    p = Publishers()
    yield p
    p.close()


def test_once_shows_state_book_and_feed_health(
    tmp_path: Path, pubs: Publishers, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = config.load(REPO / "config" / "config.toml")
    metrics = StrategyMetrics("POLUSDT", cfg.initial_capital)
    metrics.serve(0)
    runner = Runner(cfg, SilentEngine(Counter({"Trade": 1234})), metrics=metrics)  # type: ignore[arg-type]
    runner.detector = ScriptedDetector(runner.detector)  # type: ignore[assignment]
    runner.step(0)  # the metrics' first update
    for name in ("config.toml", "schema.toml"):
        (tmp_path / name).write_bytes((REPO / "config" / name).read_bytes())
    (tmp_path / "local.toml").write_text(
        f'[zmq]\ndata_endpoint = "tcp://127.0.0.1:{pubs.data_port}"\n'
        f'strategy_endpoint = "tcp://127.0.0.1:{pubs.strategy_port}"\n'
        f"[monitoring]\nstrategy_metrics_port = {metrics.port}\n"
    )
    heard: list[bool] = []  # each check of the wait for the first figures
    complete = live._complete
    monkeypatch.setattr(live, "_complete", lambda v, no: heard.append(complete(v, no)) or heard[-1])
    try:
        code = cli.main(["monitor", "--config", str(tmp_path / "config.toml"), "--once", "--seconds", "10"])
    finally:
        metrics.close()
    out = capsys.readouterr().out
    assert code == 0
    assert heard and heard[-1], heard  # it stopped waiting once it had heard everything, not at 10 s
    assert "POLUSDT  detector ACTIVE for" in out
    assert "0.1234" in out and "0.1236" in out and "5000" in out  # book top
    assert "16.19 bps" in out  # spread of 0.1234 / 0.1236 over the mid
    assert "live" in out and "321" in out and "1.5 / 4.2 ms" in out  # feed health
    assert "2h 03m" in out  # the engine up since its start, 7,384 s before its health
    assert "volatility" in out and "FIRES" in out  # indicators from the metrics
    assert "price move (sigmas)" in out and "MOVES" in out  # 6 of 4.5
    assert "realized (net)" in out and "closed" in out  # P&L and breaker from the metrics
    assert "detector ALERT → ACTIVE: quorum held 3s" in out
    assert "strategy metrics:" not in out


def test_render_without_anything_says_so() -> None:
    v = View("POLUSDT")
    v.metrics_error = "http://127.0.0.1:1/metrics: connection refused"
    text = _text(v)
    assert "detector unknown" in text and "no book yet" in text and "none yet" in text
    assert "strategy metrics: http://127.0.0.1:1/metrics" in text


def test_positions_and_last_trades_from_metrics() -> None:
    body = "\n".join(
        [
            'flashcrash_strategy_lot_quantity{lot="abcdef12-0000",phase="holding"} 500.0',
            'flashcrash_strategy_lot_entry_price{lot="abcdef12-0000"} 0.954',
            'flashcrash_strategy_lot_target_price{lot="abcdef12-0000"} 0.966',
            "flashcrash_strategy_last_price 0.96",
            'flashcrash_strategy_last_trade_pnl{rank="1",reason="target"} 5.9',
            'flashcrash_strategy_last_trade_entry_price{rank="1"} 0.954',
            'flashcrash_strategy_last_trade_exit_price{rank="1"} 0.966',
            'flashcrash_strategy_last_trade_quantity{rank="1"} 500.0',
            "flashcrash_strategy_funds_available 523.35",
            "",
        ]
    )
    v = View("POLUSDT")
    v.on_metrics(parse_metrics(body), time.time_ns())
    text = _text(v)
    assert "abcdef12" in text and "holding" in text and "+3.0000" in text  # 500 x (0.96 - 0.954)
    assert "+5.9000" in text and "target" in text
    assert "funds available" in text and "523.35" in text


def _text(v: View) -> str:
    from rich.console import Console

    console = Console(width=160, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(render(v, time.time_ns()))
    return console.export_text()


def test_only_the_watched_symbols_book_is_shown() -> None:
    """A book of another symbol on the same channel does not replace the watched symbol's book."""
    v = View("POLUSDT")
    mine = wire.OrderBookSnapshot("POLUSDT", 1, 1, 7, ((0.5, 1.0),), ((0.51, 1.0),))
    other = wire.OrderBookSnapshot("BTCUSDT", 2, 2, 8, ((60000.0, 1.0),), ((60001.0, 1.0),))
    v.on_message(mine, 10)
    v.on_message(other, 20)
    assert v.book is mine and v.book_wall_ns == 10


def test_the_detector_state_is_the_one_at_one() -> None:
    """From the metrics, the detector state is the label whose gauge is 1 (the others are 0), and the
    time in it comes from `detector_state_seconds`."""
    body = "\n".join(
        [
            'flashcrash_strategy_detector_state{state="SLEEP"} 0.0',
            'flashcrash_strategy_detector_state{state="ALERT"} 0.0',
            'flashcrash_strategy_detector_state{state="ACTIVE"} 1.0',
            'flashcrash_strategy_detector_state{state="RECOVERY"} 0.0',
            'flashcrash_strategy_breaker_state{state="closed"} 0.0',
            'flashcrash_strategy_breaker_state{state="open"} 1.0',
            "flashcrash_strategy_detector_state_seconds 12.0",
            "",
        ]
    )
    v = View("POLUSDT")
    v.on_metrics(parse_metrics(body), 100 * 10**9)
    assert (v.detector, v.breaker, v.detector_since_ns) == ("ACTIVE", "open", 88 * 10**9)


def test_a_lot_still_entering_has_no_unrealized_pnl() -> None:
    """A resting entry holds nothing yet: no unrealized P&L is shown for it (a holding lot has one)."""
    body = "\n".join(
        [
            'flashcrash_strategy_lot_quantity{lot="e1234567-x",phase="entering"} 500.0',
            'flashcrash_strategy_lot_entry_price{lot="e1234567-x"} 0.954',
            "flashcrash_strategy_last_price 0.96",
            "",
        ]
    )
    v = View("POLUSDT")
    v.on_metrics(parse_metrics(body), time.time_ns())
    row = next(line for line in _text(v).splitlines() if "e1234567" in line)
    cells = [c.strip() for c in row.split("│")][1:7]  # the positions table, left of the last trades
    assert cells == ["e1234567", "entering", "500", "0.954", "-", "-"], row
