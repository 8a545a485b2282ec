"""The hftbacktest reference's books (`bench/book_events.py`): the depth changes it replays rebuild,
level for level, the synthetic book the replay publishes at every boundary, so the reference replays
the same events as the replay and not fewer."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from flashcrash import config
from flashcrash.backtest.book import BookParams, SyntheticBook
from flashcrash.marketdata import load_trades

REPO = Path(__file__).resolve().parents[3]
POL = REPO / "data" / "binance_trades_2025-10-10_POLUSDT_2045-2145.csv.gz"
sys.path.insert(0, str(REPO / "bench"))

import book_events  # noqa: E402  (a benchmark script, not a package)


def test_depth_changes_rebuild_the_published_book_at_every_boundary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = config.load_synthetic(REPO / "config" / "config.toml")
    trades, _, _ = load_trades(POL, tmp_path)
    trades = trades[:4000]  # about 30 s of the crash: books that move at every boundary
    monkeypatch.setattr(book_events, "CHUNK", 37)  # chunks end anywhere: the diff carries over
    events, count = book_events.depth_events(trades, cfg)
    times = book_events.boundaries(trades, cfg.backtest.book_interval_ms * 1_000_000)
    assert count == len(times) and times[0] > trades["ts_ns"][0] and times[-1] <= trades["ts_ns"][-1]
    assert np.all(np.diff(events["ts_ns"]) >= 0) and np.isin(events["ts_ns"], times).all()
    model = SyntheticBook(trades, BookParams.of(cfg))
    n = np.searchsorted(model.ts, times, side="right")
    book: dict[bool, dict[float, float]] = {True: {}, False: {}}
    j = 0
    ts, bid, price, qty = (events[f].tolist() for f in ("ts_ns", "bid", "price", "qty"))
    for t, k in zip(times.tolist(), n.tolist(), strict=True):
        while j < len(ts) and ts[j] <= t:
            side = book[bid[j]]
            if qty[j] == 0:
                assert side.pop(price[j], None) is not None, "a level removed that was not there"
            else:
                side[price[j]] = qty[j]
            j += 1
        bids, asks = model.at(t, k)
        assert book[True] == dict(bids) and book[False] == dict(asks)
    assert j == len(ts)
    assert len(events) < 10 * count  # changes, not whole books (40 levels each)
