"""The synthetic L2 book of `docs/EXCHANGE_SIM.md` ("The synthetic order book"), built from past trades
only, for data that has no book.

At a 100-ms boundary `T`, from the trades at or before `T`: the touch follows the last trade's
aggressor (a taker sell at `last` puts the best bid there and the best ask `spread` ticks above, a
taker buy the other way round), `spread = 1 + min(range // 8, cap)` ticks with `range` the highest
minus the lowest trade tick in `(T - 5 s, T]` and `cap = max(1, last x 100 // 10_000)` (100 bp of the
last price, in ticks), and level `i` holds
`base x (1 + 0.1 i) x liquidity x noise` rounded to whole steps, `liquidity = 1 / (1 + 40 range /
last)`, `noise` in [0.6, 1.4] the simulator's splitmix64 hash of the seed, the level's tick and a
staggered one-second bucket (ported from `exchange-sim/src/model.rs`).

`base` is 5 x the median quantity of the last 1,000 trades at or before `T` (re-computed every 100
trades, on a fixed grid of trade counts), so a book depends on nothing after its time, and on nothing
but its time and those trades. The simulator takes the same base since 2026-12-06 (before, 5 x the
median of the whole replayed window: a paper session met books up to a third deeper or thinner than
a backtest of the same trades; `docs/parity.md`).

The replay asks for its books a few thousand boundaries at a time (`SyntheticBook.batch`). The model
runs compiled (`flashcrash_native.SyntheticBook`, crate `rust-engine/crates/synthetic-book`: bit for
bit the numpy code it replaced, level for level the same arithmetic as one book at a time), about
0.2 µs a book; the prices of its ticks are Python's `round(tick x tick size, 10)`, from a table kept
here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

import flashcrash_native
from flashcrash import wire
from flashcrash.wire import Levels

if TYPE_CHECKING:
    from flashcrash.config import Config

BOUNDARY_NS = 100_000_000
SPREAD_DIVISOR = 8
MAX_EXTRA_SPREAD_BPS = 100  # most extra spread, bp of the last price (as model.rs; at least 1 tick)
BPS = 10_000
CHUNK = 4096  # boundaries built per batch by `with_books`


def spread_ticks(rng: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Spread in ticks for 5-s ranges of `rng` ticks at last prices of `last` ticks (int64 arrays):
    one tick plus an eighth of the range, the eighth capped at `MAX_EXTRA_SPREAD_BPS` of the price
    (rounded down, at least one tick), in integers as `model.rs::spread_ticks` (and the compiled
    model's `spread_ticks`)."""
    cap = np.maximum(1, last * MAX_EXTRA_SPREAD_BPS // BPS)
    return 1 + np.minimum(rng // SPREAD_DIVISOR, cap)


@dataclass(frozen=True)
class BookParams:
    tick: float
    step: float
    levels: int
    seed: int

    @classmethod
    def of(cls, cfg: Config) -> BookParams:
        """The book a replay under `cfg` publishes: the strategy's price tick, the symbol's quantity
        step, `[feed] publish_levels` a side, `[backtest] book_seed`."""
        levels = int(cfg.raw.get("feed", {}).get("publish_levels", 20))
        return cls(
            float(cfg.strategy.price_tick), float(cfg.symbol.quantity_step), levels, cfg.backtest.book_seed
        )


class SyntheticBook:
    """Books from a trades array (`TRADE_DTYPE`); `at(T, n)` and `batch(T, n)` read only the first `n`
    trades, which the caller guarantees are exactly those at or before `T`.

    `batch` builds many books at once (the replay asks for its boundaries a few thousand at a time),
    `at` is a batch of one: both give the same book, level for level."""

    def __init__(self, trades: np.ndarray, params: BookParams) -> None:
        self.p = params
        # Contiguous copies: a column of the structured array is a strided view.
        self.ts = np.ascontiguousarray(trades["ts_ns"])
        self.ticks = np.maximum(1, np.floor(trades["price"] / params.tick + 0.5)).astype(np.int64)
        self.qty = np.ascontiguousarray(trades["qty"])
        self.buy = np.ascontiguousarray(trades["buy"]).astype(bool)
        # The model, compiled, with its own copy of the trades (in ticks, as rounded here).
        self._native = flashcrash_native.SyntheticBook(
            self.ts, self.ticks, self.qty, self.buy.view(np.uint8), params.step, params.levels, params.seed
        )
        self._price_memo: dict[int, float] = {}
        self._table_from = 0
        self._table = np.empty(0)

    def base(self, n: int) -> float:
        """5 x the median quantity of the last 1,000 trades before `m`, with `m` the first `n`
        trades rounded down to a multiple of 100 (`n` itself below 100): re-computed once every 100
        trades, on a fixed grid (so a book is a function of its time and its trades alone)."""
        return float(self._native.base(n))

    def _prices(self, ticks: np.ndarray, lo: int, hi: int) -> np.ndarray:
        """Each tick's price, `round(tick x tick size, 10)` as Python rounds it, from a table over
        the ticks seen so far (grown as the price moves); `ticks` are all in `lo..=hi`."""
        if hi - lo > 4 * ticks.size + 1000:  # a sparse spread of ticks: one by one
            uniq, inverse = np.unique(ticks, return_inverse=True)
            return np.array([self._price(k) for k in uniq.tolist()])[inverse.reshape(ticks.shape)]
        first, table = self._table_from, self._table
        end = first + len(table)
        if not len(table):
            first = end = lo
        if lo < first or hi >= end:
            # Grown by at least half its size on the side that ran out (a drift costs O(range)).
            pad = max(256, len(table) // 2)
            new_first = max(1, lo - pad) if lo < first else first
            new_end = hi + 1 + pad if hi >= end else end
            left = [self._price(k) for k in range(new_first, first)]
            right = [self._price(k) for k in range(end, new_end)]
            table = np.concatenate((np.array(left), table, np.array(right)))
            self._table_from, self._table = new_first, table
            first = new_first
        return table.take(ticks - first)

    def _price(self, k: int) -> float:
        v = self._price_memo.get(k)
        if v is None:
            v = self._price_memo[k] = round(float(k) * self.p.tick, 10)
        return v

    def batch(self, t_ns: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The books at the times `t_ns` from the first `n[j]` trades each (every `n[j]` >= 1), as
        arrays of shape (books, 2 x levels), the bids best first then the asks best first: level
        ticks, prices and quantities. A bid tick below 1 is no level (the caller drops it)."""
        ticks, prices, q, _ = self.batch_rows(t_ns, n)
        return ticks, prices, q

    def batch_rows(
        self, t_ns: np.ndarray, n: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """`batch`, and per book its count of bid levels (those at a tick above 0: the first ones)."""
        t_ns = np.ascontiguousarray(t_ns, dtype=np.int64)
        n = np.ascontiguousarray(n, dtype=np.int64)
        tb, qb, nb = self._native.batch(t_ns, n)
        shape = (len(t_ns), 2 * self.p.levels)
        ticks = np.frombuffer(tb, dtype=np.int64).reshape(shape)
        q = np.frombuffer(qb, dtype=np.float64).reshape(shape)
        nbids = np.frombuffer(nb, dtype=np.int64)
        if not ticks.size:
            return ticks, np.empty(shape), q, nbids
        # A row's ticks follow from its touch: the prices of each run of rows at one touch are its
        # first row's.
        levels = self.p.levels
        new = np.empty(len(ticks), dtype=bool)
        new[0] = True
        np.not_equal(ticks[1:, 0], ticks[:-1, 0], out=new[1:])
        new[1:] |= ticks[1:, levels] != ticks[:-1, levels]
        heads = ticks[new]
        # A row's lowest tick is its deepest bid, its highest its deepest ask; a bid below tick 1 is
        # priced as tick 1 (it is no level).
        lo, hi = int(heads[:, levels - 1].min()), int(heads[:, -1].max())
        prices = self._prices(heads if lo >= 1 else np.maximum(heads, 1), max(lo, 1), max(hi, 1))
        return ticks, prices.take(np.cumsum(new) - 1, axis=0), q, nbids

    def proven(self, ticks: np.ndarray, prices: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Per row of `batch`'s arrays, whether its book passes `wire.book_levels_ok` as `split` makes
        it, checked in numpy: every bid level kept (no tick below 1), every price finite and positive,
        every quantity finite and >= 0, bids strictly descending, asks strictly ascending, best bid
        under best ask. A row with dropped bids is False (left to a level-by-level check)."""
        levels = self.p.levels
        with np.errstate(invalid="ignore"):
            return (  # type: ignore[no-any-return]
                (ticks[:, levels - 1] > 0)
                & np.isfinite(prices).all(axis=1)
                & (prices[:, levels - 1] > 0)
                & (np.diff(prices[:, :levels], axis=1) < 0).all(axis=1)
                & (np.diff(prices[:, levels:], axis=1) > 0).all(axis=1)
                & (prices[:, 0] < prices[:, levels])
                & np.isfinite(q).all(axis=1)
                & (q >= 0).all(axis=1)
            )

    def split(self, ticks: np.ndarray, pairs: list[tuple[float, float]]) -> tuple[Levels, Levels]:
        """One row of `batch` as (bids, asks): `pairs` are its (price, qty) levels, bids then asks, and
        a bid whose tick is below 1 is no level."""
        levels = self.p.levels
        asks = tuple(pairs[levels:])
        if ticks[levels - 1] > 0:
            return tuple(pairs[:levels]), asks
        return tuple(pairs[i] for i in range(levels) if ticks[i] > 0), asks

    def at(self, t_ns: int, n: int) -> tuple[Levels, Levels]:
        """(bids best first, asks best first) at `t_ns` from trades `[:n]`; empty before a trade."""
        if n <= 0:
            return (), ()
        ticks, prices, q = self.batch(np.array([t_ns]), np.array([n]))
        return self.split(ticks[0], list(zip(prices[0].tolist(), q[0].tolist(), strict=True)))


def with_books(
    trades: np.ndarray, params: BookParams, symbol: str
) -> Iterator[wire.Trade | wire.OrderBookSnapshot]:
    """`trades` (`TRADE_DTYPE`, time-sorted) as `wire.Trade`s with, at every 100-ms boundary from the
    first trade to the last, the synthetic book of the trades at or before it, in the replay's order (a
    book comes before the trades after its boundary), each marked proven as the replay marks it. For
    the tests and benchmarks that feed a detector or a runner directly; the replay builds the same
    books incrementally."""
    if len(trades) == 0:
        return
    model = SyntheticBook(trades, params)
    ts_a, id_a, px_a, q_a, buy_a = (trades[c].tolist() for c in ("ts_ns", "id", "price", "qty", "buy"))
    first = ts_a[0] - ts_a[0] % BOUNDARY_NS + BOUNDARY_NS
    times: list[int] = []
    k = j = 0  # boundaries published, index in `times`
    for i, ts in enumerate(ts_a):
        while first + k * BOUNDARY_NS < ts:
            if j == len(times):  # the next chunk of boundaries, all before the last trade
                t = np.arange(
                    first + k * BOUNDARY_NS, min(ts_a[-1], first + (k + CHUNK) * BOUNDARY_NS), BOUNDARY_NS
                )
                ticks, prices, qs = model.batch(t, np.searchsorted(model.ts, t, side="right"))
                times, proven, j = t.tolist(), model.proven(ticks, prices, qs).tolist(), 0
            bids, asks = model.split(ticks[j], list(zip(prices[j].tolist(), qs[j].tolist(), strict=True)))
            if bids and asks:  # as the replay: a book with an empty side is not published
                yield wire.book_snapshot(symbol, times[j], times[j], k, bids, asks, proven[j])
            j += 1
            k += 1
        yield wire.Trade(symbol, ts, ts, id_a[i], px_a[i], q_a[i], "buy" if buy_a[i] else "sell")
