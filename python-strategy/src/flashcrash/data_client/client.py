"""SUB to the data and response channels, PUSH to the command channel. Receiving never blocks longer
than the poll timeout; sending never blocks (a full queue is counted). Bad frames are counted by
reason and dropped.

Conflation: a book snapshot is the whole top of the book, so of the books of one symbol read in the
same poll batch only the newest matters. When the strategy falls behind, a batch holds many; the
older ones are dropped before decoding (by topic) and counted in `conflated`; should the newest
turn out malformed, the newest older one that decodes takes its place. Trades, health, state
changes and responses are never conflated, and the order of what is kept is the order received.

Each channel carries its own messages (docs/PROTOCOL.md): market data, health and state changes on the
data channel, responses on the response channel. Any other message on a channel (a trade on the
response channel, a response or a command on the data channel) is dropped and counted as
`wrong_channel`: market data that skipped the data channel's symbol filter must not reach the
indicators.

Trades lost before they got here (the feed's, or the engine's PUB dropping for a subscriber that fell
behind) show as jumps in the aggregate trade ids, which Binance numbers one after another: counted in
`trades_missed`. The feed counts its own in `HealthMetrics.trades_missed_count`. A trade whose id is
not above the last one taken was delivered already: dropped and counted, as `duplicate_trade` (the
same id) or `stale_trade` (a lower one), so no candle counts its volume twice. Except where the
engine may have started its ids again: the first trade after a new engine start (a new
`HealthMetrics.started_ts_ns`, or the engine's `StateChange` from `starting`) or after its feed's
new connection (`StateChange` feed to `syncing`, or back to `live`) is taken whatever its id, as the
engine's feed takes a new connection's first trade (a replay started again numbers its trades anew);
and, as the engine's feed does, after `STALE_RUN` lower ids in a row, each above the one before, the
ids are followed again from the latest (an engine that restarted unheard).

Busy polling (`[zmq] strategy_busy_poll_us`): while it is on (`busy_poll(True)`: the runner turns
it on while its detector is awake), `poll` first polls without waiting, again and again, for up to
that long, and only then sleeps in the poll. A message that arrives within it is taken by a running
thread with warm caches instead of one the kernel must wake: on a 2-vCPU VM this halves the median
tick-to-decision (docs/benchmarks/strategy-process.md). It costs the CPU it spins, up to a core
while messages keep coming less than that far apart."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator

import zmq

from flashcrash import wire
from flashcrash.config import ZmqConfig

log = logging.getLogger(__name__)


BOOK_TOPIC = b"book."
# The messages each channel carries (docs/PROTOCOL.md).
DATA_TYPES = frozenset(wire.DATA_TYPES)
RESPONSE_TYPES = frozenset(wire.RESPONSE_TYPES)
# Lower trade ids in a row (each above the one before) after which they are followed, as the engine's
# feed follows its venue's (`trade_ids::STALE_RUN`): a stream that went back, not a repeat.
STALE_RUN = 10
_NOBLOCK = int(zmq.NOBLOCK)
_RCVMORE = int(zmq.RCVMORE)  # a plain int: `Socket.get` then skips the option enum's lookup


def conflate(batch: list[list[bytes]]) -> list[list[bytes]]:
    """The batch without the book snapshots followed, later in the batch, by a book of the same topic
    (symbol); everything else is kept, in order. One pass from the end: a book whose topic was already
    seen there is stale."""
    seen: set[bytes] = set()
    kept: list[list[bytes]] = []
    keep = kept.append
    dropped = False
    for frames in reversed(batch):
        if frames and frames[0].startswith(BOOK_TOPIC):
            topic = frames[0]
            if topic in seen:
                dropped = True
                continue
            seen.add(topic)
        keep(frames)
    if not dropped:
        return batch  # at most one book per symbol: nothing to drop
    kept.reverse()
    return kept


def receive_batch(sock: zmq.Socket, max_batch: int) -> list[list[bytes]]:  # type: ignore[type-arg]
    """Up to `max_batch` multipart messages already queued on `sock`, without waiting (what
    `recv_multipart(NOBLOCK)` in a loop returns, with less per-message overhead)."""
    recv, more = sock.recv, sock.get
    batch: list[list[bytes]] = []
    add = batch.append
    try:
        for _ in range(max_batch):
            frames = [recv(_NOBLOCK)]
            while more(_RCVMORE):
                frames.append(recv(_NOBLOCK))
            add(frames)
    except zmq.Again:
        pass
    return batch


def is_ipv6(endpoint: str) -> bool:
    """`tcp://[ADDRESS]:PORT`: a host in brackets is an IPv6 address."""
    return endpoint.partition("://")[2].startswith("[")


def connect(sock: zmq.Socket[bytes], endpoint: str) -> None:
    """Connects `sock` to `endpoint`; ZeroMQ reaches an IPv6 address (`tcp://[::1]:5555`) only on a
    socket with IPV6 set."""
    if is_ipv6(endpoint):
        sock.setsockopt(zmq.IPV6, 1)
    sock.connect(endpoint)


class EngineClient:
    def __init__(self, cfg: ZmqConfig, symbol: str) -> None:
        self.symbol = symbol
        self.ctx = zmq.Context()
        self.data = self.ctx.socket(zmq.SUB)
        self.responses = self.ctx.socket(zmq.SUB)
        self.commands = self.ctx.socket(zmq.PUSH)
        for s in (self.data, self.responses, self.commands):
            s.setsockopt(zmq.LINGER, 500)
        self.data.setsockopt(zmq.RCVHWM, 100_000)
        # Responses are few and each matters (a lost fill is found again only by a later query):
        # never dropped on this side, however long the loop is away.
        self.responses.setsockopt(zmq.RCVHWM, 0)
        self.commands.setsockopt(zmq.SNDHWM, 1_000)
        # Commands queue only on a live connection: one sent while no engine listens (it died, or is
        # not up yet) is refused at once, never held for the next engine to act on later (a stale
        # order placed into another market). The order manager's timeout then asks again.
        self.commands.setsockopt(zmq.IMMEDIATE, 1)
        for sock, endpoint in (
            (self.data, cfg.data_endpoint),
            (self.responses, cfg.response_endpoint),
            (self.commands, cfg.command_endpoint),
        ):
            connect(sock, endpoint)
        for topic in (f"book.{symbol}", f"trade.{symbol}", "health", "state"):
            self.data.setsockopt_string(zmq.SUBSCRIBE, topic)
        self.responses.setsockopt_string(zmq.SUBSCRIBE, "resp")
        self.poller = zmq.Poller()
        self.poller.register(self.data, zmq.POLLIN)
        self.poller.register(self.responses, zmq.POLLIN)
        self.busy_poll_ns = cfg.strategy_busy_poll_us * 1000
        self._spinning = False
        self.received: Counter[str] = Counter()
        self.malformed: Counter[str] = Counter()
        self.conflated = 0  # book snapshots dropped: a newer book of the same symbol was in the batch
        self.trades_missed = 0  # jumps in the trade ids received
        self.commands_not_queued = 0  # refused by `send`: no engine connected, or its queue full
        self._last_trade_id: int | None = None
        # The engine may have started its trade ids again since the last trade taken: the next one is
        # taken whatever its id (`_take_trade`).
        self._ids_anew = False
        self._engine_started_ns: int | None = None  # `HealthMetrics.started_ts_ns` last seen
        self._stale: tuple[int, int] | None = None  # the last lower id dropped, and how many in a row

    def watch(self, fd: int) -> None:
        """`poll` returns (yielding nothing of it) as soon as `fd` is readable too: another thread's
        wake-up (`Wakeup`: a commit the runner waits for is done), which its owner reads."""
        self.poller.register(fd, zmq.POLLIN)

    def unwatch(self, fd: int) -> None:
        self.poller.unregister(fd)

    def busy_poll(self, on: bool) -> None:
        """Whether `poll` spins (up to `[zmq] strategy_busy_poll_us`, when that is not 0) before it
        sleeps."""
        self._spinning = on and self.busy_poll_ns > 0

    def _ready(self, timeout_ms: int) -> dict[object, int]:
        """The poller's ready sockets and fds: at once if any is, else (spinning) as soon as one is
        within the busy-poll time, else within `timeout_ms`."""
        poll = self.poller.poll
        if self._spinning and timeout_ms:
            clock = time.perf_counter_ns
            end = clock() + self.busy_poll_ns
            while not (ready := poll(0)):
                if clock() >= end:
                    break
            else:
                return dict(ready)
        return dict(poll(timeout_ms))

    def send(self, msg: object) -> bool:
        try:
            self.commands.send(wire.encode(msg), flags=zmq.NOBLOCK)  # type: ignore[arg-type]
            return True
        except zmq.Again:  # no engine connected, or its queue full
            self.commands_not_queued += 1
            return False

    def poll(self, timeout_ms: int, max_batch: int = 1000) -> Iterator[object]:
        """Yields decoded messages; responses first, so fills are never starved by market data."""
        ready = self._ready(timeout_ms)
        for sock in (self.responses, self.data):
            if sock not in ready:
                continue
            batch = whole = receive_batch(sock, max_batch)
            if sock is self.data:
                kept = conflate(batch)
                self.conflated += len(batch) - len(kept)
                batch = kept
            received, decode = self.received, wire.decode
            # Market data of another symbol than ours (a payload under our topic) is dropped and
            # counted: it must not reach the detector or the candles.
            symbol = self.symbol if sock is self.data else None
            allowed = DATA_TYPES if sock is self.data else RESPONSE_TYPES
            for frames in batch:
                if len(frames) == 2:  # `_decode`, inline for the common case
                    try:
                        msg = decode(frames[1])
                    except wire.WireError:
                        msg = self._decode(frames)
                    else:
                        received[type(msg).__name__] += 1
                else:
                    msg = self._decode(frames)
                if msg is None:
                    if whole is batch or not frames[0].startswith(BOOK_TOPIC):
                        continue
                    msg = self._older_book(whole, frames)
                    if msg is None:
                        continue
                kind = type(msg)
                if kind not in allowed:
                    self._drop("wrong_channel", frames, f"a {kind.__name__} is not of this channel")
                    continue
                if symbol is not None:
                    if getattr(msg, "symbol", symbol) != symbol:
                        self.malformed["other_symbol"] += 1
                        continue
                    if kind is wire.Trade:
                        if not self._take_trade(msg.trade_id):
                            continue
                    elif kind is not wire.OrderBookSnapshot:
                        self._engine_news(msg)
                yield msg

    def _older_book(self, whole: list[list[bytes]], bad: list[bytes]) -> object | None:
        """The newest book of `bad`'s topic before it in the batch (`whole`) that decodes: conflation
        dropped it for `bad`, which turned out malformed; the batch still yields a book."""
        at = next(i for i, frames in enumerate(whole) if frames is bad)
        for frames in reversed(whole[:at]):
            if frames[0] == bad[0]:
                self.conflated -= 1  # decoded after all: yielded, or counted malformed
                if (msg := self._decode(frames)) is not None:
                    return msg
        return None

    def _engine_news(self, msg: object) -> None:
        """A health or state change of the engine: whether its trade ids may start anew from here."""
        if type(msg) is wire.HealthMetrics:
            known, self._engine_started_ns = self._engine_started_ns, msg.started_ts_ns
            if known is not None and known != msg.started_ts_ns:
                self._ids_anew = True  # another engine
        elif type(msg) is wire.StateChange and (
            (msg.component == "feed" and msg.current in ("syncing", "live"))
            or (msg.component == "engine" and msg.previous == "starting")
        ):
            self._ids_anew = True  # a new connection of the feed, or a new engine

    def _take_trade(self, trade_id: int) -> bool:
        """Whether the trade of `trade_id` is taken (else it is dropped and counted); counts the ids
        it jumps over as missed."""
        last = self._last_trade_id
        if last is not None and trade_id <= last:
            if trade_id == last:
                self._stale = None  # the stream is where it was (as the engine's feed judges it)
                self._drop("duplicate_trade", None, f"trade id {trade_id} again")
                return False
            if not self._ids_anew:
                s = self._stale
                run = s[1] + 1 if s is not None and trade_id > s[0] else 1
                if run < STALE_RUN:
                    self._stale = (trade_id, run)
                    self._drop("stale_trade", None, f"trade id {trade_id} after {last}")
                    return False
                log.warning("trade ids followed again from %d (after %d): %d lower ids in a row",
                            trade_id, last, run)  # fmt: skip
            last = None  # ids started anew: nothing missed before this one
        self._last_trade_id, self._ids_anew, self._stale = trade_id, False, None
        if last is None or trade_id == last + 1:
            return True
        before = self.trades_missed
        self.trades_missed += trade_id - last - 1
        if before.bit_length() < self.trades_missed.bit_length():  # the first jump, then each doubling
            log.warning(
                "trade ids jumped from %d to %d: %d trades missed so far (the feed's own are its "
                "health's trades_missed_count; the rest were dropped between engine and strategy)",
                last, trade_id, self.trades_missed,
            )  # fmt: skip
        return True

    def _drop(self, reason: str, frames: list[bytes] | None, why: str) -> None:
        """A decoded message dropped: counted by `reason`, the first few logged."""
        self.malformed[reason] += 1
        if sum(self.malformed.values()) <= 10:
            where = f" on {frames[0][:32]!r}" if frames else ""
            log.warning("dropped a message%s (%s): %s", where, reason, why)

    def _decode(self, frames: list[bytes]) -> object | None:
        if len(frames) != 2:
            self.malformed["frame_count"] += 1
            return None
        try:
            msg = wire.decode(frames[1])
        except wire.WireError as e:
            self.malformed["payload"] += 1
            if sum(self.malformed.values()) <= 10:
                log.warning("dropped malformed message on %r: %s", frames[0][:32], e)
            return None
        self.received[type(msg).__name__] += 1
        return msg

    def close(self) -> None:
        for s in (self.data, self.responses, self.commands):
            s.close()
        self.ctx.term()
