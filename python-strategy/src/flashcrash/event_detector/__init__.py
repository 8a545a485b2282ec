"""Event detection: input validation, jitter buffer, eight indicators, candle patterns and the
SLEEP → ALERT → ACTIVE → RECOVERY machine, compiled (`flashcrash_native`), and the types the
strategy reads from it."""

from flashcrash.event_detector.candles import Candle, CandleBuilder
from flashcrash.event_detector.detector import Closed, Detector, Released, RowRun
from flashcrash.event_detector.machine import State, Transition
from flashcrash.event_detector.readings import CORE, Indicator, Pattern, Reading, Readings

__all__ = [
    "CORE",
    "Candle",
    "CandleBuilder",
    "Closed",
    "Detector",
    "Indicator",
    "Pattern",
    "Reading",
    "Readings",
    "Released",
    "RowRun",
    "State",
    "Transition",
]
