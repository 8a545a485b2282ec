"""The reference for the backtest throughput benchmark (issue 7): the same trades replayed through
`hftbacktest` 2.4.4 with a do-nothing strategy; with `--books`, the same trades and the same
synthetic books (as depth changes: `bench/book_events.py`), the events the flashcrash replay
replays.

hftbacktest pins numba, which caps numpy below the project's pin, so this script runs in its own venv
(`.venv/hbt`, made by `make bench`; see `bench/requirements-hbt.txt`) and is started by
`bench/backtest_bench.py` with the trades as an `.npy` of `flashcrash.marketdata.TRADE_DTYPE` (it
imports nothing from `flashcrash`).

Each trade becomes one hftbacktest event: `TRADE_EVENT | EXCH_EVENT | LOCAL_EVENT` with `BUY_EVENT`
or `SELL_EVENT` (the aggressor), `exch_ts = local_ts =` the trade time in ns, price and quantity.
The asset: linear, tick 0.0001, lot 0.1, constant 20 ms order latency each way (as `[backtest]
order_latency_ms`), risk-averse queue, no partial fills, 0.1 % fees; the default hash-map depth.

Two do-nothing strategies, both numba-jitted:

* `per_event`: `wait_next_feed` until the end of the data: the strategy is woken for every event
  and decides nothing (the honest counterpart of the flashcrash replay handing every trade to the
  runner);
* `elapse_100ms`: `elapse(100 ms)` until the end (woken every 100 ms of event time, the cadence of
  the flashcrash replay's synthetic books).

With `--books DAY.npy` (and `--stress-books STRESS.npy` for the stress case), each depth change
becomes `DEPTH_EVENT | EXCH_EVENT | LOCAL_EVENT` with `BUY_EVENT` (a bid) or `SELL_EVENT` (an ask),
merged with the trades in time order (a trade first at the same instant, as the flashcrash replay),
and both strategies replay that stream too (`books_per_event`, `books_elapse_100ms`).

JIT compile time is measured separately (each function is first run on a 1,000-event slice), then
each replay is timed on a fresh backtest. Prints one JSON object.

    .venv/hbt/bin/python bench/hbt_reference.py TRADES.npy [--copies 10] [--books DAY.npy
        --stress-books STRESS.npy]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from hftbacktest import (
    BUY_EVENT,
    DEPTH_EVENT,
    EXCH_EVENT,
    LOCAL_EVENT,
    SELL_EVENT,
    TRADE_EVENT,
    BacktestAsset,
    HashMapMarketDepthBacktest,
    __version__,
)
from hftbacktest.types import event_dtype
from numba import njit

DAY_NS = 86_400 * 1_000_000_000
WAKE_NS = 100_000_000


def to_events(trades: np.ndarray) -> np.ndarray:
    ev = np.zeros(len(trades), dtype=event_dtype)
    flags = np.uint64(TRADE_EVENT | EXCH_EVENT | LOCAL_EVENT)
    ev["ev"] = np.where(
        trades["buy"], flags | np.uint64(BUY_EVENT), flags | np.uint64(SELL_EVENT)
    )
    ev["exch_ts"] = trades["ts_ns"]
    ev["local_ts"] = trades["ts_ns"]
    ev["px"] = trades["price"]
    ev["qty"] = trades["qty"]
    return ev


def with_books(events: np.ndarray, books: np.ndarray) -> np.ndarray:
    """`events` (trades, time-sorted) and the depth changes `books` (`book_events.DEPTH_DTYPE`,
    time-sorted) merged in time order, a trade first at the same instant; written into one array
    (the stress case's is a few GB: no copy of either beside it)."""
    out = np.zeros(len(events) + len(books), dtype=event_dtype)
    # A trade's place: its index plus the depth changes strictly before it.
    at = np.arange(len(events)) + np.searchsorted(
        books["ts_ns"], events["exch_ts"], side="left"
    )
    out[at] = events
    depth = np.ones(len(out), dtype=bool)
    depth[at] = False
    del at
    flags = np.uint64(DEPTH_EVENT | EXCH_EVENT | LOCAL_EVENT)
    out["ev"][depth] = np.where(
        books["bid"], flags | np.uint64(BUY_EVENT), flags | np.uint64(SELL_EVENT)
    )
    out["exch_ts"][depth] = books["ts_ns"]
    out["local_ts"][depth] = books["ts_ns"]
    out["px"][depth] = books["price"]
    out["qty"][depth] = books["qty"]
    return out


def repeat(events: np.ndarray, copies: int) -> np.ndarray:
    """`events` repeated `copies` times, each copy one day later."""
    out = np.concatenate([events] * copies)
    shift = np.repeat(np.arange(copies, dtype=np.int64) * DAY_NS, len(events))
    out["exch_ts"] += shift
    out["local_ts"] += shift
    return out


def backtest(events: np.ndarray):
    asset = (
        BacktestAsset()
        .data(events)
        .linear_asset(1.0)
        .constant_order_latency(20_000_000, 20_000_000)
        .risk_adverse_queue_model()
        .no_partial_fill_exchange()
        .trading_value_fee_model(0.001, 0.001)
        .tick_size(0.0001)
        .lot_size(0.1)
    )
    return HashMapMarketDepthBacktest([asset])


@njit
def per_event(hbt) -> int:
    n = 0
    while hbt.wait_next_feed(False, 10**18) == 2:
        n += 1
    return n


@njit
def elapse_100ms(hbt) -> int:
    n = 0
    while hbt.elapse(WAKE_NS) == 0:
        n += 1
    return n


def timed(fn, events: np.ndarray) -> dict[str, float | int]:
    t0 = time.perf_counter()
    hbt = backtest(events)
    t1 = time.perf_counter()
    wakes = fn(hbt)
    t2 = time.perf_counter()
    hbt.close()
    return {"build_s": t1 - t0, "replay_s": t2 - t1, "wakes": int(wakes)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("trades", help=".npy of flashcrash TRADE_DTYPE")
    p.add_argument(
        "--copies",
        type=int,
        default=10,
        help="the stress case: the day repeated (0 = skip)",
    )
    p.add_argument(
        "--books", help="the day's depth changes (.npy of book_events.DEPTH_DTYPE)"
    )
    p.add_argument("--stress-books", help="the stress case's depth changes")
    args = p.parse_args()
    trades = np.load(args.trades)
    t0 = time.perf_counter()
    events = to_events(trades)
    convert_s = time.perf_counter() - t0
    out: dict[str, object] = {
        "hftbacktest": __version__,
        "events": len(events),
        "convert_s": convert_s,
    }
    for name, fn in (("per_event", per_event), ("elapse_100ms", elapse_100ms)):
        t0 = time.perf_counter()
        timed(fn, events[:1000])
        out[f"{name}_jit_s"] = time.perf_counter() - t0
        out[f"day_{name}"] = timed(fn, events)
    if args.copies > 0:
        t0 = time.perf_counter()
        stress = repeat(events, args.copies)
        out["stress_events"] = len(stress)
        out["stress_build_array_s"] = time.perf_counter() - t0
        for name, fn in (("per_event", per_event), ("elapse_100ms", elapse_100ms)):
            out[f"stress_{name}"] = timed(fn, stress)
    if args.books:
        day = with_books(events, np.load(args.books))
        out["books_events"] = len(day)
        for name, fn in (("per_event", per_event), ("elapse_100ms", elapse_100ms)):
            out[f"day_books_{name}"] = timed(fn, day)
        del day
        if args.copies > 0 and args.stress_books:
            stress = with_books(repeat(events, args.copies), np.load(args.stress_books))
            out["stress_books_events"] = len(stress)
            for name, fn in (("per_event", per_event), ("elapse_100ms", elapse_100ms)):
                out[f"stress_books_{name}"] = timed(fn, stress)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
