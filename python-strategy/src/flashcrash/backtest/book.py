"""The synthetic L2 book of `docs/EXCHANGE_SIM.md` ("The synthetic order book"), built from past trades
only, for data that has no book.

At a 100-ms boundary `T`, from the trades at or before `T`: the touch follows the last trade's
aggressor (a taker sell at `last` puts the best bid there and the best ask `spread` ticks above, a
taker buy the other way round), `spread = 1 + min(20, range // 8)` ticks with `range` the highest
minus the lowest trade tick in `(T - 5 s, T]`, and level `i` holds
`base x (1 + 0.1 i) x liquidity x noise` rounded to whole steps, `liquidity = 1 / (1 + 40 range /
last)`, `noise` in [0.6, 1.4] the simulator's splitmix64 hash of the seed, the level's tick and a
staggered one-second bucket (ported from `exchange-sim/src/model.rs`).

One deliberate difference: the simulator takes `base` as 5 x the median trade quantity of the whole
replayed window, which would let the future shape the past; here it is 5 x the median of the last
`BASE_TRADES` trades at or before `T`, so a book depends on nothing after its time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NS = 1_000_000_000
BOUNDARY_NS = 100_000_000
VOL_WINDOW_NS = 5 * NS
SPREAD_DIVISOR = 8
MAX_EXTRA_SPREAD = 20
LIQUIDITY_K = 40.0
DEPTH_SLOPE = 0.1
NOISE_MIN = 0.6
NOISE_PERIOD = 10
BASE_TRADES = 1000
BASE_MULTIPLE = 5.0
_MASK = (1 << 64) - 1

Levels = tuple[tuple[float, float], ...]


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on uint64 arrays (wrapping arithmetic), as `model.rs::mix`."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _rotl(x: int, k: int) -> int:
    return ((x << k) | (x >> (64 - k))) & _MASK


def _mix_int(x: int) -> int:
    """`_mix` on one Python int (the same wrapping arithmetic, masked to 64 bits)."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


@dataclass(frozen=True)
class BookParams:
    tick: float
    step: float
    levels: int
    seed: int


class SyntheticBook:
    """Books from a trades array (`TRADE_DTYPE`); `at(T, n)` reads only the first `n` trades, which the
    caller guarantees are exactly those at or before `T`."""

    def __init__(self, trades: np.ndarray, params: BookParams) -> None:
        self.p = params
        # Contiguous copies: a column of the structured array is a strided view, and `searchsorted`
        # on a strided slice copies it first (O(n) per book, quadratic over a replay).
        self.ts = np.ascontiguousarray(trades["ts_ns"])
        self.ticks = np.maximum(1, np.floor(trades["price"] / params.tick + 0.5)).astype(np.int64)
        self.qty = np.ascontiguousarray(trades["qty"])
        self.buy = np.ascontiguousarray(trades["buy"])
        self._depth = 1.0 + DEPTH_SLOPE * np.arange(params.levels)
        self._offsets = np.arange(params.levels, dtype=np.int64)
        self._seed_rot = np.uint64(_rotl(params.seed, 17))
        self._seed = np.uint64(params.seed)
        self._base_at = -1
        self._base = 0.0
        # Per tick, memoised (a book's 2 x `levels` ticks stay near the price from one boundary to the
        # next): [noise phase, noise period, noise, level price], the noise as `_noise` computes it for
        # one tick (it changes only when the tick's staggered one-second period does).
        self._depth2 = np.concatenate((self._depth, self._depth))
        self._tick_memo: dict[int, list] = {}
        self._seed_rot_i = _rotl(params.seed, 17)

    def _noise(self, ticks: np.ndarray, bucket: int) -> np.ndarray:
        t = ticks.astype(np.uint64)
        phase = _mix(t ^ self._seed_rot) % np.uint64(NOISE_PERIOD)
        period = (np.uint64(bucket) + phase) // np.uint64(NOISE_PERIOD)
        draw = _mix(self._seed ^ (t * np.uint64(0x00000100000001B3)) ^ _mix(period)) % np.uint64(10_001)
        return NOISE_MIN + (2.0 - 2.0 * NOISE_MIN) * draw.astype(np.float64) / 10_000.0

    def base(self, n: int) -> float:
        """5 x the median quantity of the last `BASE_TRADES` of the first `n` trades (re-computed at
        most every 100 trades)."""
        if self._base_at < 0 or n - self._base_at >= 100 or n < self._base_at:
            self._base = BASE_MULTIPLE * float(np.median(self.qty[max(0, n - BASE_TRADES) : n]))
            self._base_at = n
        return self._base

    def at(self, t_ns: int, n: int) -> tuple[Levels, Levels]:
        """(bids best first, asks best first) at `t_ns` from trades `[:n]`; empty before a trade."""
        if n <= 0:
            return (), ()
        last = int(self.ticks[n - 1])
        lo = int(np.searchsorted(self.ts[:n], t_ns - VOL_WINDOW_NS, side="right"))
        window = self.ticks[lo:n]
        rng = int(window.max() - window.min()) if len(window) else 0
        spread = 1 + min(MAX_EXTRA_SPREAD, rng // SPREAD_DIVISOR)
        if self.buy[n - 1]:
            best_bid, best_ask = last - spread, last
        else:
            best_bid, best_ask = last, last + spread
        liquidity = 1.0 / (1.0 + LIQUIDITY_K * rng / last)
        depth = self._depth2 * liquidity * self.base(n)
        bucket = t_ns // BOUNDARY_NS
        step, tick = self.p.step, self.p.tick
        levels = self.p.levels
        ticks = [best_bid - i for i in range(levels)] + [best_ask + i for i in range(levels)]
        memo = self._tick_memo
        noise: list[float] = []
        prices: list[float] = []
        for k in ticks:
            m = memo.get(k)
            if m is None:
                if k <= 0:  # a bid level below zero: dropped below
                    noise.append(1.0)
                    prices.append(0.0)
                    continue
                m = memo[k] = [
                    _mix_int(k ^ self._seed_rot_i) % NOISE_PERIOD,
                    -1,
                    0.0,
                    round(float(k) * tick, 10),
                ]
            period = (bucket + m[0]) // NOISE_PERIOD
            if m[1] != period:
                draw = _mix_int(self.p.seed ^ ((k * 0x00000100000001B3) & _MASK) ^ _mix_int(period)) % 10_001
                m[1] = period
                m[2] = NOISE_MIN + (2.0 - 2.0 * NOISE_MIN) * float(draw) / 10_000.0
            noise.append(m[2])
            prices.append(m[3])
        # Whole steps, rounded again so a float like 468.90000000000003 does not reach a fill.
        q = np.round(np.maximum(1.0, np.round(depth * np.array(noise) / step)) * step, 8).tolist()
        pq = list(zip(prices, q, strict=True))
        if ticks[levels - 1] > 0:
            return tuple(pq[:levels]), tuple(pq[levels:])
        return tuple(pq[i] for i in range(levels) if ticks[i] > 0), tuple(pq[levels:])
