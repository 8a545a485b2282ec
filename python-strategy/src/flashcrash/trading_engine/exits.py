"""Exit rules of an open position, besides the resting target order.

On every trade price: stop loss (`stop_loss_pct` below the entry), maximum hold (`max_hold_secs` of
event time), a gap against the position (a trade more than `gap_exit_pct` below the previous one), and
the optional trailing stop (`trailing_stop_pct` below the highest price since the entry). The maximum
hold also whenever the event clock moves without a trade (a book: `held_too_long`). On every closed
1-second candle after the entry's own second: a bearish candle (`exit_on_bearish_candle`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from flashcrash.config import StrategyConfig
from flashcrash.event_detector import Candle

NS = 1_000_000_000
# Prices are floats: a move of exactly a threshold (0.2000 -> 0.1998 is exactly 0.1 %) computes a
# hair above or below it depending on the price. Thresholds are compared with this relative
# tolerance, far below any tick (a tick of POLUSDT is 5e-4 of its price), so that "at" and "more
# than" mean what they say at every price.
EPS = 1e-9


class ExitReason(StrEnum):
    TARGET = "target"
    STOP_LOSS = "stop_loss"
    MAX_HOLD = "max_hold"
    GAP = "gap"
    TRAILING_STOP = "trailing_stop"
    BEARISH_CANDLE = "bearish_candle"
    TARGET_REFUSED = "target_refused"
    SHUTDOWN = "shutdown"
    ENGINE_FLATTEN = "engine_flatten"  # the engine sold the whole net position itself
    WRITTEN_OFF = "written_off"  # what was left no venue would buy: written off at its cost


@dataclass(frozen=True)
class ExitRules:
    stop_loss: float  # fraction
    max_hold_ns: int
    gap: float  # fraction
    bearish: bool
    trailing: float | None  # fraction, None = off

    @staticmethod
    def from_config(cfg: StrategyConfig) -> ExitRules:
        return ExitRules(
            cfg.stop_loss_pct / 100,
            cfg.max_hold_secs * NS,
            cfg.gap_exit_pct / 100,
            cfg.exit_on_bearish_candle,
            cfg.trailing_stop_pct / 100 if cfg.trailing_stop else None,
        )

    def on_price(
        self, entry: float, entry_ns: int, peak: float, prev: float, price: float, ts_ns: int
    ) -> ExitReason | None:
        """`peak`: highest price since the entry (including `price`); `prev`: the previous trade price
        (nan when none)."""
        if price <= entry * (1 - self.stop_loss) * (1 + EPS):
            return ExitReason.STOP_LOSS
        if math.isfinite(prev) and prev > 0 and (prev - price) / prev > self.gap + EPS:
            return ExitReason.GAP
        if self.trailing is not None and price <= peak * (1 - self.trailing) * (1 + EPS):
            return ExitReason.TRAILING_STOP
        if self.held_too_long(entry_ns, ts_ns):
            return ExitReason.MAX_HOLD
        return None

    def held_too_long(self, entry_ns: int, ts_ns: int) -> bool:
        """Whether a position entered at `entry_ns` is past its maximum hold at `ts_ns`."""
        return ts_ns - entry_ns >= self.max_hold_ns

    def on_candle(self, c: Candle, entry_ns: int) -> ExitReason | None:
        entry_second = entry_ns - entry_ns % NS
        if self.bearish and c.start_ns > entry_second and c.close < c.open:
            return ExitReason.BEARISH_CANDLE
        return None
