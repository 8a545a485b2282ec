"""The decimals the engine holds (`rust_decimal`): a plain decimal string (`-?digits[.digits]`, no
exponent, sign or space besides the minus), at most `MAX_SCALE` digits after the point, all its digits
together (the point dropped) at most `MAX_MANTISSA`. Leading zeros, however many, are taken as the
engine takes them (`"000500"` is 500). The config loader takes exactly these, as the engine's loader
does (`config.Rule.accepts`); the wire takes fewer (`wire._decimal`: also bounded in length, in
significant digits and in magnitude)."""

from __future__ import annotations

import re

PLAIN = re.compile(r"-?[0-9]+(\.[0-9]+)?")  # matched whole (`fullmatch`): "10\n" is no decimal
MAX_SCALE = 28
MAX_MANTISSA = 2**96 - 1
_MAX_DIGITS = len(str(MAX_MANTISSA))


def holds(v: str) -> bool:
    """Whether the engine can hold the decimal string `v`. The digits are counted before any
    conversion, so no string is too long for one."""
    if not PLAIN.fullmatch(v):
        return False
    whole, _, fraction = v.lstrip("-").partition(".")
    digits = (whole + fraction).lstrip("0")
    return len(fraction) <= MAX_SCALE and len(digits) <= _MAX_DIGITS and int(digits or "0") <= MAX_MANTISSA
