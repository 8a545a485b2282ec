"""Monitoring across the real processes: during a short replay of the real crash, the strategy's
`/metrics` (on the session's free `strategy_metrics_port`) is scraped twice and its figures move (the
engine's `/metrics`, on `engine_metrics_port`, is scraped beside it: feed live, messages flowing);
`flashcrash monitor --once` draws the running system; `flashcrash reload` changes a limit and a
threshold in both running processes; the strategy's JSON log lines carry the `command_id` and
`client_order_id` of the orders it sent, and the engine's JSON lines carry the same ids."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

from flashcrash.launcher import REPO, Session, SimSpec, dump_toml
from flashcrash.monitoring.live import parse_metrics

pytestmark = pytest.mark.integration

CONFIG = REPO / "config" / "config.toml"
# The thin slice's window: five and a half minutes around the crash's first leg, at 20x.
CRASH = SimSpec(speed="20", start="2025-10-10T21:09:30Z", end="2025-10-10T21:15:00Z")
OVERRIDES = {
    "strategy": {"score_good": 0.0, "score_exhaustion": 0.0, "volume_multiple": 0.0, "volume_min_quote": 0.0},
    "monitoring": {"log_format": "json"},
}


def _scrape(port: int) -> dict[str, list[tuple[dict[str, str], float]]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
        return parse_metrics(r.read().decode())


def _scrape_engine(port: int) -> dict[str, list[tuple[dict[str, str], float]]]:
    """The engine's own metrics (`flashcrash_engine_*`), names kept whole."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
        return {
            k: v for k, v in parse_metrics(r.read().decode()).items() if k.startswith("flashcrash_engine_")
        }


def _flashcrash(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flashcrash", *argv], capture_output=True, text=True, timeout=60
    )


def _value(samples: dict, name: str, **labels: str) -> float:
    for lb, v in samples.get(name, []):
        if all(lb.get(k) == want for k, want in labels.items()):
            return v
    return 0.0


def test_metrics_move_monitor_draws_and_logs_carry_ids(bin_dir: Path) -> None:
    session = Session(config=CONFIG, bin_dir=bin_dir, sim=CRASH, overrides=OVERRIDES)
    with session:
        port = session.ports["strategy_metrics"]
        deadline = time.monotonic() + 60
        first: dict = {}
        while time.monotonic() < deadline:
            session.check_alive()
            first = _scrape(port)
            if _value(first, "messages_total", type="Trade") > 0 and _value(first, "candles_total") > 0:
                break
            time.sleep(0.5)
        engine_first = _scrape_engine(session.ports["engine_metrics"])
        time.sleep(2.5)
        second = _scrape(port)
        engine_second = _scrape_engine(session.ports["engine_metrics"])
        frame = _flashcrash("monitor", "--config", str(session.run_config), "--once", "--seconds", "10")
        # Configuration without restart: a [risk] limit (engine and strategy) and a [strategy] threshold.
        local = session.run_config.parent / "local.toml"
        tables = tomllib.loads(local.read_text())
        tables["risk"] = {**tables.get("risk", {}), "max_positions": 2}
        tables["strategy"] = {**tables["strategy"], "stop_loss_pct": 2.5}
        local.write_text(dump_toml(tables))
        reload_ok = _flashcrash("reload", "--config", str(session.run_config))
        tables["risk"]["max_positions"] = 0  # out of range: refused before anything is sent
        local.write_text(dump_toml(tables))
        reload_bad = _flashcrash("reload", "--config", str(session.run_config))
        # An operator's halt and its lifting, from the command line.
        halted = _flashcrash("halt", "--config", str(session.run_config), "--reason", "operator check")
        resumed = _flashcrash("resume", "--config", str(session.run_config))
        session.wait_replay_end(timeout=180)
        codes = session.stop()
    assert codes == {"strategy": 0, "engine": 0, "exchange-sim": 0}, codes
    assert session.ports_free()
    # The figures move from one scrape to the next.
    for name, labels in (("messages_total", {"type": "Trade"}), ("messages_total", {"type": "OrderBookSnapshot"}),
                         ("candles_total", {})):  # fmt: skip
        assert _value(second, name, **labels) > _value(first, name, **labels) > 0, (name, first, second)
    states = {lb["state"]: v for lb, v in second["detector_state"]}
    assert set(states) == {"SLEEP", "ALERT", "ACTIVE", "RECOVERY", "SHUTDOWN"} and sum(states.values()) == 1
    assert _value(second, "engine_state", component="feed", state="live") == 1
    assert len(second["indicator_value"]) == 8
    # Both endpoints answer during the run: the engine's feed is live and carries messages.
    for engine in (engine_first, engine_second):
        assert _value(engine, "flashcrash_engine_feed_state", state="live") == 1, engine
        assert _value(engine, "flashcrash_engine_feed_messages_per_second") > 0, engine
    # ... and its figures move too (the latency histogram need not: a replay at 20x runs its event
    # times ahead of the clock, and those are counted apart, never as latency).
    received = "flashcrash_engine_feed_messages_total"
    assert _value(engine_second, received) > _value(engine_first, received) > 0, (engine_first, engine_second)
    # The live view of the running system.
    assert frame.returncode == 0, frame.stderr
    out = frame.stdout
    assert "POLUSDT  detector " in out and "book top" in out and "spread" in out, out
    assert "│ feed " in out and "live" in out and "msgs/s" in out, out
    assert "strategy metrics:" not in out, out
    # JSON logs: one object per line, and the orders' lines carry both ids.
    log_lines = session.procs["strategy"].log_path.read_text().splitlines()
    records = [json.loads(line) for line in log_lines if line.startswith("{")]
    assert records and all({"ts", "level", "logger", "event"} <= set(r) for r in records)
    orders = [r for r in records if r["event"].startswith("order sent")]
    assert orders, "no order sent during the crash"
    assert all(len(r["command_id"]) == 36 and len(r["client_order_id"]) == 36 for r in orders)
    # One order followed across both processes: the engine's JSON lines carry the same two ids.
    engine_records = [
        json.loads(line)
        for line in session.procs["engine"].log_path.read_text().splitlines()
        if line.startswith("{")
    ]
    first_order = orders[0]
    same = [
        r
        for r in engine_records
        if json.dumps(r).count(first_order["client_order_id"])
        and json.dumps(r).count(first_order["command_id"])
    ]
    assert same, (first_order, engine_records[:5])
    # The reload: the engine applied both keys and said so; the strategy re-read the file on the
    # engine's StateChange `config` and logged each change; the invalid file changed nothing.
    assert reload_ok.returncode == 0, reload_ok.stderr
    assert "reload applied: reloaded: " in reload_ok.stdout and "risk.max_positions" in reload_ok.stdout
    assert reload_bad.returncode == 2 and "max_positions = 0" in reload_bad.stderr, reload_bad.stderr
    assert halted.returncode == 0 and "halt applied: " in halted.stdout, (halted.stdout, halted.stderr)
    assert resumed.returncode == 0 and "resume applied: " in resumed.stdout, (resumed.stdout, resumed.stderr)
    engine_log = session.procs["engine"].log_path.read_text()
    assert "operator check" in engine_log, engine_log[-3000:]
    events = [r["event"] for r in records if r["logger"] == "flashcrash.monitoring.reload"]
    assert events == [
        "config reload: [strategy] stop_loss_pct 1.5 -> 2.5",
        "config reload: [risk] max_positions 3 -> 2",
    ], events
    summary = json.loads(session.summary_path.read_text())
    assert summary["orders"]["sent"] == len(orders)
    session.cleanup()
