"""Strategy-side benchmarks (issue 5), over real POLUSDT trades (data/, 21:05-21:25 UTC of the
10 Oct 2025 crash) with the backtest's synthetic book (the model exchange-sim serves in the demo) every
100 ms of event time, 20 levels a side:

a. per-event cost (ns/event, one core) of the detector alone, and of the whole `Runner.handle`
   (guard, jitter buffer, detector, candles, strategy, paper orders to a stub client);
b. sustained throughput of the real receive + handle path: a ZeroMQ PUB (in a child process) publishes
   the replay's frames at a fixed rate to the real `EngineClient.poll` + `Runner.handle`; for each rate
   the run reports whether every trade was handled by the end of the publishing window plus 100 ms
   (no backlog), the books conflated by the client, and any trade lost (must be 0);
c. tick-to-decision latency at 2,000 msg/s: each frame's `local_ts_ns` is set at send time
   (`time.time_ns()`); latency = end of its `Runner.handle` minus that stamp; p50/p99/max. Beside it,
   the strategy's own part (the client hands the message over -> end of `Runner.handle`), and the
   transport's floor: the same publisher and client with no strategy (what ZeroMQ between two
   processes costs on this machine, whatever the strategy does).

Prints the figures and writes JSON to `--out`. Run by `make bench` (scripts/bench.sh).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing as mp
import statistics
import time
from pathlib import Path
from typing import Any

import zmq
from flashcrash import wire
from flashcrash.backtest.book import BookParams, with_books
from flashcrash.backtest.commands import window
from flashcrash.config import ZmqConfig, load
from flashcrash.data_client.client import EngineClient
from flashcrash.event_detector import Detector
from flashcrash.launcher import free_ports
from flashcrash.marketdata import load_trades
from flashcrash.runner import Runner, quiet_gc

REPO = Path(__file__).resolve().parents[1]
POL = REPO / "data" / "binance_trades_2025-10-10_POLUSDT_2045-2145.csv.gz"
SYMBOL = "POLUSDT"
S = 1_000_000_000
TICK = 0.0001
STEP = 0.1
DAY = 1760054400  # 2025-10-10 00:00 UTC
SPIN_S = 0.0001  # the publisher spins only the last 100 us before a frame is due


def replay(start: str, end: str) -> list[wire.Trade | wire.OrderBookSnapshot]:
    """Real trades between `start` and `end` (HH:MM), with the backtest's synthetic book
    (`flashcrash.backtest.book`, the configuration's tick, step and seed) at every 100 ms boundary."""
    a = (DAY + int(start[:2]) * 3600 + int(start[3:]) * 60) * S
    b = (DAY + int(end[:2]) * 3600 + int(end[3:]) * 60) * S
    trades, _, _ = load_trades(POL, None)
    return list(with_books(window(trades, a, b), BookParams(TICK, STEP, 20, 1), SYMBOL))


class StubClient:
    """The runner's client for in-process runs: commands are accepted and dropped."""

    def __init__(self) -> None:
        self.sent = 0

    def send(self, msg: object) -> bool:
        self.sent += 1
        return True


def per_event(
    events: list[wire.Trade | wire.OrderBookSnapshot], cfg: Any
) -> dict[str, float]:
    d = Detector(cfg.event_detection)
    t0 = time.perf_counter_ns()
    for e in events:
        if isinstance(e, wire.Trade):
            d.on_trade(e.exchange_ts_ns, e.price, e.quantity, e.aggressor == "buy")
        else:
            d.on_book(e)
    det_ns = (time.perf_counter_ns() - t0) / len(events)
    runner = Runner(cfg, StubClient(), None)  # type: ignore[arg-type]
    t0 = time.perf_counter_ns()
    for e in events:
        runner.handle(e)
    handle_ns = (time.perf_counter_ns() - t0) / len(events)
    return {
        "events": len(events),
        "detector_ns_per_event": round(det_ns),
        "runner_handle_ns_per_event": round(handle_ns),
        "strategy_and_rest_ns_per_event": round(handle_ns - det_ns),
        "detector_transitions": len(d.transitions),
        "orders_sent": runner.client.send.__self__.sent,  # type: ignore[attr-defined]
    }


def _topic(m: wire.Trade | wire.OrderBookSnapshot) -> bytes:
    return f"{'trade' if isinstance(m, wire.Trade) else 'book'}.{SYMBOL}".encode()


def publisher(
    endpoint: str, frames: list[tuple[bytes, bytes]], rate: float, stamp: bool, go: Any
) -> None:
    """Publishes `frames` at `rate` msg/s (paced in 1 ms slices). With `stamp`, each frame is
    re-encoded with `local_ts_ns` = its send time."""
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.SNDHWM, 0)
    pub.bind(endpoint)
    go.wait()
    time.sleep(0.5)  # the subscription reaches the publisher
    t0 = time.perf_counter()
    for i, (topic, payload) in enumerate(frames):
        due = t0 + i / rate
        # Sleeps most of the gap: a publisher spinning all the time would take one of two cores.
        ahead = due - time.perf_counter()
        if ahead > SPIN_S:
            time.sleep(ahead - SPIN_S)
        while time.perf_counter() < due:
            pass
        if stamp:
            m = wire.decode(payload)
            payload = wire.encode(dataclasses.replace(m, local_ts_ns=time.time_ns()))
        pub.send_multipart([topic, payload])
    time.sleep(2.0)
    pub.close(linger=5000)
    ctx.term()


def through_zmq(
    events: list[wire.Trade | wire.OrderBookSnapshot],
    cfg: Any,
    rate: float,
    count: int,
    stamp: bool,
    strategy: bool = True,
) -> dict[str, Any]:
    """Publishes `count` events at `rate` to the real `EngineClient.poll` + `Runner.handle`. With
    `stamp`, also the latencies: send -> decision, and receive (the client hands the message over) ->
    decision; without `strategy`, the messages are only received (the transport's floor)."""
    frames = [(_topic(m), wire.encode(m)) for m in events[:count]]
    trades_sent = sum(1 for t, _ in frames if t.startswith(b"trade"))
    ends = [f"tcp://127.0.0.1:{port}" for port in free_ports(4)]
    go = mp.get_context("fork").Event()
    proc = mp.get_context("fork").Process(
        target=publisher, args=(ends[0], frames, rate, stamp, go)
    )
    proc.start()
    client = EngineClient(ZmqConfig(*ends), SYMBOL)
    client.data.setsockopt(zmq.RCVHWM, 0)
    runner = Runner(cfg, client, None)
    client.send = StubClient().send  # type: ignore[method-assign]
    go.set()
    latencies: list[int] = []
    own: list[int] = []  # receive -> decision
    trades = books = 0
    first = last = 0.0
    deadline = time.perf_counter() + count / rate + 15
    try:
        while trades < trades_sent and time.perf_counter() < deadline:
            for msg in client.poll(100):
                if isinstance(msg, wire.StateChange):
                    continue
                received = time.time_ns()
                if strategy:
                    runner.handle(msg)
                done = time.time_ns()
                if isinstance(msg, wire.Trade):
                    trades += 1
                elif isinstance(msg, wire.OrderBookSnapshot):
                    books += 1
                else:
                    continue
                if not first:
                    first = time.perf_counter()
                last = time.perf_counter()
                if stamp:
                    latencies.append(done - msg.local_ts_ns)  # type: ignore[union-attr]
                    own.append(done - received)
    finally:
        proc.join(timeout=count / rate + 10)
        client.close()
    window = count / rate
    took = last - first if first else float("nan")
    out: dict[str, Any] = {
        "rate_msg_s": rate,
        "sent": count,
        "trades_sent": trades_sent,
        "trades_handled": trades,
        "books_handled": books,
        "books_conflated": client.conflated,
        "trades_lost": trades_sent - trades,
        "publish_window_s": round(window, 3),
        "handled_in_s": round(took, 3),
        "handled_msg_s": round((trades + books + client.conflated) / took)
        if took > 0
        else 0,
        "keeps_up": trades == trades_sent and took <= window + 0.1,
    }
    if latencies:
        out |= _percentiles("latency", latencies)
        if strategy:
            out |= _percentiles("own_latency", own)
    return out


def _percentiles(name: str, ns: list[int]) -> dict[str, float]:
    us = sorted(x / 1000 for x in ns)
    return {
        f"{name}_p50_us": round(statistics.median(us), 1),
        f"{name}_p99_us": round(us[int(0.99 * (len(us) - 1))], 1),
        f"{name}_max_us": round(us[-1], 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default="10000,25000,50000,100000")
    ap.add_argument(
        "--secs", type=float, default=3.0, help="publishing window per rate"
    )
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    import logging

    logging.disable(logging.INFO)  # the strategy's decisions would dominate the measure
    cfg = load(REPO / "config" / "config.toml")
    events = replay("21:05", "21:25")
    quiet_gc()  # as `Runner.run` sets it in `flashcrash run`
    result: dict[str, Any] = {"per_event": per_event(events, cfg)}
    pe = result["per_event"]
    print(
        f"per event over {pe['events']:,} real trades + synthetic books (21:05-21:25, crash included)"
    )
    print(f"  detector            {pe['detector_ns_per_event']:>8,} ns/event")
    print(
        f"  Runner.handle       {pe['runner_handle_ns_per_event']:>8,} ns/event (detector included)"
    )
    print(f"  strategy and rest   {pe['strategy_and_rest_ns_per_event']:>8,} ns/event")
    result["throughput"] = []
    print(
        "throughput over ZeroMQ (PUB in a child process -> EngineClient.poll + Runner.handle)"
    )
    for rate in (float(r) for r in args.rates.split(",")):
        n = min(len(events), int(rate * args.secs))
        r = through_zmq(events, cfg, rate, n, stamp=False)
        result["throughput"].append(r)
        print(
            f"  {rate:>9,.0f} msg/s: {'keeps up' if r['keeps_up'] else 'BACKLOG'}; {r['sent']:,} sent in "
            f"{r['publish_window_s']} s, handled in {r['handled_in_s']} s ({r['handled_msg_s']:,} msg/s); "
            f"books conflated {r['books_conflated']:,}, trades lost {r['trades_lost']}"
        )
    lat = through_zmq(events, cfg, 2000.0, 10_000, stamp=True)
    floor = through_zmq(events, cfg, 2000.0, 10_000, stamp=True, strategy=False)
    result["latency_2000"] = lat
    result["transport_floor_2000"] = floor
    print(
        f"tick-to-decision at 2,000 msg/s ({lat['sent']:,} messages): p50 {lat.get('latency_p50_us')} us, "
        f"p99 {lat.get('latency_p99_us')} us, max {lat.get('latency_max_us')} us"
    )
    print(
        f"  of which receive -> decision (the strategy's own): p50 {lat.get('own_latency_p50_us')} us, "
        f"p99 {lat.get('own_latency_p99_us')} us, max {lat.get('own_latency_max_us')} us"
    )
    print(
        f"  transport floor (same publisher and client, no strategy): p50 {floor.get('latency_p50_us')} us, "
        f"p99 {floor.get('latency_p99_us')} us, max {floor.get('latency_max_us')} us"
    )
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
