"""1-second OHLCV bars from trades (seconds without a trade have no bar)."""

from __future__ import annotations

import numpy as np

SECOND_BAR_DTYPE = np.dtype(
    [
        ("start_ns", "<i8"),
        ("open", "<f8"),
        ("high", "<f8"),
        ("low", "<f8"),
        ("close", "<f8"),
        ("volume", "<f8"),
        ("buy_volume", "<f8"),
        ("trades", "<i8"),
    ]
)
NS = 1_000_000_000


def second_bars(trades: np.ndarray, interval_ns: int = NS) -> np.ndarray:
    """Bars of `interval_ns` from `trades` (`TRADE_DTYPE`, in time order)."""
    if len(trades) == 0:
        return np.zeros(0, dtype=SECOND_BAR_DTYPE)
    bucket = trades["ts_ns"] // interval_ns
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], len(trades)]
    price, qty = trades["price"], trades["qty"]
    bars = np.zeros(len(starts), dtype=SECOND_BAR_DTYPE)
    bars["start_ns"] = bucket[starts] * interval_ns
    bars["open"] = price[starts]
    bars["close"] = price[ends - 1]
    bars["high"] = np.maximum.reduceat(price, starts)
    bars["low"] = np.minimum.reduceat(price, starts)
    bars["volume"] = np.add.reduceat(qty, starts)
    bars["buy_volume"] = np.add.reduceat(np.where(trades["buy"], qty, 0.0), starts)
    bars["trades"] = ends - starts
    return bars
