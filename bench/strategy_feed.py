"""The market data the strategy benchmarks publish (`bench/strategy_bench.py`): real POLUSDT trades
of the 10 Oct 2025 crash (data/) with the backtest's synthetic book (the model exchange-sim serves in
the demo) every 100 ms of event time, 20 levels a side, as ready-to-send frames:

* `sustained`: a window of the recording repeated, times and ids shifted, for as many frames as a
  throughput run needs (event time then runs as many times faster than real as the rate asks);
* `at_market_rate`: event time at 1x real for a given rate, the recorded trades of the crash's
  densest seconds each split into k fills (same price and side, the quantity shared), so that a
  second of the feed is a second of the market: one candle a second, orders at the market's pace.
"""

from __future__ import annotations

import itertools
import math
import struct
from dataclasses import dataclass
from pathlib import Path

import msgpack
from flashcrash import wire
from flashcrash.backtest.book import BookParams, with_books
from flashcrash.backtest.commands import window
from flashcrash.marketdata import load_trades

REPO = Path(__file__).resolve().parents[1]
POL = REPO / "data" / "binance_trades_2025-10-10_POLUSDT_2045-2145.csv.gz"
SYMBOL = "POLUSDT"
S = 1_000_000_000
TICK = 0.0001
STEP = 0.1
BOOK_STEP_NS = 100_000_000  # the synthetic book's interval
DAY = 1760054400  # 2025-10-10 00:00 UTC


def _utc(hhmmss: str) -> int:
    """ns since the epoch of `hhmmss` (HH:MM or HH:MM:SS) on 10 Oct 2025, UTC."""
    h, m, *sec = (int(x) for x in hhmmss.split(":"))
    return (DAY + h * 3600 + m * 60 + (sec[0] if sec else 0)) * S


def replay(start: str, end: str) -> list[wire.Trade | wire.OrderBookSnapshot]:
    """Real trades between `start` and `end` (HH:MM[:SS]), with the backtest's synthetic book
    (`flashcrash.backtest.book`, the configuration's tick, step and seed) at every 100 ms boundary."""
    trades, _, _ = load_trades(POL, None)
    return list(
        with_books(
            window(trades, _utc(start), _utc(end)),
            BookParams(TICK, STEP, 20, 1),
            SYMBOL,
        )
    )


# ------------------------------------------------------------------------------------ the feed
@dataclass
class Feed:
    """Frames (topic, payload) ready to publish, and where each payload's `local_ts_ns` is (so the
    publisher can stamp its send time in place)."""

    frames: list[tuple[bytes, bytes]]
    stamp_at: list[int]
    copies: int
    # Jumps in the recorded trade ids within one copy (the data's own).
    ids_gaps_per_copy: int
    # The recorded events' own rate, a second of event time: what real time is.
    events_per_event_s: float
    # Frames before the measured part (`at_market_rate`'s warm-up), 0 for a throughput feed.
    warm: int = 0

    def trades(self, count: int) -> int:
        return sum(1 for t, _ in self.frames[:count] if t.startswith(b"trade"))

    def measured(self) -> Feed:
        """The frames after the warm-up."""
        w = self.warm
        return Feed(
            self.frames[w:],
            self.stamp_at[w:],
            self.copies,
            self.ids_gaps_per_copy,
            self.events_per_event_s,
        )


_UINT = {0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q"}


def _value_at(payload: bytes, key: str) -> tuple[int, str] | None:
    """Offset and struct format of the unsigned int stored under `key` in a MessagePack map (None: a
    one-byte fixint, which has no room to grow)."""
    k = msgpack.packb(key)
    i = payload.index(k) + len(k)
    fmt = _UINT.get(payload[i])
    return None if fmt is None else (i + 1, fmt)


def sustained(events: list[wire.Trade | wire.OrderBookSnapshot], count: int) -> Feed:
    """`count` frames: the events, then copies of them with times shifted by the data's span (rounded
    up to the book's 100 ms, so the books stay on their grid) and trade and book ids by theirs: each
    copy follows the one before as the same feed would, its first trade id the last one's + 1. A
    copy's payload is the recorded one with those three numbers written in place, or encoded again
    when one no longer fits its bytes."""
    first_ts, last_ts = events[0].exchange_ts_ns, events[-1].exchange_ts_ns
    t_shift = (math.floor((last_ts - first_ts) / BOOK_STEP_NS) + 1) * BOOK_STEP_NS
    tids = [e.trade_id for e in events if isinstance(e, wire.Trade)]
    uids = [e.update_id for e in events if isinstance(e, wire.OrderBookSnapshot)]
    tid_shift = max(tids) - min(tids) + 1
    uid_shift = max(uids) - min(uids) + 1
    gaps = sum(1 for a, b in itertools.pairwise(tids) if b != a + 1)
    frames: list[tuple[bytes, bytes]] = []
    stamp_at: list[int] = []
    copies = math.ceil(count / len(events))
    for k in range(copies):
        for e in events[: count - len(frames)]:
            trade = isinstance(e, wire.Trade)
            ident = "trade_id" if trade else "update_id"
            shifts = {
                "exchange_ts_ns": t_shift,
                "local_ts_ns": t_shift,
                ident: tid_shift if trade else uid_shift,
            }
            payload = wire.encode(e) if k == 0 else None
            if k:
                payload = _shifted(e, shifts, k)
            assert payload is not None
            at = _value_at(payload, "local_ts_ns")
            assert at is not None and at[1] == ">Q", (
                "local_ts_ns is stamped in place: 8 bytes"
            )
            frames.append(
                (f"{'trade' if trade else 'book'}.{SYMBOL}".encode(), payload)
            )
            stamp_at.append(at[0])
    # The copies decode to the events shifted, through the strategy's own decoder.
    for i in (len(events), len(frames) // 2, len(frames) - 1):
        if len(events) <= i < len(frames):
            k, j = divmod(i, len(events))
            m, src = wire.decode(frames[i][1]), events[j]
            assert m.exchange_ts_ns == src.exchange_ts_ns + k * t_shift, (i, m)  # type: ignore[union-attr]
    return Feed(frames, stamp_at, copies, gaps, len(events) / (t_shift / S))


_ENCODED: dict[int, tuple[bytes, list[tuple[int, str] | None]]] = {}


def _shifted(
    e: wire.Trade | wire.OrderBookSnapshot, shifts: dict[str, int], k: int
) -> bytes:
    """`e`'s payload with each of `shifts`' fields moved by k times its shift."""
    known = _ENCODED.get(id(e))
    if known is None:
        base = wire.encode(e)
        known = _ENCODED[id(e)] = (base, [_value_at(base, key) for key in shifts])
    base, where = known
    buf = bytearray(base)
    try:
        for (key, d), at in zip(shifts.items(), where, strict=True):
            if at is None:
                raise struct.error(key)
            struct.pack_into(at[1], buf, at[0], getattr(e, key) + k * d)
        return bytes(buf)
    except struct.error:  # a number outgrew its bytes: the map encoded again
        m = e.to_map()
        for key, d in shifts.items():
            m[key] = getattr(e, key) + k * d
        return msgpack.packb(m, use_bin_type=True)  # type: ignore[no-any-return]


def at_market_rate(
    rate: float, secs: float, start: str = "21:17:30", warm_from: str = "21:05"
) -> Feed:
    """`rate` x `secs` frames whose event time runs at 1x real: the recording from `start` for `secs`
    seconds (the crash's densest: 1,105 trades in 21:17:30-21:17:40, its busiest second 521), each
    trade as k fills at its time, price and side, of quantity / k, with k chosen so that those seconds
    hold `rate` x `secs` frames with their books; preceded (`Feed.warm`) by the recording from
    `warm_from`, split alike, so that the detector and the strategy arrive there in the state the
    market put them in (the backtest of 21:05-21:25 enters at 21:17:33). Trade ids are renumbered in
    order (no jump); book update ids are the recording's."""
    a, b = _utc(start), _utc(start) + round(secs * S)
    trades, _, _ = load_trades(POL, None)
    events = list(
        with_books(
            window(trades, _utc(warm_from), b), BookParams(TICK, STEP, 20, 1), SYMBOL
        )
    )
    timed = [e for e in events if e.exchange_ts_ns >= a]
    n_trades = sum(1 for e in timed if isinstance(e, wire.Trade))
    k = max(1, round((rate * secs - (len(timed) - n_trades)) / n_trades))
    frames: list[tuple[bytes, bytes]] = []
    stamp_at: list[int] = []
    warm = 0
    next_id = next(e.trade_id for e in events if isinstance(e, wire.Trade))
    for e in events:
        if e.exchange_ts_ns < a:
            warm = len(frames) + (k if isinstance(e, wire.Trade) else 1)
        if isinstance(e, wire.Trade):
            parts = [
                wire.Trade(
                    e.symbol,
                    e.exchange_ts_ns,
                    e.local_ts_ns,
                    next_id + j,
                    e.price,
                    e.quantity / k,
                    e.aggressor,
                )
                for j in range(k)
            ]
            next_id += k
        else:
            parts = [e]
        for m in parts:
            payload = wire.encode(m)
            at = _value_at(payload, "local_ts_ns")
            assert at is not None and at[1] == ">Q", (
                "local_ts_ns is stamped in place: 8 bytes"
            )
            frames.append(
                (
                    f"{'trade' if isinstance(m, wire.Trade) else 'book'}.{SYMBOL}".encode(),
                    payload,
                )
            )
            stamp_at.append(at[0])
    return Feed(frames, stamp_at, 1, 0, (len(frames) - warm) / secs, warm)
