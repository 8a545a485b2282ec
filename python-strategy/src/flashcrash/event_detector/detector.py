"""The event detector: validated market events → jitter buffer → indicators → state machine, compiled
(`flashcrash_native`, the Rust crates `detector` and `py-detector` under `rust-engine/crates/`), behind
the Python API the runner, the backtest and the recovery use. The same code in every mode.

Trades and books are checked by the input guard (a rejected event never reaches an indicator and is
counted in `guard.dropped`: a price or quantity that is not a float, a time that is not an int, a
level that is not a pair of floats is dropped as the invalid value it is), wait `jitter_buffer_ms` in
the jitter buffer, and are then applied in event-time order. Each time the released events cross
into a new second, the second that ended is closed: every indicator takes its sample, the `Readings`
of that instant are built, and the state machine steps (see `rust-engine/crates/detector/src/machine.rs`).

An event whose time jumps ahead of the newest by more than the jitter window plus 2 s is held, not
trusted alone: one such time taken as the newest would make every genuine event after it
`time_backwards` (one trade stamped at twice the epoch blinded the detector for good). The next event
decides: back near the newest, the held time was an outlier (dropped, `time_ahead`); at or after it
less the jitter window, the jump was real (a recording gap, a feed back after an outage) and the held
event is taken then, before the event that confirmed it. So `on_trade` and `on_book` return False for
a held event too, and after each call `released` lists the held events it released, for the caller to
take as it takes an accepted one (the runner's candles and strategy). A fresh detector's first event
has nothing to be judged by: it waits for the second. An event still held at the end of a replay
(`flush`) is taken unconfirmed. Rules, bound and limits: `rust-engine/crates/detector/src/guard.rs`.

The book indicators (imbalance, spread, depth) read only the latest book, and only when a second
closes. Message velocity counts every trade and, with `velocity_touch_only`, only the books that moved
the best bid or ask price.

A feed outage (`on_feed_lost`: the engine resyncs or reconnects, the engine or this process was
down, a replay's data has a recording gap) leaves seconds nobody observed. They are not closed: no
indicator takes a sample of them, so the windows join the market before the outage to the market
after it, and the price path restarts after it. Closed as empty seconds, a long outage would become
the baselines' idea of a calm market, and the move over the outage a crash.

What crosses the boundary is plain: events in, and per closed second one tuple of readings out,
turned into `Readings` only when asked for (once per new second at most). A snapshot is the compiled
detector's whole state as JSON (version 2; the Python detector's version-1 snapshots are refused, and
a recovery then starts the detector afresh).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections import Counter
from collections.abc import Iterable
from typing import Any, NamedTuple

import flashcrash_native
from flashcrash import wire
from flashcrash.config import EventDetectionConfig
from flashcrash.event_detector.candles import Candle, CandleBuilder
from flashcrash.event_detector.machine import State, Transition
from flashcrash.event_detector.readings import Indicator, Pattern, Reading, Readings

log = logging.getLogger("flashcrash.event_detector.detector")

SNAPSHOT_VERSION = 2
_INDICATORS = tuple(Indicator)


class GuardView:
    """The compiled guard's counts as the Python `InputGuard` showed them."""

    def __init__(self, native: Any) -> None:
        self._n = native

    @property
    def dropped(self) -> Counter[str]:
        return Counter(self._n.dropped())

    @property
    def newest_ns(self) -> int:
        return int(self._n.newest_ns)


class Released(NamedTuple):
    """A held event the guard released (its jump ahead confirmed by the event after it): a trade
    (`price` a float) or a book (`price` None), taken as an accepted one is, before that event."""

    ts_ns: int
    price: float | None
    qty: float
    is_buy: bool


_NONE_RELEASED: tuple[Released, ...] = ()
_STATES = {str(s): s for s in State}  # a state by its name, as the compiled detector gives it


class Closed(NamedTuple):
    """A candle a run of rows closed (`Detector.on_rows` through the states it was given): the
    candle, the time of the event that closed it, and the detector's state and emergency-stop
    figures (`Readings.spread_ratio`, `liquidity_usd`) just after that event."""

    candle: Candle
    ts_ns: int
    state: State
    spread_ratio: float
    liquidity_usd: float


class RowRun(NamedTuple):
    """What `Detector.on_rows` handled: the next trade row and book row, the books handed over, the
    time of the last book accepted (-1: none), the time and price of the last trade accepted (-1 and
    NaN: none), and the candles it closed (`Closed`, in order)."""

    trade_row: int
    book_row: int
    books: int
    book_ns: int
    trade_ns: int
    price: float
    closed: tuple[Closed, ...]


def _transition(t: tuple[int, str, str, str]) -> Transition:
    return Transition(t[0], State(t[1]), State(t[2]), t[3])


def _readings(t: tuple[Any, ...]) -> Readings:
    ts, by, pattern, spread_ratio, liquidity, imbalance, extreme, bid_walls, ask_walls, move = t
    return Readings(
        ts,
        {ind: Reading(ind, *r) for ind, r in zip(_INDICATORS, by, strict=True)},
        Pattern(pattern),
        spread_ratio,
        liquidity,
        imbalance,
        extreme,
        tuple(bid_walls),
        tuple(ask_walls),
        move,
    )


def config_json(cfg: EventDetectionConfig) -> str:
    return json.dumps(dataclasses.asdict(cfg))


class Detector:
    """One symbol's detector (see the module's doc). `transitions` and `readings()` are Python
    objects made from the compiled detector's on demand: each transition once (and logged then),
    the readings once per closed second."""

    def __init__(self, cfg: EventDetectionConfig) -> None:
        self.cfg = cfg
        self._n = flashcrash_native.Detector(config_json(cfg))
        self.guard = GuardView(self._n)
        # The held events the last `on_trade`, `on_book` or `on_book_rows` released, in order.
        self.released: tuple[Released, ...] = _NONE_RELEASED
        self._transitions: list[Transition] = []
        self._readings: Readings | None = None
        self._readings_at = -1

    # ----------------------------------------------------------------- state
    @property
    def state(self) -> State:
        return State(self._n.state)

    @property
    def transitions(self) -> list[Transition]:
        n = self._n.transition_count
        if n != len(self._transitions):
            if n < len(self._transitions):
                self._transitions = []
            for t in self._n.transitions(len(self._transitions)):
                tr = _transition(t)
                log.info("detector %s -> %s: %s", tr.previous, tr.current, tr.reason)
                self._transitions.append(tr)
        return self._transitions

    @property
    def applied(self) -> int:
        return int(self._n.applied)

    @property
    def held(self) -> int:
        """Events held (jumps ahead waiting for the next event)."""
        return int(self._n.held)

    def plain(self, ts_ns: int) -> bool:
        """Whether an event at `ts_ns` would be taken or dropped at once, releasing nothing: nothing
        is held and it is no jump ahead (`on_rows` goes only while this holds)."""
        return bool(self._n.plain(ts_ns))

    def _take_released(self, any_released: bool) -> None:
        """`released` from the native detector's list when its last call released any, else empty."""
        self.released = (
            tuple(Released(*r) for r in self._n.take_released()) if any_released else _NONE_RELEASED
        )

    def _taken(self, got: int) -> bool:
        """A native `on_trade`/`on_book` answer (bit 1: taken; bit 2: held events released):
        `released` updated (most calls release nothing, and find nothing to clear), whether the event
        was taken."""
        if got > 1 or self.released:
            self._take_released(got > 1)
        return got & 1 == 1

    def readings(self) -> Readings:
        """The readings at the end of the last closed second (all not ready before the first)."""
        closes = self._n.closes
        if closes != self._readings_at or self._readings is None:
            self._readings = _readings(self._n.readings())
            self._readings_at = closes
        return self._readings

    # ---------------------------------------------------------------- inputs
    def on_trade(self, ts_ns: int, price: float, qty: float, is_buy: bool) -> bool:
        """Validates and buffers a trade; False when rejected (and counted in `guard.dropped`) or held
        (a jump ahead). `released` then lists the held events this call released."""
        return self._taken(self._n.on_trade(ts_ns, price, qty, is_buy))

    def on_book(self, snapshot: wire.OrderBookSnapshot) -> bool:
        """Validates and buffers a book; as `on_trade`."""
        return self._taken(
            self._n.on_book(
                snapshot.exchange_ts_ns, snapshot.bids, snapshot.asks, wire.levels_proven(snapshot)
            )
        )

    def set_book_rows(self, times: Any, prices: Any, qty: Any, nbids: Any) -> None:
        """A block of books as C-contiguous numpy arrays, for `on_book_rows` (the backtest's synthetic
        books, built a few thousand at a time): row `i` is the book at `times[i]` (int64), `prices[i]`
        and `qty[i]` its bids best first then its asks best first (float64, `levels` each), of which
        the first `nbids[i]` bids are levels (int64); each is checked level by level as an unproven
        book is.
        (numpy is not imported here: `flashcrash run` starts without it.)"""
        self._n.set_book_rows(times, prices, qty, nbids)

    def on_book_rows(self, start: int, end: int) -> tuple[int, int]:
        """Rows `start:end` of the block, each validated and buffered as `on_book` takes a book (a row
        without a bid is no book). Returns (books taken, time of the last accepted (or released), -1 if
        none); `released` lists the held events the rows released."""
        taken, last, released = self._n.on_book_rows(start, end)
        if released or self.released:
            self._take_released(bool(released))
        return int(taken), int(last)

    def set_trade_rows(self, times: Any, prices: Any, qty: Any, buy: Any) -> None:
        """A block of trades as C-contiguous numpy arrays, for `on_rows` (the backtest's trades):
        row `i` is the trade at `times[i]` (int64) of `qty[i]` at `prices[i]` (float64), the taker a
        buyer when `buy[i]` (uint8) is not 0."""
        self._n.set_trade_rows(times, prices, qty, buy)

    def on_rows(
        self,
        trades: tuple[int, int],
        books: tuple[int, int],
        candles: CandleBuilder,
        book_lag_ns: int,
        through: Iterable[State] = (),
    ) -> RowRun:
        """Trade rows `trades` and book rows `books` of the two blocks, merged in time order (a book
        before a trade only when strictly earlier): each trade validated and buffered as `on_trade`
        takes it, and added to `candles` (the runner's) when accepted; each book as `on_book_rows`
        takes it, and an accepted one advances `candles` `book_lag_ns` behind it. Up to the first
        the guard would hold or that would release a held one (not `plain`: left to the caller), so
        it releases nothing; and up to the first event that would close the open candle (a trade at
        or after its end, a book `book_lag_ns` after it), left to the caller too, unless the
        detector is in one of the states `through`: then the event is taken and the candle it closed
        listed in `closed` (each as `on_candle` would have read the detector then), up to the event
        after a close that left it in another state at the latest."""
        self.released = _NONE_RELEASED
        *run, closed = self._n.on_rows(trades, books, candles.native, book_lag_ns, [str(s) for s in through])
        return RowRun(
            *run, tuple(Closed(Candle(*c), ts, _STATES[state], *figures) for c, ts, state, *figures in closed)
        )

    def on_feed_lost(self) -> None:
        """The feed stopped: nothing after the newest event seen so far was observed until the next
        event after it."""
        self._n.on_feed_lost()

    def on_candle(self, candle: Candle) -> Transition | None:
        """The runner's candle clock: returns the newest transition since the previous call, if any."""
        t = self._n.take_transition()
        if t is None:
            return None
        return _transition(t)

    def flush(self) -> None:
        """Applies every buffered event and closes the last second (end of a replay). An event still
        held is taken, unconfirmed (nothing can come to decide on it)."""
        self.released = _NONE_RELEASED
        self._n.flush()

    def snapshot(self) -> dict[str, Any]:
        """The whole state (guard, jitter buffer, candles, every indicator's windows and baselines, the
        machine's state and timers) as JSON values; `restore` on a detector of the same configuration
        carries on exactly where this one stands."""
        return {"version": SNAPSHOT_VERSION, "detector": json.loads(self._n.snapshot())}

    def reconfigure(self, cfg: EventDetectionConfig) -> None:
        """A reload's new thresholds, ratios, levels and rules (window sizes and the jitter buffer
        need a restart: `monitoring.reload` refuses to apply them)."""
        self._n.reconfigure(config_json(cfg))
        self.cfg = cfg

    def restore(self, state: dict[str, Any]) -> None:
        """Replaces this detector's state by a `snapshot()` (its configuration stays; the past
        transitions are not in it: see `set_history`). ValueError for another version's snapshot."""
        version = state.get("version")
        if version != SNAPSHOT_VERSION:
            raise ValueError(f"detector snapshot version {version!r}, this detector reads {SNAPSHOT_VERSION}")
        self._n.restore(json.dumps(state["detector"]))
        self.released = _NONE_RELEASED
        self._readings_at = -1

    def set_history(self, transitions: list[Transition]) -> None:
        """The transitions before a restored snapshot, read back from the audit log by a recovery:
        none of them is reported as new."""
        self._n.set_history([(t.ts_ns, t.previous.value, t.current.value, t.reason) for t in transitions])
        self._transitions = list(transitions)  # history: not logged again

    def shutdown(self, ts_ns: int, reason: str) -> Transition:
        tr = _transition(self._n.shutdown(ts_ns, reason))
        _ = self.transitions  # logs it
        return tr
