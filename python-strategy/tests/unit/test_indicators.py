"""Property test of the detector's inputs: NaN, Inf, negative values, values of other types, shuffled
times and times far ahead or far back never reach an indicator (they are dropped and counted; a time
far ahead is held until the next event shows it out of place). Each indicator against hand-computed
cases, the rolling windows, the strength of a reading, the book guard, its rule for jumps ahead and
the jitter buffer are the Rust crate's tests (`rust-engine/crates/detector/src/indicators/`,
`rolling.rs`, `readings.rs`, `guard.rs`, `jitter.rs`)."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from flashcrash import wire
from flashcrash.config import EventDetectionConfig
from flashcrash.event_detector import Detector, Indicator

S = 1_000_000_000


def book(ts: Any, bid: Any, ask: Any, q: Any = 1.0) -> wire.OrderBookSnapshot:
    return wire.OrderBookSnapshot("X", ts, ts, 1, ((bid, q),), ((ask, q),))


BAD = st.sampled_from([float("nan"), float("inf"), float("-inf"), -1.0, -1e-9, 1, True, None, "1.5"])
T0 = 1_760_054_400 * S  # 2025-10-10 00:00 UTC
DAY = 86_400 * S
SPAN = 40  # seconds of market: past the small configuration's warm-up and windows
# Small windows, so that 40 s of market make every reading but the pattern's ready.
SMALL = EventDetectionConfig(
    jitter_buffer_ms=1000, baseline_secs=30, warmup_secs=10, volatility_window_secs=5,
    volume_delta_window_secs=5, velocity_window_secs=3, velocity_min_per_sec=1.0,
)  # fmt: skip
# An odd event's time: shuffled near the market's time (up to 5 s either way: inside and outside the
# jitter window, and past the 3-s bound on a jump ahead) or anywhere in it; far ahead (a day to the
# guard's limit in 2116, a trade stamped at twice the epoch among them) or far back (1970 to a day
# ago); not positive; not an int.
TIMES = st.one_of(
    st.tuples(st.just("near"), st.integers(-5 * S, 5 * S)),
    st.tuples(st.just("at"), st.integers(0, SPAN * S)),
    st.tuples(st.just("at"), st.integers(T0 + DAY, 2**62) | st.just(T0)),  # `at` T0 + T0: twice
    st.tuples(st.just("at"), st.integers(1 - T0, -DAY)),
    st.tuples(st.just("abs"), st.integers(-S, 0) | st.sampled_from([True, None, 1.5e18])),
)
PRICES = st.one_of(st.floats(0.999, 1.001), BAD)
QTYS = st.one_of(st.floats(0.0, 5.0), BAD)


def good(x: object, positive: bool) -> bool:
    return isinstance(x, float) and math.isfinite(x) and (x > 0 if positive else x >= 0)


def market() -> list[tuple[int, Any, Any, bool, bool]]:
    """`SPAN` seconds of calm market from T0, in order: a trade every 250 ms, a book every 500 ms."""
    out = []
    for k in range(SPAN * 4):
        px = 1.0 + 0.0001 * (k % 3)
        out.append((T0 + k * S // 4, px, 0.5 + k % 4, k % 2 == 0, False))
        if k % 2 == 0:
            out.append((T0 + k * S // 4, px - 0.0005, 2.0, False, True))
    return out


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.integers(2, SPAN * 6 - 2),  # where, between two events of the market (one at most there)
        st.tuples(TIMES, PRICES, QTYS, st.booleans(), st.booleans()),
        max_size=120,
    )
)
def test_bad_values_and_shuffled_times_never_reach_an_indicator(
    odd: dict[int, tuple[tuple[str, Any], Any, Any, bool, bool]],
) -> None:
    """A calm market with odd events among its own: bad values, times shuffled, far ahead or far back.
    No bad value and no time far off is taken (a time up to 3 s ahead may be: the guard's bound);
    every event is taken once or counted as dropped; the market's events reach the indicators, whose
    readings at the end are ready and finite (fails before the hold: one time far ahead, taken as
    the newest, made every event after it `time_backwards`)."""
    d = Detector(SMALL)
    events: list[tuple[Any, Any, Any, bool, bool]] = []
    for i, ev in enumerate(market()):
        if i in odd:
            (kind, t), price, qty, buy, is_book = odd[i]
            ts = ev[0] + t if kind == "near" else T0 + t if kind == "at" else t
            events.append((ts, price, qty, buy, is_book))
        events.append(ev)
    taken: list[tuple[Any, Any, Any]] = []
    for ts, price, qty, buy, is_book in events:
        if is_book:
            ask = price + 0.001 if isinstance(price, float) else price
            ok = d.on_book(book(ts, price, ask, qty))
        else:
            ok = d.on_trade(ts, price, qty, buy)
        assert ok <= (good(price, True) and good(qty, False))  # a bad value is never accepted
        taken += [(r.ts_ns, r.price, r.qty) for r in d.released if r.price is not None]
        taken += [(r.ts_ns, 1.0, 1.0) for r in d.released if r.price is None]
        if ok:
            taken.append((ts, price, qty))
    for ts, price, qty in taken:  # nor a time far off, nor a bad value from the hold
        assert T0 - 5 * S <= ts <= T0 + (SPAN + 5) * S and good(price, True) and good(qty, False)
    assert d.held == 0  # the market's next event decided on every time held
    assert sum(d.guard.dropped.values()) == len(events) - len(taken)  # every other one is counted
    d.flush()
    assert d.applied == len(taken)  # every accepted event reached the indicators, once
    r = d.readings()
    for x in r.by_indicator.values():
        assert not x.ready or not math.isnan(x.value) or x.indicator is Indicator.PATTERN
    for ind in (Indicator.VOLATILITY, Indicator.SPREAD, Indicator.VOLUME_DELTA, Indicator.MESSAGE_VELOCITY):
        assert r[ind].ready and math.isfinite(r[ind].value), (ind, r[ind])
