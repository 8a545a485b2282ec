"""The replay engine: trades, tick by tick in event-time order, through the `Runner` of live and paper
trading (its detector, candles, scoring, strategy, risk checks and OrderManager, wired as
`flashcrash run` wires them), with a `SimVenue` in the engine's place.

One event-time clock drives everything, and at any instant `t` only what happened up to `t` exists:

* market trades in file order (ties keep it); before each trade, every earlier event is handled:
  synthetic books at their boundaries (built from the trades already replayed), commands reaching the
  venue and answers reaching the strategy (each `order_latency_ms` after it was sent);
* a synthetic book is published at every `book_interval_ms` boundary, through silences too: the
  exchange simulator's synthetic source sends a depth change every 100 ms (a heartbeat when the model
  did not move) and the engine publishes a book after each one, and the detector's message velocity
  counts them (the model moves at 99.6 % of the boundaries of the POLUSDT day anyway: its noise turns
  over a tenth of the levels every 100 ms). The books are built in batches of `BOOK_CHUNK`
  boundaries (compiled: `SyntheticBook.batch_rows`), handed to the (compiled) detector as one block
  of rows, and are exactly `SyntheticBook.at(T, n)`. A run of books with nothing between them is one call
  (`Runner.handle_books`: the same validation, buffering and candle clock as one book at a time),
  cut where a book closes the runner's candle, so the strategy acts at that book's time;
* a trade first reaches the venue (it may fill resting orders: the fill is answered after the
  latency), then the strategy; an event at the same time as a trade comes after it. While nothing is
  open (no order, no position, no lot, no command or answer under way), the trades and the synthetic
  books between them, up to the next point where the replay acts (a gap, the end of the warm-up,
  the end of a block of synthetic books or the next recorded book, and, while the detector is
  awake, a trade or book that closes the runner's candle), only feed the detector and the candles:
  they are one call (`Runner.handle_rows`: the same validation, buffering and order as one event at
  a time, compiled). While it sleeps the call goes on through the candles' closes, up to the first
  close that wakes it; the strategy then takes each of those candles, with the state and stop
  figures the detector had at its close (a strategy that holds nothing sends nothing while the
  detector sleeps: it keeps its windows), and the seconds the run's trades began are sampled as the
  loop samples them;
* a silence of the trades longer than `[backtest] data_gap_secs` (synthetic books only) is a
  recording gap, not a quiet market, but only known to be one once it has lasted that long: until
  then it is replayed as any silence (books published, the strategy acting on them), and from the
  moment it reaches `data_gap_secs` (the last trade's time plus that, in event time) as the engine's
  feed outage, a `StateChange` of the feed out of live then and back to live at the first trade after
  the silence, with no book in between (commands and answers still run); the feed stop it sets
  cancels resting entries as it starts, as live. So no decision before that moment depends on how
  long the silence goes on (the whole file's silences are found before the run only to know where
  the outages start);
* the runner's clock is the replay's, so command times, order timeouts, cooldowns and the breaker all
  run on event time.

At the end of the data the strategy closes what it holds (`shutdown`, as `flashcrash run` does on
stop), and the answers still under way are delivered.
"""

from __future__ import annotations

import gc
import heapq
import logging
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

import numpy as np

from flashcrash import wire
from flashcrash.backtest.book import BOUNDARY_NS, BookParams, SyntheticBook
from flashcrash.backtest.results import BacktestResult, RunningDrawdown
from flashcrash.backtest.venue import FillRule, Levels, SimVenue, order_rules
from flashcrash.config import Config
from flashcrash.event_detector import RowRun, State
from flashcrash.runner import BOOK_CLOSE_LAG_NS, LOOP_GC_THRESHOLDS, Runner
from flashcrash.symbols import assets
from flashcrash.trading_engine.money import Quantity
from flashcrash.trading_engine.strategy import SILENT_STATES

log = logging.getLogger(__name__)
NS = 1_000_000_000
MS = 1_000_000
DRAIN_LIMIT = 10_000  # events handled after the data ends (answers, the shutdown's market sells)
BOOK_CHUNK = 4096  # synthetic books built per batch
NEVER = 2**63 - 1
STATE_CODES = {s: i for i, s in enumerate(State)}


@dataclass(slots=True)
class _Chunk:
    """A batch of synthetic books (`Replay._load_books`), also handed to the detector whole
    (`Detector.set_book_rows`): `count` boundaries every `step` from `first`; per boundary its trade
    count `n`, its level ticks, prices and quantities (bids best first, then asks) and its count of
    bid levels (a bid below tick 1 is none)."""

    first: int
    step: int
    count: int
    n: list[int]
    nbids: list[int]
    ticks: np.ndarray
    prices: np.ndarray
    q: np.ndarray

    def time(self, i: int) -> int:
        return self.first + i * self.step

    def upto(self, t: int) -> int:
        """The index after the last boundary at or before `t` (0 to `count`)."""
        return min(self.count, max(0, (t - self.first) // self.step + 1))


class ReplayLink:
    """What the runner takes for its engine client: commands go to the replay's outbox, nothing is
    polled (the replay hands the runner its messages)."""

    def __init__(self) -> None:
        self.outbox: list[object] = []
        self.received: Counter[str] = Counter()
        self.malformed: Counter[str] = Counter()

    def send(self, cmd: object) -> bool:
        self.outbox.append(cmd)
        return True

    def poll(self, timeout_ms: int) -> list[object]:
        return []

    def close(self) -> None:
        return None


@dataclass(frozen=True)
class Clock:
    """The replay's event time, read by the runner and its order manager."""

    replay: Replay

    def __call__(self) -> int:
        return self.replay.now


class Replay:
    """One backtest of `trades` (`TRADE_DTYPE`, time-sorted) under `cfg`. `books`, when the data has
    them, replace the synthetic book (time-sorted `OrderBookSnapshot`s). With `trade_from_ns`, the
    trades before it are a warm-up: the detector and the strategy's windows see them, entries are
    paused until then (an out-of-sample window judged with its detector already warm)."""

    def __init__(
        self,
        cfg: Config,
        trades: np.ndarray,
        books: Sequence[wire.OrderBookSnapshot] | None = None,
        trade_from_ns: int | None = None,
    ) -> None:
        if len(trades) == 0:
            raise ValueError("no trades to replay")
        self.cfg = cfg
        bt = cfg.backtest
        self.trades = trades
        self.books = list(books) if books is not None else None
        self.latency_ns = bt.order_latency_ms * MS
        self.gap_ns = bt.data_gap_secs * NS
        self.book_interval_ns = max(BOUNDARY_NS, bt.book_interval_ms * MS)
        self.synthetic = SyntheticBook(trades, BookParams.of(cfg))
        fees = cfg.raw.get("fees", {})
        self.venue = SimVenue(
            cfg.symbol.name,
            *assets(cfg.symbol.name),
            self._book_at,
            Decimal(str(fees.get("maker_rate", "0"))),
            Decimal(str(fees.get("taker_rate", "0"))),
            FillRule(bt.fill_rule),
            Decimal(repr(bt.slippage_bps)),
            cfg.symbol.quantity_step,
            order_rules(cfg),
            cash=bt.initial_capital,
            check_funds=True,
        )
        self.link = ReplayLink()
        self.now = int(trades["ts_ns"][0])
        self.runner = Runner(cfg, self.link, None, clock=Clock(self))  # type: ignore[arg-type]
        self.k = 0  # trades replayed
        self.trade_from_ns = trade_from_ns if trade_from_ns is not None else self.now
        self._queue: list[tuple[int, int, bool, object]] = []  # (time, seq, to_venue, message)
        self._next_book = NEVER  # the time of the next book to publish
        self._seq = 0
        self._external_i = 0
        self._last_book: tuple[Levels, Levels] = ((), ())
        self._last_book_k = 0  # trades replayed when it was published
        self._venue_book: tuple[int, int, tuple[Levels, Levels]] | None = None
        self._chunk = _Chunk(0, 1, 0, [], [], *(np.empty((0, 0)),) * 3)
        self._chunk_i = 0  # the next row of the chunk to publish
        self.books_published = 0
        self.data_gaps: list[tuple[int, int]] = []  # recording gaps replayed as outages: (last, next)
        self.commands: list[tuple[int, object]] = []  # every command sent, with its event time
        # One row per second of event time, silences included: the close, the equity marked at it
        # (both taken at the first trade after the second; forward-filled through a silence), and
        # the detector's state at the end of the second (from its transitions, after the run).
        self.sample_ns: list[int] = []
        self.sample_price: list[float] = []
        self.sample_equity: list[float] = []
        self.sample_state: list[int] = []
        self._next_row = self.now // NS  # the first second without a row
        # The equity marked at every trade while a position is held, after every fill and at every
        # row: its deepest fall (a position held a fraction of a second falls between the rows).
        self.drawdown = RunningDrawdown()
        self._fills_marked = 0

    # ------------------------------------------------------------- the book
    def _book_at(self, now: int) -> tuple[Levels, Levels]:
        """The book an order reaching the venue at `now` meets: the last one published (external
        data), or the synthetic model's book at `now` from every trade replayed (all at or before
        `now`). A venue's book is the present one: the last one published (what the strategy saw) is
        up to a book interval older, and in a crash a taker sell since then has taken the bids it
        showed. So a recorded book is met less what the trades printed since it took: a sell at a
        price took every bid above it, a buy every ask below it."""
        if self.books is not None:
            return self._recorded_book_now()
        last = self._venue_book
        if last is not None and last[0] == now and last[1] == self.k:
            return last[2]
        book = self.synthetic.at(now, self.k)
        self._venue_book = (now, self.k, book)
        return book

    def _recorded_book_now(self) -> tuple[Levels, Levels]:
        bids, asks = self._last_book
        since = self.trades[self._last_book_k : self.k]
        if len(since) == 0:
            return bids, asks
        buy, price = since["buy"], since["price"]
        if not buy.all():
            low = float(price[~buy].min())
            bids = tuple(level for level in bids if level[0] <= low)
        if buy.any():
            high = float(price[buy].max())
            asks = tuple(level for level in asks if level[0] >= high)
        return bids, asks

    def _next_book_ns(self, after: int) -> int:
        if self.books is not None:
            if self._external_i < len(self.books):
                return self.books[self._external_i].exchange_ts_ns
            return NEVER
        step = self.book_interval_ns
        return (after // step + 1) * step

    def _load_books(self, first: int) -> None:
        """The synthetic books of the next `BOOK_CHUNK` boundaries from `first` on (those before the
        last trade: a later one is never published), built in one batch and handed to the detector
        as one block of rows (its guard checks each level by level, as any unproven book). A
        boundary's book reads only the trades at or before it (`n`, exactly the trades replayed when
        it is published)."""
        syn = self.synthetic
        count = max(1, min(BOOK_CHUNK, (int(syn.ts[-1]) - first) // self.book_interval_ns + 1))
        times = first + self.book_interval_ns * np.arange(count, dtype=np.int64)
        n = np.searchsorted(syn.ts, times, side="right")
        ticks, prices, q, nbids = syn.batch_rows(times, n)
        self._chunk = _Chunk(
            first, self.book_interval_ns, count, n.tolist(), nbids.tolist(), ticks, prices, q
        )
        self.runner.detector.set_book_rows(
            times, np.ascontiguousarray(prices), np.ascontiguousarray(q), nbids
        )
        self._chunk_i = 0

    def _chunk_at(self, t: int) -> _Chunk:
        """The block of synthetic books whose next row is the boundary `t`, built when it is not."""
        c = self._chunk
        if self._chunk_i >= c.count or c.time(self._chunk_i) != t:
            self._load_books(t)
        return self._chunk

    def _publish_books(self, until: int) -> None:
        """Publishes every synthetic book boundary from the next one up to `until` (inclusive), as
        the runner's books (`Runner.handle_books`): in runs cut where a book closes the runner's
        candle (the strategy then acts at that book's time, and its commands leave then)."""
        runner = self.runner
        while self._next_book <= until:
            c = self._chunk_at(self._next_book)
            i = self._chunk_i
            end = c.upto(until)
            closes = runner.book_closes_candle_at()
            if closes is not None:  # the first book at or after it closes the candle: the run ends there
                end = min(end, max(i, c.upto(closes - 1)) + 1)
            assert c.n[i] == self.k and c.n[end - 1] == self.k, (
                "a boundary's book must read exactly the trades replayed before it"
            )
            # The clock is the last book published (a row without a bid is none).
            nbids = c.nbids
            j = end - 1
            while j >= i and not nbids[j]:
                j -= 1
            if j >= i and c.time(j) > self.now:
                self.now = c.time(j)
            self.books_published += runner.handle_books(i, end)
            self._chunk_i = end
            self._next_book = c.time(end - 1) + self.book_interval_ns
            if self.link.outbox:
                self._dispatch()
                # What was just sent reaches the venue `latency_ns` later: no book past that first.
                until = min(until, self._queue[0][0])

    def _publish_book(self, t: int) -> None:
        """A recorded book (data with real L2), as the engine publishes it."""
        assert self.books is not None
        snap = self.books[self._external_i]
        self._external_i += 1
        self._last_book, self._last_book_k = (snap.bids, snap.asks), self.k
        if t > self.now:
            self.now = t
        self.books_published += 1
        self.runner.handle(snap)
        if self.link.outbox:
            self._dispatch()

    # -------------------------------------------------------------- messages
    def _schedule(self, at: int, to_venue: bool, msg: object) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (at, self._seq, to_venue, msg))

    def _dispatch(self) -> None:
        """Commands the runner sent at `now` leave for the venue."""
        out = self.link.outbox
        if not out:
            return
        for cmd in out:
            self.commands.append((self.now, cmd))
            self._schedule(self.now + self.latency_ns, True, cmd)
        out.clear()

    def _answer(self, responses: list[object]) -> None:
        for r in responses:
            self._schedule(self.now + self.latency_ns, False, r)

    def _pop(self) -> None:
        at, _, to_venue, msg = heapq.heappop(self._queue)
        self.now = max(self.now, at)
        if to_venue:
            self._answer(self.venue.handle(msg, self.now))
            self._mark_fills(float(self.trades["price"][max(0, self.k - 1)]))  # the last trade's price
        else:
            self.link.received[type(msg).__name__] += 1
            self.runner.handle(msg)
            self._dispatch()
        self._timeouts()

    def _timeouts(self) -> None:
        if self.runner.orders.pending:
            self.runner.orders.check_timeouts(self.now)
            self._dispatch()

    def _until(self, ts: int) -> None:
        """Handles every book boundary and queued message strictly before `ts`, in time order (a book
        before a message of the same time)."""
        queue = self._queue
        while True:
            next_book = self._next_book
            queued = queue[0][0] if queue else NEVER
            if next_book < ts and next_book <= queued:
                if self.books is None:  # every boundary before the trade and up to the message
                    self._publish_books(min(ts - 1, queued))
                else:
                    self._publish_book(next_book)
                    self._next_book = self._next_book_ns(next_book)
            elif queued < ts:
                self._pop()
            else:
                return

    def _gaps(self, ts: np.ndarray) -> list[int]:
        """The indices of the trades that end a recording gap (see the module's docstring)."""
        if self.gap_ns <= 0 or self.books is not None:
            return []
        return (np.flatnonzero(np.diff(ts) > self.gap_ns) + 1).tolist()

    def _outage(self, last: int, resume: int) -> None:
        """The recording gap between the trades at `last` and at `resume`, as a feed outage from the
        moment its silence has lasted `data_gap_secs` (`last` + that) on: until then it is a silence
        like any other, its books published, so nothing before that moment depends on how long the
        silence goes on."""
        lost = last + self.gap_ns
        self._until(lost + 1)  # what is due up to that moment: the silence's books, the messages
        self.now = max(self.now, lost)
        why = f"no trade for {self.cfg.backtest.data_gap_secs} s: a recording gap in the data"
        self._feed_change(lost, "live", "reconnecting", why)
        self._next_book = self._next_book_ns(resume - 1)  # no book before the data resumes
        self._until(resume)
        self.now = max(self.now, resume)
        self._feed_change(resume, "reconnecting", "live", "data resumes")
        self.data_gaps.append((last, resume))

    def _feed_change(self, ts: int, previous: str, current: str, why: str) -> None:
        """The feed's StateChange as the engine publishes it; what the runner sends on it (the feed
        stop cancels resting entries) leaves then."""
        self.runner.handle(wire.StateChange(ts, "feed", previous, current, why))
        self._dispatch()

    # ---------------------------------------------------------------- sizing
    def _size(self, price: float) -> None:
        """Entry size as a fraction of equity (capped by the order notional limit) at `price`; the
        strategy cuts an entry further where its take-profit, at the target, would be over the limit."""
        fraction = self.cfg.backtest.position_fraction
        if fraction <= 0 or not price > 0:
            return
        px = Decimal(repr(price))
        budget = min(self.venue.equity(price) * Decimal(repr(fraction)), self.cfg.risk.max_order_notional)
        step = self.cfg.symbol.quantity_step
        qty = (budget * Decimal("0.999") / px / step).to_integral_value(ROUND_DOWN) * step
        strategy = self.runner.strategy
        if strategy.quantity is None or strategy.quantity.value != qty:
            strategy.quantity = Quantity.of(qty)
            if qty > 0:
                self.venue.set_rules(order_rules(self.cfg, lot=qty))  # the engine's lots are the entries

    # ------------------------------------------------------------------- run
    def run(self, progress: Callable[[int, int], None] | None = None, every: int = 5000) -> BacktestResult:
        started = time.perf_counter()
        # The live loop's collector settings (`runner.quiet_gc`, without the freeze): the replay makes
        # millions of short-lived tuples, freed by reference counting; collections are for cycles.
        thresholds = gc.get_threshold()
        gc.set_threshold(*LOOP_GC_THRESHOLDS)
        try:
            self._run(progress, every)
        finally:
            gc.set_threshold(*thresholds)
        return BacktestResult.of(self, time.perf_counter() - started)

    def _run(self, progress: Callable[[int, int], None] | None, every: int) -> None:
        tr = self.trades
        # Times and prices as lists (read at every run); a trade's other fields only when it is replayed
        # one at a time (its row, a small share of the trades).
        ts_a, px_a = tr["ts_ns"].tolist(), tr["price"].tolist()
        runner, venue, queue, outbox = self.runner, self.venue, self._queue, self.link.outbox
        orders, lots = runner.orders, runner.strategy.position.lots
        handle_trade = runner.handle_trade
        runner.detector.set_trade_rows(
            *(np.ascontiguousarray(tr[c]) for c in ("ts_ns", "price", "qty")),
            np.ascontiguousarray(tr["buy"]).view(np.uint8),
        )
        n = len(ts_a)
        self._next_book = self._next_book_ns(ts_a[0] - 1)
        second = ts_a[0] // NS
        next_second = (second + 1) * NS
        last_price = px_a[0]
        self._size(last_price)
        warm_until = self.trade_from_ns if self.trade_from_ns > ts_a[0] else 0
        if warm_until:
            runner.strategy.paused_reason = "warm-up"
        self._mark(last_price)
        next_progress = n
        if progress is not None:
            progress(0, n)
            next_progress = every
        gaps = self._gaps(tr["ts_ns"])
        gaps.append(n)
        next_gap, gap_i = gaps[0], 0
        k = 0
        while k < n:
            ts = ts_a[k]
            if k == next_gap:
                if warm_until and warm_until <= ts_a[k - 1] + self.gap_ns:
                    self._end_warm_up(warm_until)  # in the silence before the outage
                    warm_until = 0
                self._outage(ts_a[k - 1], ts)
                gap_i += 1
                next_gap = gaps[gap_i]
            if warm_until and ts >= warm_until:
                self._end_warm_up(warm_until)
                warm_until = 0
            if ts >= next_second:
                second = ts // NS
                self._sample_to(second, last_price)
                next_second = (second + 1) * NS
                self._size(last_price)
            if self._next_book < ts or (queue and queue[0][0] < ts):
                self._until(ts)
            if not (lots or orders.pending or venue.open_count or venue.position or outbox or queue):
                # Nothing open anywhere: the trades and books up to the next point where the replay
                # acts only feed the detector and the candles, in one call.
                end = self._quiet_run(ts_a, px_a, k, min(next_gap, n), next_second, warm_until)
                if end > k:
                    k = end
                    last_price = px_a[k - 1]
                    next_second = (ts_a[k - 1] // NS + 1) * NS
                    if outbox:  # the strategy acted on the candle that woke the detector
                        self._dispatch()
                    if k > next_progress:
                        assert progress is not None
                        progress(k - 1, n)
                        next_progress = k - 1 + every
                    continue
            if ts > self.now:
                self.now = ts
            _, _, price, qty, buy = tr[k].item()
            if venue.open_count:
                self._answer(venue.on_trade(self.now, price, qty))
                self._mark_fills(price)
            self.k = k + 1
            handle_trade(ts, price, qty, buy)
            if outbox:
                self._dispatch()
            if orders.pending:
                self._timeouts()
            last_price = price
            if venue.position:
                self._mark(price)
            if k >= next_progress:
                assert progress is not None
                progress(k, n)
                next_progress = k + every
            k += 1
        empty = np.empty(0, dtype=np.int64)  # the detector's copy of the trades is not needed any more
        runner.detector.set_trade_rows(
            empty, empty.astype(np.float64), empty.astype(np.float64), empty.astype(np.uint8)
        )
        self._finish()
        self._sample_to(self.now // NS + 1, last_price)  # the last second: the account after the close
        self.sample_state = self._states_at_second_ends()
        self.runner.detector.shutdown(self.now, "end of data")
        if progress is not None:
            progress(n, n)

    def _end_warm_up(self, at: int) -> None:
        """The books and messages of the warm-up (before `at`) still wait, paused: only then is the
        window on."""
        self._until(at)
        self.runner.strategy.paused_reason = ""

    def _quiet_run(
        self, ts_a: list[int], px_a: list[float], k: int, hi: int, next_second: int, warm_until: int
    ) -> int:
        """While nothing is open: the trades from `k` (below `hi`) and the synthetic books between
        them and up to the next trade, in one call (`Runner.handle_rows`), up to the next point where
        the replay acts: the end of the warm-up (where the loop lifts the pause), the end of the block
        of books (recorded books: the next one), and a trade or book that closes the runner's candle
        while the detector is awake (a trade of the next second at the latest). While it sleeps
        (`SILENT_STATES`) the run goes on through the candles' closes (the strategy takes each after
        the run, with what the detector read at its close), up to the first close that wakes it.
        The seconds the run's trades began are sampled, and the entry sized, as the loop does at
        each (`_run_seconds`). Returns the trade after the run, or `k` when the run would not be
        worth a call (trade `k` closes the candle while the detector is awake, or would be alone with
        no book, or the detector holds an event or would hold trade `k`, a jump ahead in time: those
        go one event at a time; a later one ends the run before it)."""
        runner = self.runner
        if not runner.detector.plain(ts_a[k]):
            return k
        awake = runner.detector.state not in SILENT_STATES
        close = runner.candles.open_end_ns()
        close = next_second if close is None else close  # else trade `k` opens the candle of its second
        c = self._chunk_at(self._next_book) if self.books is None else None
        limit = c.time(c.count) + 1 if c is not None else self._next_book + 1
        if awake:
            limit = min(limit, close)
        if warm_until:
            limit = min(limit, warm_until)
        if ts_a[k] >= limit:
            return k
        end = bisect_left(ts_a, limit, k + 1, hi)
        i = b_end = self._chunk_i
        if c is not None:
            # The books before the next trade; at a recording gap, up to its last trade (the outage
            # publishes the rest of its silence, up to the moment it starts); at the end of the data,
            # none at or after the last trade; while the detector is awake, none that closes the candle.
            last = ts_a[end - 1]
            books_until = ts_a[end] - 1 if end < hi else last if end < len(ts_a) else last - 1
            if awake:
                books_until = min(books_until, close + BOOK_CLOSE_LAG_NS - 1)
            b_end = max(i, c.upto(books_until))
        if end == k + 1 and b_end == i:
            return k

        def taken(run: RowRun) -> None:
            """The rows taken (up to where the run ended), before any candle of theirs reaches the
            strategy: the clock, the seconds begun, the books published."""
            t, b = run.trade_row, run.book_row
            self.now = max(self.now, self._last_time(ts_a, k, t, i, b))
            self.k = t
            self._run_seconds(ts_a, px_a, k, t, next_second)
            if c is not None:
                assert b == i or (k <= c.n[i] and c.n[b - 1] <= t), (
                    "a boundary's book must read exactly the trades replayed before it"
                )
                self.books_published += run.books
                self._chunk_i = b
                self._next_book = c.time(b)

        run = runner.handle_rows((k, end), (i, b_end), True, taken)
        assert awake <= ((run.trade_row, run.book_row) == (end, b_end)), (
            "a run must stop before the candle closes while the detector is awake"
        )
        return run.trade_row

    def _last_time(self, ts_a: list[int], k: int, t: int, i: int, b: int) -> int:
        """The time of the last event of trades `k:t` and synthetic books `i:b` (a row without a bid
        is no book); -1 for none."""
        last = ts_a[t - 1] if t > k else -1
        if self.books is None:
            c, nbids = self._chunk, self._chunk.nbids
            j = b - 1
            while j >= i and not nbids[j]:
                j -= 1
            if j >= i:
                last = max(last, c.time(j))
        return last

    def _run_seconds(self, ts_a: list[int], px_a: list[float], k: int, t: int, next_second: int) -> None:
        """The seconds begun by trades `k + 1` to `t - 1` (taken in one run): each sampled at the
        price of the trade before it, as the loop samples at a second's first trade; the entry sized
        at the last of them (nothing is open: the equity is the cash, and the size is read at an
        entry only)."""
        j = bisect_left(ts_a, next_second, k + 1, t)
        if j >= t:
            return
        equity = float(self.venue.equity(px_a[k]))  # nothing held: the cash, at any price
        while j < t:
            price = px_a[j - 1]
            second = ts_a[j] // NS
            self._sample_to(second, price, equity)
            next_second = (second + 1) * NS
            j = bisect_left(ts_a, next_second, j, t)
        self._size(price)

    def _finish(self) -> None:
        """End of data: resting entries canceled, positions closed at market, answers delivered."""
        runner = self.runner
        runner.strategy.shutdown(self.now)
        self._dispatch()
        for _ in range(DRAIN_LIMIT):
            if not self._queue:
                if not runner.orders.has_open_order() or not runner.orders.pending:
                    break
                self.now += runner.orders.timeout_ns
                self._timeouts()
                continue
            self._pop()
            if not self._queue:
                runner.strategy.shutdown(self.now)  # a sell the book could not fill: try again
                self._dispatch()

    def _mark(self, price: float) -> None:
        """The account's equity at `price`, against its running peak."""
        self.drawdown.mark(float(self.venue.equity(price)))

    def _mark_fills(self, price: float) -> None:
        """Marks the equity at `price` when the venue filled something since the last mark."""
        fills = len(self.venue.fills)
        if fills != self._fills_marked:
            self._fills_marked = fills
            self._mark(price)

    def _sample_to(self, end: int, price: float, equity: float | None = None) -> None:
        """Rows for every second not sampled yet before second `end` (a silence's seconds too):
        the close `price` and the equity marked at it (`equity` when the caller knows it)."""
        count = end - self._next_row
        if count <= 0:
            return
        if equity is None:
            equity = float(self.venue.equity(price))
        self.drawdown.mark(equity)
        self.sample_ns.extend(range(self._next_row * NS, end * NS, NS))
        self.sample_price.extend([price] * count)
        self.sample_equity.extend([equity] * count)
        self._next_row = end

    def _states_at_second_ends(self) -> list[int]:
        """The detector's state at the end of each row's second, from its transitions' times: a
        change during a silence, or after a second's last trade, counts from when it happened."""
        transitions = self.runner.detector.transitions
        first = transitions[0].previous if transitions else self.runner.detector.state
        codes = [STATE_CODES[first], *(STATE_CODES[t.current] for t in transitions)]
        times = np.fromiter((t.ts_ns for t in transitions), dtype=np.int64, count=len(transitions))
        ends = np.asarray(self.sample_ns, dtype=np.int64) + NS
        return np.asarray(codes, dtype=np.int8)[np.searchsorted(times, ends, side="left")].tolist()
