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
