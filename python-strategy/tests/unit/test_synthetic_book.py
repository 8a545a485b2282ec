"""The backtest's synthetic book (`flashcrash.backtest.book`): its spread rule, and the shared cases
(tests/book_cases/cases.json) that the simulator's Rust model must reproduce level for level
(`rust-engine/crates/exchange-sim/tests/book_cases.rs`)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from flashcrash import wire
from flashcrash.backtest.book import MAX_EXTRA_SPREAD_BPS, BookParams, SyntheticBook, spread_ticks
from flashcrash.marketdata.trades import TRADE_DTYPE

REPO = Path(__file__).resolve().parents[3]
CASES = REPO / "tests" / "book_cases"


def test_the_shared_cases_are_what_the_model_computes(monkeypatch: pytest.MonkeyPatch) -> None:
    """If this fails after an intended change of the model: run `make book-cases`, then
    `cargo test -p exchange-sim --test book_cases` (the Rust model must follow)."""
    spec = importlib.util.spec_from_file_location("book_cases_generate", CASES / "generate.py")
    assert spec is not None and spec.loader is not None
    generate = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, generate)  # its dataclass looks itself up there
    spec.loader.exec_module(generate)
    stored = json.loads((CASES / "cases.json").read_text())
    assert len(stored["cases"]) >= 5
    assert generate.cases_json() == stored


@pytest.mark.parametrize(
    ("rng", "last", "expected"),
    [
        (0, 2142, 1),  # no trade in the window, or under 8 ticks of range: one tick
        (7, 2142, 1),
        (8, 2142, 2),
        (160, 2142, 21),  # POLUSDT at 0.2142: the cap is 21 ticks (the old fixed one was 20)
        (168, 2142, 22),
        (10_000, 2142, 22),
        (10_000, 1999, 20),  # 100 bp of 1999 ticks = 19.99, rounded down
        (10_000, 50, 2),  # under 100 ticks the cap is still one tick
        (10_000, 1, 2),
        (2_000, 11_400_000, 251),  # BTC at 114,000.00 (tick 0.01): far under its cap
        (2_000_000, 11_400_000, 114_001),
    ],
)
def test_spread_is_one_tick_plus_an_eighth_of_the_range_capped_at_100_bp(
    rng: int, last: int, expected: int
) -> None:
    assert MAX_EXTRA_SPREAD_BPS == 100
    got = spread_ticks(np.array([rng], dtype=np.int64), np.array([last], dtype=np.int64))
    assert got.tolist() == [expected]


def _book(prices: list[float], tick: float) -> tuple[float, float]:
    """Best bid and ask after trades at `prices`, 300 ms apart, every one a taker sell."""
    data = np.zeros(len(prices), dtype=TRADE_DTYPE)
    for k, p in enumerate(prices):
        data[k] = (k * 300_000_000, k, p, 0.5, False)
    t = (len(prices) - 1) * 300_000_000
    bids, asks = SyntheticBook(data, BookParams(tick, 0.01, 4, 4)).at(t, len(prices))
    return bids[0][0], asks[0][0]


def test_a_fine_tick_crash_widens_the_spread_and_its_calm_stays_under_the_cap() -> None:
    """BCH-like, tick 0.01 at 544.12 (one tick = 0.18 bp): a calm 160-tick (2.9 bp) range gives 21
    ticks, the old fixed cap, while a -1.5 % crash in 5 s gives 103 ticks, over 4x in relative terms
    (the detector's spread indicator fires at 4x its baseline)."""
    calm_bid, calm_ask = _book([544.12 + 1.60 * (k % 2) for k in range(17)], 0.01)
    crash_bid, crash_ask = _book([round(544.12 - 0.51 * k, 2) for k in range(17)], 0.01)
    assert round((calm_ask - calm_bid) / 0.01) == 21
    assert round((crash_ask - crash_bid) / 0.01) == 103
    rel = lambda bid, ask: (ask - bid) / (ask + bid) * 2  # noqa: E731
    assert rel(crash_bid, crash_ask) > 4 * rel(calm_bid, calm_ask)


LEVELS = 3
_odd = st.sampled_from([0.0, -0.0, -1.0, np.nan, np.inf, -np.inf])


@st.composite
def _rows(draw: st.DrawFn) -> tuple[list[int], list[float], list[float]]:
    """One row of `batch`'s arrays: a valid book (bids down, asks up, uncrossed), then maybe one flaw
    (a bad price or quantity, two levels swapped, a level moved onto another, a dropped bid)."""
    px = sorted(draw(st.lists(st.integers(1, 40), min_size=2 * LEVELS, max_size=2 * LEVELS, unique=True)))
    ticks = px[LEVELS - 1 :: -1] + px[LEVELS:]
    prices = [t * 0.1 for t in ticks]
    q = draw(st.lists(st.sampled_from([0.0, -0.0, 0.5, 2.0]), min_size=2 * LEVELS, max_size=2 * LEVELS))
    i, j = draw(st.integers(0, 2 * LEVELS - 1)), draw(st.integers(0, 2 * LEVELS - 1))
    match draw(st.integers(0, 5)):
        case 1:
            prices[i] = draw(_odd)
        case 2:
            q[i] = draw(_odd)
        case 3:
            prices[i], prices[j] = prices[j], prices[i]
        case 4:
            prices[i] = prices[j]
        case 5:
            ticks[LEVELS - 1] = draw(st.integers(-1, 0))
    return ticks, prices, q


@given(st.lists(_rows(), min_size=1, max_size=6))
def test_proven_rows_are_the_books_that_pass_the_level_check(rows) -> None:
    """`SyntheticBook.proven` (the replay's numpy check of a batch of books) is `wire.book_levels_ok`
    of each row's book, row for row; a row with a dropped bid (tick below 1) is never proven."""
    model = SyntheticBook(np.zeros(1, dtype=TRADE_DTYPE), BookParams(0.1, 0.1, LEVELS, 1))
    ticks, prices, q = (np.array([r[k] for r in rows]) for k in range(3))
    got = model.proven(ticks, prices, q).tolist()
    for (t, p, qs), g in zip(rows, got, strict=True):
        pairs = list(zip(p, qs, strict=True))
        expected = t[LEVELS - 1] > 0 and wire.book_levels_ok(tuple(pairs[:LEVELS]), tuple(pairs[LEVELS:]))
        assert g == expected, (t, p, qs)


def test_a_sorted_book_is_proven_and_a_flawed_one_is_not() -> None:
    model = SyntheticBook(np.zeros(1, dtype=TRADE_DTYPE), BookParams(0.1, 0.1, LEVELS, 1))
    ticks = np.array([[30, 29, 28, 31, 32, 33]] * 3)
    prices = ticks * 0.1
    q = np.array([[1.0, 0.0, 2.0, 3.0, 1.0, 1.0]] * 3)
    q[1, 4] = np.nan
    prices[2, 0] = prices[2, 3]  # best bid at the best ask
    assert model.proven(ticks, prices, q).tolist() == [True, False, False]


_M64 = (1 << 64) - 1
_BOUNDARY_NS = 100_000_000  # between books (the noise's bucket)


def _mix(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _reference_book(data: np.ndarray, p: BookParams, t: int, n: int) -> tuple[list[int], list[float]]:
    """One book of the model (docs/EXCHANGE_SIM.md), in plain Python, one level at a time, every float
    operation in the order of the numpy code the compiled model replaced: level ticks and quantities."""
    ticks = [max(1, int((px / p.tick + 0.5) // 1)) for px in data["price"][:n].tolist()]
    window = [k for s, k in zip(data["ts_ns"][:n].tolist(), ticks, strict=True) if s > t - 5_000_000_000]
    rng = max(window) - min(window) if window else 0
    last = ticks[-1]
    spread = 1 + min(rng // 8, max(1, last * 100 // 10_000))
    bid, ask = (last - spread, last) if data["buy"][n - 1] else (last, last + spread)
    liquidity = 1.0 / (1.0 + 40.0 * float(rng) / float(last))
    m = n if n < 100 else n - n % 100
    qs = sorted(data["qty"][max(0, m - 1000) : m].tolist())
    h = len(qs) // 2
    base = 5.0 * (qs[h] if len(qs) % 2 else (qs[h - 1] + qs[h]) / 2)
    bucket = (t // _BOUNDARY_NS) & _M64
    rot = ((p.seed << 17) | (p.seed >> 47)) & _M64
    out_ticks, out_q = [], []
    for touch, way in ((bid, -1), (ask, 1)):
        for i in range(p.levels):
            tick = touch + way * i
            depth = (1.0 + 0.1 * i) * liquidity * base
            u = tick & _M64
            period = (bucket + _mix(u ^ rot) % 10) // 10
            draw = _mix(p.seed ^ ((u * 0x100000001B3) & _M64) ^ _mix(period)) % 10_001
            noise = 0.6 + (2.0 - 2.0 * 0.6) * draw / 10_000.0
            steps = max(1.0, float(round(depth * noise / p.step)))  # round: half to even, as np.round
            out_ticks.append(tick)
            out_q.append(round(steps * p.step * 1e8) / 1e8)  # np.round(x, 8): rint(x * 1e8) / 1e8
    return out_ticks, out_q


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 900), st.integers(-30, 30), st.floats(0.001, 5e3), st.booleans()),
        min_size=1,
        max_size=40,
    ),
    st.sampled_from([(0.0001, 0.1), (0.01, 0.01), (0.5, 1e-8), (0.001, 3.0)]),
    st.integers(1, 4),
    st.integers(0, 2**64 - 1),
    st.integers(1, 300),
)
def test_the_compiled_model_is_the_reference_model_bit_for_bit(steps, tick_step, levels, seed, chunk) -> None:
    """The compiled model's books, every 100-ms boundary from the first trade to the last asked for in
    chunks (and a few again, one by one, out of order), are the plain-Python model's, level for level
    and bit for bit: ticks, quantities, prices `round(tick x tick size, 10)`, bid counts."""
    data = np.zeros(len(steps), dtype=TRADE_DTYPE)
    t, k = 1_700_000_000_000_000_000, 300
    for j, (dt_ms, dk, qty, buy) in enumerate(steps):
        t, k = t + dt_ms * 1_000_000, max(1, k + dk)
        data[j] = (t, j, k * tick_step[0], qty, buy)
    p = BookParams(tick_step[0], tick_step[1], levels, seed)
    model = SyntheticBook(data, p)
    first = int(data["ts_ns"][0]) // _BOUNDARY_NS * _BOUNDARY_NS + _BOUNDARY_NS
    times = np.arange(first, int(data["ts_ns"][-1]) + 1, _BOUNDARY_NS)
    assume(len(times) > 0)  # trades spanning a boundary: a book to compare
    counts = np.searchsorted(model.ts, times, side="right")
    for start in range(0, len(times), chunk):
        ticks, prices, q, nbids = model.batch_rows(
            times[start : start + chunk], counts[start : start + chunk]
        )
        for j, (tk, px, qs, nb) in enumerate(
            zip(ticks.tolist(), prices.tolist(), q, nbids.tolist(), strict=True)
        ):
            want_ticks, want_q = _reference_book(data, p, int(times[start + j]), int(counts[start + j]))
            assert tk == want_ticks
            assert qs.tobytes() == np.array(want_q).tobytes()
            assert px == [round(max(1, x) * p.tick, 10) for x in want_ticks]
            assert nb == sum(x > 0 for x in want_ticks[:levels])
    for j in list(range(len(times)))[::-7][:5]:
        want_ticks, want_q = _reference_book(data, p, int(times[j]), int(counts[j]))
        bids, asks = model.at(int(times[j]), int(counts[j]))
        assert [b[1] for b in bids] == [
            x for x, tk in zip(want_q[:levels], want_ticks[:levels], strict=True) if tk > 0
        ]
        assert [a[1] for a in asks] == want_q[levels:]
