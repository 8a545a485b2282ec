"""Each indicator against hand-computed cases, the book guard, and property tests: NaN, Inf,
negative values and shuffled times never reach an indicator (they are dropped and counted)."""

from __future__ import annotations

import math
import random
import statistics

from hypothesis import given, settings
from hypothesis import strategies as st

from flashcrash import wire
from flashcrash.config import EventDetectionConfig
from flashcrash.event_detector import Detector, Indicator, InputGuard
from flashcrash.event_detector.indicators.acceleration import Acceleration
from flashcrash.event_detector.indicators.depth import Depth, median, notional, walls
from flashcrash.event_detector.indicators.message_velocity import MessageVelocity
from flashcrash.event_detector.indicators.obi import OrderBookImbalance, imbalance
from flashcrash.event_detector.indicators.spread import Spread
from flashcrash.event_detector.indicators.volatility import Volatility
from flashcrash.event_detector.indicators.volume_delta import VolumeDelta
from flashcrash.event_detector.jitter import JitterBuffer
from flashcrash.event_detector.readings import strength
from flashcrash.event_detector.rolling import RecentAndBaseline, Window

S = 1_000_000_000


def test_strength_is_full_when_fired_and_the_share_of_the_threshold_below_it() -> None:
    assert strength(1.0, 2.0, fired=False) == 0.5
    assert strength(-1.5, 2.0, fired=False) == 0.75
    assert strength(3.0, 2.0, fired=False) == 0.99  # past the threshold but not fired (e.g. a floor)
    assert strength(3.0, 2.0, fired=True) == 1.0
    assert strength(float("nan"), 2.0, fired=False) == 0.0
    assert strength(1.0, 0.0, fired=False) == 0.0


def test_window_and_baseline_keep_the_recent_out_of_the_baseline() -> None:
    w = Window(3)
    for x in (1.0, 2.0, 3.0, 4.0):
        w.push(x)
    assert list(w.items) == [2.0, 3.0, 4.0] and w.mean == 3.0
    assert math.isclose(w.std, math.sqrt(2 / 3))
    rb = RecentAndBaseline(2, 3)
    for x in (1.0, 2.0, 3.0, 4.0, 5.0):
        rb.push(x)
    assert list(rb.recent.items) == [4.0, 5.0] and list(rb.baseline.items) == [1.0, 2.0, 3.0]
    rb.push(6.0, learn=False)  # 4.0 leaves the recent window and is not learnt
    assert list(rb.baseline.items) == [1.0, 2.0, 3.0]


def test_volatility_ratio_and_floor() -> None:
    v = Volatility(window_secs=2, baseline_secs=4, warmup_secs=4, ratio=5.0, floor_bps=10.0)
    price = 100.0
    v.on_second(price)
    for r in (1e-4, -1e-4, 1e-4, -1e-4):  # baseline: 1 bp returns, RMS 1 bp
        price *= math.exp(r)
        v.on_second(price)
    assert not v.reading().ready
    for r in (-2e-3, 2e-3):  # recent: 20 bp returns, RMS 20 bp = 20x the baseline, over the floor
        price *= math.exp(r)
        v.on_second(price)
    rd = v.reading()
    # the floor/ratio (2 bp) is above the 1 bp baseline, so the ratio is 20 / 2 = 10
    assert rd.ready and rd.fired and math.isclose(rd.value, 10.0, rel_tol=1e-6)
    assert math.isclose(v.baseline_bps, 1.0, rel_tol=1e-6)


def test_volatility_under_the_floor_does_not_fire() -> None:
    v = Volatility(window_secs=2, baseline_secs=4, warmup_secs=4, ratio=5.0, floor_bps=50.0)
    price = 100.0
    v.on_second(price)
    for r in (1e-5, -1e-5, 1e-5, -1e-5, 2e-3, -2e-3):
        price *= math.exp(r)
        v.on_second(price)
    assert v.reading().ready and not v.reading().fired


def test_acceleration_is_the_second_difference_in_bps_per_s2() -> None:
    a = Acceleration(span_secs=1, threshold_bps_s2=8.0)
    for p in (100.0, 100.0):
        a.on_second(p)
    assert not a.reading().ready
    a.on_second(100.0 * math.exp(-1e-3))  # flat, then -10 bp in a second: (-10 - 0 + 0) / 1
    rd = a.reading()
    assert rd.ready and rd.fired and math.isclose(rd.value, -10.0, rel_tol=1e-6)
    a.on_second(100.0 * math.exp(-2e-3))  # steady -10 bp/s: no acceleration
    assert abs(a.reading().value) < 1e-6 and not a.reading().fired


def test_acceleration_holds_the_largest_second_difference_of_its_span() -> None:
    a = Acceleration(span_secs=2, threshold_bps_s2=8.0)
    logs = [0.0, 0.0, 0.0, 0.0, -40.0, -40.0, -40.0]  # bp: a 40 bp dive in one second, then flat
    seconds = []
    for x in logs:
        a.on_second(100.0 * math.exp(x / 1e4))
        seconds.append(a.second_difference())
    # second differences (c[-1] - 2 c[-3] + c[-5]) / 4 at each second: -10 at the dive, +10 two later
    assert math.isclose(seconds[4], -10.0, rel_tol=1e-6) and math.isclose(seconds[6], 10.0, rel_tol=1e-6)
    assert math.isclose(seconds[5], -10.0, rel_tol=1e-6)  # (-40 - 2 * 0 + 0) / 4
    assert math.isclose(a.value(), -10.0, rel_tol=1e-6)  # the last two, -10 and +10: a tie keeps the older
    a.on_second(100.0 * math.exp(-40.0 / 1e4))  # (-40 + 80 - 40) / 4 = 0: the +10 is still held
    assert math.isclose(a.value(), 10.0, rel_tol=1e-6) and a.reading().fired


def test_volume_delta_z_score() -> None:
    vd = VolumeDelta(window_secs=1, baseline_secs=4, warmup_secs=4, z=3.0)
    for d in (1.0, -1.0, 1.0, -1.0, 1.0):  # baseline sums: 1, -1, 1, -1: mean 0, std 1
        vd.on_second(d)
    vd.on_second(-5.0)
    rd = vd.reading()
    assert rd.ready and rd.fired and math.isclose(rd.value, -5.0)


def test_message_velocity_ratio_and_minimum() -> None:
    mv = MessageVelocity(window_secs=2, baseline_secs=4, warmup_secs=4, ratio=3.0, min_per_sec=5.0)
    for n in (4, 4, 4, 4, 4, 4):
        mv.on_second(n)
    assert mv.reading().ready and not mv.reading().fired
    mv.on_second(20)
    mv.on_second(20)
    rd = mv.reading()
    assert rd.fired and math.isclose(rd.value, 5.0)


def test_spread_against_its_baseline() -> None:
    sp = Spread(baseline_secs=3, warmup_secs=3, ratio=4.0)
    for _ in range(4):
        sp.on_book(99.99, 100.01)  # 2 bp
        sp.on_second(True)
    sp.on_book(99.95, 100.05)  # 10 bp: 5x
    sp.on_second(True)
    rd = sp.reading(True)
    assert rd.fired and math.isclose(rd.value, 5.0, rel_tol=1e-9)
    assert not sp.reading(False).ready  # stale book


def test_obi_top_levels() -> None:
    bids = ((10.0, 3.0), (9.9, 1.0), (9.8, 100.0))
    asks = ((10.1, 1.0), (10.2, 1.0), (10.3, 100.0))
    assert imbalance(bids, asks, 2) == (4.0 - 2.0) / 6.0
    o = OrderBookImbalance(levels=1, threshold=0.5)
    o.on_book(bids, asks)
    assert o.reading(True).fired and o.reading(True).value == 0.5


def test_depth_liquidity_imbalance_and_walls() -> None:
    d = Depth(levels=3, min_usd=100.0, extreme=0.7, wall_ratio=3.0)
    bids = ((10.0, 1.0), (9.0, 1.0), (8.0, 10.0))  # 10 + 9 + 80 = 99; a wall at 8 (10 > 3 x 1)
    asks = ((11.0, 0.1), (12.0, 0.1), (13.0, 0.1))  # 3.6
    d.on_book(bids, asks)
    v = d.view
    assert v is not None
    assert math.isclose(v.liquidity_usd, 102.6)
    assert math.isclose(v.imbalance, (99.0 - 3.6) / 102.6) and v.extreme
    assert v.bid_walls == (8.0,) and v.ask_walls == ()
    assert d.reading(True).fired


levels = st.lists(st.tuples(st.floats(1e-8, 1e9), st.floats(0.0, 1e9)), max_size=25)


@given(levels, st.floats(0.5, 10.0))
def test_depth_side_figures_equal_the_generic_ones(side, ratio) -> None:
    """`median` is `statistics.median`, `notional` the sum of price x quantity in level order, and
    the walls those of a generic median, exactly (not approximately)."""
    quantities = [q for _, q in side]
    if quantities:
        assert median(quantities) == statistics.median(quantities)
    assert notional(tuple(side)) == sum(p * q for p, q in side)
    med = statistics.median(quantities) if len(side) >= 3 else 0.0
    expected = tuple(p for p, q in side if med > 0 and q > ratio * med) if len(side) >= 3 else ()
    assert walls(tuple(side), ratio) == expected


def test_book_guard_rejects_bad_books() -> None:
    g = InputGuard()
    ok = ((10.0, 1.0),), ((10.1, 1.0),)
    assert g.book_ok(S, *ok)
    assert not g.book_ok(S, ((10.2, 1.0),), ((10.1, 1.0),))  # crossed
    assert not g.book_ok(S, ((10.0, float("nan")),), ((10.1, 1.0),))
    assert not g.book_ok(S, ((10.0, 1.0),), ((float("inf"), 1.0),))
    assert not g.book_ok(S, ((10.0, 1.0), (10.05, 1.0)), ((10.1, 1.0),))  # unsorted
    assert not g.book_ok(S, (), ((10.1, 1.0),))
    assert dict(g.dropped) == {
        "book_crossed": 1,
        "book_bad_quantity": 1,
        "book_bad_price": 1,
        "book_unsorted": 1,
        "book_side_empty": 1,
    }


def test_jitter_buffer_releases_in_time_order() -> None:
    b: JitterBuffer[str] = JitterBuffer(delay_ns=10)
    for ts, x in ((100, "a"), (95, "b"), (112, "c"), (99, "d")):
        b.push(ts, x)
    assert [x for _, x in b.release()] == ["b", "d", "a"]  # older than 112 - 10
    assert [x for _, x in b.drain()] == ["c"]


def book(ts: int, bid: float, ask: float, q: float = 1.0) -> wire.OrderBookSnapshot:
    return wire.OrderBookSnapshot("X", ts, ts, 1, ((bid, q),), ((ask, q),))


BAD = st.sampled_from([float("nan"), float("inf"), float("-inf"), -1.0, -1e-9])


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
    events: list[tuple[int, float, float, bool, bool]], rnd: random.Random
) -> None:
    d = Detector(EventDetectionConfig(jitter_buffer_ms=1000))
    applied: list[int] = []
    apply = d._apply

    def spy(ts: int, ev: object) -> None:
        applied.append(ts)
        apply(ts, ev)  # type: ignore[arg-type]

    d._apply = spy  # type: ignore[method-assign]
    rnd.shuffle(events)
    accepted = 0
    for ts, price, qty, buy, is_book in events:
        ts += S
        ok = d.on_book(book(ts, price, price + 0.01, qty)) if is_book else d.on_trade(ts, price, qty, buy)
        good = all(math.isfinite(x) for x in (price, qty)) and price > 0 and qty >= 0
        assert ok <= good  # a bad value is never accepted
        accepted += ok
    d.flush()
    assert len(applied) == accepted == d.applied
    assert applied == sorted(applied)  # the indicators see event time in order
    assert sum(d.guard.dropped.values()) == len(events) - accepted
    for r in d.readings().by_indicator.values():
        assert not r.ready or not math.isnan(r.value) or r.indicator is Indicator.PATTERN


# ------------------------------------------------------------------------------------------------
# Thresholds exactly met, the sign of one-sided indicators, and the top-N cut (mutation audit).


def test_volatility_fires_exactly_at_its_ratio_and_its_floor() -> None:
    """`volatility_ratio` and `volatility_floor_bps` are "at least" thresholds: a recent RMS of
    exactly floor = ratio x baseline fires. Returns (bp) go straight into the windows so the RMS
    values are exact: baseline 1, -1, 1, -1 (RMS 1), recent 5, -5 (RMS 5); 5 / max(1, 5 / 5) = 5."""
    v = Volatility(window_secs=2, baseline_secs=4, warmup_secs=4, ratio=5.0, floor_bps=5.0)
    for r in (1.0, -1.0, 1.0, -1.0, 5.0, -5.0):
        v.returns.push(r)
    assert v.recent_bps == 5.0 and v.baseline_bps == 1.0
    rd = v.reading()
    assert rd.ready and rd.value == 5.0 and rd.fired
    # A hair under the floor (with the ratio still met) does not fire.
    w = Volatility(window_secs=2, baseline_secs=4, warmup_secs=4, ratio=5.0, floor_bps=5.000001)
    for r in (0.5, -0.5, 0.5, -0.5, 5.0, -5.0):
        w.returns.push(r)
    assert w.reading().value > 5.0 * 0.999 and not w.reading().fired


def test_acceleration_fires_exactly_at_its_threshold() -> None:
    """`acceleration_bps_per_s2` is an "at least" threshold. With span 1 and closes 1, 1, p the
    second difference is exactly 1e4 ln p (the first two logs are 0)."""
    p = 0.999
    threshold = abs(math.log(p) * 1e4)  # 10.005 bp/s2
    a = Acceleration(span_secs=1, threshold_bps_s2=threshold)
    for price in (1.0, 1.0, p):
        a.on_second(price)
    rd = a.reading()
    assert rd.value == -threshold and rd.fired


def test_obi_fires_on_a_negative_imbalance_too() -> None:
    """OBI fires on its size: asks outweighing bids (the book of a crash) fires as bids would,
    with a negative value. Top level only: 1 bid against 3 asks = (1 - 3) / 4 = -0.5."""
    o = OrderBookImbalance(levels=1, threshold=0.5)
    o.on_book(((10.0, 1.0), (9.9, 50.0)), ((10.1, 3.0), (10.2, 1.0)))
    rd = o.reading(True)
    assert rd.value == -0.5 and rd.fired
    assert not o.reading(False).ready  # a stale book is not read


def _eighth_then(bid: float, ask: float) -> Spread:
    """A spread baseline of two samples of 1/8 (15/17: (17 - 15) / 16; binary fractions, so the
    means are exact), then one book."""
    sp = Spread(baseline_secs=2, warmup_secs=2, ratio=4.0)
    for _ in range(3):  # 1 recent + 2 baseline
        sp.on_book(15.0, 17.0)
        sp.on_second(True)
    sp.on_book(bid, ask)
    return sp


def test_spread_fires_exactly_at_its_ratio() -> None:
    """3/5 is a spread of 2 / 4 = 1/2, exactly 4x the 1/8 baseline: it fires."""
    sp = _eighth_then(3.0, 5.0)
    sp.on_second(True)
    rd = sp.reading(True)
    assert rd.value == 4.0 and rd.fired


def test_spread_does_not_sample_a_stale_book() -> None:
    """Seconds with a stale book add nothing to the windows: the 1/8 baseline is still there when a
    fresh book comes back, and a 1/2 spread reads 4x (it would read 1x had the stale 1/2 books been
    learnt)."""
    sp = _eighth_then(3.0, 5.0)
    for _ in range(5):
        sp.on_second(False)
    assert list(sp.samples.baseline.items) == [0.125, 0.125] and list(sp.samples.recent.items) == [0.125]
    sp.on_second(True)
    assert sp.reading(True).value == 4.0 and sp.reading(True).fired


def test_volume_delta_fires_exactly_at_its_z() -> None:
    """Baseline sums 1, -1, 1, -1 (mean 0, std 1); a window sum of -3 is z = -3 exactly: fires at 3."""
    vd = VolumeDelta(window_secs=1, baseline_secs=4, warmup_secs=4, z=3.0)
    for d in (1.0, -1.0, 1.0, -1.0, 1.0, -3.0):
        vd.on_second(d)
    rd = vd.reading()
    assert rd.value == -3.0 and rd.fired


def test_volume_delta_sums_its_window() -> None:
    """The z-score is of the sum over `volume_delta_window_secs`, not of one second: with a window of
    2, per-second deltas 1, 1, -1, -1, 1, 1, -1, -1 give sums 2, 0, -2, 0, 2, 0, -2 (baseline of the
    4 before the window: 0, -2, 0, 2: mean 0, std sqrt(2)); then -2, -2: sum -4, z = -4 / sqrt(2)."""
    vd = VolumeDelta(window_secs=2, baseline_secs=4, warmup_secs=4, z=10.0)
    for d in (1.0, 1.0, -1.0, -1.0, 1.0, 1.0, -2.0, -2.0):
        vd.on_second(d)
    assert list(vd.sums.baseline.items) == [0.0, -2.0, 0.0, 2.0]
    assert math.isclose(vd.reading().value, -4.0 / math.sqrt(2.0), rel_tol=1e-12)


def test_message_velocity_fires_exactly_at_its_ratio() -> None:
    """A baseline of 2 messages a second, then 6: exactly 3x (and 6 >= the minimum of 5): fires."""
    mv = MessageVelocity(window_secs=2, baseline_secs=4, warmup_secs=4, ratio=3.0, min_per_sec=5.0)
    for n in (2, 2, 2, 2, 6, 6):
        mv.on_second(n)
    rd = mv.reading()
    assert rd.value == 3.0 and rd.fired


def test_message_velocity_baseline_is_floored_by_the_minimum_rate() -> None:
    """A quiet baseline (1 a second) is taken as min_per_sec / ratio (10 / 3): 5 a second reads
    5 / (10 / 3) = 1.5x, not 5x, and does not fire."""
    mv = MessageVelocity(window_secs=2, baseline_secs=4, warmup_secs=4, ratio=3.0, min_per_sec=10.0)
    for n in (1, 1, 1, 1, 5, 5):
        mv.on_second(n)
    rd = mv.reading()
    assert math.isclose(rd.value, 1.5) and not rd.fired and math.isclose(rd.strength, 0.5)


def test_depth_liquidity_sufficient_exactly_at_the_minimum() -> None:
    """Liquidity fires from `liquidity_min_usd` inclusive: 50 + 50 = 100 of 100."""
    d = Depth(levels=5, min_usd=100.0, extreme=0.7, wall_ratio=3.0)
    d.on_book(((10.0, 5.0),), ((25.0, 2.0),))
    rd = d.reading(True)
    assert rd.value == 100.0 and rd.fired
    assert not d.reading(False).ready


def test_depth_extreme_imbalance_is_strictly_over_and_either_way() -> None:
    """Extreme is |imbalance| strictly over `extreme_imbalance`: 85 against 15 of notional is 0.7
    exactly (not extreme); 86 against 14 is 0.72 (extreme), and so is 14 against 86 (ask-heavy)."""
    d = Depth(levels=5, min_usd=1.0, extreme=0.7, wall_ratio=3.0)
    d.on_book(((1.0, 85.0),), ((2.0, 7.5),))
    assert d.view is not None and d.view.imbalance == 0.7 and not d.view.extreme
    d.on_book(((1.0, 86.0),), ((2.0, 7.0),))
    assert d.view is not None and math.isclose(d.view.imbalance, 0.72) and d.view.extreme
    d.on_book(((1.0, 14.0),), ((2.0, 43.0),))
    assert d.view is not None and math.isclose(d.view.imbalance, -0.72) and d.view.extreme


def test_depth_counts_only_the_top_levels() -> None:
    """Only `depth_levels` levels a side count: with 2 levels, the third bid (a huge one) is neither
    liquidity nor imbalance nor a wall. Bids 10 x 1 + 9 x 1 = 19, asks 11 x 1 + 12 x 1 = 23."""
    d = Depth(levels=2, min_usd=1.0, extreme=0.7, wall_ratio=3.0)
    d.on_book(((10.0, 1.0), (9.0, 1.0), (8.0, 1000.0)), ((11.0, 1.0), (12.0, 1.0), (13.0, 1.0)))
    v = d.view
    assert v is not None and v.liquidity_usd == 42.0
    assert math.isclose(v.imbalance, (19.0 - 23.0) / 42.0) and v.bid_walls == ()
