"""The event detector: validated market events → jitter buffer → indicators → state machine.

Trades and books are checked by the `InputGuard` (a rejected event never reaches an indicator and is
counted in `guard.dropped`), wait `jitter_buffer_ms` in the `JitterBuffer`, and are then applied in
event-time order. Each time the released events cross into a new second, the second that ended is
closed: every indicator takes its sample, the `Readings` of that instant are built, and the state
machine steps (see `machine.py`). Work per event is O(log n) for the buffer, O(levels) for a book
and O(1) amortised for the rest.

The book indicators (imbalance, spread, depth) read only the latest book, and only when a second
closes: a released book is kept as pending and handed to them then (or before a snapshot), so of
the ~10 books a second only the last is measured. Buffered events are plain tuples:
`(price, qty, is_buy)` for a trade, `(bids, asks)` for a book.

Message velocity counts every trade and, with `velocity_touch_only`, only the books that moved the
best bid or ask price: a depth stream sends about ten books a second in calm and crash alike, and
counting them all adds a constant that dilutes every spike of the trades and quotes.

A feed outage (`on_feed_lost`: the engine resyncs or reconnects, the engine or this process was
down, a replay's data has a recording gap) leaves seconds nobody observed. They are not closed: no
indicator takes a sample of them, so the windows join the market before the outage to the market
after it, and the price path restarts after it (no 1-second return or second difference spans the
outage). Closed as empty seconds, a long outage would become the baselines' idea of a calm market (a
volume-delta baseline of zeros reads every later trade as a z of 1000), and the move over the outage
a crash.

The detector measures time by event time only, and keeps its own 1-second candles (of released
trades) for the patterns: the runner's candles are not needed, and `on_candle` only hands back the
latest transition since the previous call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from flashcrash import wire
from flashcrash.config import EventDetectionConfig
from flashcrash.event_detector.candles import NS, Candle, CandleBuilder
from flashcrash.event_detector.guard import InputGuard
from flashcrash.event_detector.indicators.acceleration import Acceleration
from flashcrash.event_detector.indicators.depth import Depth, DepthView
from flashcrash.event_detector.indicators.message_velocity import MessageVelocity
from flashcrash.event_detector.indicators.obi import OrderBookImbalance
from flashcrash.event_detector.indicators.spread import Spread
from flashcrash.event_detector.indicators.volatility import Volatility
from flashcrash.event_detector.indicators.volume_delta import VolumeDelta
from flashcrash.event_detector.jitter import JitterBuffer
from flashcrash.event_detector.machine import State, StateMachine, Transition
from flashcrash.event_detector.patterns import CandlePatterns
from flashcrash.event_detector.readings import Indicator, Pattern, Readings, measure, not_ready
from flashcrash.event_detector.snapshot import encode_object, restore_object
from flashcrash.wire import Levels

BOOK_STALE_NS = 5 * NS  # book indicators are not ready when the last book is older than this


TradeItem = tuple[float, float, bool]  # price, qty, is_buy
BookItem = tuple[Levels, Levels]  # bids, asks


@dataclass(frozen=True, slots=True)
class TradeEvent:
    """A buffered trade in snapshots written before buffered events were tuples (read back only)."""

    price: float
    qty: float
    is_buy: bool


@dataclass(frozen=True, slots=True)
class BookEvent:
    """A buffered book in snapshots written before buffered events were tuples (read back only)."""

    bids: Levels
    asks: Levels


def _as_item(ev: Any) -> TradeItem | BookItem:
    if isinstance(ev, TradeEvent):
        return (ev.price, ev.qty, ev.is_buy)
    if isinstance(ev, BookEvent):
        return (ev.bids, ev.asks)
    return tuple(ev)  # type: ignore[return-value]


class Detector:
    def __init__(self, cfg: EventDetectionConfig) -> None:
        self.cfg = cfg
        jitter_ns = cfg.jitter_buffer_ms * 1_000_000
        self.guard = InputGuard(jitter_ns)
        self._buffer: JitterBuffer[TradeItem | BookItem] = JitterBuffer(jitter_ns)
        self._machine = StateMachine(cfg)
        self.candles = CandleBuilder()
        base, warm = cfg.baseline_secs, cfg.warmup_secs
        self.volatility = Volatility(
            cfg.volatility_window_secs, base, warm, cfg.volatility_ratio, cfg.volatility_floor_bps
        )
        self.acceleration = Acceleration(cfg.acceleration_span_secs, cfg.acceleration_bps_per_s2)
        self.obi = OrderBookImbalance(cfg.obi_levels, cfg.obi_threshold)
        self.spread = Spread(base, warm, cfg.spread_ratio)
        self.volume_delta = VolumeDelta(cfg.volume_delta_window_secs, base, warm, cfg.volume_delta_z)
        self.velocity = MessageVelocity(
            cfg.velocity_window_secs, base, warm, cfg.velocity_ratio, cfg.velocity_min_per_sec
        )
        self.depth = Depth(cfg.depth_levels, cfg.liquidity_min_usd, cfg.extreme_imbalance, cfg.wall_ratio)
        self.patterns = CandlePatterns(
            cfg.pattern_min_candles,
            cfg.pattern_max_candles,
            cfg.exhaustion_wick_pct,
            cfg.exhaustion_wick_growth_pct,
            cfg.climax_wick_pct,
            cfg.climax_volume_ratio,
        )
        self.applied = 0  # events that reached the indicators
        self._second: int | None = None  # the open second (ts // NS) of the released events
        self._price = math.nan
        self._delta = 0.0
        self._messages = 0
        self._touch = (0.0, 0.0)  # the last book's best bid and ask prices (message velocity)
        self._book_ns = -BOOK_STALE_NS - 1
        self._pending_book: BookItem | None = None  # released, not yet handed to the book indicators
        self._readings = self._initial_readings()
        self._reported = 0
        self._normal = True
        self._lost_after: int | None = None  # on_feed_lost: the last second seen before an outage

    # ----------------------------------------------------------------- state
    @property
    def state(self) -> State:
        return self._machine.state

    @property
    def transitions(self) -> list[Transition]:
        return self._machine.transitions

    def readings(self) -> Readings:
        """The readings at the end of the last closed second (all not ready before the first)."""
        return self._readings

    # ---------------------------------------------------------------- inputs
    def on_trade(self, ts_ns: int, price: float, qty: float, is_buy: bool) -> bool:
        """Validates and buffers a trade; False (and counted in `guard.dropped`) when rejected."""
        if not self.guard.trade_ok(ts_ns, price, qty):
            return False
        self._buffer.push_release(ts_ns, (price, qty, bool(is_buy)), self._apply)
        return True

    def on_book(self, snapshot: wire.OrderBookSnapshot) -> bool:
        """Validates and buffers a book; False (and counted in `guard.dropped`) when rejected."""
        bids, asks = snapshot.bids, snapshot.asks
        if not self.guard.book_ok(snapshot.exchange_ts_ns, bids, asks, wire.levels_proven(snapshot)):
            return False
        book = (tuple(bids), tuple(asks))
        self._buffer.push_release(snapshot.exchange_ts_ns, book, self._apply)
        return True

    def on_feed_lost(self) -> None:
        """The feed stopped: nothing after the newest event seen so far was observed until the next
        event after it (see the module's docstring)."""
        if self.guard.newest_ns > 0:
            self._lost_after = self.guard.newest_ns // NS

    def on_candle(self, candle: Candle) -> Transition | None:
        """The runner's candle clock: returns the newest transition since the previous call, if any.
        (The detector builds its own candles from the trades it has released.)"""
        if len(self.transitions) > self._reported:
            self._reported = len(self.transitions)
            return self.transitions[-1]
        return None

    def flush(self) -> None:
        """Applies every buffered event and closes the last second (end of a replay)."""
        for ts, ev in self._buffer.drain():
            self._apply(ts, ev)
        if self._second is not None:
            self._close_second(self._second)
            self._second += 1

    def snapshot(self) -> dict[str, Any]:
        """The whole state (guard, jitter buffer, candles, every indicator's windows and baselines, the
        machine's state and timers) as JSON values; `restore` on a detector of the same configuration
        carries on exactly where this one stands."""
        self._measure_book()
        return {"version": 1, "detector": encode_object(self)}

    def restore(self, state: dict[str, Any]) -> None:
        """Replaces this detector's state by a `snapshot()` (configuration excepted; the past
        transitions are not in it: see `set_history`)."""
        if state.get("version") != 1:
            raise ValueError(f"unknown detector snapshot version {state.get('version')!r}")
        restore_object(self, state["detector"])
        self._reported = min(self._reported, len(self.transitions))  # older snapshots held them
        # Older snapshots hold buffered events as TradeEvent/BookEvent: the same, as tuples.
        self._buffer._heap = [(ts, seq, _as_item(ev)) for ts, seq, ev in self._buffer._heap]

    def set_history(self, transitions: list[Transition]) -> None:
        """The transitions before a restored snapshot, read back from the audit log by a recovery
        (for the session's summary and report): none of them is reported as new."""
        self._machine.transitions = list(transitions)
        self._reported = len(transitions)

    def shutdown(self, ts_ns: int, reason: str) -> Transition:
        return self._machine.go(ts_ns, State.SHUTDOWN, reason)

    # ------------------------------------------------------------- internals
    def _release(self) -> None:
        self._buffer.release_to(self._apply)

    def _apply(self, ts: int, ev: Any) -> None:
        sec = ts // NS
        if self._second is None:
            self._second = sec
        if sec > self._second:
            # A long silence needs no more empty seconds than the longest window holds.
            longest = self.cfg.baseline_secs + 2 * max(
                self.cfg.volatility_window_secs,
                self.cfg.volume_delta_window_secs,
                self.cfg.velocity_window_secs,
            )
            lost = self._lost_after
            if lost is not None and sec > lost:  # the first event after an outage
                self._lost_after = None
                if sec > lost + 1 and self._second <= lost:
                    while self._second <= lost:
                        self._close_second(self._second)
                        self._second += 1
                    self._second = sec  # the seconds after `lost` were not observed
                    self.volatility.restart()
                    self.acceleration.restart()
                    self._machine.resume()
            self._second = max(self._second, sec - longest)
            while self._second < sec:
                self._close_second(self._second)
                self._second += 1
        self.applied += 1
        if len(ev) == 3:
            self._messages += 1
            price, qty, is_buy = ev
            self._price = price
            self._delta += price * qty if is_buy else -price * qty
            closed = self.candles.on_trade(ts, price, qty, is_buy)
            if closed is not None:
                self.patterns.on_candle(closed)
            return
        if self.cfg.velocity_touch_only:
            touch = (ev[0][0][0], ev[1][0][0])  # best bid and ask prices
            if touch != self._touch:
                self._messages += 1
                self._touch = touch
        else:
            self._messages += 1
        self._book_ns = ts
        self._pending_book = ev

    def _measure_book(self) -> None:
        """Hands the latest released book to the book indicators (they keep only the latest)."""
        ev = self._pending_book
        if ev is not None:
            self._pending_book = None
            bids, asks = ev
            self.obi.on_book(bids, asks)
            self.spread.on_book(bids[0][0], asks[0][0])
            self.depth.on_book(bids, asks)

    def _close_second(self, sec: int) -> None:
        if self._pending_book is not None:
            self._measure_book()
        end = (sec + 1) * NS
        closed = self.candles.advance(end)
        if closed is not None:
            self.patterns.on_candle(closed)
        fresh = end - self._book_ns <= BOOK_STALE_NS
        learn = self._normal  # baselines learn only the normal market (`StateMachine.learns`)
        self.volatility.on_second(self._price, learn)
        self.acceleration.on_second(self._price)
        self.volume_delta.on_second(self._delta, learn)
        self.velocity.on_second(self._messages, learn)
        self.spread.on_second(fresh, learn)
        self._delta = 0.0
        self._messages = 0
        self._readings = self._build(end, sec, fresh)
        self._machine.step(self._readings)
        self._normal = self._machine.learns(end)

    def _build(self, end: int, sec: int, fresh: bool) -> Readings:
        pattern = self.patterns.pattern if self.patterns.last_start_ns == sec * NS else Pattern.NONE
        length = float(self.patterns.length) if pattern is not Pattern.NONE else 0.0
        by = {
            Indicator.VOLATILITY: self.volatility.reading(),
            Indicator.ACCELERATION: self.acceleration.reading(),
            Indicator.OBI: self.obi.reading(fresh),
            Indicator.SPREAD: self.spread.reading(fresh),
            Indicator.VOLUME_DELTA: self.volume_delta.reading(),
            Indicator.MESSAGE_VELOCITY: self.velocity.reading(),
            Indicator.PATTERN: measure(
                Indicator.PATTERN,
                length,
                float(self.cfg.pattern_min_candles),
                pattern is not Pattern.NONE,
                self.patterns.last_start_ns >= 0,
            ),
            Indicator.LIQUIDITY: self.depth.reading(fresh),
        }
        view: DepthView | None = self.depth.view if fresh else None
        spread_ratio = by[Indicator.SPREAD].value
        if view is None:
            return Readings(end, by, pattern, spread_ratio, math.nan)
        # Positional: ts, readings, pattern, spread ratio, liquidity, imbalance, extreme, walls.
        return Readings(
            end, by, pattern, spread_ratio, view.liquidity_usd, view.imbalance, view.extreme,
            view.bid_walls, view.ask_walls,
        )  # fmt: skip

    def _initial_readings(self) -> Readings:
        thresholds = {
            Indicator.VOLATILITY: self.cfg.volatility_ratio,
            Indicator.ACCELERATION: self.cfg.acceleration_bps_per_s2,
            Indicator.OBI: self.cfg.obi_threshold,
            Indicator.SPREAD: self.cfg.spread_ratio,
            Indicator.VOLUME_DELTA: self.cfg.volume_delta_z,
            Indicator.MESSAGE_VELOCITY: self.cfg.velocity_ratio,
            Indicator.PATTERN: float(self.cfg.pattern_min_candles),
            Indicator.LIQUIDITY: self.cfg.liquidity_min_usd,
        }
        by = {i: not_ready(i, t) for i, t in thresholds.items()}
        return Readings(0, by, Pattern.NONE, math.nan, math.nan)
