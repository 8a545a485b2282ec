"""1-second OHLCV candles from trades, closed by event time.

A candle closes when an event (trade or book) of a later second arrives. Seconds without a trade
produce no candle: the detector measures time by candle timestamps, not by candle counts.
"""

from __future__ import annotations

from dataclasses import dataclass

NS = 1_000_000_000


@dataclass(frozen=True)
class Candle:
    """One closed candle; `start_ns` is the start of its second."""

    start_ns: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    buy_volume: float
    trades: int

    @property
    def bullish(self) -> bool:
        return self.close > self.open


class CandleBuilder:
    """Builds candles of `interval_ns` from trades in event-time order."""

    def __init__(self, interval_ns: int = NS) -> None:
        self.interval_ns = interval_ns
        self._start: int | None = None
        self._closed_start = -1
        self._o = self._h = self._l = self._c = 0.0
        self._v = self._bv = 0.0
        self._n = 0
        self.late_trades = 0

    def _bucket(self, ts_ns: int) -> int:
        return ts_ns - ts_ns % self.interval_ns

    def open_end_ns(self) -> int | None:
        """The end of the open candle's interval: the earliest time `advance` closes it (None while no
        candle is open)."""
        return None if self._start is None else self._start + self.interval_ns

    def advance(self, ts_ns: int) -> Candle | None:
        """Closes the open candle if `ts_ns` is in a later interval."""
        start = self._start
        if start is None or ts_ns - ts_ns % self.interval_ns <= start:
            return None
        c = Candle(start, self._o, self._h, self._l, self._c, self._v, self._bv, self._n)
        self._closed_start = start
        self._start = None
        return c

    def on_trade(self, ts_ns: int, price: float, qty: float, buy: bool) -> Candle | None:
        """Adds a trade; returns the candle it closed, if any. A trade belonging to an interval already
        closed (or older than the open one) is counted in `late_trades` and dropped."""
        bucket = ts_ns - ts_ns % self.interval_ns
        start = self._start
        closed = None
        if start is not None and bucket > start:  # `advance`, inline
            closed = Candle(start, self._o, self._h, self._l, self._c, self._v, self._bv, self._n)
            self._closed_start = start
            self._start = start = None
        if bucket <= self._closed_start or (start is not None and bucket < start):
            self.late_trades += 1
            return closed
        if start is None:
            self._start = bucket
            self._o = self._h = self._l = self._c = price
            self._v = 0.0 + qty
            self._bv = 0.0 + qty if buy else 0.0
            self._n = 1
            return closed
        if price > self._h:
            self._h = price
        elif price < self._l:
            self._l = price
        self._c = price
        self._v += qty
        if buy:
            self._bv += qty
        self._n += 1
        return closed
