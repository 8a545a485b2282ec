"""The volume check on its own (`VolumeGate`), with `[strategy]` settings other than the defaults: the
multiple, the window (seconds without trades count as zero, older candles leave it, the seconds of a
feed outage are left out) and the minimum notional all come from the configuration. The strategy's
use of it is in test_trading.py, the runner's telling it of feed outages in
test_runner_fake_engine.py."""

from __future__ import annotations

import math
from dataclasses import replace

from trading_fixtures import candle

from flashcrash.config import StrategyConfig
from flashcrash.event_detector import Candle
from flashcrash.trading_engine.volume import VolumeGate

# Every setting away from its default (2x, 60 s, 200 quote).
CFG = replace(StrategyConfig(), volume_multiple=3.0, volume_window_secs=10, volume_min_quote=500.0)


def gate() -> VolumeGate:
    return VolumeGate(CFG.volume_window_secs, CFG.volume_multiple, CFG.volume_min_quote)


def bar(sec: int, volume: float, close: float = 1.0) -> Candle:
    return candle(sec, close, close, close, close, volume)


def test_volume_must_beat_the_configured_multiple_of_the_average() -> None:
    g, per_sec = gate(), 1000.0
    for k in range(CFG.volume_window_secs):
        g.observe(bar(k, per_sec))
    now = CFG.volume_window_secs
    assert g.check(bar(now, 0)).average == per_sec
    assert not g.check(bar(now, per_sec * (CFG.volume_multiple - 0.5))).ok
    assert not g.check(bar(now, per_sec * CFG.volume_multiple)).ok  # strictly over
    assert g.check(bar(now, per_sec * CFG.volume_multiple + 1)).ok


def test_quiet_seconds_count_as_zero_and_old_candles_leave_the_window() -> None:
    g, window = gate(), CFG.volume_window_secs
    g.observe(bar(0, 1000.0))
    # One candle in the last `window` seconds, the others silent: the average is per second.
    assert g.check(bar(window // 2, 0)).average == 1000.0 / window
    assert g.check(bar(window, 0)).average == 1000.0 / window  # second 0 is still in [0, window)
    assert g.check(bar(window + 1, 0)).average == 0.0


def test_notional_of_at_least_the_configured_minimum() -> None:
    close = 0.25  # volume x close exact in binary
    at_min = CFG.volume_min_quote / close
    assert gate().check(bar(1, at_min, close)).ok  # no history: only the notional decides
    assert not gate().check(bar(1, at_min - 0.01, close)).ok


def test_the_seconds_of_a_feed_outage_are_left_out_of_the_average() -> None:
    """Two seconds at 1000, then the feed lost until the window's end: the average is 1000 a second
    over the two seconds observed (not 200 over the window), so a candle of 2500 is no spike; the
    outage leaves the average once it leaves the window."""
    g, window = gate(), CFG.volume_window_secs
    g.observe(bar(0, 1000.0))
    g.observe(bar(1, 1000.0))
    g.on_feed_lost()
    check = g.check(bar(window, 2500.0))
    assert check.average == 1000.0 and not check.ok
    g.observe(bar(window, 2500.0))  # the outage, 2 s .. `window` s, is behind it now
    g.observe(bar(window + 1, 0.0))
    assert g.check(bar(window + 2, 0.0)).average == 2500.0 / 2  # of 2 .. 11 s, 2 .. 9 s were lost
    assert g.check(bar(2 * window + 1, 0.0)).average == 0.0  # seconds window+1 .. 2 window, all seen


def test_a_window_wholly_in_an_outage_has_no_average_and_passes_nothing() -> None:
    g, window = gate(), CFG.volume_window_secs
    g.observe(bar(0, 1000.0))
    g.on_feed_lost()
    check = g.check(bar(window + 5, 1e9))
    assert math.isnan(check.average) and not check.ok
    assert "no second observed" in check.describe()


def test_what_came_after_a_snapshot_is_an_outage_once_restored() -> None:
    """A restored gate did not observe what happened while the process was down; a snapshot of an
    older version (its candles only) restores the same."""
    g, window = gate(), CFG.volume_window_secs
    for k in range(3):
        g.observe(bar(k, 1000.0))
    for state in (g.snapshot(), {"candles": g.snapshot()["candles"]}):
        restored = gate()
        restored.restore(state)
        assert restored.check(bar(window, 0.0)).average == 1000.0, state
