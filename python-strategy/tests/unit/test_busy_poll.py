"""Busy polling (`[zmq] strategy_busy_poll_us`): while it is on, the engine client polls without
waiting until something is ready or the busy-poll time has passed, and only then sleeps in the poll;
off (or configured 0), it sleeps at once. The runner turns it on while its detector is awake (ALERT,
ACTIVE, RECOVERY) and off when it sleeps or shuts down."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import zmq
from engine_fakes import SilentEngine

from flashcrash import wire
from flashcrash.config import ZmqConfig, load
from flashcrash.data_client import EngineClient
from flashcrash.event_detector import State
from flashcrash.event_detector.machine import Transition
from flashcrash.launcher import REPO, free_ports
from flashcrash.runner import Runner

S = 1_000_000_000


def _endpoints() -> list[str]:
    """Data, command, response and strategy endpoints on free loopback ports."""
    return [f"tcp://127.0.0.1:{port}" for port in free_ports(4)]


class ScriptedPoller:
    """`zmq.Poller` whose `poll` returns nothing `empty` times, then the data socket; records each
    timeout it was called with."""

    def __init__(self, ready: object, empty: int) -> None:
        self.ready, self.empty = ready, empty
        self.timeouts: list[int] = []

    def poll(self, timeout: int) -> list[tuple[object, int]]:
        self.timeouts.append(timeout)
        if len(self.timeouts) <= self.empty:
            return []
        return [(self.ready, zmq.POLLIN)]


@pytest.fixture
def client() -> Iterator[EngineClient]:
    ends = _endpoints()
    c = EngineClient(ZmqConfig(*ends, strategy_busy_poll_us=100_000), "POLUSDT")
    yield c
    c.close()


def test_on_it_spins_without_waiting_until_something_is_ready(client: EngineClient) -> None:
    client.busy_poll(True)
    client.poller = ScriptedPoller(client.responses, empty=50)  # type: ignore[assignment]
    assert client._ready(100) == {client.responses: zmq.POLLIN}
    assert client.poller.timeouts == [0] * 51  # never slept in the poll


def test_off_or_configured_zero_it_sleeps_in_the_poll_at_once(client: EngineClient) -> None:
    client.poller = ScriptedPoller(client.responses, empty=0)  # type: ignore[assignment]
    client._ready(100)  # off until turned on
    client.busy_poll(True)
    client.busy_poll(False)
    client._ready(100)
    client.busy_poll_ns = 0  # `[zmq] strategy_busy_poll_us = 0`
    client.busy_poll(True)
    client._ready(100)
    assert client.poller.timeouts == [100, 100, 100]


def test_past_the_busy_poll_time_it_sleeps_in_the_poll(client: EngineClient) -> None:
    client.busy_poll(True)
    client.busy_poll_ns = 1  # over after the first look
    client.poller = ScriptedPoller(client.responses, empty=1)  # type: ignore[assignment]
    assert client._ready(100) == {client.responses: zmq.POLLIN}
    assert client.poller.timeouts == [0, 100]
    client.poller.timeouts.clear()
    client._ready(0)  # a poll that must not wait does not spin either
    assert client.poller.timeouts == [0]


def test_a_message_published_while_it_spins_is_yielded_as_without_it() -> None:
    """On real sockets: trades published by another thread while the client busy-polls reach it
    whole and in order."""
    ends = _endpoints()
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.bind(ends[0])
    client = EngineClient(ZmqConfig(*ends, strategy_busy_poll_us=100_000), "POLUSDT")
    client.busy_poll(True)
    trades = [wire.Trade("POLUSDT", 1_000 + i, 2_000 + i, 10 + i, 0.2, 5.0, "sell") for i in range(20)]
    try:
        deadline = time.monotonic() + 10
        probe = wire.HealthMetrics(1, "POLUSDT", "live", *[0.0] * 4, *[0] * 13)
        while not list(client.poll(20)):  # until the subscription has reached the publisher
            assert time.monotonic() < deadline, "the subscription never reached the publisher"
            pub.send_multipart([b"health", wire.encode(probe)])
        while list(client.poll(50)):
            pass

        def publish() -> None:
            for t in trades:
                pub.send_multipart([b"trade.POLUSDT", wire.encode(t)])
                time.sleep(0.001)

        sender = threading.Thread(target=publish)
        sender.start()
        got: list[object] = []
        while len(got) < len(trades) and time.monotonic() < deadline:
            got.extend(m for m in client.poll(100) if isinstance(m, wire.Trade))
        sender.join()
    finally:
        client.close()
        pub.close()
        ctx.term()
    assert got == trades
    assert not client.malformed and client.trades_missed == 0


class Spy(SilentEngine):
    def __init__(self) -> None:
        super().__init__()
        self.busy: list[bool] = []

    def busy_poll(self, on: bool) -> None:
        self.busy.append(on)


class Scripted:
    """The real detector, with the transitions the test appends (its state the last one's)."""

    def __init__(self, real: object) -> None:
        self._real = real
        self.transitions: list[Transition] = []

    @property
    def state(self) -> State:
        return self.transitions[-1].current if self.transitions else State.SLEEP

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)


def test_the_runner_busy_polls_while_its_detector_is_awake() -> None:
    spy = Spy()
    runner = Runner(load(REPO / "config" / "config.toml"), spy, clock=lambda: 42 * S)  # type: ignore[arg-type]
    detector = Scripted(runner.detector)
    runner.detector = detector  # type: ignore[assignment]
    seen: list[list[bool]] = []
    for steps in (
        [],
        [(State.SLEEP, State.ALERT)],
        [(State.ALERT, State.ACTIVE), (State.ACTIVE, State.RECOVERY)],
        [],
        [(State.RECOVERY, State.SLEEP)],
        [(State.SLEEP, State.ALERT), (State.ALERT, State.SLEEP)],
        [(State.SLEEP, State.SHUTDOWN)],
    ):
        detector.transitions += [Transition(1 * S, a, b, "test") for a, b in steps]
        runner.step(0)
        seen.append(list(spy.busy))
        spy.busy.clear()
    assert seen == [[], [True], [True], [], [False], [False], [False]]


def test_a_runner_that_starts_with_its_detector_awake_busy_polls_at_once() -> None:
    """A detector restored awake (crash recovery restores its snapshot) has no new transition to
    announce it: the start turns busy polling on."""
    spy = Spy()
    runner = Runner(load(REPO / "config" / "config.toml"), spy, clock=lambda: 42 * S)  # type: ignore[arg-type]
    state = runner.detector.snapshot()
    state["detector"]["core"]["machine"]["state"] = "ACTIVE"
    runner.detector.restore(state)
    assert runner.detector.state is State.ACTIVE
    runner.start()
    assert spy.busy == [True]
