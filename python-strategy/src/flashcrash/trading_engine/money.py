"""Prices and quantities that may go into an order: `Decimal`, finite, positive, and (prices) on the
symbol's tick. They are built only through `Price.on_tick` / `Quantity.of`, which refuse NaN, Inf,
zero and negative values, so an order can never carry one."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Decimal, InvalidOperation


@dataclass(frozen=True, slots=True)
class Price:
    value: Decimal

    def __post_init__(self) -> None:
        if not (self.value.is_finite() and self.value > 0):
            raise ValueError(f"not a price: {self.value}")

    @staticmethod
    def on_tick(x: float | Decimal, tick: Decimal, up: bool = False) -> Price | None:
        """`x` rounded down (or up) to a multiple of `tick`; None when `x` is not a finite positive
        number or rounds to zero."""
        if isinstance(x, float) and not math.isfinite(x):
            return None
        try:
            d = Decimal(repr(x)) if isinstance(x, float) else x
            if not d.is_finite() or d <= 0 or tick <= 0:
                return None
            steps = (d / tick).to_integral_value(ROUND_UP if up else ROUND_DOWN)
            value = (steps * tick).quantize(tick)
        except InvalidOperation:  # beyond the context's precision: not a price we could send
            return None
        return Price(value) if value > 0 else None

    def __float__(self) -> float:
        return float(self.value)


@dataclass(frozen=True, slots=True)
class Quantity:
    value: Decimal

    def __post_init__(self) -> None:
        if not (self.value.is_finite() and self.value > 0):
            raise ValueError(f"not a quantity: {self.value}")

    @staticmethod
    def of(x: Decimal) -> Quantity | None:
        return Quantity(x) if x.is_finite() and x > 0 else None
