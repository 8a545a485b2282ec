"""Order round trip: a `PlaceOrder` sent by Python on the command channel until its `OrderPlaced` is
received by Python on the responses channel, in paper mode and in real mode against exchange-sim's
signed order API (engine in release build, both on loopback).

Each order is a LIMIT bid far below the market (it rests: no fill) followed by its cancel, one order
in flight at a time, `--orders` per mode after `--warmup` unmeasured ones. The venue's order limits
are raised so the rate limiter never holds an order back (that would measure the limiter, not the
path). Prints p50/p99/max per mode and writes JSON to `--out`.

Run by `make bench` (scripts/bench.sh).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgpack
import zmq
from flashcrash.launcher import REPO, Session, SimSpec

# exchange-sim's default account: the example HMAC key pair of Binance's REST API documentation.
SIM_ENV = {
    "BINANCE_API_KEY": "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
    "BINANCE_API_SECRET": "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j",
}
CALM = ("2025-10-10T20:50:00Z", "2025-10-10T21:00:00Z")
NO_LIMITS = (
    "--order-limit-10s",
    "1000000",
    "--order-limit-1d",
    "100000000",
    "--weight-limit",
    "10000000",
)


def percentile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


class Channel:
    def __init__(self, session: Session) -> None:
        ctx = zmq.Context.instance()
        self.push, self.sub = ctx.socket(zmq.PUSH), ctx.socket(zmq.SUB)
        for s in (self.push, self.sub):
            s.setsockopt(zmq.LINGER, 0)
        self.push.connect(session.endpoint("command"))
        self.sub.connect(session.endpoint("response"))
        self.sub.setsockopt(zmq.SUBSCRIBE, b"resp")

    def close(self) -> None:
        self.push.close()
        self.sub.close()

    def ask(
        self, cmd: dict[str, Any], want: str, timeout: float = 10.0
    ) -> tuple[dict[str, Any], int]:
        """Sends `cmd`; returns the first response to it and the round trip in ns."""
        t0 = time.perf_counter_ns()
        self.push.send(msgpack.packb(cmd))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.sub.poll(100):
                _, body = self.sub.recv_multipart()
                t1 = time.perf_counter_ns()
                msg = msgpack.unpackb(body, raw=False)
                if msg.get("command_id") == cmd["command_id"]:
                    if msg["type"] != want:
                        raise RuntimeError(f"{cmd['command_id']}: {msg}")
                    return msg, t1 - t0
        raise TimeoutError(f"no answer to {cmd['command_id']}")


def place(cid: str) -> dict[str, Any]:
    return {
        "type": "PlaceOrder", "command_id": cid, "ts_ns": time.time_ns(), "client_order_id": cid,
        "symbol": "POLUSDT", "side": "BUY", "order_type": "LIMIT", "time_in_force": "GTC",
        "quantity": "100", "price": "0.1000",
    }  # fmt: skip


def cancel(cid: str) -> dict[str, Any]:
    return {
        "type": "CancelOrder", "command_id": f"x{cid}", "ts_ns": time.time_ns(),
        "symbol": "POLUSDT", "client_order_id": cid,
    }  # fmt: skip


def wait_ready(ch: Channel, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    n = 0
    while time.monotonic() < deadline:
        n += 1
        try:
            ch.ask({"type": "RequestSnapshot", "command_id": f"ready-{n}", "ts_ns": 1, "symbol": "POLUSDT"},
                   "Success", timeout=1.0)  # fmt: skip
            return
        except (TimeoutError, RuntimeError):
            time.sleep(0.2)
    raise TimeoutError("engine never ready")


def run_mode(
    real: bool, bin_dir: Path, orders: int, warmup: int
) -> dict[str, float | int]:
    overrides: dict[str, dict[str, Any]] = {"risk": {"max_open_orders": 10}}
    if real:
        overrides["execution"] = {"mode": "real"}
    spec = SimSpec(speed="1", start=CALM[0], end=CALM[1], extra_args=NO_LIMITS)
    session = Session(
        config=REPO / "config" / "config.toml",
        bin_dir=bin_dir,
        sim=spec,
        overrides=overrides,
        env=SIM_ENV if real else {},
        confirm_real=real,
        strategy=False,
    )
    rtts: list[float] = []
    with session:
        ch = Channel(session)
        try:
            wait_ready(ch)
            for i in range(warmup + orders):
                cid = f"{'r' if real else 'p'}{i}"
                _, ns = ch.ask(place(cid), "OrderPlaced")
                ch.ask(cancel(cid), "OrderCanceled")
                if i >= warmup:
                    rtts.append(ns / 1_000.0)
        finally:
            ch.close()
    return {
        "orders": len(rtts),
        "p50_us": round(statistics.median(rtts), 1),
        "p99_us": round(percentile(rtts, 0.99), 1),
        "max_us": round(max(rtts), 1),
        "mean_us": round(statistics.fmean(rtts), 1),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--orders", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument(
        "--bin-dir", type=Path, default=REPO / "rust-engine" / "target" / "release"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=REPO
        / "bench"
        / "results"
        / f"{datetime.now(UTC):%Y-%m-%dT%H%M%SZ}-order_roundtrip.json",
        help="results file (default bench/results/<time>-order_roundtrip.json)",
    )
    args = p.parse_args()
    results = {
        mode: run_mode(mode == "real", args.bin_dir, args.orders, args.warmup)
        for mode in ("paper", "real")
    }
    print(
        "order round trip (PlaceOrder sent by Python -> OrderPlaced received by Python)"
    )
    print(f"{'mode':<6} {'orders':>7} {'p50 µs':>9} {'p99 µs':>9} {'max µs':>9}")
    for mode, r in results.items():
        print(
            f"{mode:<6} {r['orders']:>7} {r['p50_us']:>9} {r['p99_us']:>9} {r['max_us']:>9}"
        )
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
