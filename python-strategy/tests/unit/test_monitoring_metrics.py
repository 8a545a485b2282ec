"""The strategy's Prometheus metrics: the scripted crash of `test_runner_fake_engine` (real ZeroMQ
sockets) with metrics attached and served on a free loopback port; the figures move from one scrape
to the next (messages, candles, detector state, indicators, entry, trade, win rate, P&L, the
event-to-order latency of the entry); a port in use stops `flashcrash run` with one line, exit 2."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from test_runner_fake_engine import REPO, FakeEngine, ScriptedDetector, config_for

from flashcrash import config, wire
from flashcrash.data_client import EngineClient
from flashcrash.monitoring.live import parse_metrics
from flashcrash.monitoring.metrics import MetricsError, StrategyMetrics
from flashcrash.runner import Runner

S = 1_000_000_000


def _scrape(port: int) -> dict[str, list[tuple[dict[str, str], float]]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
        return parse_metrics(r.read().decode())


def _value(samples: dict, name: str, **labels: str) -> float:
    for lb, v in samples.get(name, []):
        if all(lb.get(k) == want for k, want in labels.items()):
            return v
    raise KeyError(f"{name} {labels} not in the metrics")


def _trade(eng: FakeEngine, sec: float, price: float, tid: int, qty: float = 100.0) -> None:
    """A trade stamped as received now (the event-to-order latency starts there)."""
    t = wire.Trade("POLUSDT", int(sec * S), time.time_ns(), tid, price, qty, "buy")
    eng.data.send_multipart([b"trade.POLUSDT", wire.encode(t)])


def _wait(cond: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.05)


def test_metrics_follow_a_scripted_crash(tmp_path: Path) -> None:
    eng = FakeEngine()
    cfg = config_for(tmp_path, eng)
    client = EngineClient(cfg.zmq, "POLUSDT")
    metrics = StrategyMetrics("POLUSDT", cfg.initial_capital)
    metrics.serve(0)
    port = metrics.port
    assert port
    runner = Runner(cfg, client, metrics=metrics)
    runner.detector = ScriptedDetector(runner.detector)  # type: ignore[assignment]
    stop: list[str] = []
    thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    thread.start()
    try:
        time.sleep(0.5)  # subscriptions reach the publisher
        tid = 1
        for sec in range(1000, 1010):
            _trade(eng, sec, 1.0, tid)
            tid += 1
        _wait(lambda: _value(_scrape(port), "candles_total") >= 9)
        first = _scrape(port)
        for sec in range(1010, 1030):  # calm
            _trade(eng, sec, 1.0, tid)
            tid += 1
        _trade(eng, 1030.2, 0.95, tid)  # the new local low
        _trade(eng, 1031.1, 0.95, tid + 1)
        _trade(eng, 1031.5, 0.97, tid + 2, qty=1000.0)  # bullish, high volume
        _trade(eng, 1032.1, 0.97, tid + 3)  # closes candle 1031: entry
        buy = eng.command()
        assert isinstance(buy, wire.PlaceOrder) and buy.side == "BUY"
        eng.fill(buy, "0.9540", 1)
        target = eng.command()
        assert isinstance(target, wire.PlaceOrder) and target.side == "SELL"
        _trade(eng, 1032.5, 0.97, tid + 4)
        eng.fill(target, "0.9660", 2)
        _wait(lambda: _value(_scrape(port), "trades_total") >= 1)
        second = _scrape(port)
    finally:
        stop.append("TEST")
        thread.join(timeout=10)
        client.close()
        eng.close()
        metrics.close()
    assert not thread.is_alive()
    # Counters move between the scrapes.
    assert _value(second, "messages_total", type="Trade") > _value(first, "messages_total", type="Trade") >= 9
    assert _value(second, "candles_total") > _value(first, "candles_total")
    # The detector: one state at 1, the others at 0 (the scripted detector says ACTIVE).
    states = {lb["state"]: v for lb, v in second["detector_state"]}
    assert states["ACTIVE"] == 1 and sum(states.values()) == 1, states
    assert {lb["indicator"] for lb, _ in second["indicator_value"]} >= {"volatility", "obi", "spread"}
    assert _value(second, "indicator_fired", indicator="volatility") == 1
    assert _value(second, "entry_score") == pytest.approx(100.0)
    # The entry, the trade, the P&L: 500 x (0.966 - 0.954) - 2 x 0.05 fees = 5.90.
    assert _value(second, "entries_total") == 1
    assert _value(second, "entry_score_taken_count") == 1
    assert _value(second, "trades_total") == 1 and _value(second, "wins_total") == 1
    assert _value(second, "win_rate") == 1.0
    assert _value(second, "pnl") == pytest.approx(5.90)
    assert _value(second, "orders_total", event="fills") == 2
    assert _value(second, "rejections_total", reason="not_bullish") >= 1
    assert _value(second, "last_trade_pnl", rank="1", reason="target") == pytest.approx(5.90)
    assert _value(second, "drawdown") == 0.0
    # Event to order: the entry, timed from the receive stamp of the trade that closed its candle.
    assert _value(second, "event_to_order_seconds_count") == 1
    assert 0 <= _value(second, "event_to_order_seconds_sum") < 1.0
    assert _value(second, "breaker_state", state="closed") == 1
    assert Decimal(str(_value(second, "fees"))) == Decimal("0.1")


def test_engine_state_changes_and_a_drawdown() -> None:
    cfg = config.load(REPO / "config" / "config.toml")
    m = StrategyMetrics("POLUSDT", Decimal(1000))
    m.on_state_change("feed", "live", "reconnecting")
    m.on_state_change("feed", "reconnecting", "halted")
    text = parse_metrics(generate_latest(m.registry).decode())
    assert _value(text, "engine_state", component="feed", state="halted") == 1
    assert _value(text, "engine_state", component="feed", state="reconnecting") == 0
    assert cfg.monitoring.alert_drawdown_pct > 0


def test_a_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    with pytest.raises(MetricsError, match=rf"\[monitoring\] strategy_metrics_port {port}: cannot bind"):
        StrategyMetrics("POLUSDT", Decimal(1000)).serve(port)
    for name in ("config.toml", "schema.toml"):
        (tmp_path / name).write_bytes((REPO / "config" / name).read_bytes())
    free = []
    for _ in range(4):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        free.append(s)
    d, c, r, st = (f"tcp://127.0.0.1:{s.getsockname()[1]}" for s in free)
    for s in free:
        s.close()
    (tmp_path / "local.toml").write_text(
        f'[zmq]\ndata_endpoint = "{d}"\ncommand_endpoint = "{c}"\nresponse_endpoint = "{r}"\n'
        f'strategy_endpoint = "{st}"\n[monitoring]\nstrategy_metrics_port = {port}\n'
        f'[persistence]\nreport_dir = "{tmp_path}"\ndb_path = "{tmp_path / "f.db"}"\n'
    )
    try:
        done = subprocess.run(
            [sys.executable, "-m", "flashcrash", "run", "--config", str(tmp_path / "config.toml")],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        taken.close()
    err = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(err) == 1 and f"strategy_metrics_port {port}: cannot bind" in err[0], err
