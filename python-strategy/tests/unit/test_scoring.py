"""Entry quality score: the design's weights, the bands, the exhaustion threshold."""

from __future__ import annotations

import math
from pathlib import Path

from trading_fixtures import readings

from flashcrash import config
from flashcrash.config import StrategyConfig
from flashcrash.event_detector.readings import Indicator, Pattern, Reading, Readings
from flashcrash.trading_engine.scoring import Band, Bands, Weights, score

W = Weights.from_config(StrategyConfig())
B = Bands.from_config(StrategyConfig())
REPO = Path(__file__).resolve().parents[3]


def test_design_weights_sum_to_100() -> None:
    assert W.by_indicator == {
        Indicator.VOLATILITY: 15,
        Indicator.ACCELERATION: 15,
        Indicator.OBI: 15,
        Indicator.SPREAD: 10,
        Indicator.VOLUME_DELTA: 15,
        Indicator.MESSAGE_VELOCITY: 10,
        Indicator.PATTERN: 10,
        Indicator.LIQUIDITY: 10,
    }
    assert score(readings(1.0), W, B).total == 100


def test_each_component_is_strength_times_weight() -> None:
    s = score(readings(0.0, strengths={Indicator.OBI: 0.5, Indicator.SPREAD: 1.0}), W, B)
    assert s.parts[Indicator.OBI] == 7.5 and s.parts[Indicator.SPREAD] == 10
    assert s.total == 17.5 and s.band is Band.REJECTED


def test_bands() -> None:
    assert score(readings(0.85), W, B).band is Band.EXCELLENT
    assert score(readings(0.849), W, B).band is Band.GOOD
    assert score(readings(0.70), W, B).band is Band.GOOD
    assert score(readings(0.699), W, B).band is Band.REJECTED


def test_selling_exhaustion_lowers_the_threshold() -> None:
    plain = score(readings(0.65), W, B)
    exhausted = score(readings(0.65, pattern=Pattern.SELLING_EXHAUSTION), W, B)
    assert plain.band is Band.REJECTED and plain.threshold == 70
    assert exhausted.band is Band.GOOD and exhausted.threshold == 60
    assert score(readings(0.59, pattern=Pattern.SELLING_EXHAUSTION), W, B).band is Band.REJECTED
    assert score(readings(0.65, pattern=Pattern.BUYING_CLIMAX), W, B).band is Band.REJECTED


def test_a_buying_climax_earns_a_long_entry_nothing() -> None:
    # Buyers tiring at a top: no reason to buy. The same readings score the pattern's 10 points with a
    # selling exhaustion, none with a buying climax.
    exhausted = score(readings(0.7, pattern=Pattern.SELLING_EXHAUSTION), W, B)
    climax = score(readings(0.7, pattern=Pattern.BUYING_CLIMAX), W, B)
    assert exhausted.parts[Indicator.PATTERN] == 7.0 and exhausted.band is Band.GOOD
    assert climax.parts[Indicator.PATTERN] == 0.0 and climax.total == 63.0
    assert climax.band is Band.REJECTED and climax.threshold == 70


def test_not_ready_missing_and_nan_readings_count_zero() -> None:
    by = {i: Reading(i, math.nan, 1.0, False, 1.0, ready=False) for i in Indicator}
    by[Indicator.OBI] = Reading(Indicator.OBI, 1.0, 1.0, True, math.nan)
    by[Indicator.SPREAD] = Reading(Indicator.SPREAD, 1.0, 1.0, True, 7.0)  # clamped to 1
    del by[Indicator.LIQUIDITY]
    s = score(Readings(0, by, Pattern.NONE, math.nan, math.nan), W, B)
    assert s.total == 10


def test_weights_are_scaled_to_100() -> None:
    cfg = StrategyConfig(**{f"weight_{i.value}": 1.0 for i in Indicator})
    assert score(readings(0.5), Weights.from_config(cfg), B).total == 50


def test_bands_come_from_the_configuration() -> None:
    cfg = StrategyConfig(score_excellent=91.0, score_good=42.0, score_exhaustion=17.0)
    bands = Bands.from_config(cfg)
    assert (bands.excellent, bands.good, bands.exhaustion) == (91.0, 42.0, 17.0)
    assert score(readings(0.90), W, bands).band is Band.GOOD  # excellent from 91, not 85
    assert score(readings(0.91), W, bands).band is Band.EXCELLENT
    assert score(readings(0.42), W, bands).band is Band.GOOD  # good from 42, not 70
    assert score(readings(0.419), W, bands).band is Band.REJECTED
    exhausted = score(readings(0.17, pattern=Pattern.SELLING_EXHAUSTION), W, bands)
    assert exhausted.band is Band.GOOD and exhausted.threshold == 17  # not 60
    assert score(readings(0.169, pattern=Pattern.SELLING_EXHAUSTION), W, bands).band is Band.REJECTED


def test_the_shipped_configuration_bands() -> None:
    # config/config.toml's bands, whatever they are tuned to: a score between the exhaustion and the
    # good threshold passes with selling exhaustion only.
    st = config.load(REPO / "config" / "config.toml").strategy
    bands, weights = Bands.from_config(st), Weights.from_config(st)
    assert (bands.excellent, bands.good, bands.exhaustion) == (
        st.score_excellent,
        st.score_good,
        st.score_exhaustion,
    )
    assert st.score_exhaustion < st.score_good < st.score_excellent
    between = (st.score_exhaustion + st.score_good) / 200  # a strength: score = 100 x strength
    plain = score(readings(between), weights, bands)
    exhausted = score(readings(between, pattern=Pattern.SELLING_EXHAUSTION), weights, bands)
    assert plain.band is Band.REJECTED and plain.threshold == st.score_good
    assert exhausted.band is Band.GOOD and exhausted.threshold == st.score_exhaustion
    assert score(readings(st.score_excellent / 100), weights, bands).band is Band.EXCELLENT
