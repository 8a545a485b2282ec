"""Writes pyfmt_cases.json: Python's `format(x, spec)` for the specs the detector's transition reasons
use (`.3g` in `describe`, `g` for the held seconds), and a few other precisions, over edge cases and
random floats. Each case is [float.hex(x), spec, expected]; `tests/pyfmt_cases.rs` checks
`detector::pyfmt` against it.

Run from anywhere: /work/main/.venv/bin/python rust-engine/crates/detector/tests/gen_pyfmt_cases.py
(deterministic: a fixed seed, so the file only changes when this script does).
"""

from __future__ import annotations

import json
import math
import random
import struct
import sys
from pathlib import Path

OUT = Path(__file__).with_name("pyfmt_cases.json")
SPECS = ("g", ".3g")
OTHER_SPECS = (".0g", ".1g", ".2g", ".4g", ".10g", ".12g", ".16g", ".17g", ".25g")


def from_bits(bits: int) -> float:
    return struct.unpack("<d", struct.pack("<Q", bits))[0]


def edge_values() -> list[float]:
    xs = [
        math.nan,
        math.inf,
        -math.inf,
        0.0,
        -0.0,
        5e-324,
        -5e-324,
        sys.float_info.min,  # smallest normal
        sys.float_info.min - 5e-324,  # largest subnormal
        sys.float_info.max,
        -sys.float_info.max,
        sys.float_info.epsilon,
        1.0,
        -1.0,
        2.5,
        0.5,
        1.5,
        0.125,
        0.375,
        12.5,
        1.125,
        9.995,
        99.95,
        999.5,
        999.4999999999999,
        999999.5,
        999999.4,
        9999995.0,
        1234565.0,
        1234575.0,
        123456.5,
        0.000123456789,
        9.9999995e-5,
        9.99995e-5,
        9.995e-5,
        0.0001,
        0.00001,
        1.5e-5,
        1e16,
        1e100,
        1e-100,
        1e22,
        1e23,
        2.000000001,
        3.0,
        0.1,
        0.2,
        0.3,
        1 / 3,
        2 / 3,
        math.pi,
        math.e,
        2.0**53,
        2.0**53 + 2,
        2.0**63,
        2.0**64,
        -12.345,
    ]
    # Powers of ten and their neighbours: where the rounded exponent changes.
    for k in [*range(-25, 26), -323, -320, -310, -308, -307, -300, 300, 307, 308]:
        x = float(f"1e{k}")
        xs += [x, math.nextafter(x, 0.0), math.nextafter(x, math.inf)]
    # Just under a power of ten at both precisions: 9.995, 9.9999995 (round up into the next decade).
    for k in range(-8, 9):
        for m in ("9.995", "9.9949999", "9.9999995", "9.99999949"):
            xs.append(float(f"{m}e{k}"))
    return xs


def random_values(rng: random.Random) -> list[float]:
    xs: list[float] = []
    for _ in range(150):  # any bit pattern (NaNs kept: they format as "nan")
        xs.append(from_bits(rng.getrandbits(64)))
    for _ in range(200):  # log-uniform magnitudes around what the detector formats
        xs.append(rng.choice((1, -1)) * 10.0 ** rng.uniform(-12, 20))
    for _ in range(100):  # held seconds: nanosecond differences over NS
        xs.append(rng.randrange(0, 10**13) / 1_000_000_000)
    # Whole seconds, and ratios with few digits (ties at the rounding digit).
    for _ in range(50):
        xs.append(float(rng.randrange(0, 10**8)))
    for _ in range(100):
        xs.append(round(rng.uniform(-1000, 1000), rng.randrange(0, 6)))
    return xs


def main() -> None:
    rng = random.Random(20251010)
    cases: list[list[str]] = []
    seen: set[tuple[str, str]] = set()

    def add(x: float, spec: str) -> None:
        key = (x.hex(), spec)
        if key not in seen:
            seen.add(key)
            cases.append([x.hex(), spec, format(x, spec)])

    for x in edge_values() + random_values(rng):
        for spec in SPECS:
            add(x, spec)
    for x in edge_values()[:40] + random_values(rng)[::20]:
        for spec in OTHER_SPECS:
            add(x, spec)
    OUT.write_text(
        "[\n" + ",\n".join(json.dumps(c) for c in cases) + "\n]\n"
    )  # one case a line
    print(f"{len(cases)} cases -> {OUT}")


if __name__ == "__main__":
    main()
