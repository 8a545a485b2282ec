"""The strategy's run loop against a fake engine on real ZeroMQ sockets (random loopback ports): a
scripted crash goes out on the data channel, the strategy's PlaceOrder comes back on the command
channel, fills go out on the responses channel, and the position and summary follow.

The detector's state and readings are scripted (ACTIVE, every indicator at full strength): this test
is about the loop, the strategy and the order manager; the detector has its own tests."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import zmq

from flashcrash import config, wire
from flashcrash.data_client import EngineClient
from flashcrash.event_detector import State
from flashcrash.event_detector.readings import Indicator, Pattern, Reading, Readings
from flashcrash.runner import Runner

REPO = Path(__file__).resolve().parents[3]
S = 1_000_000_000


class FakeEngine:
    def __init__(self) -> None:
        self.ctx = zmq.Context()
        self.data = self.ctx.socket(zmq.PUB)
        self.cmds = self.ctx.socket(zmq.PULL)
        self.resp = self.ctx.socket(zmq.PUB)
        self.ports = [s.bind_to_random_port("tcp://127.0.0.1") for s in (self.data, self.cmds, self.resp)]
        for s in (self.data, self.cmds, self.resp):
            s.setsockopt(zmq.LINGER, 0)

    def trade(self, sec: float, price: float, tid: int, qty: float = 100.0) -> None:
        ts = int(sec * S)
        t = wire.Trade("POLUSDT", ts, ts, tid, price, qty, "buy")
        self.data.send_multipart([b"trade.POLUSDT", wire.encode(t)])

    def command(self, timeout: float = 5.0) -> object:
        assert self.cmds.poll(int(timeout * 1000)), "no command from the strategy"
        return wire.decode(self.cmds.recv())

    def fill(self, cmd: wire.PlaceOrder, price: str, tid: int) -> None:
        """Accepts `cmd` (resting) and fills it whole as maker."""
        placed = wire.OrderPlaced(
            cmd.command_id, 1, cmd.client_order_id, f"P-{tid}", cmd.symbol, cmd.side, cmd.order_type,
            cmd.time_in_force, cmd.quantity, cmd.price, "NEW",
        )  # fmt: skip
        ex = wire.OrderExecution(
            cmd.command_id, 1, cmd.client_order_id, f"P-{tid}", cmd.symbol, cmd.side, tid,
            Decimal(price), cmd.quantity, cmd.quantity, cmd.quantity, "FILLED", "maker", Decimal("0.05"), "USDT",
        )  # fmt: skip
        for m in (placed, ex):
            self.resp.send_multipart([b"resp", wire.encode(m)])

    def close(self) -> None:
        for s in (self.data, self.cmds, self.resp):
            s.close()
        self.ctx.term()


class ScriptedDetector:
    """The real detector, except for the state and readings the strategy sees."""

    def __init__(self, real: object) -> None:
        self._real = real
        self.state = State.ACTIVE

    def readings(self) -> Readings:
        by = {i: Reading(i, 1.0, 1.0, True, 1.0) for i in Indicator}
        return Readings(0, by, Pattern.NONE, 1.0, 1e6)

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)


def config_for(tmp_path: Path, eng: FakeEngine, persistence: str = "") -> config.Config:
    """The repository's config copied to `tmp_path`, layered with the fake engine's endpoints and
    `[persistence]` report_dir under `tmp_path` plus the `persistence` lines given."""
    for name in ("config.toml", "schema.toml"):
        (tmp_path / name).write_bytes((REPO / "config" / name).read_bytes())
    d, c, r = eng.ports
    (tmp_path / "local.toml").write_text(
        f'[zmq]\ndata_endpoint = "tcp://127.0.0.1:{d}"\ncommand_endpoint = "tcp://127.0.0.1:{c}"\n'
        f'response_endpoint = "tcp://127.0.0.1:{r}"\n[persistence]\nreport_dir = "{tmp_path / "reports"}"\n'
        + persistence
    )
    return config.load(tmp_path / "config.toml")


def test_scripted_crash_round_trip(tmp_path: Path) -> None:
    eng = FakeEngine()
    cfg = config_for(tmp_path, eng)
    client = EngineClient(cfg.zmq, "POLUSDT")
    runner = Runner(cfg, client)
    runner.detector = ScriptedDetector(runner.detector)  # type: ignore[assignment]
    stop: list[str] = []
    thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    thread.start()
    try:
        time.sleep(0.5)  # subscriptions reach the publisher
        tid = 1
        for sec in range(1000, 1030):  # calm
            eng.trade(sec, 1.0, tid)
            tid += 1
        eng.trade(1030.2, 0.95, tid)  # -5 %: the new local low
        eng.trade(1031.1, 0.95, tid + 1)  # closes the crash second
        eng.trade(1031.5, 0.97, tid + 2, qty=1000.0)  # bullish candle 1031 (0.95 -> 0.97), high volume
        eng.trade(1032.1, 0.97, tid + 3)  # closes candle 1031: entry
        buy = eng.command()
        # Window 0.95 .. 0.97: limit buy at 0.95 + 0.2 x 0.02, target at 0.95 + 0.8 x 0.02.
        assert isinstance(buy, wire.PlaceOrder) and buy.side == "BUY" and buy.order_type == "LIMIT"
        assert buy.price == Decimal("0.9540") and buy.quantity == cfg.symbol.order_quantity
        eng.fill(buy, "0.9540", 1)
        target = eng.command()
        assert isinstance(target, wire.PlaceOrder) and target.side == "SELL" and target.order_type == "LIMIT"
        assert target.price == Decimal("0.9660") and target.quantity == buy.quantity
        eng.trade(1032.5, 0.97, tid + 4)
        eng.fill(target, "0.9660", 2)
        time.sleep(0.3)
    finally:
        stop.append("TEST")
        thread.join(timeout=10)
    summary = runner.write(tmp_path / "summary.json")
    client.close()
    eng.close()
    assert not thread.is_alive()
    assert summary["orders"] == {
        "sent": 2, "placed": 2, "fills": 2, "errors": 0, "cancel_too_late": 0, "timeouts": 0, "cancels": 0,
        "queries": 0, "resends": 0,
    }  # fmt: skip
    assert summary["pnl"]["trades"] == 1
    # 500 x (0.966 - 0.954) - 2 x 0.05 fees = 5.90
    assert Decimal(summary["pnl"]["net_pnl"]) == Decimal("5.90")
    assert summary["trades"][0]["exit_reason"] == "target"
    assert summary["decisions"]["taken"] == 1
    assert summary["risk"]["breaker"] == "closed"
    assert (tmp_path / "summary.json").exists()
    assert summary["report_png"] and Path(summary["report_png"]).exists()


def test_the_runner_builds_the_breaker_and_the_risk_limits_from_the_config(tmp_path: Path) -> None:
    # Every [risk] value moved off the shipped one: the breaker, the order timeouts, the emergency
    # stops and the order size are the configured ones, not defaults that happen to match.
    eng = FakeEngine()
    base = config_for(tmp_path, eng)
    risk = replace(
        base.risk,
        breaker_failures=base.risk.breaker_failures + 2,
        breaker_open_secs=base.risk.breaker_open_secs + 7,
        order_timeout_ms=base.risk.order_timeout_ms + 250,
        max_latency_ms=base.risk.max_latency_ms + 100,
    )
    cfg = replace(base, risk=risk)
    client = EngineClient(cfg.zmq, "POLUSDT")
    try:
        runner = Runner(cfg, client)
        breaker = runner.orders.breaker
        assert (breaker.max_failures, breaker.open_ns) == (risk.breaker_failures, risk.breaker_open_secs * S)
        assert runner.orders.timeout_ns == risk.order_timeout_ms * 1_000_000
        assert runner.strategy.risk is risk
        assert runner.strategy.stops.max_latency_us == risk.max_latency_ms * 1000
        assert runner.strategy.quantity.value == cfg.symbol.order_quantity
    finally:
        client.close()
        eng.close()
