"""The synthetic books a replay publishes, as the depth changes a venue would send for them: the
events of the hftbacktest reference that replays what the flashcrash replay replays (its trades
and its books), not its trades alone.

A replay of a trade file publishes the synthetic book (`flashcrash.backtest.book.SyntheticBook`)
at every `[backtest] book_interval_ms` boundary from the first trade to the last. Here each of those
books is the diff against the one before, as Binance's depth stream and exchange-sim send a book:
a level whose quantity changed or is new (its quantity), a level gone (quantity 0). The books come
from the same compiled model, boundary for boundary (`SyntheticBook.batch_rows`), so both replays
see the same book at every boundary.
"""

from __future__ import annotations

import numpy as np
from flashcrash.backtest.book import BookParams, SyntheticBook
from flashcrash.config import Config

DEPTH_DTYPE = np.dtype(
    [("ts_ns", "<i8"), ("bid", "?"), ("price", "<f8"), ("qty", "<f8")]
)
CHUNK = 1 << 16  # boundaries built and compared at a time


def boundaries(trades: np.ndarray, interval_ns: int) -> np.ndarray:
    """Every boundary from the first trade's to the last trade's, as the replay steps them."""
    ts = trades["ts_ns"]
    first = (int(ts[0]) // interval_ns + 1) * interval_ns
    return np.arange(first, int(ts[-1]) + 1, interval_ns, dtype=np.int64)


def _side_changes(
    times: np.ndarray, ticks: np.ndarray, prices: np.ndarray, q: np.ndarray, prev: tuple
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple]:
    """The changes of one side of the books at `times` (rows of level ticks, prices and quantities;
    a tick below 1 is no level), each book against the one before it (`prev`: the side's last row
    before `times[0]`, all ticks 0 for none), as (times, prices, quantities: 0 for a level gone),
    and the side's last row."""
    ticks, prices, q = (
        np.vstack((before[None, :], now))
        for before, now in zip(prev, (ticks, prices, q))
    )
    rows, levels = ticks.shape
    row = np.repeat(np.arange(rows, dtype=np.int64), levels)
    tk, pr, qt = ticks.ravel(), prices.ravel(), q.ravel()
    span = int(tk.max()) + 1
    key = row * span + tk  # one level of one row
    now = (tk >= 1) & (row > 0)  # the levels of each book
    was = (tk >= 1) & (
        row < rows - 1
    )  # the levels of the book before each, keyed as that book's
    k_now, k_was, q_was = key[now], key[was] + span, qt[was]
    order = np.argsort(k_was)
    k_was_sorted, q_was_sorted = k_was[order], q_was[order]
    at = np.searchsorted(k_was_sorted, k_now)
    same = at < len(k_was_sorted)  # a level with the quantity it had in the book before
    same[same] = k_was_sorted[at[same]] == k_now[same]
    same[same] = q_was_sorted[at[same]] == qt[now][same]
    changed = ~same
    k_now_sorted = np.sort(k_now)
    at = np.searchsorted(k_now_sorted, k_was)
    gone = at == len(k_now_sorted)  # a level of the book before, not in this one
    gone[~gone] = k_now_sorted[at[~gone]] != k_was[~gone]
    t = np.concatenate((times[row[now][changed] - 1], times[row[was][gone]]))
    p = np.concatenate((pr[now][changed], pr[was][gone]))
    qty = np.concatenate((qt[now][changed], np.zeros(int(gone.sum()))))
    return t, p, qty, (ticks[-1], prices[-1], q[-1])


def depth_events(trades: np.ndarray, cfg: Config) -> tuple[np.ndarray, int]:
    """The depth changes of every synthetic book the replay of `trades` under `cfg` publishes, time
    sorted, and the count of books."""
    params = BookParams.of(cfg)
    levels = params.levels
    book = SyntheticBook(trades, params)
    times = boundaries(trades, cfg.backtest.book_interval_ms * 1_000_000)
    n = np.searchsorted(book.ts, times, side="right")
    empty = (np.zeros(levels, np.int64), np.zeros(levels), np.zeros(levels))
    prev = {True: empty, False: empty}
    parts: list[np.ndarray] = []
    for lo in range(0, len(times), CHUNK):
        t, k = times[lo : lo + CHUNK], n[lo : lo + CHUNK]
        ticks, prices, q, _ = book.batch_rows(t, k)
        for bid, cols in ((True, slice(0, levels)), (False, slice(levels, 2 * levels))):
            ts, p, qty, prev[bid] = _side_changes(
                t, ticks[:, cols], prices[:, cols], q[:, cols], prev[bid]
            )
            ev = np.empty(len(ts), DEPTH_DTYPE)
            ev["ts_ns"], ev["bid"], ev["price"], ev["qty"] = ts, bid, p, qty
            parts.append(ev)
    events = np.concatenate(parts)
    return events[np.argsort(events["ts_ns"], kind="stable")], len(times)
