"""`Detector.snapshot()` / `restore()`: a JSON round trip in the middle of a session, and the restored
detector carries on exactly as the original (same transitions, same readings)."""

from __future__ import annotations

import dataclasses
import json
import math
import random
from collections import deque
from enum import Enum

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
    assert "transitions" not in snap["detector"]["_machine"]["$obj"]  # history: the audit log's
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


def test_a_snapshot_does_not_grow_with_the_transitions() -> None:
    d = Detector(EventDetectionConfig())
    feed(d, events(3, 500))
    assert len(d.transitions) >= 2
    first = d.snapshot()
    d.set_history(d.transitions * 1000)
    second = d.snapshot()
    for snap in (first, second):
        snap["detector"].pop("_reported")  # where `on_candle` reports from: set with the history
    assert json.dumps(second) == json.dumps(first)  # the same state, the same bytes


def test_restore_rejects_an_unknown_version() -> None:
    with pytest.raises(ValueError):
        Detector(EventDetectionConfig()).restore({"version": 99})


def canon(v: object) -> object:
    """`v` as a value comparable with `==`: NaN as a string, containers by type and content (a
    frozenset stays a set: no dependence on hash order), dataclasses by type and fields."""
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    if isinstance(v, deque):
        return ("deque", v.maxlen, [canon(x) for x in v])
    if isinstance(v, frozenset):
        return frozenset(canon(x) for x in v)
    if isinstance(v, (tuple, list)):
        return (type(v).__name__, [canon(x) for x in v])
    if isinstance(v, dict):
        return (type(v).__name__, {k: canon(x) for k, x in v.items()})
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return (type(v).__name__, {f.name: canon(getattr(v, f.name)) for f in dataclasses.fields(v)})
    return v


def state(obj: object) -> dict[str, object]:
    """Every attribute of `obj` and of the detector objects in it (configuration and past transitions
    excepted): what a restored detector must hold, read without the snapshot code."""
    out: dict[str, object] = {}
    for k, v in vars(obj).items():
        if k in ("cfg", "transitions"):
            continue
        if (
            type(v).__module__.startswith("flashcrash.")
            and not dataclasses.is_dataclass(v)
            and not isinstance(v, Enum)
        ):
            out[k] = state(v)
        else:
            out[k] = canon(v)
    return out


def test_restore_brings_back_every_attribute() -> None:
    """Counters (events dropped, late trades), the pending outage, the last touch and the buffer's
    sequence number come back with the windows: the restored detector's attributes equal the
    original's, and both carry on identically over an outage."""
    evs = events(5, 300)
    a = Detector(EventDetectionConfig())
    feed(a, evs)
    a.flush()
    newest = a.guard.newest_ns
    assert a.on_trade(newest - S // 5, 100.0, 1.0, True)  # in the second flush closed: late
    assert a.on_trade(newest + 2 * S, 100.0, 1.0, True)  # releases it
    assert not a.on_trade(newest + 2 * S, math.nan, 1.0, True)
    a.on_feed_lost()
    assert a.candles.late_trades == 1 and a.guard.dropped == {"bad_price": 1}
    assert a._lost_after is not None and a._touch != (0.0, 0.0) and a._buffer._seq > 0
    b = Detector(EventDetectionConfig())
    b.restore(json.loads(json.dumps(a.snapshot(), allow_nan=False)))
    assert b.guard.dropped == {"bad_price": 1} and b.candles.late_trades == 1  # counts kept
    assert state(b) == state(a)
    later = [
        (e[0] + 1_000 * S, *e[1:]) if isinstance(e, tuple) else dataclasses.replace(e, exchange_ts_ns=e.exchange_ts_ns + 1_000 * S)
        for e in evs[-2_000:]
    ]  # fmt: skip
    feed(a, later)
    feed(b, later)
    a.flush()
    b.flush()
    assert state(b) == state(a) and repr(a.readings()) == repr(b.readings())
