"""`Detector.snapshot()` / `restore()`: a JSON round trip in the middle of a session, and the restored
detector carries on exactly as the original (same transitions, same readings)."""

from __future__ import annotations

import dataclasses
import json
import math
import random
from typing import Any

import pytest

from flashcrash import wire
from flashcrash.config import EventDetectionConfig
from flashcrash.event_detector import Detector

S = 1_000_000_000


def events(seed: int, secs: int) -> list[tuple[int, float, float, bool] | wire.OrderBookSnapshot]:
    """A calm market, then a dive: trades every ~100 ms and a book every 250 ms."""
    rng = random.Random(seed)
    out: list[tuple[int, float, float, bool] | wire.OrderBookSnapshot] = []
    price = 100.0
    for ms in range(0, secs * 1000, 50):
        ts = 1_700_000_000 * S + ms * 1_000_000
        crash = ms > (secs - 60) * 1000
        if ms % 100 == 0:
            price *= math.exp(rng.gauss(-0.004 if crash else 0.0, 0.002 if crash else 0.0002))
            qty = rng.uniform(1, 50 if crash else 5)
            out.append((ts, price, qty, rng.random() < (0.2 if crash else 0.5)))
        if ms % 250 == 0:
            half = price * (0.002 if crash else 0.0002)
            bids = tuple((price - half - i * 0.01, rng.uniform(1, 10)) for i in range(10))
            asks = tuple((price + half + i * 0.01, rng.uniform(1, 10)) for i in range(10))
            out.append(wire.OrderBookSnapshot("X", ts, ts, ms, bids, asks))
    return out


def feed(d: Detector, evs: list[tuple[int, float, float, bool] | wire.OrderBookSnapshot]) -> None:
    for e in evs:
        if isinstance(e, wire.OrderBookSnapshot):
            d.on_book(e)
        else:
            d.on_trade(*e)


@pytest.mark.parametrize("cut", [200, 450])
def test_snapshot_json_round_trip_carries_on_identically(cut: int) -> None:
    evs = events(3, 500)
    split = next(
        i
        for i, e in enumerate(evs)
        if (e.exchange_ts_ns if isinstance(e, wire.OrderBookSnapshot) else e[0]) >= evs[0][0] + cut * S
    )  # type: ignore[index]
    cfg = EventDetectionConfig()
    a = Detector(cfg)
    feed(a, evs[:split])
    snap = json.loads(json.dumps(a.snapshot(), allow_nan=False))
    before = list(a.transitions)
    b = Detector(cfg)
    b.restore(snap)
    assert b.snapshot() == a.snapshot() and b.transitions == []
    b.set_history(before)  # what a recovery reads back from the audit log
    assert b.on_candle(None) is None  # type: ignore[arg-type]  # none of it is new
    feed(a, evs[split:])
    feed(b, evs[split:])
    a.flush()
    b.flush()
    assert a.transitions == b.transitions
    assert a.state is b.state
    assert repr(a.readings()) == repr(b.readings())
    assert len(a.transitions) >= 2  # the dive was detected: the test exercised the machine


def leaves(v: Any, path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], Any]:
    """Every scalar of a JSON value, by its path."""
    if isinstance(v, dict):
        return {p: x for k, c in v.items() for p, x in leaves(c, (*path, k)).items()}
    if isinstance(v, list):
        return {p: x for i, c in enumerate(v) for p, x in leaves(c, (*path, i)).items()}
    return {path: v}


def test_a_snapshot_does_not_grow_with_the_transitions() -> None:
    """The past transitions are history (the audit log's), not state: a snapshot holds none of them,
    and a history a thousand times longer changes one number of it (where `on_candle` reports from)."""
    d = Detector(EventDetectionConfig())
    feed(d, events(3, 500))
    assert len(d.transitions) >= 2
    first = leaves(d.snapshot())
    d.set_history(d.transitions * 1000)
    second = leaves(d.snapshot())
    assert not any(t.reason in json.dumps(list(second.values())) for t in d.transitions)
    assert first.keys() == second.keys()
    changed = {p: (first[p], x) for p, x in second.items() if first[p] != x}
    assert list(changed.values()) == [(0, len(d.transitions))]


@pytest.mark.parametrize(
    "snapshot",
    [
        {"version": 1, "detector": {"_machine": {}}},  # the Python detector's
        {"version": 99, "detector": {}},
        {"detector": {}},
        {"version": 2, "detector": {"version": 1}},
        {"version": 2, "detector": {"version": 2, "guard": {}}},  # not a whole state
    ],
)
def test_restore_refuses_what_is_not_a_snapshot_of_this_version(snapshot: dict[str, Any]) -> None:
    """ValueError, and the detector is unchanged (a recovery then starts it afresh)."""
    d = Detector(EventDetectionConfig())
    feed(d, events(3, 20))
    before = d.snapshot()
    with pytest.raises(ValueError, match=r"version|snapshot"):
        d.restore(snapshot)
    assert d.snapshot() == before


def later(evs: list[tuple[int, float, float, bool] | wire.OrderBookSnapshot]) -> list[Any]:
    """`evs` 1 000 s on."""
    return [
        (e[0] + 1_000 * S, *e[1:]) if isinstance(e, tuple) else dataclasses.replace(e, exchange_ts_ns=e.exchange_ts_ns + 1_000 * S)
        for e in evs
    ]  # fmt: skip


def test_restore_brings_back_the_whole_state() -> None:
    """Counters (events dropped), the newest time, the pending outage, the last touch and the buffer's
    order come back with the windows: the restored detector reads as the original, and both carry on
    identically over an outage; one restored from before `on_feed_lost` does not."""
    evs = events(5, 300)
    a = Detector(EventDetectionConfig())
    feed(a, evs)
    a.flush()
    newest = a.guard.newest_ns
    assert a.on_trade(newest - S // 5, 100.0, 1.0, True)  # in the second flush closed: late
    assert a.on_trade(newest + 2 * S, 100.0, 1.0, True)  # releases it
    assert not a.on_trade(newest + 2 * S, math.nan, 1.0, True)
    no_outage = json.loads(json.dumps(a.snapshot(), allow_nan=False))
    a.on_feed_lost()
    b, c = Detector(EventDetectionConfig()), Detector(EventDetectionConfig())
    b.restore(json.loads(json.dumps(a.snapshot(), allow_nan=False)))
    c.restore(no_outage)
    assert b.guard.dropped == {"bad_price": 1} and b.guard.newest_ns == a.guard.newest_ns == newest + 2 * S
    assert (b.applied, b.state, repr(b.readings())) == (a.applied, a.state, repr(a.readings()))
    assert b.snapshot() == a.snapshot() != c.snapshot()
    seen = len(a.transitions)
    for d in (a, b, c):
        feed(d, later(evs[-2_000:]))
        d.flush()
    assert a.transitions[seen:] == b.transitions and len(b.transitions) >= 2
    assert repr(a.readings()) == repr(b.readings()) and a.snapshot() == b.snapshot()
    assert (b.applied, b.guard.dropped, b.guard.newest_ns) == (a.applied, a.guard.dropped, a.guard.newest_ns)
    assert repr(c.readings()) != repr(a.readings())  # the outage mattered: it came back with the rest
