"""The strategy's run loop against a fake engine on real ZeroMQ sockets (random loopback ports): a
scripted crash goes out on the data channel, the strategy's PlaceOrder comes back on the command
channel, fills go out on the responses channel, and the position and summary follow."""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from pathlib import Path

import zmq

from flashcrash import config, wire
from flashcrash.data_client import EngineClient
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

    def trade(self, sec: float, price: float, tid: int) -> None:
        ts = int(sec * S)
        t = wire.Trade("POLUSDT", ts, ts, tid, price, 100.0, "buy")
        self.data.send_multipart([b"trade.POLUSDT", wire.encode(t)])

    def command(self, timeout: float = 5.0) -> object:
        assert self.cmds.poll(int(timeout * 1000)), "no command from the strategy"
        return wire.decode(self.cmds.recv())

    def fill(self, cmd: wire.PlaceOrder, price: str, tid: int) -> None:
        placed = wire.OrderPlaced(
            cmd.command_id, 1, cmd.client_order_id, f"P-{tid}", cmd.symbol, cmd.side, "MARKET", None,
            cmd.quantity, None, "FILLED",
        )  # fmt: skip
        ex = wire.OrderExecution(
            cmd.command_id, 1, cmd.client_order_id, f"P-{tid}", cmd.symbol, cmd.side, tid,
            Decimal(price), cmd.quantity, cmd.quantity, cmd.quantity, "FILLED", "taker", Decimal("0.05"), "USDT",
        )  # fmt: skip
        for m in (placed, ex):
            self.resp.send_multipart([b"resp", wire.encode(m)])

    def close(self) -> None:
        for s in (self.data, self.cmds, self.resp):
            s.close()
        self.ctx.term()


def test_scripted_crash_round_trip(tmp_path: Path) -> None:
    eng = FakeEngine()
    for name in ("config.toml", "schema.toml"):
        (tmp_path / name).write_bytes((REPO / "config" / name).read_bytes())
    d, c, r = eng.ports
    (tmp_path / "local.toml").write_text(
        f'[zmq]\ndata_endpoint = "tcp://127.0.0.1:{d}"\ncommand_endpoint = "tcp://127.0.0.1:{c}"\n'
        f'response_endpoint = "tcp://127.0.0.1:{r}"\n[persistence]\nreport_dir = "{tmp_path / "reports"}"\n'
    )
    cfg = config.load(tmp_path / "config.toml")
    client = EngineClient(cfg.zmq, "POLUSDT")
    runner = Runner(cfg, client)
    stop: list[str] = []
    thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    thread.start()
    try:
        time.sleep(0.5)  # subscriptions reach the publisher
        tid = 1
        for sec in range(1000, 1030):  # calm
            eng.trade(sec, 1.0, tid)
            tid += 1
        eng.trade(1030.2, 0.95, tid)  # -5 %: ACTIVE when this second closes
        eng.trade(1031.1, 0.95, tid + 1)  # bearish/flat candle closes the crash second
        eng.trade(1031.5, 0.96, tid + 2)  # bullish candle 1031 (0.95 -> 0.96)
        eng.trade(1032.1, 0.96, tid + 3)  # closes candle 1031: entry
        buy = eng.command()
        assert isinstance(buy, wire.PlaceOrder) and buy.side == "BUY" and buy.order_type == "MARKET"
        assert buy.quantity == cfg.symbol.order_quantity
        eng.fill(buy, "0.96", 1)
        time.sleep(0.3)
        eng.trade(1033.0, 0.9700, tid + 4)  # +1.04 %: take profit
        sell = eng.command()
        assert isinstance(sell, wire.PlaceOrder) and sell.side == "SELL" and sell.quantity == buy.quantity
        eng.fill(sell, "0.97", 2)
        time.sleep(0.3)
    finally:
        stop.append("TEST")
        thread.join(timeout=10)
    summary = runner.write(tmp_path / "summary.json")
    client.close()
    eng.close()
    assert not thread.is_alive()
    assert summary["orders"] == {"sent": 2, "placed": 2, "fills": 2, "errors": 0, "timeouts": 0}
    assert summary["pnl"]["trades"] == 1
    # 500 x (0.97 - 0.96) - 2 x 0.05 fees = 4.90
    assert Decimal(summary["pnl"]["net_pnl"]) == Decimal("4.90")
    assert summary["trades"][0]["exit_reason"] == "take_profit"
    assert any(t["to"] == "ACTIVE" for t in summary["detector"]["transitions"])
    assert (tmp_path / "summary.json").exists()
    assert summary["report_png"] and Path(summary["report_png"]).exists()
