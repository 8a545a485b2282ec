"""Book conflation in the data client: of the books of one symbol in a poll batch only the newest is
kept; trades (and every other message) are never dropped, and order is kept."""

from __future__ import annotations

import socket
import time

import zmq

from flashcrash import wire
from flashcrash.config import ZmqConfig
from flashcrash.data_client.client import EngineClient, conflate


def test_conflate_keeps_the_newest_book_per_symbol_and_every_other_frame() -> None:
    batch = [
        [b"book.A", b"1"],
        [b"trade.A", b"2"],
        [b"book.B", b"3"],
        [b"book.A", b"4"],
        [b"health", b"5"],
        [b"trade.A", b"6"],
        [b"book.A", b"7"],
    ]
    assert [f[1] for f in conflate(batch)] == [b"2", b"3", b"5", b"6", b"7"]
    no_dupes = [[b"book.A", b"1"], [b"trade.A", b"2"], [b"book.B", b"3"]]
    assert conflate(no_dupes) == no_dupes


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_client_drops_stale_books_of_a_batch_and_counts_them() -> None:
    ends = [f"tcp://127.0.0.1:{_port()}" for _ in range(4)]
    ctx = zmq.Context.instance()
    pub = ctx.socket(zmq.PUB)
    pub.bind(ends[0])
    client = EngineClient(ZmqConfig(*ends), "POLUSDT")
    try:
        book = wire.OrderBookSnapshot("POLUSDT", 1, 1, 1, ((0.2, 1.0),), ((0.2001, 1.0),))
        # Wait for the subscription to reach the publisher.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not list(client.poll(10)):
            warm = wire.Trade("POLUSDT", 1, 1, 0, 0.2, 1.0, "sell")
            pub.send_multipart([b"trade.POLUSDT", wire.encode(warm)])
        sent = []
        for i in range(10):
            t = wire.Trade("POLUSDT", 10 + i, 10 + i, 100 + i, 0.2, 1.0, "buy")
            pub.send_multipart([b"trade.POLUSDT", wire.encode(t)])
            b = wire.OrderBookSnapshot("POLUSDT", 10 + i, 10 + i, i, book.bids, book.asks)
            pub.send_multipart([b"book.POLUSDT", wire.encode(b)])
            sent.append(t)
        time.sleep(0.3)  # everything is queued at the subscriber: one batch
        got = [m for m in client.poll(100) if not (isinstance(m, wire.Trade) and m.trade_id == 0)]
        trades = [m for m in got if isinstance(m, wire.Trade)]
        books = [m for m in got if isinstance(m, wire.OrderBookSnapshot)]
        assert trades == sent
        assert [b.update_id for b in books] == [9]
        assert client.conflated == 9
    finally:
        pub.close(0)
        client.close()
