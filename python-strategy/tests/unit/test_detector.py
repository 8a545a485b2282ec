"""The detector's transitions on hand-made candles, and on the real POLUSDT crash of 10 Oct 2025."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

from flashcrash.config import EventDetectionConfig
from flashcrash.event_detector import Candle, CandleBuilder, Detector, State

S = 1_000_000_000
CFG = EventDetectionConfig(drop_pct=3.0, drop_window_secs=60, recovery_secs=30)
DATA = Path(__file__).resolve().parents[3] / "data" / "binance_trades_2025-10-10_POLUSDT_2045-2145.csv.gz"


def candle(sec: int, close: float, low: float | None = None) -> Candle:
    return Candle(sec * S, close, close, low if low is not None else close, close, 1.0, 0.5, 1)


def states(closes: list[float], lows: list[float] | None = None) -> list[State]:
    d = Detector(CFG)
    out = []
    for i, c in enumerate(closes):
        d.on_candle(candle(i, c, None if lows is None else lows[i]))
        out.append(d.state)
    return out


def test_calm_market_sleeps() -> None:
    assert set(states([100.0 + 0.1 * (i % 5) for i in range(300)])) == {State.SLEEP}


def test_half_drop_alerts_then_calms_down() -> None:
    s = states([100.0, 98.4, 98.4, 99.5])
    assert s == [State.SLEEP, State.ALERT, State.ALERT, State.SLEEP]


def test_drop_activates_then_recovers_then_sleeps() -> None:
    closes = [100.0] * 5 + [96.0] + [96.5] * 70
    s = states(closes)
    assert s[5] is State.ACTIVE
    assert s[5 + 29] is State.ACTIVE
    assert s[5 + 30] is State.RECOVERY  # 30 s without a new low
    assert s[5 + 60] is State.SLEEP  # 30 s more


def test_new_low_in_recovery_reactivates() -> None:
    closes = [100.0] * 5 + [96.0] + [96.5] * 31 + [95.0]
    s = states(closes)
    assert s[-2] is State.RECOVERY and s[-1] is State.ACTIVE


def test_old_peak_leaves_the_window() -> None:
    # A 3% lower level reached slowly over more than the window never triggers.
    closes = [100.0 - 0.04 * i for i in range(200)]
    assert State.ACTIVE not in states(closes)


def real_transitions() -> list:
    b = CandleBuilder()
    d = Detector(CFG)
    with gzip.open(DATA, "rt") as f:
        for row in csv.DictReader(f):
            c = b.on_trade(
                int(row["timestamp"]) * 1000, float(row["price"]), float(row["amount"]), row["side"] == "buy"
            )
            if c is not None:
                d.on_candle(c)
    return d.transitions


def state_at(transitions: list, ts_ns: int) -> State:
    state = State.SLEEP
    for t in transitions:
        if t.ts_ns > ts_ns:
            break
        state = t.current
    return state


def utc(hh: int, mm: int, ss: int = 0) -> int:
    return (1760054400 + hh * 3600 + mm * 60 + ss) * S  # 2025-10-10 00:00 UTC + time of day


def test_real_crash_activates_quickly_and_the_calm_sleeps() -> None:
    ts = real_transitions()
    # 20:45-20:56: 24-63 trades a minute, range under 0.2 %: nothing leaves SLEEP.
    assert all(t.ts_ns >= utc(20, 56) for t in ts), ts[:1]
    # The main leg starts about 21:12:30 (0.2129 -> 0.2085 in that minute): ACTIVE within 60 s.
    main_leg = [t for t in ts if utc(21, 12, 30) <= t.ts_ns <= utc(21, 13, 30) and t.current is State.ACTIVE]
    assert main_leg, ts
    # The steepest minute (21:17:26-21:18:24, -26 %) is traded while ACTIVE.
    assert state_at(ts, utc(21, 17, 30)) is State.ACTIVE
    assert state_at(ts, utc(21, 18, 20)) is State.ACTIVE
