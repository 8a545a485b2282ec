"""Exit rules on their own (`ExitRules`), with settings other than the defaults: every threshold comes
from `[strategy]`, and a candle exits only when it is bearish, after the entry's second, and only when
`exit_on_bearish_candle` is on. The strategy's handling of these exits is in test_trading.py."""

from __future__ import annotations

import math
from dataclasses import replace

from trading_fixtures import S, candle

from flashcrash.config import StrategyConfig
from flashcrash.trading_engine.exits import ExitReason, ExitRules

# Every threshold away from its default (stop 1.5 %, gap 0.1 %, trailing 0.5 %, hold 20 s).
CFG = replace(
    StrategyConfig(),
    stop_loss_pct=3.0,
    gap_exit_pct=0.4,
    trailing_stop=True,
    trailing_stop_pct=1.0,
    max_hold_secs=7,
)
ENTRY, ENTRY_NS = 1.0, 100 * S
NO_PREV = math.nan


def rules(**cfg: object) -> ExitRules:
    return ExitRules.from_config(replace(CFG, **cfg))


def test_stop_loss_at_the_configured_distance_below_the_entry() -> None:
    # Trailing off: with it on, the peak is the entry here and the 1 % trailing stop would go first.
    r, pct = rules(trailing_stop=False), CFG.stop_loss_pct / 100
    inside, beyond = ENTRY * (1 - pct * 0.9), ENTRY * (1 - pct * 1.1)
    assert r.on_price(ENTRY, ENTRY_NS, ENTRY, NO_PREV, inside, ENTRY_NS) is None
    assert r.on_price(ENTRY, ENTRY_NS, ENTRY, NO_PREV, beyond, ENTRY_NS) is ExitReason.STOP_LOSS


def test_gap_at_the_configured_fall_from_the_previous_trade() -> None:
    r, pct = rules(), CFG.gap_exit_pct / 100
    prev = 1.002  # above the entry: no stop, and the trailing stop is far below
    small, large = prev * (1 - pct * 0.9), prev * (1 - pct * 1.1)
    assert r.on_price(ENTRY, ENTRY_NS, prev, prev, small, ENTRY_NS) is None
    assert r.on_price(ENTRY, ENTRY_NS, prev, prev, large, ENTRY_NS) is ExitReason.GAP
    # A rise of the same size is no gap against a long position.
    rise = prev * (1 + pct * 1.1)
    assert r.on_price(ENTRY, ENTRY_NS, rise, prev, rise, ENTRY_NS) is None


def test_exactly_at_a_threshold_on_the_tick_grid_is_decided_the_same_at_every_price() -> None:
    """A fall of exactly the gap (0.1 %: two ticks from 0.2000) is no gap, and a price exactly at
    the stop loss (1.5 % below the entry) or the trailing stop (0.5 % below the peak) is a stop, at
    every price of the 0.0001 grid from 0.1000 to 0.5000 where the threshold lands on the grid:
    float rounding decided it either way before."""
    r = ExitRules.from_config(replace(StrategyConfig(), trailing_stop=True))
    assert (r.gap, r.stop_loss, r.trailing) == (0.001, 0.015, 0.005)
    checked = 0
    for ticks in range(1000, 5001):
        p = ticks / 10_000
        for frac, kind in ((r.gap, "gap"), (r.stop_loss, "stop"), (r.trailing, "trailing")):
            moved = ticks * (1 - frac)
            if abs(moved - round(moved)) > 1e-6:
                continue  # the threshold is not on the grid at this price
            at = round(moved) / 10_000
            checked += 1
            if kind == "gap":
                assert r.on_price(p, 0, p, p, at, 0) is None, (p, at)
            elif kind == "stop":
                assert r.on_price(p, 0, p, math.nan, at, 0) is ExitReason.STOP_LOSS, (p, at)
            else:
                peak = p
                entry = p * 0.9  # the stop loss far below
                assert r.on_price(entry, 0, peak, math.nan, at, 0) is ExitReason.TRAILING_STOP, (p, at)
    assert checked > 20


def test_trailing_stop_at_the_configured_distance_below_the_peak() -> None:
    r, pct = rules(), CFG.trailing_stop_pct / 100
    peak = 1.05  # 5 % above the entry: the trailing stop is far above the stop loss
    inside, beyond = peak * (1 - pct * 0.9), peak * (1 - pct * 1.1)
    assert r.on_price(ENTRY, ENTRY_NS, peak, NO_PREV, inside, ENTRY_NS) is None
    assert r.on_price(ENTRY, ENTRY_NS, peak, NO_PREV, beyond, ENTRY_NS) is ExitReason.TRAILING_STOP
    off = rules(trailing_stop=False)
    assert off.on_price(ENTRY, ENTRY_NS, peak, NO_PREV, beyond, ENTRY_NS) is None


def test_max_hold_after_the_configured_seconds() -> None:
    r, hold_ns = rules(), CFG.max_hold_secs * S
    assert r.on_price(ENTRY, ENTRY_NS, ENTRY, NO_PREV, ENTRY, ENTRY_NS + hold_ns - 1) is None
    assert r.on_price(ENTRY, ENTRY_NS, ENTRY, NO_PREV, ENTRY, ENTRY_NS + hold_ns) is ExitReason.MAX_HOLD


def test_only_a_bearish_candle_exits_and_only_when_configured() -> None:
    r = rules()
    after = 101  # the second after the entry's own (100)
    flat = candle(after, 1.01, 1.02, 1.00, 1.01)  # close == open: not bearish
    up = candle(after, 1.00, 1.02, 1.00, 1.01)
    down = candle(after, 1.01, 1.02, 1.00, 1.00)
    assert r.on_candle(flat, ENTRY_NS) is None
    assert r.on_candle(up, ENTRY_NS) is None
    assert r.on_candle(down, ENTRY_NS) is ExitReason.BEARISH_CANDLE
    assert rules(exit_on_bearish_candle=False).on_candle(down, ENTRY_NS) is None
