"""The fast paths of the receive + detect path give exactly what the generic code gives: the wire
decoder's Trade/OrderBookSnapshot path against the kind-driven `_from_map`, the detector's book check
(book-wide in the compiled guard, with the binding reading the Python levels) against a level-by-level
one, and the detector measuring only the last book of each second."""

from __future__ import annotations

import math
import random
from collections import Counter
from typing import Any

import msgpack
import pytest
from detector_fixtures import started, taken
from hypothesis import given, settings
from hypothesis import strategies as st

from flashcrash import wire
from flashcrash.config import EventDetectionConfig
from flashcrash.event_detector import Detector, Readings

S = 1_000_000_000

# Values the fast paths must tell apart: good floats, the invalid ones, and other MessagePack types.
odd = st.sampled_from([0.0, -0.0, -1.0, math.nan, math.inf, -math.inf, 1, True, None, "1.0", 1e308])
floats = st.floats(min_value=1e-8, max_value=1e9) | odd
level = st.one_of(
    st.tuples(floats, floats).map(list),
    st.lists(floats, max_size=3),
    odd,
)
sides = st.lists(level, max_size=5)
uints = st.integers(min_value=0, max_value=2**64 - 1) | st.sampled_from([-1, True, 1.0, None])


def generic(payload: bytes) -> Any:
    """The kind-driven decoder alone (what `decode` did before its fast paths)."""
    m = msgpack.unpackb(payload, raw=False, strict_map_key=True)
    cls = wire.BY_TYPE[m["type"]]
    return wire._from_map(cls, m, cls.__name__)


def same_outcome(payload: bytes) -> None:
    try:
        expected = generic(payload)
    except wire.WireError as e:
        with pytest.raises(wire.WireError) as got:
            wire.decode(payload)
        assert str(got.value) == str(e)
        return
    msg = wire.decode(payload)
    if isinstance(msg, wire.OrderBookSnapshot):  # proven (guard skips the levels) iff they are good
        assert wire.levels_proven(msg) == wire.book_levels_ok(msg.bids, msg.asks)
    assert type(msg) is type(expected)
    assert msg == expected and repr(msg) == repr(expected)
    assert wire.encode(msg) == wire.encode(expected)


@given(st.text(max_size=8), uints, uints, uints, sides, sides, st.booleans())
def test_book_fast_path_matches_the_generic_decoder(sym, ts, local, uid, bids, asks, extra) -> None:
    m = {"type": "OrderBookSnapshot", "symbol": sym, "exchange_ts_ns": ts, "local_ts_ns": local,
         "update_id": uid, "bids": bids, "asks": asks}  # fmt: skip
    if extra:
        m["extra"] = 1
    same_outcome(msgpack.packb(m, use_bin_type=True))


@given(
    st.lists(st.floats(min_value=1e-8, max_value=1e9), min_size=2, max_size=12, unique=True),
    st.lists(st.floats(min_value=0.0, max_value=1e9), min_size=12, max_size=12),
    st.integers(min_value=1, max_value=11),
)
def test_sorted_books_take_the_fast_path_and_match_the_generic_decoder(prices, qs, n_bids) -> None:
    """A valid book (both sides, sorted, uncrossed) is decoded by the fast path, to what the generic
    decoder gives."""
    prices.sort()
    n_bids = min(n_bids, len(prices) - 1)
    bids = [[p, q] for p, q in zip(reversed(prices[:n_bids]), qs, strict=False)]
    asks = [[p, q] for p, q in zip(prices[n_bids:], qs[n_bids:], strict=False)]
    m = {"type": "OrderBookSnapshot", "symbol": "X", "exchange_ts_ns": 1, "local_ts_ns": 2,
         "update_id": 3, "bids": bids, "asks": asks}  # fmt: skip
    payload = msgpack.packb(m, use_bin_type=True)
    assert wire._fast_book(msgpack.unpackb(payload, raw=False, use_list=False)) is not None
    same_outcome(payload)


@given(st.text(max_size=8), uints, uints, uints, floats, floats, st.sampled_from(["buy", "sell", "BUY", 1]))
def test_trade_fast_path_matches_the_generic_decoder(sym, ts, local, tid, price, qty, side) -> None:
    m = {"type": "Trade", "symbol": sym, "exchange_ts_ns": ts, "local_ts_ns": local, "trade_id": tid,
         "price": price, "quantity": qty, "aggressor": side}  # fmt: skip
    same_outcome(msgpack.packb(m, use_bin_type=True))


def test_fast_decoded_messages_are_ordinary_frozen_dataclasses() -> None:
    t = wire.Trade("X", 1, 2, 3, 0.5, 1.0, "buy")
    got = wire.decode(wire.encode(t))
    assert got == t and hash(got) == hash(t) and got.__dict__ == t.__dict__
    with pytest.raises(AttributeError):
        got.price = 1.0  # type: ignore[misc]
    b = wire.OrderBookSnapshot("X", 1, 2, 3, ((1.0, 2.0),), ((1.5, 0.0),))
    assert wire.decode(wire.encode(b)) == b


def test_a_proven_book_is_an_ordinary_snapshot_whose_time_is_still_checked() -> None:
    """`book_snapshot` (the replay's books) equals, hashes and encodes as the same snapshot made by
    its constructor, which is not proven; the detector skips a proven book's levels, never its time."""
    bids, asks = ((1.0, 2.0), (0.9, 1.0)), ((1.5, 0.0),)
    made = wire.OrderBookSnapshot("X", 5 * S, 5 * S, 3, bids, asks)
    proven = wire.book_snapshot("X", 5 * S, 5 * S, 3, bids, asks, proven=True)
    plain = wire.book_snapshot("X", 5 * S, 5 * S, 3, bids, asks, proven=False)
    for b in (proven, plain):
        assert b == made and hash(b) == hash(made) and repr(b) == repr(made)
        assert wire.encode(b) == wire.encode(made)
    assert wire.levels_proven(proven) and not wire.levels_proven(made) and not wire.levels_proven(plain)
    with pytest.raises(AttributeError):
        proven.bids = ()  # type: ignore[misc]
    d = started(EventDetectionConfig(jitter_buffer_ms=1000), at=5 * S)
    assert d.on_book(proven)
    assert not d.on_book(wire.book_snapshot("X", 3 * S, 3 * S, 4, bids, asks, proven=True))
    assert d.guard.dropped == {"time_backwards": 1}
    # The detector takes `proven` at its word: crossed levels pass proven, and are dropped when not.
    crossed = ((2.0, 1.0),), ((1.5, 1.0),)
    assert d.on_book(wire.book_snapshot("X", 5 * S, 5 * S, 5, *crossed, proven=True))
    assert not d.on_book(wire.book_snapshot("X", 5 * S, 5 * S, 6, *crossed, proven=False))
    assert d.guard.dropped == {"time_backwards": 1, "book_crossed": 1}


def slow_book_ok(dropped: Counter[str], bids: Any, asks: Any) -> bool:
    """The guard's book check, level by level, as it was written before its side-wide fast path (a
    level is a tuple or list of two floats: anything else is a bad price, as the binding reads it; a
    side that is not one is empty). The time is good: every book here is at 1 s, after the
    two trades of `started`."""
    if not isinstance(bids, (tuple, list)) or not isinstance(asks, (tuple, list)) or not bids or not asks:
        dropped["book_side_empty"] += 1
        return False
    ok_p = lambda p: isinstance(p, float) and math.isfinite(p) and p > 0  # noqa: E731
    ok_q = lambda q: isinstance(q, float) and math.isfinite(q) and q >= 0  # noqa: E731
    for side in (bids, asks):
        for lv in side:
            if not isinstance(lv, (tuple, list)) or len(lv) != 2 or not ok_p(lv[0]):
                dropped["book_bad_price"] += 1
                return False
            if not ok_q(lv[1]):
                dropped["book_bad_quantity"] += 1
                return False
    if any(bids[i][0] <= bids[i + 1][0] for i in range(len(bids) - 1)) or any(
        asks[i][0] >= asks[i + 1][0] for i in range(len(asks) - 1)
    ):
        dropped["book_unsorted"] += 1
        return False
    if bids[0][0] >= asks[0][0]:
        dropped["book_crossed"] += 1
        return False
    return True


def same_as_slow(bids: Any, asks: Any) -> None:
    d, dropped = started(), Counter[str]()
    assert d.on_book(wire.OrderBookSnapshot("X", S, S, 1, bids, asks)) == slow_book_ok(dropped, bids, asks)
    assert d.guard.dropped == dropped


guard_levels = st.lists(
    st.tuples(floats, floats) | st.lists(floats, max_size=3) | odd | st.just("ab"), min_size=0, max_size=4
)


@given(guard_levels, guard_levels)
def test_the_detector_book_check_matches_the_level_by_level_one(bids, asks) -> None:
    same_as_slow(bids, asks)


@st.composite
def near_valid_books(draw: st.DrawFn) -> tuple[list[Any], list[Any]]:
    """A valid book (distinct prices: the lower ones bids, best first, the upper ones asks), often with
    one thing wrong: a price or a quantity replaced by an odd value, two neighbours swapped, a level
    of three, or the best ask moved onto the best bid. Random levels are rarely a valid book; these
    make the book-wide check accept as well as reject."""
    prices = sorted(draw(st.lists(st.floats(1e-8, 1e9), min_size=2, max_size=12, unique=True)))
    k = draw(st.integers(1, len(prices) - 1))
    qty = st.floats(0.0, 1e9)
    bids = [[p, draw(qty)] for p in reversed(prices[:k])]
    asks = [[p, draw(qty)] for p in prices[k:]]
    side = draw(st.sampled_from([bids, asks]))
    i = draw(st.integers(0, len(side) - 1))
    match draw(st.sampled_from(["none", "price", "quantity", "swap", "three", "cross"])):
        case "price":
            side[i][0] = draw(odd)
        case "quantity":
            side[i][1] = draw(odd | st.sampled_from([-1e-9, 1e308 * 10, 1.7e308]))
        case "swap" if i > 0:
            side[i - 1], side[i] = side[i], side[i - 1]
        case "three":
            side[i].append(1.0)
        case "cross":
            asks[0][0] = bids[0][0]
    return bids, asks


@settings(max_examples=400)
@given(near_valid_books(), st.booleans())
def test_the_detector_book_check_matches_on_near_valid_books(book, as_tuples) -> None:
    bids, asks = book
    if as_tuples:  # the decoder's and the replay's books are tuples of tuples
        bids, asks = tuple(map(tuple, bids)), tuple(map(tuple, asks))
    same_as_slow(bids, asks)


NAN, INF = math.nan, math.inf
GOOD_BIDS, GOOD_ASKS = ((10.0, 1.0), (9.9, 2.0)), ((10.1, 1.0), (10.2, 2.0))


@pytest.mark.parametrize(
    ("bids", "asks", "reason"),
    [
        (GOOD_BIDS, GOOD_ASKS, None),
        (GOOD_BIDS, ((10.1, 1.0), (INF, 2.0)), "book_bad_price"),  # the chain rises to infinity
        (((INF, 1.0), (9.9, 2.0)), GOOD_ASKS, "book_bad_price"),
        (((10.0, 1.0), (0.0, 2.0)), GOOD_ASKS, "book_bad_price"),
        (((10.0, 1.0), (-0.0, 2.0)), GOOD_ASKS, "book_bad_price"),
        (GOOD_BIDS, ((10.1, 1.0), (10.2, NAN)), "book_bad_quantity"),  # NaN after a number
        (GOOD_BIDS, ((10.1, NAN), (10.2, 1.0)), "book_bad_quantity"),
        (GOOD_BIDS, ((10.1, 1.0), (10.2, INF)), "book_bad_quantity"),
        (((10.0, 1.7e308), (9.9, 1.7e308)), GOOD_ASKS, None),  # finite quantities whose sum overflows
        (((10.0, -0.0), (9.9, 0.0)), GOOD_ASKS, None),
        (((10.0, 1.0), (9.9, -1e-300)), GOOD_ASKS, "book_bad_quantity"),
        (((10.0, 1.0), (True, 2.0)), GOOD_ASKS, "book_bad_price"),
        (((10, 1.0), (9.9, 2.0)), GOOD_ASKS, "book_bad_price"),
        (GOOD_BIDS, ((10.1, 1.0), (10.2, 2)), "book_bad_quantity"),
        (GOOD_BIDS, ((10.1, 1.0), (NAN, 2.0)), "book_bad_price"),
        (((10.0, 1.0), (10.0, 2.0)), GOOD_ASKS, "book_unsorted"),  # equal prices are not sorted
        (((10.1, 1.0), (9.9, 2.0)), GOOD_ASKS, "book_crossed"),  # best bid on best ask
        ((("a", "b"),), GOOD_ASKS, "book_bad_price"),
        ((("ab"),), GOOD_ASKS, "book_bad_price"),
        (GOOD_BIDS, [[10.1, 1.0], [10.2, 2.0]], None),
    ],
)
def test_the_detector_book_check_matches_on_edge_books(bids, asks, reason) -> None:
    same_as_slow(bids, asks)
    d = started()
    assert d.on_book(wire.OrderBookSnapshot("X", S, S, 1, bids, asks)) is (reason is None)
    assert d.guard.dropped == ({reason: 1} if reason else {})


@pytest.mark.parametrize(
    ("bids", "asks", "reason"),
    [
        (((10.0, 1.0), (10.5, 1.0)), ((10.1, -1.0),), "book_bad_quantity"),  # levels before order
        (((10.0, 1.0), (10.5, 1.0)), ((10.1, 1.0),), "book_unsorted"),
        (((10.0, 1.0), (-10.5, 1.0)), ((10.1, 1.0),), "book_bad_price"),  # bad price beats unsorted
        (((10.0, 1),), ((10.1, 1.0),), "book_bad_quantity"),  # an int is not a float
        (((10.0, 1.0, 3.0),), ((10.1, 1.0),), "book_bad_price"),
    ],
)
def test_guard_reasons_keep_their_order(bids, asks, reason) -> None:
    d = Detector(EventDetectionConfig())
    assert not d.on_book(wire.OrderBookSnapshot("X", S, S, 1, bids, asks))
    assert d.guard.dropped == {reason: 1}


def market(seed: int, secs: int) -> list[tuple[int, float, float, bool] | wire.OrderBookSnapshot]:
    """A calm market, then a dive (as in test_detector_snapshot), with books every 250 ms and events
    arriving up to 300 ms out of order."""
    rng = random.Random(seed)
    out: list[tuple[int, float, float, bool] | wire.OrderBookSnapshot] = []
    price = 100.0
    for ms in range(0, secs * 1000, 50):
        ts = 1_700_000_000 * S + ms * 1_000_000 + rng.randrange(0, 300) * 1_000_000
        crash = ms > (secs - 60) * 1000
        if ms % 100 == 0:
            price *= math.exp(rng.gauss(-0.004 if crash else 0.0, 0.002 if crash else 0.0002))
            qty, buy = rng.uniform(1, 50 if crash else 5), rng.random() < (0.2 if crash else 0.5)
            out.append((ts, price, qty, buy))
        if ms % 250 == 0:
            half = price * (0.002 if crash else 0.0002)
            bids = tuple((price - half - i * 0.01, rng.uniform(1, 10)) for i in range(10))
            asks = tuple((price + half + i * 0.01, rng.uniform(1, 10)) for i in range(10))
            out.append(wire.OrderBookSnapshot("X", ts, ts, ms, bids, asks))
    return out


def other_book(b: wire.OrderBookSnapshot, rng: random.Random) -> wire.OrderBookSnapshot:
    """The same touch (best bid and ask prices) with other quantities and other levels behind it."""
    (bid, _), (ask, _) = b.bids[0], b.asks[0]
    bids = tuple((bid - i * 0.03, rng.uniform(20, 90)) for i in range(rng.randrange(1, 15)))
    asks = tuple((ask + i * 0.03, rng.uniform(0.1, 2)) for i in range(rng.randrange(1, 15)))
    return wire.OrderBookSnapshot("X", b.exchange_ts_ns, b.local_ts_ns, b.update_id, bids, asks)


def test_only_the_last_book_of_a_second_is_measured() -> None:
    """Two detectors fed the same market, but for every book that is not the last of its second
    (event time), which the second gets with the same touch and everything else changed: the readings
    of every second and the transitions are the same, and so is the whole state at the end. A
    snapshot in between (it hands the pending book to the indicators early) changes nothing."""
    evs = market(3, 500)
    last: dict[int, tuple[int, int]] = {}  # second -> (time, index) of its last book
    for i, e in enumerate(evs):
        if isinstance(e, wire.OrderBookSnapshot):
            sec = e.exchange_ts_ns // S
            last[sec] = max(last.get(sec, (-1, -1)), (e.exchange_ts_ns, i))
    kept = {i for _, i in last.values()}
    rng = random.Random(7)
    changed = [
        other_book(e, rng) if isinstance(e, wire.OrderBookSnapshot) and i not in kept else e
        for i, e in enumerate(evs)
    ]
    assert sum(a is not b for a, b in zip(evs, changed, strict=True)) > 1000
    all_books, last_books = Detector(EventDetectionConfig()), Detector(EventDetectionConfig())
    seen: list[list[Readings]] = [[], []]
    for n, pair in enumerate(zip(evs, changed, strict=True)):
        for d, e, out in zip((all_books, last_books), pair, seen, strict=True):
            ok = d.on_book(e) if isinstance(e, wire.OrderBookSnapshot) else d.on_trade(*e)
            assert taken(d, ok)
            if not out or d.readings().ts_ns != out[-1].ts_ns:
                out.append(d.readings())
        if n % 2_000 == 0:
            all_books.snapshot()
    all_books.flush()
    last_books.flush()
    assert len(seen[0]) > 400
    assert [repr(r) for r in seen[0]] == [repr(r) for r in seen[1]]
    assert repr(all_books.readings()) == repr(last_books.readings())
    assert all_books.transitions == last_books.transitions and len(all_books.transitions) >= 2
    assert all_books.snapshot() == last_books.snapshot()
