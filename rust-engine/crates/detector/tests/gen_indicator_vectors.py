"""Writes `indicator_vectors.json`: the Python indicators (`flashcrash.event_detector.indicators`)
driven by seeded pseudo-random inputs, every call and every result recorded, for
`indicator_vectors.rs` to replay against the Rust port and compare bit for bit.

Run from anywhere with the project's interpreter:

    /work/main/.venv/bin/python rust-engine/crates/detector/tests/gen_indicator_vectors.py

The output is deterministic (seeded `random.Random`, no clock): regenerating it changes nothing
unless the Python indicators changed.

Format: {"cases": [{"class", "args", "calls": [[method, args, result], ...]}]}. Floats are strings:
inputs as `repr` (the shortest string that reads back as the same float), results as `float.hex()`
(exact by construction); "nan", "inf", "-inf" for the non-finite. Ints and bools are JSON's own. A
reading is [value, threshold, fired, strength, ready]; a depth view is [liquidity_usd, imbalance,
extreme, bid_walls, ask_walls] (or null before the first book).
"""

from __future__ import annotations

import json
import math
import random
import sys
from pathlib import Path
from typing import Any

from flashcrash.event_detector.indicators.acceleration import Acceleration
from flashcrash.event_detector.indicators.depth import Depth
from flashcrash.event_detector.indicators.message_velocity import MessageVelocity
from flashcrash.event_detector.indicators.obi import OrderBookImbalance
from flashcrash.event_detector.indicators.spread import Spread
from flashcrash.event_detector.indicators.volatility import Volatility
from flashcrash.event_detector.indicators.volume_delta import VolumeDelta
from flashcrash.event_detector.readings import Reading

OUT = Path(__file__).with_name("indicator_vectors.json")
SEED = 20240611

Levels = list[tuple[float, float]]


def fin(x: float) -> str:
    """An input float: its repr (reads back exactly)."""
    x = float(x)
    assert float(repr(x)) == x or math.isnan(x)
    return repr(x)


def fout(x: float) -> str:
    """A result float: `float.hex()` (an int, Python's 0 of an empty sum, as a float)."""
    return float(x).hex()


def reading(r: Reading) -> list[Any]:
    return [fout(r.value), fout(r.threshold), r.fired, fout(r.strength), r.ready]


class Recorder:
    """One case: an indicator, its constructor arguments, and the calls made on it."""

    def __init__(self, cls: type, *args: Any) -> None:
        self.obj = cls(*args)
        self.case: dict[str, Any] = {
            "class": cls.__name__,
            "args": [fin(a) if isinstance(a, float) else a for a in args],
            "calls": [],
        }

    def call(self, method: str, *args: Any) -> Any:
        """Calls `method` (a property when it is not callable) and records its arguments and result."""
        attr = getattr(self.obj, method)
        result = attr(*args) if callable(attr) else attr
        enc_args = [
            book(a) if isinstance(a, list) else fin(a) if isinstance(a, float) else a
            for a in args
        ]
        if isinstance(result, Reading):
            enc: Any = reading(result)
        elif isinstance(result, (float, int)) and not isinstance(result, bool):
            enc = fout(result)
        else:
            assert result is None, (method, result)
            enc = None
        self.case["calls"].append([method, enc_args, enc])
        return result

    def view(self) -> None:
        v = self.obj.view
        enc = (
            None
            if v is None
            else [
                fout(v.liquidity_usd),
                fout(v.imbalance),
                v.extreme,
                [fout(p) for p in v.bid_walls],
                [fout(p) for p in v.ask_walls],
            ]
        )
        self.case["calls"].append(["view", [], enc])


def book(side: Levels) -> list[list[str]]:
    return [[fin(p), fin(q)] for p, q in side]


class Learn:
    """Learn flags in runs: mostly learning, with stretches of not learning (an event)."""

    def __init__(self, rnd: random.Random) -> None:
        self.rnd = rnd
        self.on = True

    def __call__(self) -> bool:
        if self.rnd.random() < (0.04 if self.on else 0.15):
            self.on = not self.on
        return self.on


def prices(
    rnd: random.Random, n: int, *, tick: float | None, flat: int = 0
) -> list[float]:
    """A random walk from 100 with jumps, crashes (a few seconds of large moves, after the first 40),
    flat stretches (all of the first `flat` seconds) and missing seconds (nan)."""
    out: list[float] = []
    p = 100.0
    crash = 0
    for i in range(n):
        if (
            i >= 40 and crash == 0 and rnd.random() < 0.04
        ):  # a calm start: the baselines warm up
            crash = rnd.randint(3, 8)
        u = rnd.random()
        if crash:
            crash -= 1
            p *= math.exp(rnd.gauss(-2e-3, 6e-3))
        elif u < 0.06:
            out.append(math.nan)  # no trade yet / in this second
            continue
        elif i < flat or u < 0.30:
            pass  # the same close
        elif u < 0.36:
            p *= math.exp(rnd.gauss(0.0, 4e-3))  # a jump
        else:
            p *= math.exp(rnd.gauss(0.0, 2e-4))
        if tick is not None:
            p = max(tick, round(p / tick) * tick)
        out.append(p)
    return out


def gen_book(rnd: random.Random, mid: float) -> tuple[Levels, Levels]:
    """A book of 0-25 levels a side (mostly 1-25), 2-decimal prices, quantities with duplicates,
    zeros, walls and a few full-precision values."""

    def n_levels() -> int:
        u = rnd.random()
        return 0 if u < 0.03 else rnd.randint(1, 3) if u < 0.2 else rnd.randint(1, 25)

    def qty() -> float:
        u = rnd.random()
        if u < 0.05:
            return 0.0
        if u < 0.25:
            return rnd.choice((0.5, 1.0, 1.0, 2.0, 2.5))
        if u < 0.35:
            return rnd.uniform(0.0, 5.0)
        if u < 0.45:
            return round(rnd.uniform(5.0, 60.0), 3)  # a wall, likely
        return round(rnd.expovariate(1.0), 3)

    bid = round(mid - rnd.randint(0, 3) * 0.01, 2)
    ask = round(bid + rnd.randint(1, 5) * 0.01, 2)
    bids, asks = [], []
    p = bid
    for _ in range(n_levels()):
        bids.append((p, qty()))
        p = round(p - rnd.randint(1, 4) * 0.01, 2)
    p = ask
    for _ in range(n_levels()):
        asks.append((p, qty()))
        p = round(p + rnd.randint(1, 4) * 0.01, 2)
    return bids, asks


def volatility(rnd: random.Random) -> list[dict[str, Any]]:
    cases = []
    configs = [
        (5, 20, 8, 3.0, 2.0, None),
        (10, 40, 15, 3.0, 10.0, 0.01),
        (3, 12, 5, 2.0, 0.0, 0.05),  # floor 0: a flat baseline reads against 1e-9
    ]
    for n, (window, base, warm, ratio, floor, tick) in enumerate(configs):
        rec = Recorder(Volatility, window, base, warm, ratio, floor)
        learn = Learn(rnd)
        for p in prices(rnd, 100, tick=tick, flat=25 if n == 2 else 0):
            if rnd.random() < 0.02:
                rec.call("restart")
            rec.call("on_second", p, learn())
            rec.call("reading")
            rec.call("recent_bps")
            rec.call("baseline_bps")
        cases.append(rec.case)
    return cases


def acceleration(rnd: random.Random) -> list[dict[str, Any]]:
    cases = []
    for span, threshold, tick in ((1, 8.0, None), (3, 8.0, 0.01), (2, 2.5, None)):
        rec = Recorder(Acceleration, span, threshold)
        for p in prices(rnd, 80, tick=tick):
            if rnd.random() < 0.02:
                rec.call("restart")
            rec.call("on_second", p)
            rec.call("reading")
            rec.call("value")
            rec.call("second_difference")
        cases.append(rec.case)
    return cases


def obi(rnd: random.Random) -> list[dict[str, Any]]:
    cases = []
    for levels, threshold in ((1, 0.5), (3, 0.3), (10, 0.5)):
        rec = Recorder(OrderBookImbalance, levels, threshold)
        rec.call("reading", True)  # before the first book
        mid = 100.0
        for _ in range(28):
            mid = round(mid + rnd.randint(-5, 5) * 0.01, 2)
            bids, asks = gen_book(rnd, mid)
            rec.call("on_book", bids, asks)
            rec.call("reading", rnd.random() < 0.8)
        cases.append(rec.case)
    return cases


def spread(rnd: random.Random) -> list[dict[str, Any]]:
    cases = []
    for base, warm, ratio in ((20, 10, 4.0), (30, 5, 2.0)):
        rec = Recorder(Spread, base, warm, ratio)
        learn = Learn(rnd)
        mid = 100.0
        for _ in range(100):
            if rnd.random() < 0.8:
                mid = max(1.0, round(mid + rnd.randint(-10, 10) * 0.01, 2))
                u = rnd.random()
                ticks = (
                    0
                    if u < 0.03
                    else rnd.randint(10, 60)
                    if u < 0.1
                    else rnd.randint(1, 3)
                )
                bid = round(mid - rnd.randint(0, ticks) * 0.01, 2)
                rec.call("on_book", bid, round(bid + ticks * 0.01, 2))
            fresh = rnd.random() < 0.85
            rec.call("on_second", fresh, learn())
            rec.call("reading", fresh if rnd.random() < 0.9 else not fresh)
            rec.call("ratio")
        cases.append(rec.case)
    return cases


def volume_delta(rnd: random.Random) -> list[dict[str, Any]]:
    cases = []
    for window, base, warm, z in ((1, 10, 5, 3.0), (5, 30, 10, 4.0)):
        rec = Recorder(VolumeDelta, window, base, warm, z)
        learn = Learn(rnd)
        for i in range(100):
            u = rnd.random()
            if i < 50:
                d = (
                    0.0 if i < 30 or u < 0.5 else 2.0
                )  # flat stretches: the std-0 branch
            elif u < 0.15:
                d = 0.0
            elif u < 0.45:
                d = float(rnd.randint(-5, 5))
            elif u < 0.92:
                d = round(rnd.gauss(0.0, 1000.0), 2)
            else:
                d = rnd.choice((-1.0, 1.0)) * rnd.uniform(2e4, 2e5)
            rec.call("on_second", d, learn())
            rec.call("reading")
            if len(rec.obj.sums.baseline):  # an empty baseline's z is the sign of a nan
                rec.call("z")
        cases.append(rec.case)
    return cases


def message_velocity(rnd: random.Random) -> list[dict[str, Any]]:
    cases = []
    for window, base, warm, ratio, minimum in (
        (2, 10, 5, 3.0, 5.0),
        (5, 30, 10, 3.0, 0.0),
    ):
        rec = Recorder(MessageVelocity, window, base, warm, ratio, minimum)
        learn = Learn(rnd)
        burst = 0
        for _ in range(120):
            if burst == 0 and rnd.random() < 0.05:
                burst = rnd.randint(2, 8)
            if burst:
                burst -= 1
                n = rnd.randint(20, 200)
            else:
                n = 0 if rnd.random() < 0.1 else rnd.randint(0, 12)
            rec.call("on_second", n, learn())
            rec.call("reading")
        cases.append(rec.case)
    return cases


def depth(rnd: random.Random) -> list[dict[str, Any]]:
    cases = []
    for levels, min_usd, extreme, wall_ratio in (
        (5, 2000.0, 0.7, 3.0),
        (20, 5000.0, 0.5, 2.0),
    ):
        rec = Recorder(Depth, levels, min_usd, extreme, wall_ratio)
        rec.view()
        rec.call("reading", True)  # before the first book
        rec.call("on_book", [], [])  # empty books: Python's int 0 of notional
        rec.view()
        rec.call("reading", True)
        mid = 100.0
        for _ in range(34):
            mid = round(mid + rnd.randint(-5, 5) * 0.01, 2)
            bids, asks = gen_book(rnd, mid)
            rec.call("on_book", bids, asks)
            rec.view()
            rec.call("reading", rnd.random() < 0.8)
        cases.append(rec.case)
    return cases


def main() -> int:
    rnd = random.Random(SEED)
    cases: list[dict[str, Any]] = []
    for gen in (
        volatility,
        acceleration,
        obi,
        spread,
        volume_delta,
        message_velocity,
        depth,
    ):
        cases += gen(rnd)
    text = json.dumps({"seed": SEED, "cases": cases}, separators=(",", ":")) + "\n"
    OUT.write_text(text)
    calls = sum(len(c["calls"]) for c in cases)
    print(f"{OUT}: {len(cases)} cases, {calls} calls, {len(text) // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
