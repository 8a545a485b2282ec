"""What the detector tells the trading engine: one reading per indicator, at one instant.

The eight indicators are named by `Indicator`; the first five (`CORE`) vote for ACTIVE. The
trading engine scores entries from these readings (weights in `[strategy]`) and never looks inside
the detector (compiled: `rust-engine/crates/detector/src/readings.rs` makes them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple


class Indicator(StrEnum):
    VOLATILITY = "volatility"
    ACCELERATION = "acceleration"
    OBI = "obi"
    SPREAD = "spread"
    VOLUME_DELTA = "volume_delta"
    MESSAGE_VELOCITY = "message_velocity"
    PATTERN = "pattern"
    LIQUIDITY = "liquidity"


CORE: tuple[Indicator, ...] = (
    Indicator.VOLATILITY,
    Indicator.ACCELERATION,
    Indicator.OBI,
    Indicator.SPREAD,
    Indicator.VOLUME_DELTA,
)


class Pattern(StrEnum):
    NONE = "none"
    SELLING_EXHAUSTION = "selling_exhaustion"
    BUYING_CLIMAX = "buying_climax"


class Reading(NamedTuple):
    """One indicator at one instant (a named tuple: eight are made every second, and a frozen
    dataclass costs about a microsecond each to build).

    `value` is in the indicator's own unit (a ratio to baseline, a z-score, an imbalance...),
    `threshold` the value at which it fires, `fired` whether it does, and `strength` in [0, 1] the
    share of its entry-score weight it earns: 1 when it fires, `|value| / threshold` (capped under
    1) when it does not, so an indicator close to firing counts for most of its weight; `ready` is
    False while its baseline is still warming up (then `fired` is False and `strength` 0).
    """

    indicator: Indicator
    value: float
    threshold: float
    fired: bool
    strength: float
    ready: bool = True


@dataclass(frozen=True, slots=True)
class Readings:
    """All eight readings at `ts_ns` (event time), plus what the risk checks need from the book."""

    ts_ns: int
    by_indicator: dict[Indicator, Reading]
    pattern: Pattern
    spread_ratio: float  # relative spread over its baseline (nan until ready)
    liquidity_usd: float  # bid + ask notional of the top levels (nan before the first book)
    depth_imbalance: float = math.nan  # (bid - ask) / (bid + ask) notional of the top levels
    extreme_imbalance: bool = False  # |depth_imbalance| over `extreme_imbalance`
    bid_walls: tuple[float, ...] = ()  # prices of bid levels over `wall_ratio` x the side's median size
    ask_walls: tuple[float, ...] = ()
    # the price's move over the volatility window in baseline sigmas (nan until ready); with
    # `quorum_needs_price` a move of `price_move_sigmas` stands for volatility or acceleration
    price_move: float = math.nan

    def __getitem__(self, ind: Indicator) -> Reading:
        return self.by_indicator[ind]

    def core_fired(self) -> int:
        return sum(1 for i in CORE if self.by_indicator[i].fired)
