"""The detector on the real 10 Oct 2025 cascade, through the backtest replay (runner, detector and
strategy of live trading; the synthetic book of docs/EXCHANGE_SIM.md every 100 ms), as
`bench/detection_report.py` runs it on the whole days (issue 5):

* SLEEP through the calm hours before the sell-off that the tariff news started at 20:50 UTC;
* ACTIVE within seconds of the crash onset (the first second 2 % below the crash leg's high, as the
  report defines it): from 45 s before it (in the leg, after its high) to 20 s after it, and within
  5 s of where it was measured (a change that moves it must say so here). The report
  gives -31 / +5 / +17 / -1 / +2 s for AAVE / ATOM / BCH / Gemini BTC / Gemini ETH (2026-12-06).

Bundled slices (data/SOURCES.md): COIN-M perps BCHUSD_PERP 16:00-21:30 (the mildest cascade, -15 %,
and before the fix the most calm-hour false ACTIVEs), AAVEUSD_PERP and ATOMUSD_PERP 17:00-21:30; Gemini
spot BTCUSD and ETHUSD 00:00-21:30 (thin markets, -6 %; BTCUSD's recording has two silences in the
cascade, replayed as feed outages). Price tick and quantity step per file as the report derives them.
No processes: this needs no binaries. POLUSDT (spot, trades only) is in tests/unit/test_crash_detection.py.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from flashcrash import config
from flashcrash.backtest.replay import Replay
from flashcrash.event_detector import State, Transition
from flashcrash.marketdata import load_trades

S = 1_000_000_000
REPO = Path(__file__).resolve().parents[3]
DATA = REPO / "data"


def utc(hh: int, mm: int, ss: int = 0) -> int:
    return (1760054400 + hh * 3600 + mm * 60 + ss) * S  # 2025-10-10 00:00 UTC + time of day


SELLOFF = utc(20, 50)


@dataclasses.dataclass(frozen=True)
class Case:
    symbol: str
    file: str
    tick: str
    step: str
    leg_high: int  # the crash leg's high (bench/detection_report.py)
    onset: int  # first second 2 % below it
    first_active_s: int  # the first ACTIVE against the onset, s, as measured (BENCHMARKS.md, detection)
    min_trades: int = 30_000  # the slice holds at least these (a wrong or truncated file fails loudly)
    # Awake (never back to SLEEP) from the first ACTIVE to here: the steepest minutes of the cascade,
    # or the start of a recording gap in them (its first data_gap_secs are replayed as a quiet market:
    # the replay cannot know the data is missing until then).
    awake_until: int = utc(21, 20)


CASES = {
    "BCH": Case(
        "BCHUSD_PERP",
        "binance-delivery_trades_2025-10-10_BCHUSD_PERP_1600-2130.csv.gz",
        "0.01",
        "0.01",
        utc(21, 10, 9),
        utc(21, 12, 59),
        17,
    ),
    "AAVE": Case(
        "AAVEUSD_PERP",
        "binance-delivery_trades_2025-10-10_AAVEUSD_PERP_1700-2130.csv.gz",
        "0.01",
        "0.01",
        utc(21, 11, 26),
        utc(21, 12, 39),
        -31,
    ),
    "ATOM": Case(
        "ATOMUSD_PERP",
        "binance-delivery_trades_2025-10-10_ATOMUSD_PERP_1700-2130.csv.gz",
        "0.001",
        "0.1",
        utc(21, 11, 40),
        utc(21, 12, 59),
        5,
    ),
    "Gemini BTC": Case(
        "BTCUSD",
        "gemini_trades_2025-10-10_BTCUSD_0000-2130.csv.gz",
        "0.01",
        "0.00001",
        utc(21, 11, 3),
        utc(21, 13, 12),
        -1,
        15_000,
        utc(21, 13, 57),  # silent for 409 s from 21:13:57 (data/SOURCES.md)
    ),
    "Gemini ETH": Case(
        "ETHUSD",
        "gemini_trades_2025-10-10_ETHUSD_0000-2130.csv.gz",
        "0.01",
        "0.001",
        utc(21, 5, 6),
        utc(21, 12, 27),
        2,
        15_000,
    ),
}
EARLIEST, LATEST = -45 * S, 20 * S  # the first ACTIVE against the onset
DRIFT = 5 * S  # how far the first ACTIVE may move from its measured time before a test says so


@pytest.fixture(scope="module", autouse=True)
def quiet_logs() -> Iterator[None]:
    """The replays log every transition at INFO: quieter here, and put back for the other tests."""
    logger = logging.getLogger("flashcrash")
    level = logger.level
    logger.setLevel(logging.WARNING)
    yield
    logger.setLevel(level)


def replay(case: Case, **detection: object) -> list[Transition]:
    trades, report, _ = load_trades(DATA / case.file, None)
    assert report.dropped == 0 and len(trades) > case.min_trades
    shipped = REPO / "config" / "config.toml"
    base = config.load(shipped, [config.synthetic_book_overlay(shipped)])  # trade files: synthetic book
    cfg = dataclasses.replace(
        base,
        symbol=dataclasses.replace(base.symbol, name=case.symbol, quantity_step=Decimal(case.step)),
        strategy=dataclasses.replace(base.strategy, price_tick=Decimal(case.tick)),
        event_detection=dataclasses.replace(base.event_detection, **detection),
    )
    return Replay(cfg, trades).run().transitions


def activations(transitions: list[Transition]) -> list[Transition]:
    return [t for t in transitions if t.current is State.ACTIVE]


@pytest.fixture(scope="module", params=sorted(CASES))
def run(request: pytest.FixtureRequest) -> tuple[Case, list[Transition]]:
    case = CASES[request.param]
    return case, replay(case)


def test_calm_hours_stay_asleep(run: tuple[Case, list[Transition]]) -> None:
    # Not only out of ACTIVE: in SLEEP, with no transition at all. Volume delta and spread alone (which
    # fire in 3-23 % of the calm seconds of these files) pause the baselines but do not wake it.
    case, transitions = run
    calm = [t for t in transitions if t.ts_ns < SELLOFF]
    assert calm == [], f"{case.symbol}: out of SLEEP in the calm hours: {calm}"


def test_crash_activates_within_seconds_of_the_onset(run: tuple[Case, list[Transition]]) -> None:
    case, transitions = run
    first = next(t for t in activations(transitions) if t.ts_ns >= case.leg_high)
    delay = first.ts_ns - case.onset
    assert EARLIEST <= delay <= LATEST, (case.symbol, delay / S)
    # ... and where it was measured: a change of the detection that moves it says so here
    assert abs(delay - case.first_active_s * S) <= DRIFT, (case.symbol, delay / S, case.first_active_s)
    # ... and the price moves in the quorum that woke it (the flow and the book only confirm): a
    # price indicator fires, or the price moved `price_move_sigmas`
    priced = ("volatility", "acceleration", "price moved")
    assert any(p in first.reason for p in priced), first.reason
    # awake (never back to SLEEP) through the steepest minutes of the cascade
    late = [t for t in transitions if first.ts_ns < t.ts_ns <= case.awake_until]
    assert all(t.current is not State.SLEEP for t in late), late


def test_without_the_fix_bch_calm_hours_go_active() -> None:
    """The same replay with the quorum of before issue 5 (any core indicators count, every book counts
    as a message): the calm hours go ACTIVE on spread + volume delta + a velocity spike, one burst of
    one-sided trades read three times. This is what the two settings prevent."""
    transitions = replay(CASES["BCH"], quorum_needs_price=False, velocity_touch_only=False)
    calm = [t for t in activations(transitions) if t.ts_ns < SELLOFF]
    assert len(calm) >= 3
    assert all("spread" in t.reason and "volume_delta" in t.reason for t in calm)
    assert not any("volatility" in t.reason or "acceleration" in t.reason for t in calm)
