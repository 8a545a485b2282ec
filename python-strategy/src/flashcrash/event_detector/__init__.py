"""Event detection: input validation, 1-second candles, and the SLEEP → ALERT → ACTIVE → RECOVERY machine."""

from flashcrash.event_detector.candles import Candle, CandleBuilder
from flashcrash.event_detector.detector import Detector, State, Transition
from flashcrash.event_detector.guard import InputGuard

__all__ = ["Candle", "CandleBuilder", "Detector", "InputGuard", "State", "Transition"]
