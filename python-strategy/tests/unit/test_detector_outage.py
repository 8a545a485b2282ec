"""A feed outage (`Detector.on_feed_lost`): the seconds nobody observed are not learnt as a calm market,
and the move over the outage is not a 1-second return."""

from __future__ import annotations

import random
from dataclasses import fields, replace
from pathlib import Path

from flashcrash import config, wire
from flashcrash.backtest.replay import ReplayLink
from flashcrash.config import EventDetectionConfig
from flashcrash.event_detector import Detector, State
from flashcrash.runner import Runner

REPO = Path(__file__).resolve().parents[3]
S = 1_000_000_000
CFG = EventDetectionConfig()


def trade_for(d: Detector, start_s: int, secs: int, price: float) -> None:
    """Four trades a second of random side and size (1 to 5), the price one cent up every third; a
    one-level book every half second."""
    rng = random.Random(start_s)
    for k in range(secs * 4):
        ts = start_s * S + k * S // 4
        px = price + (0.01 if k % 3 == 0 else 0.0)
        if k % 2 == 0:
            assert d.on_book(
                wire.OrderBookSnapshot("X", ts, ts, k, ((px - 0.01, 50.0),), ((px + 0.01, 50.0),))
            )
        assert d.on_trade(ts + 1, px, rng.uniform(1.0, 5.0), rng.random() < 0.5)


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
    # The volume-delta baseline holds the market of before and after, not 300 empty seconds.
    assert d.volume_delta.sums.baseline.std > 0
    assert sum(1 for x in d.volume_delta.sums.baseline.items if x == 0.0) < 10
    # No return spans the outage: the largest 1-second return is the one-cent wiggle (about 1 bp).
    assert max(abs(r) for r in d.volatility.returns.recent.items) < 2.0


def test_an_outage_closed_as_empty_seconds_would_read_as_a_crash() -> None:
    """What `on_feed_lost` prevents: the silence becomes the baselines, the move a 100-bp return."""
    d = outage(told=False)
    assert min(d.volatility.returns.recent.items) < -90.0
    assert d.volume_delta.sums.baseline.std < 1.0 and abs(d.volume_delta.z()) == 1000.0
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
    return is heard), an engine silence, and an engine restart (a new start in its health)."""
    runner = Runner(config.load(REPO / "config" / "config.toml"), ReplayLink(), None)
    zero = {f.name: 0 for f in fields(wire.HealthMetrics)}
    health = wire.HealthMetrics(**{**zero, "symbol": "POLUSDT", "feed_state": "live", "started_ts_ns": 1})
    runner.handle(health)
    runner.handle(wire.Trade("POLUSDT", 5 * S, 5 * S, 1, 0.2, 10.0, "buy"))
    runner.handle(health)
    assert runner.detector._lost_after is None
    runner.handle(replace(health, started_ts_ns=2))
    assert runner.detector._lost_after == 5
    for previous, current, lost in (
        ("connecting", "syncing", None),
        ("syncing", "live", 5),
        ("live", "reconnecting", 5),
    ):
        runner.detector._lost_after = None
        runner.handle(wire.StateChange(6 * S, "feed", previous, current, "test"))
        assert runner.detector._lost_after == lost, (previous, current)
    runner.detector._lost_after = None
    runner._watch_engine(runner.last_data_ns + runner.engine_silence_ns)
    assert runner.engine_silent and runner.detector._lost_after == 5
