"""Property test of the detector's inputs: NaN, Inf, negative values, values of other types and
shuffled times never reach an indicator (they are dropped and counted). Each indicator against
hand-computed cases, the rolling windows, the strength of a reading, the book guard and the jitter
buffer are the Rust crate's tests (`rust-engine/crates/detector/src/indicators/`, `rolling.rs`,
`readings.rs`, `guard.rs`, `jitter.rs`)."""

from __future__ import annotations

import math
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from flashcrash import wire
from flashcrash.config import EventDetectionConfig
from flashcrash.event_detector import Detector, Indicator

S = 1_000_000_000


def book(ts: int, bid: Any, ask: Any, q: Any = 1.0) -> wire.OrderBookSnapshot:
    return wire.OrderBookSnapshot("X", ts, ts, 1, ((bid, q),), ((ask, q),))


BAD = st.sampled_from([float("nan"), float("inf"), float("-inf"), -1.0, -1e-9, 1, True, None, "1.5"])


def good(x: object, positive: bool) -> bool:
    return isinstance(x, float) and math.isfinite(x) and (x > 0 if positive else x >= 0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 30 * S),
            st.one_of(st.floats(1.0, 2.0), BAD),
            st.one_of(st.floats(0.0, 5.0), BAD),
            st.booleans(),
            st.booleans(),
        ),
        max_size=120,
    ),
    st.randoms(use_true_random=False),
)
def test_bad_values_and_shuffled_times_never_reach_an_indicator(
    events: list[tuple[int, Any, Any, bool, bool]], rnd: random.Random
) -> None:
    d = Detector(EventDetectionConfig(jitter_buffer_ms=1000))
    rnd.shuffle(events)
    accepted = 0
    for ts, price, qty, buy, is_book in events:
        ts += S
        if is_book:
            ask = price + 0.01 if isinstance(price, float) else price
            ok = d.on_book(book(ts, price, ask, qty))
        else:
            ok = d.on_trade(ts, price, qty, buy)
        assert ok <= (good(price, True) and good(qty, False))  # a bad value is never accepted
        accepted += ok
    assert sum(d.guard.dropped.values()) == len(events) - accepted  # every other one is counted
    d.flush()
    assert d.applied == accepted  # every accepted event reached the indicators, once
    for r in d.readings().by_indicator.values():
        assert not r.ready or not math.isnan(r.value) or r.indicator is Indicator.PATTERN
