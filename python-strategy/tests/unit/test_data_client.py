"""The data client on real ZeroMQ sockets (random loopback ports): a frame that is not one valid
message is dropped and counted by reason (`payload` for a bad MessagePack body, `frame_count` for a
message of other than two frames, even when its second frame is a valid message) and never yielded;
responses are yielded before market data of the same poll; a command the PUSH socket cannot queue
is refused without blocking and counted as `command_queue_full`."""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Iterator

import msgpack
import pytest
import zmq

from flashcrash import wire
from flashcrash.config import ZmqConfig
from flashcrash.data_client.client import EngineClient


def _endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


class Engine:
    """The engine's data and response PUB sockets, and a client connected to them."""

    def __init__(self) -> None:
        ends = [_endpoint() for _ in range(4)]
        self.ctx = zmq.Context()
        self.data = self.ctx.socket(zmq.PUB)
        self.resp = self.ctx.socket(zmq.PUB)
        for s in (self.data, self.resp):
            s.setsockopt(zmq.LINGER, 0)
        self.data.bind(ends[0])
        self.resp.bind(ends[2])
        self.client = EngineClient(ZmqConfig(*ends), "POLUSDT")

    def warm_up(self) -> None:
        """Until both subscriptions have reached their publisher (a PUB drops what it sends before).
        The warm-up messages (`WARM`) are valid and of their own types: the tests leave them out."""
        deadline = time.monotonic() + 10
        seen: set[object] = set()
        while time.monotonic() < deadline and seen != set(WARM):
            for sock, topic, msg in ((self.data, b"health", WARM[0]), (self.resp, b"resp", WARM[1])):
                sock.send_multipart([topic, wire.encode(msg)])
            seen |= set(self.client.poll(20))
        assert seen == set(WARM), "subscriptions never reached the publishers"
        while list(self.client.poll(100)):  # until quiet: nothing of the warm-up is left in flight
            pass

    def poll(self, timeout_ms: int) -> list[object]:
        """What one `poll` yields, without the warm-up messages still arriving."""
        return [m for m in self.client.poll(timeout_ms) if m not in WARM]

    def close(self) -> None:
        self.client.close()
        self.data.close()
        self.resp.close()
        self.ctx.term()


@pytest.fixture
def engine() -> Iterator[Engine]:
    e = Engine()
    yield e
    e.close()


WARM = (
    wire.HealthMetrics(1, "POLUSDT", "live", *[0.0] * 4, *[0] * 12),
    wire.Success("warm", 1, "warm"),
)


def _trade(tid: int) -> wire.Trade:
    return wire.Trade("POLUSDT", 10 + tid, 10 + tid, tid, 0.2, 1.0, "buy")


def _wait_readable(sock: zmq.Socket, timeout_ms: int = 5000) -> None:  # type: ignore[type-arg]
    assert sock.poll(timeout_ms), "nothing arrived"


def test_bad_frames_are_dropped_and_counted_by_reason(engine: Engine) -> None:
    """Two bad payloads count as `payload`; a one-frame and a three-frame message count as
    `frame_count` (the three-frame one although its second frame is a valid Trade); only the valid
    trades are yielded, in order, and counted as received."""
    engine.warm_up()
    bad_price = {**_trade(2).to_map(), "price": math.nan}
    frames = [
        [b"trade.POLUSDT", wire.encode(_trade(1))],
        [b"trade.POLUSDT", b"\xc1"],  # not MessagePack
        [b"trade.POLUSDT", msgpack.packb(bad_price)],  # a NaN price
        [b"trade.POLUSDT"],  # one frame
        [b"trade.POLUSDT", wire.encode(_trade(3)), b"extra"],  # three frames
        [b"trade.POLUSDT", wire.encode(_trade(4))],
    ]
    for f in frames:
        engine.data.send_multipart(f)
    got: list[object] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _trade(4) not in got:
        got += engine.poll(50)
    assert got == [_trade(1), _trade(4)]
    assert engine.client.malformed == {"payload": 2, "frame_count": 2}
    assert engine.client.received["Trade"] == 2


def test_responses_come_before_market_data_of_the_same_poll(engine: Engine) -> None:
    """With a trade and a response both waiting, the response (a fill may be in it) is yielded first,
    although the trade was sent first."""
    engine.warm_up()
    engine.data.send_multipart([b"trade.POLUSDT", wire.encode(_trade(7))])
    _wait_readable(engine.client.data)
    engine.resp.send_multipart([b"resp", wire.encode(wire.Success("c-1", 2, "ok"))])
    _wait_readable(engine.client.responses)
    got = engine.poll(100)
    assert got == [wire.Success("c-1", 2, "ok"), _trade(7)]


def test_a_full_command_queue_refuses_and_counts_without_blocking() -> None:
    """No engine on the command endpoint: the PUSH socket queues up to its high-water mark, then each
    `send` returns False at once and is counted as `command_queue_full`."""
    client = EngineClient(ZmqConfig(*(_endpoint() for _ in range(4))), "POLUSDT")
    try:
        cmd = wire.CancelOrder("c", 1, "POLUSDT", "x")
        results = [client.send(cmd) for _ in range(5000)]
        refused = results.count(False)
        assert results[0] is True and refused > 0
        assert results == [True] * (5000 - refused) + [False] * refused  # full stays full
        assert client.malformed == {"command_queue_full": refused}
    finally:
        client.commands.setsockopt(zmq.LINGER, 0)
        client.close()
