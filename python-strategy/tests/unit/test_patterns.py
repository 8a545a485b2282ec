"""Candle patterns on 1-second candles: positive and negative sequences."""

from __future__ import annotations

from flashcrash.event_detector import Candle, Pattern
from flashcrash.event_detector.patterns import CandlePatterns

S = 1_000_000_000


def c(sec: int, o: float, h: float, low: float, cl: float, vol: float = 1.0) -> Candle:
    return Candle(sec * S, o, h, low, cl, vol, vol / 2, 1)


def run(candles: list[Candle]) -> tuple[Pattern, int]:
    p = CandlePatterns(3, 5, 20.0, 10.0, 20.0, 1.5)
    for x in candles:
        p.on_candle(x)
    return p.pattern, p.length


# Bearish, bodies 1.0 > 0.8 > 0.6, lower wicks 0.5 < 0.6 < 0.8 (over 10 % growth), each over 20 %.
EXHAUSTION = [
    c(0, 10.0, 10.0, 8.5, 9.0),
    c(1, 9.0, 9.0, 7.6, 8.2),
    c(2, 8.2, 8.2, 6.8, 7.6),
]


def test_selling_exhaustion_positive() -> None:
    assert run(EXHAUSTION) == (Pattern.SELLING_EXHAUSTION, 3)


def test_selling_exhaustion_needs_growing_wicks() -> None:
    flat = [*EXHAUSTION[:2], c(2, 8.2, 8.2, 6.95, 7.6)]  # wick 0.65 < 0.6 x 1.1 = 0.66
    assert run(flat)[0] is Pattern.NONE


def test_selling_exhaustion_needs_shrinking_bodies() -> None:
    assert run([*EXHAUSTION[:2], c(2, 8.2, 8.2, 6.0, 7.0)])[0] is Pattern.NONE  # body 1.2


def test_selling_exhaustion_needs_consecutive_seconds() -> None:
    gap = [EXHAUSTION[0], EXHAUSTION[1], c(3, 8.2, 8.2, 6.8, 7.6)]
    assert run(gap)[0] is Pattern.NONE


def test_selling_exhaustion_needs_bearish_candles() -> None:
    assert run([*EXHAUSTION[:2], c(2, 7.6, 8.2, 6.8, 8.2)])[0] is Pattern.NONE


# Bullish, upper wicks 0.5 / 0.5 / 0.5 of ranges 1.5 (33 %), the last with volume 4 > 1.5 x 2.
CLIMAX = [
    c(10, 10.0, 11.5, 10.0, 11.0, 2.0),
    c(11, 11.0, 12.5, 11.0, 12.0, 2.0),
    c(12, 12.0, 13.5, 12.0, 13.0, 4.0),
]


def test_buying_climax_positive() -> None:
    assert run(CLIMAX) == (Pattern.BUYING_CLIMAX, 3)


def test_buying_climax_needs_volume() -> None:
    assert run([*CLIMAX[:2], c(12, 12.0, 13.5, 12.0, 13.0, 2.9)])[0] is Pattern.NONE


def test_buying_climax_needs_long_upper_wicks() -> None:
    assert run([*CLIMAX[:2], c(12, 12.0, 13.1, 12.0, 13.0, 4.0)])[0] is Pattern.NONE  # wick 9 %


def test_longest_run_is_reported() -> None:
    five = [
        c(0, 10.0, 10.0, 8.0, 9.5),  # body 0.5, wick 1.5
        c(1, 9.5, 9.5, 7.5, 9.1),  # body 0.4, wick 1.6 (not +10 %)
        *[c(i + 2, x.open, x.high, x.low, x.close) for i, x in enumerate(EXHAUSTION)],
    ]
    assert run(five)[0] is Pattern.NONE or run(five)[1] == 3
    assert run(five[2:]) == (Pattern.SELLING_EXHAUSTION, 3)


# Bearish, bodies 2.0 > 1.8 > 1.6 > 1.4 > 1.2, lower wicks 0.6, 0.7, 0.8, 0.9, 1.0 (each over 10 %
# longer than the one before, and over 20 % of its range).
EXHAUSTION_5 = [
    c(20, 20.0, 20.0, 17.4, 18.0),
    c(21, 18.0, 18.0, 15.5, 16.2),
    c(22, 16.2, 16.2, 13.8, 14.6),
    c(23, 14.6, 14.6, 12.3, 13.2),
    c(24, 13.2, 13.2, 11.0, 12.0),
]


def test_the_longest_matching_run_is_reported_up_to_max_candles() -> None:
    """Five matching candles are a run of 5 (not the 3 or 4 inside it); with pattern_max_candles 4,
    a run of 4."""
    assert run(EXHAUSTION_5) == (Pattern.SELLING_EXHAUSTION, 5)
    assert run(EXHAUSTION_5[:4]) == (Pattern.SELLING_EXHAUSTION, 4)
    p = CandlePatterns(3, 4, 20.0, 10.0, 20.0, 1.5)
    for x in EXHAUSTION_5:
        p.on_candle(x)
    assert (p.pattern, p.length) == (Pattern.SELLING_EXHAUSTION, 4)


def test_selling_exhaustion_needs_the_long_lower_wick_on_every_candle() -> None:
    """The first candle's lower wick is 0.2 of a 1.5 range (13 %, under 20 %): no pattern, though
    the wicks grow and the bodies shrink."""
    assert run([c(0, 10.0, 10.3, 8.8, 9.0), *EXHAUSTION[1:]])[0] is Pattern.NONE


def test_buying_climax_needs_the_long_upper_wick_on_every_candle() -> None:
    """The first candle's upper wick is 0.1 of a 1.1 range (9 %, under 20 %): no climax."""
    assert run([c(10, 10.0, 11.1, 10.0, 11.0, 2.0), *CLIMAX[1:]])[0] is Pattern.NONE


def with_config(candles: list[Candle], **kw: float) -> Pattern:
    args = {"ex_wick": 20.0, "ex_growth": 10.0, "cl_wick": 20.0, "cl_volume": 1.5} | kw
    p = CandlePatterns(3, 5, args["ex_wick"], args["ex_growth"], args["cl_wick"], args["cl_volume"])
    for x in candles:
        p.on_candle(x)
    return p.pattern


def test_pattern_thresholds_come_from_the_configuration() -> None:
    """Each pattern threshold is the one given (from `[event_detection]`), not the default:
    EXHAUSTION's lower wicks are 33 %, 43 % and 57 % of their ranges, growing 20 % and 33 %; CLIMAX's upper
    wicks are 33 % and its last volume 2x the mean before it."""
    assert with_config(EXHAUSTION) is Pattern.SELLING_EXHAUSTION
    assert with_config(EXHAUSTION, ex_wick=35.0) is Pattern.NONE
    assert with_config(EXHAUSTION, ex_growth=25.0) is Pattern.NONE
    assert with_config(CLIMAX) is Pattern.BUYING_CLIMAX
    assert with_config(CLIMAX, cl_wick=35.0) is Pattern.NONE
    assert with_config(CLIMAX, cl_volume=2.0) is Pattern.NONE  # over 2x is needed: 4 is exactly 2 x 2
    assert with_config(CLIMAX, cl_volume=1.9) is Pattern.BUYING_CLIMAX
