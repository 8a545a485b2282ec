"""The strategy's Prometheus metrics: the scripted crash of `test_runner_fake_engine` (real ZeroMQ
sockets) with metrics attached and served on a free loopback port; the figures move from one scrape
to the next (messages, candles, detector state, indicators, entry, trade, win rate, P&L, the
event-to-order latency of the entry); a port in use stops `flashcrash run` with one line, exit 2."""

from __future__ import annotations

import math
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import fields
from decimal import Decimal
from pathlib import Path

import pytest
from engine_fakes import SilentEngine
from prometheus_client import generate_latest
from test_runner_fake_engine import AMPLE, REPO, FakeEngine, ScriptedDetector, config_for

from flashcrash import config, wire
from flashcrash.data_client import EngineClient
from flashcrash.monitoring.live import parse_metrics
from flashcrash.monitoring.metrics import MetricsError, StrategyMetrics
from flashcrash.runner import Runner
from flashcrash.trading_engine.money import Price
from flashcrash.trading_engine.percentile import Plan
from flashcrash.trading_engine.portfolio import Lot, Phase
from flashcrash.trading_engine.position import ClosedTrade, Position

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
    assert _value(second, "price_move_sigmas") == 6.0 and _value(second, "price_move_threshold_sigmas") == 4.5
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
    # The fake engine's report (AMPLE free quote), less the entry while a report may not count it.
    assert AMPLE - Decimal("477") <= Decimal(str(_value(second, "funds_available"))) <= AMPLE
    # Event to order: the entry, timed from the receive stamp of the trade that closed its candle.
    assert _value(second, "event_to_order_seconds_count") == 1
    assert 0 <= _value(second, "event_to_order_seconds_sum") < 1.0
    assert _value(second, "breaker_state", state="closed") == 1
    assert Decimal(str(_value(second, "fees"))) == Decimal("0.1")


def test_engine_state_changes() -> None:
    m = StrategyMetrics("POLUSDT", Decimal(1000))
    m.on_state_change("feed", "live", "reconnecting")
    m.on_state_change("feed", "reconnecting", "halted")
    text = parse_metrics(generate_latest(m.registry).decode())
    assert _value(text, "engine_state", component="feed", state="halted") == 1
    assert _value(text, "engine_state", component="feed", state="reconnecting") == 0


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


# ------------------------------------------------------------------ `update` without sockets


def _metrics_runner() -> tuple[StrategyMetrics, Runner, SilentEngine]:
    cfg = config.load(REPO / "config" / "config.toml")
    client = SilentEngine()
    m = StrategyMetrics("POLUSDT", Decimal(1000))
    return m, Runner(cfg, client), client  # type: ignore[arg-type]


def _samples(m: StrategyMetrics) -> dict[str, list[tuple[dict[str, str], float]]]:
    return parse_metrics(generate_latest(m.registry).decode())


def test_drop_counters_are_mirrored_by_reason() -> None:
    """The client's malformed frames (by reason), conflated books and the guard's drops (by reason)
    become counters with the same reasons and counts, growing by the difference at each update."""
    m, runner, client = _metrics_runner()
    client.malformed.update({"payload": 3, "frame_count": 2})
    client.conflated = 7
    for _ in range(4):
        runner.detector.on_trade(S, math.nan, 1.0, True)
    runner.detector.on_book(wire.OrderBookSnapshot("POLUSDT", S, S, 1, ((2.0, 1.0),), ((1.0, 1.0),)))
    for ts in (S, S + 1, 2 * 1_760_054_400 * S, S + 2):  # a time at twice the epoch, then the market
        runner.detector.on_trade(ts, 0.2, 1.0, True)
    m.update(runner, S)
    s = _samples(m)
    assert _value(s, "malformed_total", reason="payload") == 3
    assert _value(s, "malformed_total", reason="frame_count") == 2
    assert _value(s, "conflated_total") == 7
    assert _value(s, "guard_dropped_total", reason="bad_price") == 4
    assert _value(s, "guard_dropped_total", reason="book_crossed") == 1
    assert _value(s, "guard_dropped_total", reason="time_ahead") == 1
    client.malformed["payload"] += 5
    client.conflated = 10
    m.update(runner, 2 * S)
    s = _samples(m)
    assert _value(s, "malformed_total", reason="payload") == 8
    assert _value(s, "malformed_total", reason="frame_count") == 2
    assert _value(s, "conflated_total") == 10


def test_engine_restarts_seen_in_its_health_are_counted() -> None:
    m, runner, _ = _metrics_runner()
    zero = {f.name: 0 for f in fields(wire.HealthMetrics)}
    for started in (1, 1, 2, 3, 3):
        runner.handle(
            wire.HealthMetrics(
                **{**zero, "symbol": "POLUSDT", "feed_state": "live", "started_ts_ns": started}
            )
        )
    m.update(runner, S)
    assert _value(_samples(m), "engine_restarts_total") == 2


def test_a_count_that_went_down_is_the_new_base() -> None:
    """A loop count restored lower (from a snapshot) never decrements the counter nor raises; the
    counter grows again from the new base."""
    m, runner, client = _metrics_runner()
    client.received["Trade"] = 10
    m.update(runner, S)
    client.received["Trade"] = 4
    m.update(runner, 2 * S)
    assert _value(_samples(m), "messages_total", type="Trade") == 10
    client.received["Trade"] = 6
    m.update(runner, 3 * S)
    assert _value(_samples(m), "messages_total", type="Trade") == 12


def test_drawdown_is_measured_from_the_equity_peak() -> None:
    """Equity up 100 then back to +40: the drawdown is 60 below the peak (6 % of 1000), not from the
    initial capital; the alert reads the same percentage."""
    m, runner, _ = _metrics_runner()
    runner.strategy.position._done_realized = Decimal(100)
    m.update(runner, S)
    runner.strategy.position._done_realized = Decimal(40)
    m.update(runner, 2 * S)
    s = _samples(m)
    assert _value(s, "equity") == 1040 and _value(s, "drawdown") == 60
    assert _value(s, "drawdown_pct") == pytest.approx(6.0) and m.drawdown_of_capital_pct == pytest.approx(6.0)


def _closed(i: int, pnl: str, reason: str) -> ClosedTrade:
    return ClosedTrade(
        i * S, (i + 1) * S, Decimal(10), Decimal("1.0"), Decimal(i), Decimal(0), Decimal(pnl), reason
    )


def test_last_trades_rank_one_is_the_newest() -> None:
    """Of 7 closed trades the last 5 are shown, rank 1 the newest; wins and the win rate count all."""
    m, runner, _ = _metrics_runner()
    runner.strategy.position.closed.extend(_closed(i, "1" if i % 2 else "-1", f"r{i}") for i in range(1, 8))
    m.update(runner, S)
    s = _samples(m)
    ranks = {lb["rank"]: (lb["reason"], v) for lb, v in s["last_trade_pnl"]}
    assert ranks == {"1": ("r7", 1), "2": ("r6", -1), "3": ("r5", 1), "4": ("r4", -1), "5": ("r3", 1)}
    assert _value(s, "last_trade_exit_price", rank="1") == 7
    assert _value(s, "last_trade_exit_timestamp_seconds", rank="5") == 4
    assert _value(s, "trades_total") == 7 and _value(s, "wins_total") == 4
    assert _value(s, "win_rate") == pytest.approx(4 / 7)


def test_a_lot_that_changes_phase_or_closes_leaves_no_stale_series() -> None:
    """A lot's quantity series is labelled with its phase: when the phase changes the old series goes,
    and when the lot is gone all its series go."""
    m, runner, _ = _metrics_runner()
    plan = Plan(Price(Decimal("0.95")), Price(Decimal("0.97")), 0.9, 1.0)
    lot = Lot("lot-1", plan, Decimal(100), 0, 50.0, Position())
    runner.strategy.position.lots["lot-1"] = lot
    m.update(runner, S)
    assert [lb for lb, _ in _samples(m)["lot_quantity"]] == [{"lot": "lot-1", "phase": "entering"}]
    lot.phase = Phase.HOLDING
    m.update(runner, 2 * S)
    assert [lb for lb, _ in _samples(m)["lot_quantity"]] == [{"lot": "lot-1", "phase": "holding"}]
    del runner.strategy.position.lots["lot-1"]
    m.update(runner, 3 * S)
    s = _samples(m)
    for name in ("lot_quantity", "lot_entry_price", "lot_target_price"):
        assert s.get(name, []) == [], name
    assert _value(s, "open_positions") == 0


def test_batch_max_is_the_largest_since_the_previous_update() -> None:
    """`zmq_batch_messages_max` reports the runner's largest batch, then the runner starts over."""
    m, runner, _ = _metrics_runner()
    runner.batch_last, runner.batch_max = 3, 50
    m.update(runner, S)
    assert _value(_samples(m), "zmq_batch_messages_max") == 50 and runner.batch_max == 0
    m.update(runner, 2 * S)
    assert _value(_samples(m), "zmq_batch_messages_max") == 0


def test_a_negative_order_latency_counts_as_zero() -> None:
    """Clocks of two processes can disagree: a latency below zero is observed as 0 s."""
    m = StrategyMetrics("POLUSDT", Decimal(1000))
    m.observe_order_latency(-0.5)
    s = _samples(m)
    assert _value(s, "event_to_order_seconds_count") == 1
    assert _value(s, "event_to_order_seconds_sum") == 0.0
    assert _value(s, "event_to_order_seconds_bucket", le="0.0005") == 1
