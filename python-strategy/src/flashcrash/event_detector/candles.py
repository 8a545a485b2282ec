"""1-second OHLCV candles from trades, closed by event time.

A candle closes when an event (trade or book) of a later second arrives. Seconds without a trade
produce no candle: the detector measures time by candle timestamps, not by candle counts.

The builder is the detector's own, compiled (`rust-engine/crates/detector/src/candles.rs`, through
`flashcrash_native`): the runner's candles (the strategy's, the database's, the report's) and the
detector's candle patterns are made by the same code. They differ only in when they see a trade:
the runner's builder at once, the detector's after its jitter buffer.
"""

from __future__ import annotations

from dataclasses import dataclass

import flashcrash_native

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
    """Builds candles of `interval_ns` (positive) from trades in event-time order."""

    __slots__ = ("_n",)

    def __init__(self, interval_ns: int = NS) -> None:
        self._n = flashcrash_native.CandleBuilder(interval_ns)

    @property
    def native(self) -> flashcrash_native.CandleBuilder:
        """The compiled builder (for `Detector.on_rows`)."""
        return self._n

    @property
    def interval_ns(self) -> int:
        return int(self._n.interval_ns)

    @property
    def late_trades(self) -> int:
        """Trades dropped for belonging to an interval already closed (or older than the open one)."""
        return int(self._n.late_trades)

    def open_end_ns(self) -> int | None:
        """The end of the open candle's interval: the earliest time `advance` closes it (None while no
        candle is open)."""
        return self._n.open_end_ns()

    def advance(self, ts_ns: int) -> Candle | None:
        """Closes the open candle if `ts_ns` is in a later interval."""
        c = self._n.advance(ts_ns)
        return None if c is None else Candle(*c)

    def on_trade(self, ts_ns: int, price: float, qty: float, buy: bool) -> Candle | None:
        """Adds a trade; returns the candle it closed, if any. A trade belonging to an interval already
        closed (or older than the open one) is counted in `late_trades` and dropped."""
        c = self._n.on_trade(ts_ns, price, qty, buy)
        return None if c is None else Candle(*c)
