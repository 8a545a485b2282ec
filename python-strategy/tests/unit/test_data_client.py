"""The data client on real ZeroMQ sockets (random loopback ports): a frame that is not one valid
message is dropped and counted by reason (`payload` for a bad MessagePack body, `frame_count` for a
message of other than two frames, even when its second frame is a valid message, `other_symbol` for
market data of another symbol, `wrong_channel` for a message the channel does not carry, a trade on
the response channel among them) and never yielded;
responses are yielded before market data of the same poll; a command the PUSH socket cannot queue
(no engine connected, or its queue full) is refused without blocking and counted in
`commands_not_queued` (not as malformed), and never reaches an engine that starts later. Jumps in
the trade ids are counted as trades missed; a trade whose id is not above the last one is dropped
(`duplicate_trade`, `stale_trade`) unless the engine may have started its ids anew."""

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
from flashcrash.data_client.client import EngineClient, is_ipv6


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
    wire.HealthMetrics(1, "POLUSDT", "live", *[0.0] * 4, *[0] * 13),
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


def _health(started_ts_ns: int) -> wire.HealthMetrics:
    return wire.HealthMetrics(2, "POLUSDT", "live", *[0.0] * 4, *[0] * 12, started_ts_ns)


def _send_data(engine: Engine, msgs: list[object]) -> list[object]:
    """`msgs` published on the data channel, then a last trade (id 1000, or 1 after the last id
    when that is above) as the end mark; what the client yields until it, the mark left out."""
    trades = [m.trade_id for m in msgs if isinstance(m, wire.Trade)]
    mark = _trade(max(1000, max(trades, default=0) + 1))
    for msg in [*msgs, mark]:
        topic = b"trade.POLUSDT" if isinstance(msg, wire.Trade) else b"state"
        if isinstance(msg, wire.HealthMetrics):
            topic = b"health"
        engine.data.send_multipart([topic, wire.encode(msg)])
    got: list[object] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and mark not in got:
        got += engine.poll(50)
    assert got[-1:] == [mark]
    return got[:-1]


def test_jumps_in_the_trade_ids_are_counted_as_missed_and_every_trade_still_yielded(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """Trade ids 1, 2, 5 miss 3 and 4; a lower id after the engine restarted (7 -> 3, its health's
    new `started_ts_ns` before it: a replay's ids anew) misses nothing; 3, 4, 10 miss 5 to 9. No
    trade is dropped, and the first jump is logged with its ids."""
    engine.warm_up()
    ids = [1, 2, 5, 6, 7, 3, 4, 10]
    with caplog.at_level("WARNING", logger="flashcrash.data_client.client"):
        got = _send_data(engine, [*map(_trade, ids[:5]), _health(2), *map(_trade, ids[5:])])
    assert got == [*map(_trade, ids[:5]), _health(2), *map(_trade, ids[5:])]
    assert engine.client.trades_missed == 2 + 5 + 989  # 10 -> the end mark 1000
    assert "trade ids jumped from 2 to 5: 2 trades missed so far" in caplog.text
    assert not engine.client.malformed


def test_a_trade_delivered_again_is_dropped_and_counted(engine: Engine) -> None:
    """The same trade three times is yielded once (its volume must count once in the candles): the
    repeats counted as `duplicate_trade`; a lower id than the last one (delivered already, the same
    engine) is dropped as `stale_trade`; neither counts as trades missed nor moves the last id."""
    engine.warm_up()
    sent = [_trade(1), _trade(2), _trade(2), _trade(2), _trade(1), _trade(3), _trade(3)]
    got = _send_data(engine, sent)
    assert got == [_trade(1), _trade(2), _trade(3)]
    assert engine.client.malformed == {"duplicate_trade": 3, "stale_trade": 1}
    assert engine.client.trades_missed == 996  # 3 -> the end mark 1000 only


@pytest.mark.parametrize(
    "anew",
    [
        _health(7),  # a new engine start in its health
        wire.StateChange(2, "engine", "starting", "running", "engine ready"),  # a new engine
        wire.StateChange(2, "feed", "reconnecting", "syncing", "connected, waiting for snapshot"),
        wire.StateChange(2, "feed", "syncing", "live", "synced"),  # a restart whose start was unheard
    ],
    ids=["new start", "engine starting", "feed syncing", "feed live"],
)
def test_after_an_engine_or_feed_start_lower_ids_are_followed(engine: Engine, anew: object) -> None:
    """After the engine started again (or its feed made a new connection, whose first trade the
    engine takes whatever its id) a lower id is followed, nothing missed; a repeat of the last id is
    still dropped, and a lower id again after that is stale."""
    engine.warm_up()
    got = _send_data(engine, [_trade(50), _trade(51), anew, _trade(51), _trade(3), _trade(4), _trade(2)])
    assert got == [_trade(50), _trade(51), anew, _trade(3), _trade(4)]
    assert engine.client.malformed == {"duplicate_trade": 1, "stale_trade": 1}
    assert engine.client.trades_missed == 995  # 4 -> the end mark 1000 only


def test_a_run_of_lower_ids_is_followed_from_its_tenth(engine: Engine) -> None:
    """Lower ids with no start heard (an engine restarted before our subscription was back, or its
    feed's ids followed again): dropped as stale until ten in a row, each above the one before, then
    followed from the tenth, as the engine's feed follows its venue's (`STALE_RUN`); a lower id
    repeated is no such run."""
    engine.warm_up()
    repeated = [_trade(5)] * 12
    got = _send_data(engine, [_trade(100), *repeated, *map(_trade, range(1, 13))])
    assert got == [_trade(100), _trade(10), _trade(11), _trade(12)]
    assert engine.client.malformed == {"stale_trade": 12 + 9}


def test_market_data_of_another_symbol_is_dropped_and_counted(engine: Engine) -> None:
    """A trade, a book or a health of another symbol under our topics never reaches the strategy:
    counted as `other_symbol`; ours on either side of them are yielded."""
    engine.warm_up()
    other = wire.Trade("ETHUSDT", 11, 11, 1, 0.2, 1.0, "buy")
    book = wire.OrderBookSnapshot("ETHUSDT", 12, 12, 1, ((0.2, 1.0),), ((0.21, 1.0),))
    health = wire.HealthMetrics(13, "ETHUSDT", "live", *[0.0] * 4, *[0] * 13)
    for topic, msg in (
        (b"trade.POLUSDT", _trade(1)),
        (b"trade.POLUSDT", other),
        (b"book.POLUSDT", book),
        (b"health", health),
        (b"trade.POLUSDT", _trade(2)),
    ):
        engine.data.send_multipart([topic, wire.encode(msg)])
    got: list[object] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _trade(2) not in got:
        got += engine.poll(50)
    assert got == [_trade(1), _trade(2)]
    assert engine.client.malformed == {"other_symbol": 3}


def test_messages_on_the_wrong_channel_are_dropped_and_counted(engine: Engine) -> None:
    """Market data on the response channel (where no symbol filter applies) never reaches the
    indicators: a trade, even of another symbol, a book and a health there are dropped, counted as
    `wrong_channel`; so are a response and a command on the data channel. The messages of each
    channel around them are yielded."""
    engine.warm_up()
    other = wire.Trade("ETHUSDT", 11, 11, 1, 0.2, 1.0, "buy")
    book = wire.OrderBookSnapshot("POLUSDT", 12, 12, 1, ((0.2, 1.0),), ((0.21, 1.0),))
    for msg in (other, _trade(1), book, _health(0), wire.Success("c-1", 2, "ok")):
        engine.resp.send_multipart([b"resp", wire.encode(msg)])
    engine.data.send_multipart([b"state", wire.encode(wire.Success("c-2", 3, "ok"))])
    engine.data.send_multipart([b"state", wire.encode(wire.Shutdown("c-3", 4, "x"))])
    engine.data.send_multipart([b"trade.POLUSDT", wire.encode(_trade(2))])
    got: list[object] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not {_trade(2), wire.Success("c-1", 2, "ok")} <= set(got):
        got += engine.poll(50)
    assert len(got) == 2 and set(got) == {wire.Success("c-1", 2, "ok"), _trade(2)}
    assert engine.client.malformed == {"wrong_channel": 6}


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


def _connected(client: EngineClient, cmd: object, timeout_s: float = 10.0) -> None:
    """Sends `cmd` until the PUSH socket takes it (its connection to the engine is up)."""
    deadline = time.monotonic() + timeout_s
    while not client.send(cmd):
        assert time.monotonic() < deadline, "the command socket never connected"
        time.sleep(0.01)


def test_a_command_is_refused_while_no_engine_listens_and_never_reaches_a_later_one() -> None:
    """No engine on the command endpoint: each `send` returns False at once and is counted in
    `commands_not_queued` (nothing is held for an engine that starts later). An engine that dies:
    what is sent after it is gone never reaches the engine started in its place; that engine gets
    only what is sent once it is up."""
    ends = [_endpoint() for _ in range(4)]
    client = EngineClient(ZmqConfig(*ends), "POLUSDT")
    ctx = zmq.Context()
    try:
        results = [client.send(wire.CancelOrder(f"c{i}", 1, "POLUSDT", "x")) for i in range(5)]
        assert results == [False] * 5
        assert client.commands_not_queued == 5 and not client.malformed
        first = ctx.socket(zmq.PULL)
        first.bind(ends[1])
        _connected(client, wire.CancelOrder("up-1", 2, "POLUSDT", "x"))
        assert first.poll(5000)
        assert wire.decode(first.recv()).command_id == "up-1"  # type: ignore[attr-defined]
        first.close(linger=0)  # the engine dies
        deadline = time.monotonic() + 10
        while client.send(wire.CancelOrder("during", 3, "POLUSDT", "x")):
            assert time.monotonic() < deadline, "the dead engine's connection was never dropped"
            time.sleep(0.01)
        stale = [client.send(wire.CancelOrder(f"stale-{i}", 4, "POLUSDT", "x")) for i in range(5)]
        assert stale == [False] * 5
        second = ctx.socket(zmq.PULL)
        second.bind(ends[1])  # the engine restarted
        _connected(client, wire.CancelOrder("up-2", 5, "POLUSDT", "x"))
        got = []
        while second.poll(300):
            got.append(wire.decode(second.recv()).command_id)  # type: ignore[attr-defined]
        assert got == ["up-2"]
        second.close(linger=0)
    finally:
        client.commands.setsockopt(zmq.LINGER, 0)
        client.close()
        ctx.term()


def test_a_full_command_queue_refuses_and_counts_without_blocking() -> None:
    """An engine connected but not reading: the PUSH socket queues up to its high-water mark (and the
    kernel's buffers), then each `send` returns False at once and is counted in `commands_not_queued`."""
    ends = [_endpoint() for _ in range(4)]
    client = EngineClient(ZmqConfig(*ends), "POLUSDT")
    ctx = zmq.Context()
    engine = ctx.socket(zmq.PULL)
    engine.setsockopt(zmq.RCVHWM, 1)
    engine.bind(ends[1])
    try:
        cmd = wire.CancelOrder("c", 1, "POLUSDT", "x")
        _connected(client, cmd)
        client.commands_not_queued = 0  # the refusals while it connected
        results = [client.send(cmd) for _ in range(200_000)]
        refused = results.count(False)
        assert results[0] is True and refused > 0  # (the I/O thread frees room now and then)
        assert client.commands_not_queued == refused and not client.malformed
    finally:
        client.commands.setsockopt(zmq.LINGER, 0)
        client.close()
        engine.close(linger=0)
        ctx.term()


def _ipv6_loopback() -> str | None:
    """A free `tcp://[::1]:PORT`, or None when the host has no IPv6 loopback."""
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
            return f"tcp://[::1]:{s.getsockname()[1]}"
    except OSError:
        return None


def test_is_ipv6() -> None:
    assert is_ipv6("tcp://[::1]:5555") and is_ipv6("tcp://[fe80::1%lo]:1")
    assert not is_ipv6("tcp://127.0.0.1:5555") and not is_ipv6("tcp://localhost:5555")


def test_an_ipv6_engine_is_reached() -> None:
    """Endpoints on `[::1]` (which the config accepts and the engine binds): the client sets IPV6 on
    its sockets, so it receives the engine's market data and its commands reach the engine."""
    data, command = _ipv6_loopback(), _ipv6_loopback()
    if data is None or command is None:
        pytest.skip("no IPv6 loopback on this host")
    ctx = zmq.Context()
    pub, pull = ctx.socket(zmq.PUB), ctx.socket(zmq.PULL)
    for sock, endpoint in ((pub, data), (pull, command)):
        sock.setsockopt(zmq.IPV6, 1)
        sock.bind(endpoint)
    client = EngineClient(ZmqConfig(data, command, _endpoint(), _endpoint()), "POLUSDT")
    try:
        deadline = time.monotonic() + 10
        got: list[object] = []
        while WARM[0] not in got:
            assert time.monotonic() < deadline, "no market data reached the client over IPv6"
            pub.send_multipart([b"health", wire.encode(WARM[0])])
            got = list(client.poll(20))
        _connected(client, wire.CancelOrder("v6", 1, "POLUSDT", "x"))
        assert pull.poll(5000)
        assert wire.decode(pull.recv()).command_id == "v6"  # type: ignore[attr-defined]
    finally:
        client.commands.setsockopt(zmq.LINGER, 0)
        client.close()
        pub.close(linger=0)
        pull.close(linger=0)
        ctx.term()
