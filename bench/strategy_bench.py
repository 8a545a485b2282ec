"""Strategy-side benchmarks (issue 5), over real POLUSDT trades (data/, 21:05-21:25 UTC of the
10 Oct 2025 crash) with the backtest's synthetic book (the model exchange-sim serves in the demo) every
100 ms of event time, 20 levels a side (56,219 events; `bench/strategy_feed.py` builds the feeds):

a. per-event cost (ns/event, one core) of the detector alone and of `Runner.handle` on a bare runner
   (no database, metrics or publisher, logging off, commands to a stub: the lower bound, the figure
   of the history); and of the loop as `flashcrash run` builds it (`Runner.step` with its SQLite
   session, metrics, state publisher, alerts, logging at the configured level to a file), fed the
   decoded events 100 a poll from a list instead of the socket;
b. sustained throughput of the real strategy process: `python -m flashcrash run` started as the
   launcher starts it (its config layered with free ports and a temporary database, logs to a file),
   with this bench in the engine's place on its three endpoints (`StandIn`). For each rate the
   recorded events are repeated, each copy's times shifted by the span of the data (rounded up to the
   books' 100 ms) and its trade and book ids by theirs, so the feed is continuous and every trade id
   follows the one before, for `--secs` seconds (default 10) at that rate. The socket settings are
   production's: the strategy's own `EngineClient` (RCVHWM 100,000) and a publisher that drops for a
   full subscriber as the engine's does (SNDHWM: the engine's send buffer, `[zmq]
   data_send_buffer_kib`, in messages of this feed). A HealthMetrics goes out every second and the strategy's commands are answered as by an
   engine whose orders rest and never fill (balances, open orders, placed, canceled). After the last
   market message the publisher sends the engine's `StateChange` engine -> stopped: the strategy logs
   it when its loop reaches it, so every message before it has been handled by that log line's time.
   "Kept up" = the publisher offered the rate (within 1 %), every trade sent was received and handled
   by the strategy (its summary's count; no jump in the trade ids, nothing malformed), and the rate it
   handled, messages sent / (first send -> that log line), is within 1 % of the rate offered, messages
   sent / (first send -> last send): at 10 s, the strategy ended at most 0.1 s behind. Stale books may
   be conflated. Beside it, the backlog (sent, not dropped, not yet handled) at each update of the
   strategy's metrics (about once a second), the CPU of the strategy process, of its loop's thread and
   of the publisher; and a control run: the same publisher, rate and SNDHWM to an `EngineClient` alone
   in this process (receiving and decoding, no strategy), which tells the drops of the transport on
   this host from the strategy's. libzmq's PUB writes through an I/O thread where the engine writes in
   its own send, so on a busy host its queue can fill without any subscriber behind; `--sndhwm 100000`
   leaves the strategy's own queue (RCVHWM 100,000) as the only place where a message can be lost;
c. tick-to-decision latency at 2,000 msg/s in the same real process (`bench/strategy_timed.py`: the
   same `flashcrash run`, with a timestamp when `Runner.handle` returns): each frame's `local_ts_ns`
   is set at send time; latency = end of its `Runner.handle` minus that stamp; p50/p99/max. Two feeds
   (`bench/strategy_feed.py`):
   - "market": event time at 1x real, what a market sending 2,000 msg/s is. No recording here is that
     dense (the crash's busiest 10 s of POLUSDT hold 984 trades), so each trade of 21:17:30-21:17:40
     is sent as k fills (same time, price and side, quantity / k; k = 20 at 2,000 msg/s), after a
     warm-up of 21:05-21:17:30 split alike and published at 30,000 msg/s, unmeasured, and a 2-s pause:
     the detector and the strategy reach the measured seconds in the state that market put them in
     (ACTIVE, entering: the orders placed in the measured part are counted);
   - "compressed": the throughput runs' feed at 2,000 msg/s, event time 43x real: a candle close with
     its decisions, journal, snapshots and orders 43 times a second, the stress case.
   The strategy busy-polls as configured (`[zmq] strategy_busy_poll_us`, while its detector is awake;
   `--busy-poll-us` sets another value, 0 = off). Beside each, the strategy's own part (the client
   hands the message over -> end of `Runner.handle`), and the transport's floor: the same publisher
   and an `EngineClient` with no strategy, fed the measured frames, busy-polling as long (what
   ZeroMQ between two processes costs on this machine, whatever the strategy does).

Prints the figures and writes JSON to `--out`. Run by `make bench` (scripts/bench.sh).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import multiprocessing as mp
import os
import resource
import shutil
import statistics
import struct
import sys
import tempfile
import time
import tomllib
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import zmq
from flashcrash import wire
from flashcrash.config import ZmqConfig, load, read_toml, synthetic_book_overlay
from flashcrash.data_client.client import EngineClient
from flashcrash.event_detector import Detector
from flashcrash.launcher import Session, free_ports
from flashcrash.monitoring.live import parse_metrics
from flashcrash.runner import Runner, quiet_gc
from strategy_feed import SYMBOL, Feed, at_market_rate, replay, sustained

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "config" / "config.toml"
# The feed's book is the backtest's synthetic one: the strategy runs with its overlay.
OVERLAY = synthetic_book_overlay(CONFIG)
TIMED = Path(__file__).resolve().with_name("strategy_timed.py")
S = 1_000_000_000
SPIN_S = 0.0001  # the timed publisher spins only the last 100 us before a frame is due
SLICE_S = 0.001  # the throughput publisher sends what is due every millisecond
# The latency run publishes its warm-up (`Feed.warm`) this fast, then waits this long before the
# measured part, so that the strategy has drained it.
WARM_RATE = 30_000.0
WARM_PAUSE_S = 2.0
# The engine's data PUB (the `zeromq` crate, rust-engine/vendor) drops a message for a subscriber
# when that subscriber's send buffer holds `[zmq] data_send_buffer_kib` the kernel would not take:
# libzmq counts its SNDHWM in messages, so the bench sets that many of this feed's mean size.
_ZMQ = tomllib.loads(CONFIG.read_text())["zmq"]
ENGINE_WRITE_BUFFER = _ZMQ["data_send_buffer_kib"] * 1024
# The strategy's busy polling while its detector is awake (`[zmq] strategy_busy_poll_us`); the
# transport floor's client spins as long, always (it has no detector).
BUSY_POLL_US = _ZMQ["strategy_busy_poll_us"]
# The strategy's metrics are read this often during a throughput run, for its backlog samples; a
# latency run reads them as Prometheus does here (monitoring/prometheus.yml: every 5 s). Each read
# costs the strategy's loop the rendering, under the GIL: about 1.6 ms for its 16 KB of text.
SCRAPE_S = 1.0
SCRAPE_LATENCY_S = 5.0
KEPT_UP_WITHIN = 0.01  # handled within 1 % of the rate offered; the publisher within 1 % of the target
STOP_REASON = "bench: end of the feed"
AMPLE = Decimal(1_000_000)  # the stand-in engine's free quote


# ------------------------------------------------------------------------ the engine's stand-in
class Responder:
    """The engine's answers to the strategy's commands, as an engine whose orders rest and never
    fill: balances (ample quote), open orders (those resting), placed, canceled; a query of an order
    it does not hold is refused `UNKNOWN_ORDER`. Counts the commands by type. `serve` reads and answers
    on the engine's sockets; `answer` alone serves an in-process client."""

    def __init__(
        self, cmds: zmq.Socket | None = None, resp: zmq.Socket | None = None
    ) -> None:  # type: ignore[type-arg]
        self.cmds, self.resp = cmds, resp
        self.resting: dict[str, wire.OrderInfo] = {}
        self.counts: Counter[str] = Counter()

    def serve(self) -> None:
        assert self.cmds is not None and self.resp is not None
        while True:
            try:
                raw = self.cmds.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            cmd = wire.decode(raw)
            self.counts[type(cmd).__name__] += 1
            answer = self.answer(cmd, time.time_ns())
            if answer is not None:
                self.resp.send_multipart([b"resp", wire.encode(answer)])

    def answer(self, cmd: object, now: int) -> object | None:
        match cmd:
            case wire.QueryBalances():
                return wire.Balances(
                    cmd.command_id, now, (wire.AssetBalance("POL", Decimal(0), Decimal(0)),
                                          wire.AssetBalance("USDT", AMPLE, Decimal(0))),
                )  # fmt: skip
            case wire.QueryOpenOrders():
                return wire.OpenOrders(
                    cmd.command_id,
                    now,
                    cmd.symbol,
                    tuple(self.resting.values()),
                    Decimal(0),
                )
            case wire.PlaceOrder():
                info = wire.OrderInfo(
                    cmd.client_order_id, f"B-{len(self.resting)}-{now}", cmd.symbol, cmd.side, cmd.order_type,
                    cmd.time_in_force, cmd.quantity, cmd.price, Decimal(0), Decimal(0), "NEW", now, now,
                )  # fmt: skip
                self.resting[cmd.client_order_id] = info
                return wire.OrderPlaced(
                    cmd.command_id, now, info.client_order_id, info.exchange_order_id, cmd.symbol, cmd.side,
                    cmd.order_type, cmd.time_in_force, cmd.quantity, cmd.price, "NEW",
                )  # fmt: skip
            case wire.CancelOrder():
                info = self.resting.pop(cmd.client_order_id, None)
                if info is None:
                    return wire.Error(
                        cmd.command_id, now, "UNKNOWN_ORDER", None, "no such order"
                    )
                return wire.OrderCanceled(
                    cmd.command_id, now, cmd.client_order_id, info.exchange_order_id, cmd.symbol, Decimal(0),
                    "CANCELED",
                )  # fmt: skip
            case wire.QueryOrder():
                info = self.resting.get(cmd.client_order_id)
                if info is None:
                    return wire.Error(
                        cmd.command_id, now, "UNKNOWN_ORDER", None, "no such order"
                    )
                return wire.OrderStatus(cmd.command_id, now, info)
        return None


def _health(started_ns: int) -> bytes:
    h = wire.HealthMetrics(
        time.time_ns(), SYMBOL, "live", 50_000.0, 200.0, 150.0, 800.0, 0, 0, 0, 20, 20, 0, 0, 0, 0, 0, 0, 0,
        started_ns,
    )  # fmt: skip
    return wire.encode(h)


def _state(component: str, previous: str, current: str, reason: str) -> bytes:
    return wire.encode(
        wire.StateChange(time.time_ns(), component, previous, current, reason)
    )


def stand_in(
    ends: tuple[str, str, str],
    feed: Feed,
    count: int,
    rate: float,
    stamp: bool,
    sndhwm: int,
    conn: Any,
    warm_rate: float = 0.0,
) -> None:
    """The engine's place: binds its data (XPUB, dropping for a full subscriber at `sndhwm`), command
    (PULL) and response (PUB) endpoints; once the strategy has subscribed and the parent says go,
    publishes the first `count` frames at `rate` msg/s (`stamp`: one at a time, its `local_ts_ns` set
    to its send time; else what is due every millisecond), a HealthMetrics every second, then the
    engine's stop; answers commands until the parent says stop. Sends the parent its figures. With
    `stamp` and a feed with a warm-up (`Feed.warm`), the warm-up goes first, unstamped, at
    `warm_rate`, then a pause of `WARM_PAUSE_S`, then the rest stamped at `rate` (`timed_from_ns`: when
    that part began)."""
    ctx = zmq.Context()
    data, cmds, resp = ctx.socket(zmq.XPUB), ctx.socket(zmq.PULL), ctx.socket(zmq.PUB)
    data.setsockopt(zmq.SNDHWM, sndhwm)
    # A full queue refuses the message (zmq.Again) instead of dropping it unseen: dropped all the same,
    # as the engine's PUB drops it, and counted here.
    data.setsockopt(zmq.XPUB_NODROP, 1)
    for s, end in zip((data, cmds, resp), ends, strict=True):
        s.setsockopt(zmq.LINGER, 1000)
        s.bind(end)
    responder = Responder(cmds, resp)
    started_ns = time.time_ns()
    deadline = time.monotonic() + 60
    want = b"\x01trade." + SYMBOL.encode()
    while time.monotonic() < deadline:
        if data.poll(100) and data.recv() == want:
            break
    else:
        conn.send({"error": "the strategy never subscribed"})
        return
    conn.send("subscribed")
    while not conn.poll(0.01):
        responder.serve()
    conn.recv()  # go
    data.send_multipart(
        [b"state", _state("feed", "syncing", "live", "bench: feed live")]
    )
    data.send_multipart([b"health", _health(started_ns)])
    frames, stamp_at = feed.frames, feed.stamp_at
    clock, wall = time.perf_counter, time.time
    dropped: Counter[bytes] = Counter()
    multipart, again, noblock = data.send_multipart, zmq.Again, zmq.NOBLOCK

    def send(msg: list[bytes] | tuple[bytes, bytes] | list[Any]) -> None:
        try:
            multipart(msg, noblock)
        except again:
            dropped[msg[0]] += 1

    progress: list[
        tuple[float, int, int]
    ] = []  # (wall time, frames sent, of which dropped)
    lost = 0
    next_health = clock() + 1.0

    def housekeeping() -> None:
        nonlocal next_health
        if clock() >= next_health:
            next_health += 1.0
            send([b"health", _health(started_ns)])
        responder.serve()

    def publish(lo: int, hi: int, rate: float, stamp: bool) -> None:
        """Frames lo..hi at `rate` (`stamp`: one at a time, each stamped with its send time)."""
        nonlocal lost
        t0 = clock() - lo / rate
        i = lo
        while i < hi:
            if stamp:
                due = t0 + i / rate
                ahead = due - clock()
                if ahead > SPIN_S:
                    time.sleep(ahead - SPIN_S)
                while clock() < due:
                    pass
                topic, payload = frames[i]
                buf = bytearray(payload)
                struct.pack_into(">Q", buf, stamp_at[i], time.time_ns())
                send([topic, buf])
                i += 1
            else:
                now = clock()
                upto = min(hi, int((now - t0) * rate) + 1)
                while i < upto:
                    try:
                        multipart(frames[i], noblock)
                    except again:
                        dropped[frames[i][0]] += 1
                        lost += 1
                    i += 1
                progress.append((wall(), i, lost))
                if i < hi:  # until the next frame is due, and at least the slice
                    time.sleep(max(0.0, max(t0 + i / rate, now + SLICE_S) - clock()))
            housekeeping()

    first_wall = wall()
    timed_from = 0
    measured = Counter()
    if stamp and feed.warm:
        # The warm-up as fast as `warm_rate`, unstamped; a pause for the strategy to drain it.
        publish(0, feed.warm, warm_rate, False)
        settle = clock() + WARM_PAUSE_S
        while clock() < settle:
            housekeeping()
            time.sleep(0.001)
        timed_from = time.time_ns()
        before = Counter(responder.counts)
        publish(feed.warm, count, rate, True)
        measured = responder.counts - before
    else:
        publish(0, count, rate, stamp)
    last_wall = wall()
    stop = [b"state", _state("engine", "running", "stopped", STOP_REASON)]
    data.send_multipart(stop)  # blocks until there is room: it must arrive
    while not conn.poll(0.01):
        responder.serve()
    conn.recv()  # stop
    conn.send(
        {
            "first_send": first_wall,
            "last_send": last_wall,
            "progress": progress,
            "commands": dict(responder.counts),
            "dropped_at_publisher": {t.decode(): n for t, n in dropped.items()},
            "cpu_s": _own_cpu(),
            "timed_from_ns": timed_from,
            "commands_measured": dict(measured),
        }
    )
    for s in (data, cmds, resp):
        s.close()
    ctx.term()


@dataclass
class StandIn(Session):
    """`flashcrash run` as the launcher starts it (its config layered with free ports, a private
    database and report folder; its log in the session folder), and no engine: the bench binds the
    engine's endpoints. With `timed`, the same command under `bench/strategy_timed.py`, which writes
    its per-message timings there."""

    timed: Path | None = None

    def _start_engine(self) -> None:
        pass

    def _spawn(self, name: str, argv: list[str], stdout: Any = None) -> Any:
        if name == "strategy" and self.timed is not None:
            argv = [
                sys.executable,
                str(TIMED),
                str(self.timed),
                *argv[3:],
            ]  # argv[3:] = run --config ...
        return super()._spawn(name, argv, stdout)


def _mean_frame(feed: Feed, count: int) -> float:
    return sum(len(t) + len(p) for t, p in feed.frames[:count]) / count


def _scrape(port: int) -> tuple[float, int] | None:
    """(the metrics' update time, market messages the strategy has taken: trades and books received,
    books conflated) from its Prometheus endpoint; None when it cannot be read."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as r:
            m = parse_metrics(r.read().decode(errors="replace"))
    except (OSError, ValueError):
        return None
    got = {labels.get("type"): n for labels, n in m.get("messages_total", [])}
    conflated = sum(n for _, n in m.get("conflated_total", []))
    updated = m.get("updated_timestamp_seconds", [({}, 0.0)])[0][1]
    return updated, int(
        got.get("Trade", 0) + got.get("OrderBookSnapshot", 0) + conflated
    )


def _log_time(log: Path, text: str) -> float | None:
    """The wall time (s) of the first line of the strategy's log holding `text` (its text or JSON
    format, `[monitoring] log_format`)."""
    for line in log.read_text(errors="replace").splitlines():
        if text not in line:
            continue
        if line.startswith("{"):
            stamp = json.loads(line)["ts"]
        else:
            stamp = line.split()[0]
        return datetime.fromisoformat(stamp).astimezone(UTC).timestamp()
    return None


def _queued_at(progress: list[tuple[float, int, int]], t: float) -> int:
    """Frames the publisher had sent and not dropped by wall time `t` (its progress, recorded every
    slice)."""
    n = 0
    for when, i, lost in progress:
        if when > t:
            break
        n = i - lost
    return n


def _own_cpu() -> float:
    """CPU seconds of this process, every thread."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


_TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def _cpu_of(pid: int) -> tuple[float, float] | None:
    """CPU seconds of process `pid` (every thread) and of its main thread (the strategy's loop)."""
    try:
        proc = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        main = (
            Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        )
    except OSError:
        return None
    # utime and stime: fields 14 and 15 of stat, 12 and 13 after the command's closing parenthesis.
    return (int(proc[11]) + int(proc[12])) * _TICK_S, (
        int(main[11]) + int(main[12])
    ) * _TICK_S


def engine_sndhwm(feed: Feed, count: int) -> int:
    """The engine's send buffer as a count of this feed's messages (see ENGINE_WRITE_BUFFER)."""
    return max(1, round(ENGINE_WRITE_BUFFER / _mean_frame(feed, count)))


def process_run(
    feed: Feed,
    rate: float,
    count: int,
    sndhwm: int,
    timed: bool = False,
    busy_poll_us: int = BUSY_POLL_US,
) -> dict[str, Any]:
    """The real strategy process fed `count` frames at `rate` by the stand-in engine (see module doc),
    whose data socket drops for the strategy past `sndhwm` messages queued; its config's
    `[zmq] strategy_busy_poll_us` set to `busy_poll_us`."""
    work = Path(tempfile.mkdtemp(prefix="flashcrash-bench-"))
    timings = work / "timings.json" if timed else None
    session = StandIn(
        config=CONFIG,
        bin_dir=REPO / "rust-engine" / "target" / "release",
        workdir=work,
        timed=timings,
        overrides={
            **read_toml(OVERLAY),
            "zmq": {"strategy_busy_poll_us": busy_poll_us},
        },
    )
    trades_sent = feed.trades(count)
    samples: list[tuple[float, int]] = []
    cpu: list[
        tuple[float, float, float]
    ] = []  # (wall time, process CPU s, main thread CPU s)
    keep = False
    try:
        with session:
            ends = (
                session.endpoint("data"),
                session.endpoint("command"),
                session.endpoint("response"),
            )
            parent, child = mp.get_context("fork").Pipe()
            proc = mp.get_context("fork").Process(
                target=stand_in,
                args=(ends, feed, count, rate, timed, sndhwm, child, WARM_RATE),
            )
            proc.start()
            try:
                if not parent.poll(60):
                    raise RuntimeError("the stand-in engine did not start")
                hello = parent.recv()
                if hello != "subscribed":
                    raise RuntimeError(str(hello))
                # The strategy settles (its start-up's last allocations, the GC's freeze).
                time.sleep(0.5)
                parent.send("go")
                strategy = session.procs["strategy"]
                warm = feed.warm if timed else 0
                deadline = (
                    time.monotonic() + (count - warm) / rate + warm / WARM_RATE + 120
                )
                port = session.ports["strategy_metrics"]
                every = SCRAPE_LATENCY_S if timed else SCRAPE_S
                next_scrape = time.monotonic()
                while strategy.alive() and time.monotonic() < deadline:
                    if time.monotonic() >= next_scrape:
                        next_scrape += every
                        s = _scrape(port)
                        if s is not None and (not samples or s[0] != samples[-1][0]):
                            samples.append(s)
                        c = _cpu_of(strategy.popen.pid)
                        if c is not None:
                            cpu.append((time.time(), *c))
                    time.sleep(0.1)
                if strategy.alive():
                    raise RuntimeError(
                        f"the strategy did not stop after the feed; see {strategy.log_path}"
                    )
                parent.send("stop")
                figures = parent.recv() if parent.poll(30) else {}
            finally:
                proc.join(timeout=30)
                if proc.is_alive():
                    proc.kill()
            codes = session.stop()
        log = session.procs["strategy"].log_path
        if codes.get("strategy") != 0:
            keep = True
            raise RuntimeError(f"the strategy exited with {codes}; see {log}")
        summary = json.loads(session.summary_path.read_text())
        done = _log_time(log, STOP_REASON)
        if done is None:
            keep = True
            raise RuntimeError(f"the engine's stop is not in {log}")
        first, last = figures["first_send"], figures["last_send"]
        msgs = summary["messages"]
        offered = count / (last - first)
        handled = count / (done - first)
        # Sent, not dropped, and not yet taken by the strategy: what waits in the sockets' queues. At
        # each update of the strategy's metrics (approximate: a read can fall during an update).
        backlog = [
            (t, _queued_at(figures["progress"], t) - n)
            for t, n in samples
            if first <= t and figures["progress"]
        ]
        inside = [c for c in cpu if first <= c[0] <= last]
        busy = None
        if len(inside) >= 2:
            (t0, p0, m0), (t1, p1, m1) = inside[0], inside[-1]
            busy = (round((p1 - p0) / (t1 - t0), 2), round((m1 - m0) / (t1 - t0), 2))
        taken = msgs["trade"] + msgs["book"] + msgs["books_conflated"]
        out: dict[str, Any] = {
            "rate_msg_s": rate,
            "sent": count,
            "copies_of_the_data": math.ceil(count / (len(feed.frames) / feed.copies)),
            "trades_sent": trades_sent,
            "books_sent": count - trades_sent,
            "publisher_sndhwm": sndhwm,
            "publish_window_s": round(last - first, 3),
            "offered_msg_s": round(offered),
            "handled_by_s": round(done - first, 3),
            "end_lag_ms": round((done - last) * 1000, 1),
            "handled_msg_s": round(handled),
            "trades_received": msgs["trade"],
            "books_received": msgs["book"],
            "books_conflated": msgs["books_conflated"],
            "lost_in_transit": count - taken,
            # Refused by the publisher's full queue (SNDHWM): the subscriber's TCP stream and 100,000
            # messages of RCVHWM behind it full, or the publisher's own I/O thread not scheduled.
            "dropped_at_publisher": figures.get("dropped_at_publisher", {}),
            "trades_missed": msgs["trades_missed"],
            "malformed": msgs["malformed"],
            "dropped_by_guard": msgs["dropped_by_guard"],
            "backlog_max_msgs": max((b for _, b in backlog), default=None),
            "backlog_at_updates": [b for _, b in backlog],
            "commands": figures.get("commands", {}),
            # CPU over the publishing window, in cores: the strategy process (every thread), its loop's
            # thread, and the stand-in publisher (its whole life, over the window).
            "strategy_cpu_cores": busy[0] if busy else None,
            "strategy_loop_cpu_cores": busy[1] if busy else None,
            "publisher_cpu_cores": round(figures["cpu_s"] / (last - first), 2)
            if "cpu_s" in figures
            else None,
            "orders": summary.get("orders"),
            "detector_state_changes": summary.get("detector", {}).get("state_changes"),
            # The replay's event time runs this many times faster than the wall clock: per second of
            # wall clock, this many 1-second candles close (with their decisions, log lines, database
            # writes and orders), where a real market at this rate closes one.
            "event_time_x": round(rate / feed.events_per_event_s),
            "candles": summary.get("detector", {}).get("candles"),
            "log_lines": sum(1 for _ in log.open(errors="replace")),
        }
        out["backlog_max_ms"] = (
            round(out["backlog_max_msgs"] / rate * 1000, 1)
            if out["backlog_max_msgs"] is not None
            else None
        )
        why = []
        if offered < (1 - KEPT_UP_WITHIN) * rate:
            why.append(f"the publisher offered only {offered:,.0f} msg/s")
        if msgs["trade"] != trades_sent:
            why.append(f"{trades_sent - msgs['trade']:,} trades not received")
        expected_gaps = feed.ids_gaps_per_copy * out["copies_of_the_data"]
        if msgs["trades_missed"] and msgs["trades_missed"] != expected_gaps:
            why.append(f"trade ids jumped ({msgs['trades_missed']:,} missed)")
        if msgs["malformed"]:
            why.append(f"{msgs['malformed']} malformed")
        if handled < (1 - KEPT_UP_WITHIN) * offered:
            why.append(f"handled {handled:,.0f} msg/s of {offered:,.0f} offered")
        out["keeps_up"] = not why
        out["why_not"] = "; ".join(why)
        if timed and timings is not None:
            t = json.loads(timings.read_text())
            # The measured part only (a warm-up goes unstamped, with the recording's times).
            since = figures["timed_from_ns"]
            measured = [i for i, sent in enumerate(t["sent_ns"]) if sent >= since]
            out |= _percentiles(
                "latency", [t["send_to_decision_ns"][i] for i in measured]
            )
            out |= _percentiles(
                "own_latency", [t["receive_to_decision_ns"][i] for i in measured]
            )
            out["timed_messages"] = len(measured)
            out["commands_measured"] = (
                figures["commands_measured"] if since else out["commands"]
            )
        return out
    except BaseException:
        keep = True
        raise
    finally:
        if keep:
            print(f"  (kept {work})", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


# -------------------------------------------------------------------------- transport floor
def transport_only(
    feed: Feed,
    rate: float,
    count: int,
    sndhwm: int,
    stamp: bool,
    busy_poll_us: int = 0,
) -> dict[str, Any]:
    """The control: the same stand-in publisher and settings to an `EngineClient` (production's, in
    this process) that receives and decodes, with no strategy behind it, busy-polling `busy_poll_us`.
    `stamp` (one frame at a time): the transport's latency floor, send -> the client hands the
    message over; else what the transport alone delivers at `rate`, and what it drops."""
    ends = tuple(f"tcp://127.0.0.1:{port}" for port in free_ports(4))
    parent, child = mp.get_context("fork").Pipe()
    proc = mp.get_context("fork").Process(
        target=stand_in, args=(ends[:3], feed, count, rate, stamp, sndhwm, child)
    )
    proc.start()
    # data, command, response and strategy endpoints; the busy polling
    client = EngineClient(ZmqConfig(*ends, busy_poll_us), SYMBOL)
    client.busy_poll(True)
    latencies: list[int] = []
    trades = books = 0
    done_at = 0.0
    try:
        if parent.recv() != "subscribed":
            raise RuntimeError("the stand-in engine did not start")
        time.sleep(0.5)
        parent.send("go")
        deadline = time.perf_counter() + count / rate + 15
        while not done_at and time.perf_counter() < deadline:
            for msg in client.poll(100):
                kind = type(msg)
                if kind is wire.Trade or kind is wire.OrderBookSnapshot:
                    if stamp:
                        latencies.append(time.time_ns() - msg.local_ts_ns)  # type: ignore[attr-defined]
                    if kind is wire.Trade:
                        trades += 1
                    else:
                        books += 1
                elif kind is wire.StateChange and msg.reason == STOP_REASON:  # type: ignore[attr-defined]
                    done_at = time.time()
        parent.send("stop")
        figures = parent.recv()
    finally:
        proc.join(timeout=30)
        client.close()
    first, last = figures["first_send"], figures["last_send"]
    trades_sent = feed.trades(count)
    out: dict[str, Any] = {
        "rate_msg_s": rate,
        "sent": count,
        "publisher_sndhwm": sndhwm,
        "offered_msg_s": round(count / (last - first)),
        "received_msg_s": round(count / (done_at - first)) if done_at else None,
        "trades_sent": trades_sent,
        "trades_received": trades,
        "books_received": books,
        "books_conflated": client.conflated,
        "trades_missed": client.trades_missed,
        "dropped_at_publisher": figures["dropped_at_publisher"],
        "publisher_cpu_cores": round(figures["cpu_s"] / (last - first), 2),
    }
    return out | _percentiles("latency", latencies)


# --------------------------------------------------------------------------- per-event cost
class StubClient:
    """The runner's client for in-process runs: commands are accepted and dropped."""

    def __init__(self) -> None:
        self.sent = 0

    def send(self, msg: object) -> bool:
        self.sent += 1
        return True


class ListClient(StubClient):
    """The runner's client fed from a list: each poll hands over the answers to the commands sent
    since the last (`Responder`'s), then the next `batch` events, decoded, as the sockets would; what
    the metrics read of a client, counted."""

    def __init__(self, events: list[Any], batch: int) -> None:
        super().__init__()
        self.events, self.batch, self.at = events, batch, 0
        self.responder = Responder()
        self.answers: list[object] = []
        self.received: Counter[str] = Counter()
        self.malformed: Counter[str] = Counter()
        self.conflated = self.trades_missed = self.commands_not_queued = 0

    def send(self, msg: object) -> bool:
        self.sent += 1
        self.responder.counts[type(msg).__name__] += 1
        answer = self.responder.answer(msg, time.time_ns())
        if answer is not None:
            self.answers.append(answer)
        return True

    def poll(self, timeout_ms: int) -> Iterator[object]:
        chunk = self.answers + self.events[self.at : self.at + self.batch]
        self.at += len(chunk) - len(self.answers)
        self.answers = []
        for e in chunk:
            self.received[type(e).__name__] += 1
        return iter(chunk)

    def close(self) -> None:
        pass


def per_event(
    events: list[wire.Trade | wire.OrderBookSnapshot], cfg: Any
) -> dict[str, float]:
    """The detector alone and a bare `Runner.handle` (no database, metrics or publisher; the caller
    turns logging off), one event after the other."""
    d = Detector(cfg.event_detection)
    t0 = time.perf_counter_ns()
    for e in events:
        if isinstance(e, wire.Trade):
            d.on_trade(e.exchange_ts_ns, e.price, e.quantity, e.aggressor == "buy")
        else:
            d.on_book(e)
    det_ns = (time.perf_counter_ns() - t0) / len(events)
    stub = StubClient()
    runner = Runner(cfg, stub, None)  # type: ignore[arg-type]
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
        "orders_sent": stub.sent,
    }


def per_event_as_run(
    events: list[wire.Trade | wire.OrderBookSnapshot], batch: int = 100
) -> dict[str, Any]:
    """`Runner.step`, the loop of `flashcrash run`, with the runner built as `flashcrash.cli.cmd_run`
    builds it (SQLite session in a temporary folder, metrics served, state publisher, alerts, logging
    at the configured level and format to a file), fed `batch` decoded events a poll from a list."""
    from flashcrash.data_client import StatePublisher
    from flashcrash.monitoring import logs
    from flashcrash.monitoring.alerts import AlertSender
    from flashcrash.monitoring.metrics import StrategyMetrics
    from flashcrash.persistence import PersistenceService

    work = Path(tempfile.mkdtemp(prefix="flashcrash-bench-"))
    session = StandIn(config=CONFIG, bin_dir=REPO, workdir=work, strategy=False)
    try:
        session.start()  # writes the layered config (free ports, the database under `work`); starts nothing
        cfg = load(session.run_config)
        log_file = open(work / "strategy.log", "w")  # noqa: SIM115 - closed below
        handler = logs.setup(
            cfg.monitoring.log_level, cfg.monitoring.log_format, log_file
        )
        db = PersistenceService.open(cfg)
        publisher = StatePublisher(cfg.zmq.strategy_endpoint)
        metrics = StrategyMetrics(cfg.symbol.name, cfg.initial_capital)
        metrics.serve(cfg.monitoring.strategy_metrics_port)
        alerts = AlertSender.from_env(
            cfg.monitoring.alert_format, cfg.monitoring.alert_min_interval_secs
        )
        client = ListClient(events, batch)
        runner = Runner(
            cfg, client, db, publisher=publisher, metrics=metrics, alerts=alerts,  # type: ignore[arg-type]
            config_path=session.run_config,
        )  # fmt: skip
        runner.start()
        quiet_gc()
        t0 = time.perf_counter_ns()
        while client.at < len(events):
            with runner._atomic():
                runner.step(0)
        db.flush()
        ns = (time.perf_counter_ns() - t0) / len(events)
        runner.finish()
        for c in (publisher, metrics, alerts, db):
            c.close()
        logging.getLogger().removeHandler(handler)
        log_file.close()
        return {
            "events": len(events),
            "poll_batch": batch,
            "loop_ns_per_event": round(ns),
            "commands": dict(client.responder.counts),
            "log_lines": sum(1 for _ in (work / "strategy.log").open()),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _percentiles(name: str, ns: list[int]) -> dict[str, float]:
    us = sorted(x / 1000 for x in ns)
    if not us:
        return {}
    return {
        f"{name}_p50_us": round(statistics.median(us), 1),
        f"{name}_p99_us": round(us[int(0.99 * (len(us) - 1))], 1),
        f"{name}_max_us": round(us[-1], 1),
    }


def _load() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default="50000,100000", help="throughput runs, msg/s")
    ap.add_argument(
        "--secs", type=float, default=10.0, help="publishing window of each run"
    )
    ap.add_argument(
        "--repeat", type=int, default=1, help="runs of each rate and of the latency"
    )
    ap.add_argument("--latency-rate", type=float, default=2000.0)
    ap.add_argument(
        "--busy-poll-us",
        type=int,
        default=BUSY_POLL_US,
        help="the latency runs' [zmq] strategy_busy_poll_us (default: as configured, "
        f"{BUSY_POLL_US}); the transport floor's client spins as long",
    )
    ap.add_argument(
        "--sndhwm",
        type=int,
        default=0,
        help="the publisher's SNDHWM (default: the engine's send buffer in messages of this feed)",
    )
    ap.add_argument(
        "--no-control", action="store_true", help="skip the transport-only control runs"
    )
    ap.add_argument("--skip-per-event", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    cfg = load(CONFIG, [OVERLAY])
    events = replay("21:05", "21:25")
    rates = [float(r) for r in args.rates.split(",") if r]
    most = max(
        [int(r * args.secs) for r in rates] + [int(args.latency_rate * args.secs)]
    )
    feed = sustained(events, most)
    result: dict[str, Any] = {
        "started_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_start": _load(),
        "cpus": os.cpu_count(),
        "secs": args.secs,
    }
    print(f"load average {result['load_average_start']} ({os.cpu_count()} CPUs)")
    if not args.skip_per_event:
        logging.disable(logging.INFO)  # the bare runner: the history's figure
        quiet_gc()  # as `Runner.run` sets it in `flashcrash run`
        pe = result["per_event"] = per_event(events, cfg)
        logging.disable(logging.NOTSET)
        run = result["per_event_as_run"] = per_event_as_run(events)
        print(
            f"per event over {pe['events']:,} real trades + synthetic books (21:05-21:25, crash included)"
        )
        print(
            f"  detector                        {pe['detector_ns_per_event']:>8,} ns/event"
        )
        print(
            f"  Runner.handle, bare runner      {pe['runner_handle_ns_per_event']:>8,} ns/event (detector included)"
        )
        print(
            f"  loop as `flashcrash run` builds it (Runner.step, SQLite, metrics, logs to a file, "
            f"{run['poll_batch']} a poll) {run['loop_ns_per_event']:>8,} ns/event"
        )
    result["throughput"] = []
    print(
        f"sustained throughput of the strategy process (`flashcrash run`, production sockets), "
        f"{args.secs:g} s a run; {len(events):,} recorded events repeated"
    )
    for _ in range(args.repeat):
        for rate in rates:
            load_before = _load()
            n = int(rate * args.secs)
            hwm = args.sndhwm or engine_sndhwm(feed, n)
            r = process_run(feed, rate, n, hwm)
            r["load_average"] = load_before
            if not args.no_control:
                r["control"] = c = transport_only(feed, rate, n, hwm, stamp=False)
            result["throughput"].append(r)
            print(
                f"  {rate:>9,.0f} msg/s: {'KEPT UP' if r['keeps_up'] else 'BEHIND'}; {r['sent']:,} sent in "
                f"{r['publish_window_s']} s ({r['offered_msg_s']:,} msg/s offered), handled by "
                f"{r['handled_by_s']} s ({r['handled_msg_s']:,} msg/s, {r['end_lag_ms']:,} ms behind at the end); "
                f"trades {r['trades_received']:,}/{r['trades_sent']:,}, books conflated {r['books_conflated']:,}, "
                f"lost in transit {r['lost_in_transit']:,}; backlog max {r['backlog_max_msgs']} msgs "
                f"({r['backlog_max_ms']} ms); CPU (cores) strategy {r['strategy_cpu_cores']}, its loop "
                f"{r['strategy_loop_cpu_cores']}, publisher {r['publisher_cpu_cores']}; event time "
                f"{r['event_time_x']:,}x real ({r['candles']:,} candles, {r['log_lines']:,} log lines); load {load_before}"
                + (f" [{r['why_not']}]" if r["why_not"] else "")
            )
            if not args.no_control:
                print(
                    f"    control, same publisher and SNDHWM {hwm} to an EngineClient alone: "
                    f"{c['received_msg_s']:,} msg/s received, trades {c['trades_received']:,}/{c['trades_sent']:,}, "
                    f"dropped at the publisher {c['dropped_at_publisher']}"
                )
    result["latency"] = []
    result["transport_floor"] = []
    n = int(args.latency_rate * args.secs)
    # Event time at 1x (a second of the feed is a second of the market), and the sustained feed's
    # compressed time (the crash's 20 minutes in `secs`: a candle close, with its decisions and
    # orders, many times a second), the stress case.
    latency_feeds = {
        "market": at_market_rate(args.latency_rate, args.secs),
        "compressed": sustained(events, n),
    }
    for _ in range(args.repeat):
        for kind, lfeed in latency_feeds.items():
            measured = lfeed.measured()
            m = len(measured.frames)
            hwm = args.sndhwm or engine_sndhwm(measured, m)
            load_before = _load()
            lat = process_run(
                lfeed,
                args.latency_rate,
                len(lfeed.frames),
                hwm,
                timed=True,
                busy_poll_us=args.busy_poll_us,
            )
            lat["feed"] = kind
            lat["load_average"] = load_before
            lat["busy_poll_us"] = args.busy_poll_us
            floor = transport_only(
                measured, args.latency_rate, m, hwm, True, args.busy_poll_us
            )
            floor["feed"] = kind
            result["latency"].append(lat)
            result["transport_floor"].append(floor)
            print(
                f"tick-to-decision at {args.latency_rate:,.0f} msg/s, event time {lat['event_time_x']:,}x real "
                f"({kind}; busy poll {args.busy_poll_us} us; {lat['timed_messages']:,} messages, orders placed "
                f"{lat['commands_measured'].get('PlaceOrder', 0)}, load {load_before}): p50 {lat.get('latency_p50_us')} us, "
                f"p99 {lat.get('latency_p99_us')} us, max {lat.get('latency_max_us')} us"
            )
            print(
                f"  of which receive -> decision (the strategy's own): p50 {lat.get('own_latency_p50_us')} us, "
                f"p99 {lat.get('own_latency_p99_us')} us, max {lat.get('own_latency_max_us')} us"
            )
            print(
                f"  transport floor (same publisher, EngineClient, no strategy): p50 {floor.get('latency_p50_us')} us, "
                f"p99 {floor.get('latency_p99_us')} us, max {floor.get('latency_max_us')} us"
            )
    result["load_average_end"] = _load()
    print(f"load average {result['load_average_end']}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
