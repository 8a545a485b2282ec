"""Entry quality: a score from 0 to 100 out of the detector's eight readings, and its band.

Each indicator contributes its reading's `strength` (0 to 1; 0 while not ready) times its weight; the
sum is scaled so the weights total 100 (the design's 15/15/15/10/15/10/10/10 already do). The entry
is a long one, bought in a rebound: the pattern's part is earned by a selling exhaustion (sellers
tiring at the low); a buying climax (buyers tiring at a top) earns it nothing. Bands: excellent
from `excellent`, good from `good`, rejected below; a selling-exhaustion pattern lowers the acceptance
threshold to `exhaustion`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from flashcrash.config import StrategyConfig
from flashcrash.event_detector.readings import Indicator, Pattern, Readings


class Band(StrEnum):
    EXCELLENT = "excellent"
    GOOD = "good"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Weights:
    by_indicator: dict[Indicator, float]

    @staticmethod
    def from_config(cfg: StrategyConfig) -> Weights:
        return Weights({i: float(getattr(cfg, f"weight_{i.value}")) for i in Indicator})


@dataclass(frozen=True)
class Bands:
    excellent: float = 85.0
    good: float = 70.0
    exhaustion: float = 60.0

    @staticmethod
    def from_config(cfg: StrategyConfig) -> Bands:
        return Bands(cfg.score_excellent, cfg.score_good, cfg.score_exhaustion)


@dataclass(frozen=True)
class Score:
    total: float
    parts: dict[Indicator, float]
    threshold: float
    band: Band

    @property
    def accepted(self) -> bool:
        return self.band is not Band.REJECTED

    def describe(self) -> str:
        parts = " ".join(f"{i.value}={v:.1f}" for i, v in self.parts.items() if v > 0)
        return (
            f"score {self.total:.1f} ({self.band}, threshold {self.threshold:g}; {parts or 'no component'})"
        )


def _strength(r: object) -> float:
    s = getattr(r, "strength", 0.0)
    if not getattr(r, "ready", False) or not isinstance(s, int | float) or not math.isfinite(s):
        return 0.0
    return min(max(float(s), 0.0), 1.0)


def score(readings: Readings, weights: Weights, bands: Bands) -> Score:
    total_weight = sum(weights.by_indicator.values())
    scale = 100.0 / total_weight if total_weight > 0 else 0.0
    parts = {i: w * scale * _strength(readings.by_indicator.get(i)) for i, w in weights.by_indicator.items()}
    if readings.pattern is Pattern.BUYING_CLIMAX and Indicator.PATTERN in parts:
        parts[Indicator.PATTERN] = 0.0
    total = round(sum(parts.values()), 6)
    threshold = bands.exhaustion if readings.pattern is Pattern.SELLING_EXHAUSTION else bands.good
    if total >= bands.excellent:
        band = Band.EXCELLENT
    elif total >= threshold:
        band = Band.GOOD
    else:
        band = Band.REJECTED
    return Score(total, parts, threshold, band)
