"""A feed outage (`Detector.on_feed_lost`): the seconds nobody observed are not learnt as a calm market,
and the move over the outage is not a 1-second return."""

from __future__ import annotations

import random
from dataclasses import fields, replace
from pathlib import Path

from flashcrash import config, wire
from flashcrash.backtest.replay import ReplayLink
from flashcrash.config import EventDetectionConfig
from flashcrash.event_detector import Detector, Indicator, State
from flashcrash.runner import Runner

REPO = Path(__file__).resolve().parents[3]
S = 1_000_000_000
CFG = EventDetectionConfig()


def trade_for(d: Detector, start_s: int, secs: int, price: float) -> None:
    """Four trades a second of random side and size (1 to 5), the price one cent up every third; a
    one-level book every half second. Every event is taken: the first book, when it jumps ahead (a
    fresh detector's first event, the first after a silence), held until the trade after it."""
    rng = random.Random(start_s)
    for k in range(secs * 4):
        ts = start_s * S + k * S // 4
        px = price + (0.01 if k % 3 == 0 else 0.0)
        if k % 2 == 0:
            book = wire.OrderBookSnapshot("X", ts, ts, k, ((px - 0.01, 50.0),), ((px + 0.01, 50.0),))
            assert d.on_book(book) or (k == 0 and d.held == 1)
        assert d.on_trade(ts + 1, px, rng.uniform(1.0, 5.0), rng.random() < 0.5) and d.held == 0


def outage(told: bool) -> Detector:
    """400 s of calm trading at 100, then 600 s of nothing (longer than every window), then 6 s of
    the same calm trading 1 % lower; `told`: the detector is told of the outage."""
    d = Detector(CFG)
    trade_for(d, 1, 400, 100.0)
    if told:
        d.on_feed_lost()
    trade_for(d, 1_000, 6, 99.0)
    return d


def test_an_outage_the_detector_is_told_of_is_neither_learnt_nor_a_crash() -> None:
    d = outage(told=True)
    assert [t.current for t in d.transitions] == []
    assert d.state is State.SLEEP
    r = d.readings()
    assert r.ts_ns == 1_004 * S and all(r[i].ready for i in (Indicator.VOLATILITY, Indicator.VOLUME_DELTA))
    # The volume-delta baseline holds the market of before and after, not 300 empty seconds (whose
    # deviation of about 0 reads every trade after as a z of 1000): a calm second reads calm.
    assert abs(r[Indicator.VOLUME_DELTA].value) < 1.0
    # No return spans the outage: the 1-second returns are the one-cent wiggle (about 1 bp), as in
    # the baseline; a 100-bp return in the window would read over 5x.
    assert r[Indicator.VOLATILITY].value < 0.5
    # The price path restarts after it: too few closes since for a second difference.
    assert not r[Indicator.ACCELERATION].ready


def test_an_outage_closed_as_empty_seconds_would_read_as_a_crash() -> None:
    """What `on_feed_lost` prevents: the silence becomes the baselines, the move a 100-bp return."""
    d = outage(told=False)
    r = d.readings()
    assert r.ts_ns == 1_004 * S
    assert r[Indicator.VOLATILITY].fired and r[Indicator.VOLATILITY].value > 5.0
    assert r[Indicator.ACCELERATION].fired
    assert abs(r[Indicator.VOLUME_DELTA].value) == 1000.0  # a baseline of zeros: the z-score's cap
    assert d.state is State.ACTIVE


def test_a_sub_second_outage_changes_nothing() -> None:
    a, b = Detector(CFG), Detector(CFG)
    for d, told in ((a, False), (b, True)):
        trade_for(d, 1, 100, 100.0)
        if told:
            d.on_feed_lost()
        trade_for(d, 101, 10, 100.0)
    assert a.snapshot() == b.snapshot()


def test_events_still_buffered_when_the_feed_is_lost_are_applied() -> None:
    d = Detector(CFG)
    trade_for(d, 1, 100, 100.0)
    applied = d.applied
    d.on_feed_lost()
    trade_for(d, 700, 5, 100.0)
    assert d.applied > applied and d.readings().ts_ns >= 700 * S


def test_the_runner_tells_the_detector_when_the_feed_or_the_engine_goes_silent() -> None:
    """A feed out of live or back to live (an engine restarted so fast that only its new feed's
    return is heard), an engine silence, and an engine restart (a new start in its health). Each
    `on_feed_lost` is recorded with the second of the newest event seen then."""
    runner = Runner(config.load(REPO / "config" / "config.toml"), ReplayLink(), None)
    told: list[int] = []
    feed_lost = runner.detector.on_feed_lost

    def spy() -> None:
        told.append(runner.detector.guard.newest_ns // S)
        feed_lost()

    runner.detector.on_feed_lost = spy  # type: ignore[method-assign]
    zero = {f.name: 0 for f in fields(wire.HealthMetrics)}
    health = wire.HealthMetrics(**{**zero, "symbol": "POLUSDT", "feed_state": "live", "started_ts_ns": 1})
    runner.handle(health)
    runner.handle(wire.Trade("POLUSDT", 5 * S, 5 * S, 1, 0.2, 10.0, "buy"))
    runner.handle(wire.Trade("POLUSDT", 5 * S + 1, 5 * S + 1, 2, 0.2, 10.0, "buy"))  # confirms the first
    runner.handle(health)
    assert told == []
    runner.handle(replace(health, started_ts_ns=2))
    assert told == [5]
    for previous, current, lost in (
        ("connecting", "syncing", []),
        ("syncing", "live", [5]),
        ("live", "reconnecting", [5]),
    ):
        told.clear()
        runner.handle(wire.StateChange(6 * S, "feed", previous, current, "test"))
        assert told == lost, (previous, current)
    told.clear()
    runner._watch_engine(runner.last_data_ns + runner.engine_silence_ns)
    assert runner.engine_silent and told == [5]
