"""The strategy's StateChange channel on real ZeroMQ sockets (random loopback ports): the runner
publishes every detector and circuit-breaker transition, in order, with its reason; a port in use
stops `flashcrash run` with one line naming the key."""

from __future__ import annotations

import socket
import time

import msgpack
import pytest
import zmq

from flashcrash import wire
from flashcrash.config import ZmqConfig, load
from flashcrash.data_client import EngineClient, PublishError, StatePublisher
from flashcrash.launcher import REPO
from flashcrash.runner import Runner

S = 1_000_000_000


def _endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


def _received(sub: zmq.Socket, want: int, timeout: float = 5.0) -> list[dict]:
    out: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(out) < want and time.monotonic() < deadline:
        if sub.poll(100):
            topic, body = sub.recv_multipart()
            assert topic == b"state"
            out.append(msgpack.unpackb(body, raw=False))
    return out


def test_runner_publishes_detector_and_breaker_transitions() -> None:
    ends = [_endpoint() for _ in range(4)]
    cfg = load(REPO / "config" / "config.toml")
    publisher = StatePublisher(ends[3])
    client = EngineClient(ZmqConfig(*ends), "POLUSDT")  # no engine: nothing arrives, nothing is needed
    runner = Runner(cfg, client, publisher=publisher, clock=lambda: 42 * S)
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"state")
    sub.connect(ends[3])
    try:
        # A PUB drops what it sends before the subscription arrives: probe until one gets through.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not sub.poll(20):
            publisher.state_change(1, "probe", "a", "b", "subscription check")
        while sub.poll(50):
            sub.recv_multipart()
        breaker = runner.orders.breaker
        for i in range(cfg.risk.breaker_failures):
            breaker.failure(41 * S, f"venue error {i}")
        runner.detector.shutdown(7 * S, "TEST")
        runner.step(0)  # the loop publishes the detector's new transitions after each iteration
        runner.step(0)  # ... once each
        got = _received(sub, 3, timeout=1.0)
    finally:
        sub.close()
        ctx.term()
        client.close()
        publisher.close()
    assert [(m["component"], m["previous"], m["current"]) for m in got] == [
        ("breaker", "closed", "open"),
        ("detector", "SLEEP", "SHUTDOWN"),
    ], got
    assert got[0]["ts_ns"] == 42 * S and "venue error 2" in got[0]["reason"]
    assert got[1]["ts_ns"] == 7 * S and got[1]["reason"] == "TEST"
    assert all(isinstance(wire.decode(msgpack.packb(m)), wire.StateChange) for m in got)
    assert publisher.published >= 2 and publisher.dropped == 0


def test_a_bound_endpoint_is_refused_with_the_key_named() -> None:
    end = _endpoint()
    first = StatePublisher(end)
    try:
        with pytest.raises(
            PublishError, match=r"\[zmq\] strategy_endpoint tcp://127\.0\.0\.1:\d+: cannot bind"
        ):
            StatePublisher(end)
    finally:
        first.close()


def test_what_a_stalled_subscriber_cannot_take_is_counted_as_dropped() -> None:
    """A subscriber that never reads: once its queues are full, each further StateChange is dropped
    without blocking the caller, and counted (a plain PUB socket would discard it silently, leaving
    `dropped` at 0); every send is either published or dropped."""
    end = _endpoint()
    publisher = StatePublisher(end)
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.RCVHWM, 10)
    sub.setsockopt(zmq.SUBSCRIBE, b"state")
    sub.connect(end)
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not sub.poll(20):
            publisher.state_change(1, "probe", "a", "b", "subscription check")
        sent = 0
        while publisher.dropped == 0 and sent < 1_000_000:
            publisher.state_change(2, "detector", "SLEEP", "ALERT", "x" * 200)
            sent += 1
        assert publisher.dropped > 0, f"{sent} sends to a stalled subscriber, none dropped"
        publisher.state_change(3, "detector", "ALERT", "SLEEP", "still full")
        assert publisher.dropped >= 2
    finally:
        sub.close()
        ctx.term()
        publisher.close()


def test_an_ipv6_endpoint_is_bound() -> None:
    """A `strategy_endpoint` on `[::1]` (the config accepts it): bound with IPV6 set, not refused."""
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
            end = f"tcp://[::1]:{s.getsockname()[1]}"
    except OSError:
        pytest.skip("no IPv6 loopback on this host")
    publisher = StatePublisher(end)
    publisher.close()
