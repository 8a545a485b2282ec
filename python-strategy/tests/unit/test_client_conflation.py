"""Book conflation in the data client: of the books of one symbol in a poll batch only the newest is
kept; trades (and every other message) are never dropped, and order is kept."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

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


@contextlib.contextmanager
def _subscribed() -> Iterator[tuple[zmq.Socket, EngineClient]]:  # type: ignore[type-arg]
    """An engine's data PUB and a client whose subscription has reached it."""
    ends = [f"tcp://127.0.0.1:{_port()}" for _ in range(4)]
    pub = zmq.Context.instance().socket(zmq.PUB)
    pub.bind(ends[0])
    client = EngineClient(ZmqConfig(*ends), "POLUSDT")
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not list(client.poll(10)):
            warm = wire.Trade("POLUSDT", 1, 1, 0, 0.2, 1.0, "sell")
            pub.send_multipart([b"trade.POLUSDT", wire.encode(warm)])
        yield pub, client
    finally:
        pub.close(0)
        client.close()


def _one_batch(
    pub: zmq.Socket,  # type: ignore[type-arg]
    client: EngineClient,
    bad_books: set[int] = frozenset(),  # type: ignore[assignment]
) -> tuple[list[wire.Trade], list[object]]:
    """Ten trades, each followed by a book (update ids 0-9; those in `bad_books` malformed), all
    queued at the client before one poll: the trades sent and what the poll yielded."""
    sent = []
    for i in range(10):
        t = wire.Trade("POLUSDT", 10 + i, 10 + i, 100 + i, 0.2, 1.0, "buy")
        pub.send_multipart([b"trade.POLUSDT", wire.encode(t)])
        b = wire.OrderBookSnapshot("POLUSDT", 10 + i, 10 + i, i, ((0.2, 1.0),), ((0.2001, 1.0),))
        pub.send_multipart([b"book.POLUSDT", b"\xc1" if i in bad_books else wire.encode(b)])
        sent.append(t)
    time.sleep(0.3)  # everything is queued at the subscriber: one batch
    got = [m for m in client.poll(100) if not (isinstance(m, wire.Trade) and m.trade_id == 0)]
    return sent, got


def test_client_drops_stale_books_of_a_batch_and_counts_them() -> None:
    with _subscribed() as (pub, client):
        sent, got = _one_batch(pub, client)
        trades = [m for m in got if isinstance(m, wire.Trade)]
        books = [m for m in got if isinstance(m, wire.OrderBookSnapshot)]
        assert trades == sent
        assert [b.update_id for b in books] == [9]
        assert client.conflated == 9


def test_a_malformed_newest_book_gives_way_to_the_newest_older_one_that_decodes() -> None:
    """Books 8 and 9 of the batch are malformed: book 7 is yielded in their place (the batch still
    updates the book), both bad ones are counted malformed, and 7 books conflated, not 9."""
    with _subscribed() as (pub, client):
        sent, got = _one_batch(pub, client, bad_books={8, 9})
        assert [m for m in got if isinstance(m, wire.Trade)] == sent
        assert [b.update_id for b in got if isinstance(b, wire.OrderBookSnapshot)] == [7]
        assert client.malformed == {"payload": 2}
        assert client.conflated == 7
