"""The volume check on its own (`VolumeGate`), with `[strategy]` settings other than the defaults: the
multiple, the window (seconds without trades count as zero, older candles leave it) and the minimum
notional all come from the configuration. The strategy's use of it is in test_trading.py."""

from __future__ import annotations

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
