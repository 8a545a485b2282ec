"""The replay engine on real data: no look-ahead (altering the future after t leaves every decision
before t unchanged), a run on the bundled POLUSDT crash hour that trades and writes its files (its
drawdown that of the equity marked at every trade, its states one row per second through the
silences), the synthetic book built from past trades only, and the results' arithmetic by hand."""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import math
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console

from flashcrash import config, wire
from flashcrash.backtest.book import BookParams, SyntheticBook, with_books
from flashcrash.backtest.commands import parse_utc, summary_table, window
from flashcrash.backtest.plots import write_all
from flashcrash.backtest.replay import Replay
from flashcrash.backtest.results import STATES, BacktestResult, max_drawdown, utc
from flashcrash.backtest.venue import SimVenue, order_rules
from flashcrash.event_detector import State
from flashcrash.marketdata import load_trades
from flashcrash.marketdata.depth import capture_books
from flashcrash.marketdata.trades import TRADE_DTYPE
from flashcrash.trading_engine import ClosedTrade

REPO = Path(__file__).resolve().parents[3]
POL = REPO / "data" / "binance_trades_2025-10-10_POLUSDT_2045-2145.csv.gz"
ATOM = REPO / "data" / "binance-delivery_trades_2025-10-10_ATOMUSD_PERP_1700-2130.csv.gz"
CAPTURE = REPO / "data" / "binance_spot_capture_BTCUSDT_20240808.gz"
D = Decimal
NS = 1_000_000_000
# Eight minutes of the POLUSDT crash: the detector warms up, then ~35 commands, maker and taker fills.
BUSY = ("2025-10-10T21:10:00Z", "2025-10-10T21:18:00Z")


@pytest.fixture(scope="module")
def cfg() -> config.Config:
    return config.load_synthetic(REPO / "config" / "config.toml")


@pytest.fixture(scope="module")
def pol(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    trades, _, _ = load_trades(POL, tmp_path_factory.mktemp("cache"))
    return trades


def decisions(commands: list[tuple[int, object]], before: int) -> list[tuple[object, ...]]:
    """The commands sent before `before`, without their random ids."""
    out: list[tuple[object, ...]] = []
    for ts, c in commands:
        if ts >= before:
            continue
        if isinstance(c, wire.PlaceOrder):
            out.append((ts, "place", c.side, c.order_type, c.quantity, c.price))
        else:
            out.append((ts, type(c).__name__))
    return out


def recorded(replay: Replay, kinds: type | tuple[type, ...], check: Any = None) -> list[Any]:
    """The messages of `kinds` the replay hands its runner, in order, from now on (each passed to
    `check` first, when given); a trade handed over by its fields (`Runner.handle_trade`) as the
    `Trade` it stands for. The synthetic books, handed over as rows of the replay's current
    batch (`Runner.handle_books`, `handle_rows`), come back as the `OrderBookSnapshot`s they stand
    for (update id 0), marked proven as `with_books` marks them (`SyntheticBook.proven`); the trades
    handed over as rows (`Runner.handle_rows`), as the `Trade`s they stand for, merged with the books
    in time order as the detector merges them (a book first only when strictly earlier)."""
    runner = replay.runner
    handle, handle_books, handle_rows = runner.handle, runner.handle_books, runner.handle_rows
    handle_trade = runner.handle_trade
    seen: list[Any] = []

    def see(msg: object) -> None:
        if isinstance(msg, kinds):
            if check is not None:
                check(msg)
            seen.append(msg)

    def books(start: int, end: int) -> list[wire.OrderBookSnapshot]:
        c, syn = replay._chunk, replay.synthetic
        proven = syn.proven(c.ticks[start:end], c.prices[start:end], c.q[start:end]).tolist()
        out = []
        for i in range(start, end):
            bids, asks = syn.split(c.ticks[i], list(zip(c.prices[i].tolist(), c.q[i].tolist(), strict=True)))
            if bids:
                t = c.time(i)
                out.append(wire.book_snapshot(replay.cfg.symbol.name, t, t, 0, bids, asks, proven[i - start]))
        return out

    def spy(msg: object) -> None:
        see(msg)
        handle(msg)

    def spy_trade(ts: int, price: float, qty: float, buy: bool) -> None:
        tid = int(replay.trades["id"][replay.k - 1])  # the row being replayed (`k` counts it)
        see(wire.Trade(replay.cfg.symbol.name, ts, ts, tid, price, qty, "buy" if buy else "sell"))
        handle_trade(ts, price, qty, buy)

    def spy_books(start: int, end: int) -> int:
        for msg in books(start, end):
            see(msg)
        return handle_books(start, end)

    def spy_rows(
        trades: tuple[int, int],
        rows: tuple[int, int],
        through_silent: bool = False,
        before_candles: Any = None,
    ) -> Any:
        # The rows the run took (it may end before the rows it was given), seen before its candles
        # reach the strategy (`before_candles`), as each event one at a time would have been.
        def before(run: Any) -> None:
            merged: list[tuple[int, int, object]] = [
                (b.exchange_ts_ns, 1, b) for b in books(rows[0], run.book_row)
            ]
            for ts, tid, price, qty, buy in replay.trades[trades[0] : run.trade_row].tolist():
                merged.append(
                    (
                        ts,
                        0,
                        wire.Trade(replay.cfg.symbol.name, ts, ts, tid, price, qty, "buy" if buy else "sell"),
                    )
                )
            k_after = replay.k
            replay.k = trades[0]  # as each is handed over: the trades replayed before it
            for _, _, msg in sorted(merged, key=lambda m: m[:2]):  # stable: trades keep their order
                replay.k += isinstance(msg, wire.Trade)
                see(msg)
            replay.k = k_after
            if before_candles is not None:
                before_candles(run)

        return handle_rows(trades, rows, through_silent, before)

    runner.handle = spy  # type: ignore[method-assign]
    runner.handle_trade = spy_trade  # type: ignore[method-assign]
    runner.handle_books = spy_books  # type: ignore[method-assign]
    runner.handle_rows = spy_rows  # type: ignore[method-assign]
    return seen


def _both_ways(
    monkeypatch: pytest.MonkeyPatch, make: Callable[[], Replay]
) -> tuple[Replay, Replay, Counter[str]]:
    """The replay of `make()` with its quiet runs in one call (`Runner.handle_rows`, counted), and
    again one event at a time (`handle`, and the books between trades in runs, `handle_books`)."""
    rowed = make()
    runs = Counter[str]()
    handle_rows = rowed.runner.handle_rows

    def count(trades: tuple[int, int], books: tuple[int, int], *args: Any) -> Any:
        run = handle_rows(trades, books, *args)
        runs["runs"] += 1
        runs["trades"] += run.trade_row - trades[0]
        runs["books"] += run.book_row - books[0]
        runs["candles"] += len(run.closed)
        return run

    rowed.runner.handle_rows = count  # type: ignore[method-assign]
    rowed.run()
    with monkeypatch.context() as m:
        m.setattr(Replay, "_quiet_run", lambda self, ts_a, px_a, k, *rest: k)
        one = make()
        one.run()
    assert before_the_cut(rowed, 2**63) == before_the_cut(one, 2**63)
    assert rowed.runner.detector.snapshot() == one.runner.detector.snapshot()
    assert (rowed.runner.candle_count, rowed.runner.event_ns, rowed.books_published, rowed.now) == (
        one.runner.candle_count,
        one.runner.event_ns,
        one.books_published,
        one.now,
    )
    assert rowed.runner.strategy.paused_reason == one.runner.strategy.paused_reason
    assert rowed.runner.strategy.snapshot() == one.runner.strategy.snapshot()
    assert rowed.runner.strategy.stops.triggered == one.runner.strategy.stops.triggered
    assert list(rowed.runner.history) == list(one.runner.history)
    return rowed, one, runs


def test_quiet_runs_handed_as_rows_replay_as_one_event_at_a_time(
    cfg: config.Config, pol: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While nothing is open the replay hands the runner its trades and the books between them in one
    call (`Runner.handle_rows`); the bundled hour replayed one trade at a time (`Runner.handle`) with
    the books between them in runs (`Runner.handle_books`) decides, fills and samples the same, and
    leaves the detector and the candles the same."""
    rowed, one, runs = _both_ways(monkeypatch, lambda: Replay(cfg, pol))
    assert runs["trades"] > len(pol) // 2 and runs["books"] > rowed.books_published // 2
    assert runs["runs"] < runs["trades"] // 4
    assert len(one.commands) > 50


def test_quiet_runs_replay_as_one_event_at_a_time_through_a_gap_a_warm_up_and_a_recorded_book(
    cfg: config.Config, pol: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same both ways where a run must stop early: six minutes cut out of the crash (a recording
    gap, no book after its last trade), a warm-up that ends mid-stream, and a capture's recorded
    books (a run ends before each)."""
    data = window(pol, parse_utc("2025-10-10T21:00:00Z"), parse_utc("2025-10-10T21:20:00Z"))
    ts = data["ts_ns"]
    gap = data[~((ts >= parse_utc("2025-10-10T21:05:00Z")) & (ts < parse_utc("2025-10-10T21:11:00Z")))]
    rowed, _, runs = _both_ways(monkeypatch, lambda: Replay(cfg, gap))
    assert len(rowed.data_gaps) == 1 and runs["runs"] > 0 and rowed.commands
    start = parse_utc("2025-10-10T21:14:00Z")
    rowed, _, runs = _both_ways(monkeypatch, lambda: Replay(cfg, data, trade_from_ns=start))
    assert runs["runs"] > 0 and min(t for t, _ in rowed.commands) >= start
    late = int(ts[-1]) - 300_000_000  # a warm-up that ends in the last quiet run: lifted all the same
    rowed, _, _ = _both_ways(monkeypatch, lambda: Replay(cfg, data, trade_from_ns=late))
    assert rowed.runner.strategy.paused_reason == ""
    trades, report, _ = load_trades(CAPTURE, None)
    books, _ = capture_books(CAPTURE, symbol=report.symbol, levels=20, market=report.market)
    rowed, _, runs = _both_ways(monkeypatch, lambda: Replay(cfg, trades, books))
    assert runs["runs"] > 0 and runs["books"] == 0 and rowed.books_published == len(books)


def test_altering_the_future_does_not_change_past_decisions(cfg: config.Config, pol: np.ndarray) -> None:
    data = window(pol, parse_utc("2025-10-10T21:08:00Z"), parse_utc("2025-10-10T21:20:00Z"))
    cut = parse_utc("2025-10-10T21:16:00Z")
    k = int(np.searchsorted(data["ts_ns"], cut))
    honest = Replay(cfg, data).run()
    # The future after the cut: prices, sizes and sides shuffled among its rows, then moved 20 % up.
    altered = data.copy()
    rng = np.random.default_rng(7)
    future = altered[k:]
    order = rng.permutation(len(future))
    for col in ("price", "qty", "buy"):
        future[col] = future[col][order]
    future["price"] *= 1.2
    changed = Replay(cfg, altered).run()
    truncated = Replay(cfg, data[:k]).run()
    before = decisions(honest.commands, cut)
    assert len(before) >= 4, "the window must hold decisions before the cut for the test to mean anything"
    assert decisions(changed.commands, cut) == before
    assert decisions(truncated.commands, cut) == before
    assert decisions(changed.commands, 2**63) != decisions(honest.commands, 2**63)  # the future did change
    transitions = [(t.ts_ns, t.current) for t in honest.transitions if t.ts_ns < cut]
    assert [(t.ts_ns, t.current) for t in changed.transitions if t.ts_ns < cut] == transitions
    n_before = int(np.searchsorted(honest.sample_ns, cut // 10**9 * 10**9))
    assert np.array_equal(changed.sample_equity[:n_before], honest.sample_equity[:n_before])


def before_the_cut(r: Replay, cut: int) -> tuple[list[Any], ...]:
    """Everything `r` decided before `cut` (random ids left out): the commands sent with their times,
    the venue's fills, the detector's transitions, and the per-second samples of the seconds that
    ended by the cut (a second's sample is taken at the first trade after it)."""
    fills = [(f.ts_ns, f.side, f.price, f.quantity, f.fee, f.liquidity) for f in r.venue.fills]
    transitions = [(t.ts_ns, t.previous, t.current, t.reason) for t in r.runner.detector.transitions]
    n = sum(1 for s in r.sample_ns if s + NS <= cut)
    samples = list(zip(r.sample_ns, r.sample_price, r.sample_equity, r.sample_state, strict=True))
    return (
        decisions(r.commands, cut),
        [f for f in fills if f[0] < cut],
        [t for t in transitions if t[0] < cut],
        samples[:n],
    )


def test_no_decision_before_any_cut_sees_the_future_after_it(cfg: config.Config, pol: np.ndarray) -> None:
    """Look-ahead checked at every instant where something is decided, not at one: the future is cut
    just after each command of the honest run reached the venue (it fills it against its book of that
    instant, or rests it for the next trades) and just after each transition of the detector, and
    replaced by 2 s of its own trades shuffled (prices, sizes, sides) and 20 % dearer, after which the
    data ends. Before its cut, every such run decides exactly as the honest one: the same commands at
    the same times, the same fills (time, price, quantity, fee, maker or taker), the same transitions
    with their reasons, the same per-second price, equity and state. A venue book built at the next
    100-ms boundary, a resting order filled against the next trade's price, or a book model whose
    5-s range reads trades past its time each decide differently before some of these cuts."""
    data = window(pol, *map(parse_utc, BUSY))
    ts = data["ts_ns"]
    honest = Replay(cfg, data)
    honest.run()
    latency = cfg.backtest.order_latency_ms * 1_000_000
    arrivals = {t + latency + 1 for t, _ in honest.commands}
    changes = {t.ts_ns + 1 for t in honest.runner.detector.transitions if t.current is not State.SHUTDOWN}
    # Enough to mean something: resting orders filled by trades, orders filled against the book.
    assert len(arrivals) >= 25 and len(changes) >= 6
    liquidity = Counter(f.liquidity for f in honest.venue.fills)
    assert liquidity["maker"] >= 3 and liquidity["taker"] >= 3
    rng = np.random.default_rng(7)
    for cut in sorted(arrivals | changes):
        k = int(np.searchsorted(ts, cut))
        end = max(k + 1, int(np.searchsorted(ts, cut + 2 * NS)))
        altered = data[:end].copy()
        future = altered[k:]
        order = rng.permutation(len(future))
        for col in ("price", "qty", "buy"):
            future[col] = future[col][order]
        future["price"] *= 1.2
        replay = Replay(cfg, altered)
        replay.run()
        assert before_the_cut(replay, cut) == before_the_cut(honest, cut), f"cut at {utc(cut)}"


def test_no_decision_before_a_recording_gap_depends_on_its_length(
    cfg: config.Config, pol: np.ndarray
) -> None:
    """A recording gap is known only once the silence has lasted `data_gap_secs`. The future is cut
    just after each entry buy of the honest run reached the venue (resting there), and its next trade
    moved to `data_gap_secs` - 1 s after the last trade before the cut (a silence) or + 1 s (a
    recording gap), with 2 s of its trades after it. Before the cut both decide exactly the same,
    and they send the same commands until the first of them resumes: the gap's feed outage starts
    only once the silence has lasted `data_gap_secs` (it canceled the resting entry at the last trade
    before the cut, when the whole file's silences were found before the run)."""
    data = window(pol, *map(parse_utc, BUSY))
    ts = data["ts_ns"]
    gap_ns = cfg.backtest.data_gap_secs * NS
    honest = Replay(cfg, data)
    honest.run()
    latency = cfg.backtest.order_latency_ms * 1_000_000
    cuts = [t + latency + 1 for t, c in honest.commands
            if isinstance(c, wire.PlaceOrder) and c.side == "BUY" and c.order_type == "LIMIT"]  # fmt: skip
    assert len(cuts) >= 10
    for cut in cuts:
        k = int(np.searchsorted(ts, cut))
        last = int(ts[k - 1])
        end = max(k + 1, int(np.searchsorted(ts, ts[k] + 2 * NS)))
        runs = []
        for secs in (-1, 1):
            moved = data[:end].copy()
            moved["ts_ns"][k:] += last + gap_ns + secs * NS - int(ts[k])
            replay = Replay(cfg, moved)
            result = replay.run()
            assert result.data_gaps == ([(last, int(moved["ts_ns"][k]))] if secs > 0 else [])
            runs.append(replay)
        silence, gap = runs
        assert before_the_cut(gap, cut) == before_the_cut(silence, cut), f"cut at {utc(cut)}"
        resumed = last + gap_ns - NS  # where the two futures part: the silence's next trade
        assert decisions(gap.commands, resumed) == decisions(silence.commands, resumed), f"cut at {utc(cut)}"


def test_the_venue_fills_against_the_present_only(cfg: config.Config, pol: np.ndarray) -> None:
    """Whenever the venue takes a book to fill an order at `now`, it is `SyntheticBook.at(now, n)`: the
    model at `now` from the `n` trades at or before `now`, every one of them already replayed and none
    after (not the last book published, up to 100 ms older: a venue's book is the present one); and
    each market trade it fills resting orders against is the one being replayed (its time, price and
    size), not the next."""
    data = window(pol, *map(parse_utc, BUSY))
    ts, px, qty = data["ts_ns"], data["price"], data["qty"]
    replay = Replay(cfg, data)
    model = SyntheticBook(data, replay.synthetic.p)  # fresh: no state shared with the replay
    venue = replay.venue
    book, on_trade = venue.book, venue.on_trade
    asked: list[int] = []
    traded: list[int] = []

    def checked_book(now: int) -> tuple[Any, Any]:
        got = book(now)
        n = int(np.searchsorted(ts, now, side="right"))
        assert n == replay.k, "the book's trades: every one replayed, none after `now`"
        assert got == model.at(now, n), f"venue book at {utc(now)}"
        asked.append(now)
        return got

    def checked_trade(now: int, price: float, size: float) -> list[object]:
        k = replay.k  # the trades replayed before this one
        assert (now, price, size) == (int(ts[k]), float(px[k]), float(qty[k])), f"trade {k}"
        traded.append(k)
        return on_trade(now, price, size)

    venue.book = checked_book
    venue.on_trade = checked_trade  # type: ignore[method-assign]
    replay.run()
    assert len(asked) >= 20 and len(traded) >= 100
    assert {f.liquidity for f in venue.fills} == {"maker", "taker"}


@pytest.mark.parametrize("rule", ["trade_through", "touch"])
def test_the_replay_fills_resting_orders_under_the_configured_rule(
    cfg: config.Config, pol: np.ndarray, rule: str
) -> None:
    """`[backtest] fill_rule` reaches the replay's venue: under "trade_through" no resting order is
    filled by a trade at its own price (only beyond it), under "touch" such fills happen on this crash
    (most of its maker fills are at the touch)."""
    cfg = dataclasses.replace(cfg, backtest=dataclasses.replace(cfg.backtest, fill_rule=rule))
    data = window(pol, *map(parse_utc, BUSY))
    replay = Replay(cfg, data)
    on_trade = replay.venue.on_trade
    fills: list[tuple[Decimal, Any]] = []  # (the trade's price, the fill it made)

    def spy(now: int, price: float, size: float) -> list[object]:
        out = on_trade(now, price, size)
        fills.extend((Decimal(repr(price)), m) for m in out)
        return out

    replay.venue.on_trade = spy  # type: ignore[method-assign]
    replay.run()
    assert len(fills) >= 5 and all(m.liquidity == "maker" for _, m in fills)
    # Never a fill from a trade on the wrong side of the order's price.
    assert all((p <= m.last_price if m.side == "BUY" else p >= m.last_price) for p, m in fills)
    at_price = [m for p, m in fills if p == m.last_price]
    if rule == "trade_through":
        assert at_price == []
    else:
        assert len(at_price) >= 3


def test_a_warm_up_pauses_entries_but_warms_the_detector(cfg: config.Config, pol: np.ndarray) -> None:
    """`trade_from_ns`: the trades before it reach the detector (it is past its warm-up and follows the
    crash) but no order is sent before it; from it on, the strategy trades."""
    data = window(pol, parse_utc("2025-10-10T21:00:00Z"), parse_utc("2025-10-10T21:20:00Z"))
    start = parse_utc("2025-10-10T21:14:00Z")
    warm = Replay(cfg, data, trade_from_ns=start)
    result = warm.run()
    assert warm.commands and min(ts for ts, _ in warm.commands) >= start
    assert any(t.ts_ns < start for t in warm.runner.detector.transitions)  # it saw the warm-up
    cold = Replay(cfg, data)
    cold.run()
    assert any(ts < start for ts, _ in cold.commands)  # without the pause it would have traded before
    assert result.metrics()["entry_rejections"].get("paused", 0) > 0


def _trades(ts: list[int]) -> np.ndarray:
    """Trades at `ts`, 100 at 0.2, sides alternating."""
    arr = np.zeros(len(ts), dtype=TRADE_DTYPE)
    arr["ts_ns"] = ts
    arr["id"] = np.arange(1, len(ts) + 1)
    arr["price"] = 0.2
    arr["qty"] = 100.0
    arr["buy"] = np.arange(len(ts)) % 2 == 0
    return arr


def _venue_times(replay: Replay) -> dict[int, int]:
    """When each command reaches the venue, by the command's id()."""
    handled: dict[int, int] = {}
    handle = replay.venue.handle

    def spy(cmd: object, now: int) -> list[object]:
        handled[id(cmd)] = now
        return handle(cmd, now)

    replay.venue.handle = spy  # type: ignore[method-assign]
    return handled


def test_the_warm_up_pause_holds_until_the_window_starts(cfg: config.Config) -> None:
    """Ten seconds of trades, four without one, then the window: the synthetic books of the silence
    close candles before the window starts, and the strategy decides on them still paused (it was
    unpaused from the window's first trade on, before those books were published)."""
    t0 = 1_760_130_000 * NS
    ts = [t0 + i * 100_000_000 + 1_000 for i in range(100)]
    start = ts[-1] + 4 * NS
    ts += [start + i * 100_000_000 for i in range(30)]
    replay = Replay(cfg, _trades(ts), trade_from_ns=start)
    strategy = replay.runner.strategy
    calls: list[tuple[int, str]] = []
    on_candle = strategy.on_candle

    def spy(c: Any, state: Any, readings: Any, now: int) -> None:
        calls.append((replay.now, strategy.paused_reason))
        on_candle(c, state, readings, now)

    strategy.on_candle = spy  # type: ignore[method-assign]
    replay.run()
    assert any(ts[99] < t < start for t, _ in calls), "no candle closed by a book in the silence"
    assert [(t, why) for t, why in calls if t < start and why != "warm-up"] == []


def test_a_command_sent_at_a_book_reaches_the_venue_after_the_latency(
    cfg: config.Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command the runner sends while a synthetic book is published in a silence of the trades
    (here a QueryOpenOrders) reaches the venue `order_latency_ms` later, not just before the next
    trade: the books after it wait for it. (The books go one run at a time: in a quiet run, where
    nothing is open, the strategy sends nothing before the candle that wakes the detector.)"""
    monkeypatch.setattr(Replay, "_quiet_run", lambda self, ts_a, px_a, k, *rest: k)
    t0 = 1_760_130_000 * NS
    ts = [t0 + i * 100_000_000 + 1_000 for i in range(200)]
    ts += [ts[-1] + 5 * NS + i * 100_000_000 for i in range(50)]
    replay = Replay(cfg, _trades(ts))
    handled = _venue_times(replay)
    silence = ts[199] + NS
    handle_books = replay.runner.handle_books
    sent: list[object] = []

    def spy(start: int, end: int) -> int:
        n = handle_books(start, end)
        if not sent and replay.now >= silence:
            sent.append(wire.QueryOpenOrders("q-1", replay.now, cfg.symbol.name))
            replay.link.send(sent[0])
        return n

    replay.runner.handle_books = spy  # type: ignore[method-assign]
    replay.run()
    ((sent_at, cmd),) = [(t, c) for t, c in replay.commands if c is sent[0]]
    assert sent_at < ts[200] - NS
    assert handled[id(cmd)] - sent_at == cfg.backtest.order_latency_ms * 1_000_000


def test_every_command_reaches_the_venue_after_the_latency_on_a_sparse_market(tmp_path: Path) -> None:
    """The bundled ATOM perp, sparser than POLUSDT: many candles are closed by books, and each
    command the strategy sends then reaches the venue exactly `order_latency_ms` later, so no order
    times out (a 20 ms latency against a 1 s timeout)."""
    overlay = tmp_path / "atom.toml"
    overlay.write_text(
        '[symbol]\nname = "ATOMUSD"\norder_quantity = "20"\nquantity_step = "0.01"\nmin_notional = "5"\n'
        '[strategy]\nprice_tick = "0.001"\n'
    )
    cfg = config.load_synthetic(REPO / "config" / "config.toml", [overlay])
    trades, _, _ = load_trades(ATOM, None)
    replay = Replay(cfg, trades)
    handled = _venue_times(replay)
    result = replay.run()
    assert len(replay.commands) > 20
    delays = [(handled[id(c)] - t) // 1_000_000 for t, c in replay.commands if id(c) in handled]
    assert set(delays) == {cfg.backtest.order_latency_ms}
    assert result.orders.get("timeouts", 0) == 0


def test_synthetic_book_reads_only_past_trades(pol: np.ndarray) -> None:
    params = BookParams(0.0001, 0.1, 20, 1)
    t = int(pol["ts_ns"][5000]) + 50_000_000
    n = int(np.searchsorted(pol["ts_ns"], t, side="right"))
    book = SyntheticBook(pol, params).at(t, n)
    future = pol.copy()
    future["price"][n:] = 9.0
    future["qty"][n:] = 1e9
    assert SyntheticBook(future, params).at(t, n) == book
    bids, asks = book
    assert len(bids) == len(asks) == 20 and bids[0][0] < asks[0][0]
    last = round(float(pol["price"][n - 1]), 4)
    assert last in (bids[0][0], asks[0][0])  # the touch follows the last trade


def test_backtest_of_the_pol_crash_hour_trades_and_writes_its_files(
    cfg: config.Config, pol: np.ndarray, tmp_path: Path
) -> None:
    replay = Replay(cfg, pol)
    result = replay.run()
    m = result.metrics()
    assert m["trades"] > 0 and m["events"]["trades"] == len(pol)
    # The order manager holds only the orders still in play, not the session's history.
    orders = replay.runner.orders
    assert orders.stats["sent"] > 2 * m["trades"] and len(orders.orders) <= 1, orders.orders
    assert m["initial_capital"] == "1000"
    # The account's equity change is the trades' net P&L (the run ends flat).
    assert D(m["net_pnl"]) == D(m["realized_pnl"])
    assert D(m["fees"]) == sum((t.fees for t in result.trades), D(0))
    assert set(m["state_share"]) >= {"SLEEP", "ACTIVE"}
    assert m["entry_rejections"] and m["entries_taken"] >= m["trades"]
    files = write_all(result, tmp_path)
    assert set(files) == {"summary", "trades", "states", "png", "html"}
    with open(files["trades"]) as f:
        assert len(list(csv.DictReader(f))) == m["trades"]
    with open(files["states"]) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(result.sample_ns) and {r["state"] for r in rows} >= {"SLEEP", "ACTIVE"}
    assert json.loads(files["summary"].read_text())["trades"] == m["trades"]
    page = files["html"].read_text()
    assert "data:image/png;base64," in page and "<table>" in page
    assert files["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def hour(cfg: config.Config, pol: np.ndarray) -> tuple[BacktestResult, np.ndarray]:
    """The crash hour replayed, with the account's equity marked after every trade the runner got."""
    replay = Replay(cfg, pol)
    handle_trade = replay.runner.handle_trade
    marked: list[float] = []

    def spy(ts: int, price: float, qty: float, buy: bool) -> None:
        handle_trade(ts, price, qty, buy)
        marked.append(float(replay.venue.equity(price)))

    replay.runner.handle_trade = spy  # type: ignore[method-assign]
    return replay.run(), np.asarray(marked)


def test_the_drawdown_is_the_equitys_marked_at_every_trade(
    hour: tuple[BacktestResult, np.ndarray],
) -> None:
    """Positions are held for a fraction of a second (median 0.339 s): the deepest drawdown is the
    equity's marked at every trade, which the per-second rows understate (of 5.23 USDT here)."""
    result, marked = hour
    m = result.metrics()
    every_trade, every_trade_pct = max_drawdown(marked)
    per_second, _ = max_drawdown(result.sample_equity)
    assert m["max_drawdown"] == pytest.approx(every_trade, abs=1e-8)
    assert m["max_drawdown_pct"] == pytest.approx(round(every_trade_pct * 100, 4))
    assert every_trade > per_second + 0.3
    assert m["trades"] == 19 and m["net_pnl"] == "-2.50520600"  # the figures it must not move


def test_states_are_one_row_per_second_through_silences(
    hour: tuple[BacktestResult, np.ndarray], pol: np.ndarray
) -> None:
    """One row per second from the first trade's to the last's, the seconds without a trade
    included (360 of this hour) and none twice; each row's state is the detector's at the end of its
    second, so the state shares are the shares of time between the transitions."""
    result, _ = hour
    first, last = int(pol["ts_ns"][0]) // NS, int(pol["ts_ns"][-1]) // NS
    assert result.sample_ns.tolist() == [s * NS for s in range(first, last + 1)]
    assert len(result.sample_ns) == 3600 > len(np.unique(pol["ts_ns"] // NS))
    transitions = result.transitions
    state = transitions[0].previous
    expected = []
    for s in range(first, last + 1):
        state = next((t.current for t in reversed(transitions) if t.ts_ns < (s + 1) * NS), state)
        expected.append(state)
    assert [STATES[i] for i in result.sample_state] == expected
    # The shares of time from the transitions' times.
    times = [first * NS, *(t.ts_ns for t in transitions), (last + 1) * NS]
    held = Counter[State]()
    for i, t in enumerate([transitions[0].previous, *(t.current for t in transitions)]):
        held[t] += times[i + 1] - times[i]
    shares = result.metrics()["state_share"]
    for s, ns in held.items():
        assert shares[str(s)] == pytest.approx(ns / ((last + 1 - first) * NS), abs=0.002), s
    prices = dict(zip((pol["ts_ns"] // NS).tolist(), pol["price"].tolist(), strict=False))
    close = None
    for s, price in zip(result.sample_ns.tolist(), result.sample_price.tolist(), strict=True):
        close = prices.get(s // NS, close)  # the second's last trade, or the one before a silence
        assert price == close, utc(s)


def trade(entry_s: int, hold: int, qty: str, entry: str, exit_: str, fees: str) -> ClosedTrade:
    q, e, x, f = D(qty), D(entry), D(exit_), D(fees)
    return ClosedTrade(entry_s * 10**9, (entry_s + hold) * 10**9, q, e, x, f, (x - e) * q - f, "target")


def test_results_arithmetic_by_hand() -> None:
    trades = [
        trade(1, 2, "10", "1.00", "1.10", "0.02"),  # +0.98, return 9.8 %
        trade(5, 4, "10", "1.00", "0.95", "0.02"),  # -0.52, return -5.2 %
        trade(10, 6, "20", "0.50", "0.55", "0.02"),  # +0.98, return 9.8 %
    ]
    equity = np.array([100.0, 100.98, 100.98, 100.46, 100.46, 101.44])
    r = BacktestResult(
        "POLUSDT", D("100"), D("101.44"), D("0.06"), trades, [], [], [],
        Counter({"taken": 4, "rejected_score": 3, "rejected_volume": 1, "not_a_rejection": 9}), {},
        np.arange(6, dtype=np.int64) * 10**9, np.ones(6), equity, np.array([0, 0, 1, 2, 2, 3], dtype=np.int8),
        {"trades": 6, "books": 0}, 0.5,
    )  # fmt: skip
    m = r.metrics()
    assert m["net_pnl"] == "1.44000000" and m["return_pct"] == 1.44
    assert m["realized_pnl"] == "1.44000000" and m["fees"] == "0.06000000"
    assert (m["trades"], m["wins"], m["win_rate"]) == (3, 2, round(2 / 3, 4))
    assert m["avg_win"] == "0.98000000" and m["avg_loss"] == "-0.52000000"
    assert m["max_drawdown"] == pytest.approx(0.52)
    assert m["max_drawdown_pct"] == pytest.approx(round(0.52 / 100.98 * 100, 4))
    rets = [0.098, -0.052, 0.098]
    mean = sum(rets) / 3
    sd = math.sqrt(sum((x - mean) ** 2 for x in rets) / 2)
    assert m["sharpe_per_trade"] == pytest.approx(mean / sd, abs=1e-6)
    assert m["hold_secs"] == {"mean": 4.0, "median": 4.0, "max": 6.0}
    assert m["state_share"] == {"SLEEP": round(2 / 6, 4), "ALERT": round(1 / 6, 4), "ACTIVE": round(2 / 6, 4),
                                "RECOVERY": round(1 / 6, 4)}  # fmt: skip
    assert m["entry_rejections"] == {"score": 3, "volume": 1}
    assert list(r.drawdown()) == pytest.approx([0, 0, 0, -0.52, -0.52, 0])

    # After a warm-up (entries from 2.5 s on), the states and the start are the window's: its second
    # 2 on; the warm-up's seconds stay in the samples (states.csv, the chart).
    r.trade_from_ns = 2 * 10**9 + 5 * 10**8
    m = r.metrics()
    assert m["start_utc"] == "1970-01-01T00:00:02.000+00:00"
    assert m["state_share"] == {"ALERT": 0.25, "ACTIVE": 0.5, "RECOVERY": 0.25}
    assert len(r.sample_ns) == 6


@pytest.mark.parametrize("interval_ms", [100, 1000])
def test_published_books_are_the_model_at_each_boundary(
    cfg: config.Config, pol: np.ndarray, interval_ms: int
) -> None:
    """The replay builds its books in batches and hands them to the detector as rows: every book it
    publishes is still `SyntheticBook.at(T, n)`, the model at its boundary `T` from exactly the `n`
    trades at or before `T`, one every `book_interval_ms`; and `SyntheticBook.proven` (what
    `with_books` marks) holds for a row only when `wire.book_levels_ok` holds for it, which on this
    real crash is every one."""
    cfg = dataclasses.replace(cfg, backtest=dataclasses.replace(cfg.backtest, book_interval_ms=interval_ms))
    data = window(pol, parse_utc("2025-10-10T21:09:00Z"), parse_utc("2025-10-10T21:14:00Z"))
    replay = Replay(cfg, data)

    def reads_the_trades_before_it(msg: wire.OrderBookSnapshot) -> None:
        assert replay.k == int(np.searchsorted(data["ts_ns"], msg.exchange_ts_ns, side="right"))

    seen = recorded(replay, wire.OrderBookSnapshot, reads_the_trades_before_it)
    result = replay.run()
    times = [s.exchange_ts_ns for s in seen]
    step = cfg.backtest.book_interval_ms * 1_000_000
    assert times[0] == (int(data["ts_ns"][0]) // step + 1) * step and times[-1] < data["ts_ns"][-1]
    assert all(b - a == step for a, b in itertools.pairwise(times))
    assert len(seen) == result.events["books"] > 200_000 // interval_ms
    model = SyntheticBook(data, replay.synthetic.p)  # fresh: no state carried from the replay
    for s in seen:
        n = int(np.searchsorted(data["ts_ns"], s.exchange_ts_ns, side="right"))
        assert (s.bids, s.asks) == model.at(s.exchange_ts_ns, n)
        assert wire.levels_proven(s) and wire.book_levels_ok(s.bids, s.asks)


def test_synthetic_book_is_a_function_of_its_time_and_trades(pol: np.ndarray) -> None:
    """Whatever was asked before (the venue's books, other boundaries, in any order), the book at
    `(T, n)` is the same: the quantity base is re-computed on a fixed grid of trade counts."""
    params = BookParams(0.0001, 0.1, 20, 1)
    ts = pol["ts_ns"]
    times = [int(ts[k]) + 50_000_000 for k in (100, 2_350, 2_399, 7_000, 7_099)]
    ns = [int(np.searchsorted(ts, t, side="right")) for t in times]
    alone = [SyntheticBook(pol, params).at(t, n) for t, n in zip(times, ns, strict=True)]
    shared = SyntheticBook(pol, params)
    backwards = [shared.at(t, n) for t, n in reversed(list(zip(times, ns, strict=True)))][::-1]
    assert backwards == alone
    ticks, prices, q = SyntheticBook(pol, params).batch(np.array(times), np.array(ns))
    rows = [list(zip(prices[j].tolist(), q[j].tolist(), strict=True)) for j in range(5)]
    assert [shared.split(ticks[j], rows[j]) for j in range(5)] == alone


def test_with_books_feeds_what_the_replay_publishes(cfg: config.Config, pol: np.ndarray) -> None:
    """`with_books` (the tests' and benchmarks' feed) gives the runner the replay's trades and books,
    in the replay's order (update ids aside; proven as `SyntheticBook.proven` finds them)."""
    data = window(pol, parse_utc("2025-10-10T21:09:00Z"), parse_utc("2025-10-10T21:11:00Z"))
    replay = Replay(cfg, data)
    seen = recorded(replay, (wire.Trade, wire.OrderBookSnapshot))
    replay.run()

    def key(m: object) -> tuple[object, ...]:
        if isinstance(m, wire.OrderBookSnapshot):
            return (m.exchange_ts_ns, m.bids, m.asks, wire.levels_proven(m))
        assert isinstance(m, wire.Trade)
        return (m.exchange_ts_ns, m.trade_id, m.price, m.quantity, m.aggressor)

    fed = list(with_books(data, replay.synthetic.p, cfg.symbol.name))
    assert sum(isinstance(m, wire.OrderBookSnapshot) for m in fed) > 1000
    assert [key(m) for m in fed] == [key(m) for m in seen]


@pytest.mark.parametrize("gap_secs", [300, 0])
def test_a_recording_gap_is_replayed_as_a_feed_outage(
    cfg: config.Config, pol: np.ndarray, gap_secs: int
) -> None:
    """Six minutes cut out of the data: over `data_gap_secs` it is a feed outage (the feed leaves
    live once the silence has lasted `data_gap_secs`, books published until then, and comes back at
    the first trade after it, no book in between, the detector told); with 0 it is a silence, books
    published through it."""
    cfg = dataclasses.replace(cfg, backtest=dataclasses.replace(cfg.backtest, data_gap_secs=gap_secs))
    data = window(pol, parse_utc("2025-10-10T21:00:00Z"), parse_utc("2025-10-10T21:10:00Z"))
    ts = data["ts_ns"]
    cut = (ts >= parse_utc("2025-10-10T21:02:00Z")) & (ts < parse_utc("2025-10-10T21:08:00Z"))
    data = data[~cut]
    k = int(np.searchsorted(data["ts_ns"], parse_utc("2025-10-10T21:08:00Z")))
    last, resume = int(data["ts_ns"][k - 1]), int(data["ts_ns"][k])
    replay = Replay(cfg, data)
    lost = replay.runner.detector.on_feed_lost
    told: list[int] = []
    seen = recorded(replay, (wire.OrderBookSnapshot, wire.StateChange))
    replay.runner.detector.on_feed_lost = lambda: told.append(replay.now) or lost()  # type: ignore[method-assign]
    result = replay.run()
    inside = [m for m in seen if isinstance(m, wire.OrderBookSnapshot) and last < m.exchange_ts_ns < resume]
    changes = [(m.previous, m.current) for m in seen if isinstance(m, wire.StateChange)]
    if gap_secs:
        # Told as the feed leaves live, and again (the same gap) as it comes back.
        lost = last + gap_secs * NS
        assert result.data_gaps == [(last, resume)] and told == [lost, resume]
        assert changes == [("live", "reconnecting"), ("reconnecting", "live")]
        assert len(inside) == (lost - last) // 100_000_000 and max(m.exchange_ts_ns for m in inside) <= lost
        states = [m for m in seen if isinstance(m, wire.StateChange)]
        assert seen.index(states[1]) < min(
            i
            for i, m in enumerate(seen)
            if isinstance(m, wire.OrderBookSnapshot) and m.exchange_ts_ns >= resume
        )
        assert result.metrics()["data_gaps"] == [
            {"from_utc": "2025-10-10T21:01:59.546+00:00", "secs": 360.522}
        ]
        console = Console(width=250, record=True)
        console.print(summary_table(result))
        assert (
            "recording gaps (feed outages) │ 2025-10-10T21:01:59.546+00:00 (361 s)" in console.export_text()
        )
    else:
        assert result.data_gaps == [] and told == [] and changes == []
        assert len(inside) == (resume - last) // 100_000_000


def test_the_backtest_refuses_what_the_engine_would(cfg: config.Config, pol: np.ndarray) -> None:
    """The venue applies the engine's rules with the config's limits: with `[risk]
    max_position_notional` under one lot (500 POL at about 0.2 is about 100 USDT) every entry is
    refused as the engine refuses it in paper and live trading, so nothing trades; the shipped
    limits refuse nothing on this crash."""
    data = window(pol, *map(parse_utc, BUSY))
    shipped = Replay(cfg, data)
    m = shipped.run().metrics()
    assert m["trades"] > 0 and "errors" not in m["orders"]
    tight = dataclasses.replace(cfg, risk=dataclasses.replace(cfg.risk, max_position_notional=D("50")))
    replay = Replay(tight, data)
    result = replay.run()
    m = result.metrics()
    assert m["trades"] == 0 and not replay.venue.fills
    assert m["orders"]["errors"] == m["orders"]["sent"] > 0
    assert replay.runner.strategy.decisions["entry_rejected_unfilled"] == m["orders"]["sent"]
    console = Console(width=200, record=True)
    console.print(summary_table(result))
    row = next(line for line in console.export_text().splitlines() if "orders refused by the venue" in line)
    assert row.split("│")[2].strip() == str(m["orders"]["errors"])


def test_sized_entries_are_the_lots_the_venue_counts(cfg: config.Config, pol: np.ndarray) -> None:
    """With `position_fraction` the entries are sized from the equity, and the venue's position
    limit counts in lots of that size: one entry held is one position, not five lots of
    `[symbol] order_quantity`."""
    sized = dataclasses.replace(cfg, backtest=dataclasses.replace(cfg.backtest, position_fraction=0.5))
    replay = Replay(sized, window(pol, *map(parse_utc, BUSY)))
    replay.run()
    qty = replay.runner.strategy.quantity
    assert qty is not None and qty.value > 4 * cfg.symbol.order_quantity
    # A venue under the replay's last rules holding one entry (bought at market, less the fee taken in
    # coins) takes a second entry; counted in lots of 500 the one held would be more than 3 positions.
    book = (((0.1999, 1e9),), ((0.2001, 1e9),))

    def venue_under(rules: Any) -> SimVenue:
        return SimVenue("POLUSDT", "POL", "USDT", lambda _now: book, D("0.001"), D("0.001"),
                        quantity_step=D("0.1"), rules=rules, cash=D("100000"))  # fmt: skip

    venue = venue_under(replay.venue.rules)
    entry = wire.PlaceOrder("c1", 1, "fc-1", "POLUSDT", "BUY", "MARKET", None, qty.value, None)
    assert venue.handle(entry, 1)[0].status == "FILLED" and venue.position == qty.value * D("0.999")
    again = wire.PlaceOrder("c2", 2, "fc-2", "POLUSDT", "BUY", "LIMIT", "GTC", qty.value, D("0.2"))
    assert venue.handle(again, 2)[0].status == "NEW"
    lots_of_500 = venue_under(order_rules(sized))
    assert lots_of_500.handle(entry, 1)[0].status == "FILLED"
    assert lots_of_500.handle(again, 2)[0].field == "side"  # max_positions


def _cut(data: np.ndarray, start: str, end: str) -> np.ndarray:
    """`data` without its trades in [start, end)."""
    ts = data["ts_ns"]
    return data[(ts < parse_utc(start)) | (ts >= parse_utc(end))]


def test_a_recording_gap_stops_entries_and_cancels_the_resting_one_as_it_starts(
    cfg: config.Config, pol: np.ndarray
) -> None:
    """The limit buy sent at 21:13:37.049 rests unfilled for its 15 s. Ten seconds cut out of the
    data from 21:13:39 on, replayed as a feed outage (`data_gap_secs` 5): the feed stop is set as
    the feed leaves live, 5 s after the last trade before the gap (when the silence is known to be
    one), as in live trading, and the entry is canceled then, not once the data resumes."""
    cfg = dataclasses.replace(cfg, backtest=dataclasses.replace(cfg.backtest, data_gap_secs=5))
    data = _cut(window(pol, *map(parse_utc, ("2025-10-10T21:10:00Z", "2025-10-10T21:14:00Z"))),
                "2025-10-10T21:13:39Z", "2025-10-10T21:13:49Z")  # fmt: skip
    ts = data["ts_ns"]
    k = int(np.searchsorted(ts, parse_utc("2025-10-10T21:13:49Z")))
    last, resume = int(ts[k - 1]), int(ts[k])
    replay = Replay(cfg, data)
    assert (last, resume) in replay.run().data_gaps
    (entry,) = [(t, c) for t, c in replay.commands
                if isinstance(c, wire.PlaceOrder) and utc(t) == "2025-10-10T21:13:37.049+00:00"]  # fmt: skip
    cancels = [t for t, c in replay.commands
               if isinstance(c, wire.CancelOrder) and c.client_order_id == entry[1].client_order_id]  # fmt: skip
    assert cancels == [last + 5 * NS]
    st = replay.runner.strategy
    assert st.stops.triggered["feed"] >= 1 and st.decisions["entry_canceled_emergency_stop"] >= 1


def test_max_hold_is_enforced_on_the_books_of_a_silence(cfg: config.Config, pol: np.ndarray) -> None:
    """The entry bought at 21:14:39.1, then no trade for 36 s (a silence, books published through
    it): the position is sold `max_hold_secs` after its entry, at the first book then (its target
    canceled first), not at the first trade after the silence."""
    data = _cut(window(pol, *map(parse_utc, ("2025-10-10T21:10:00Z", "2025-10-10T21:15:30Z"))),
                "2025-10-10T21:14:39.120Z", "2025-10-10T21:15:15Z")  # fmt: skip
    replay = Replay(cfg, data)
    (trade,) = [t for t in replay.run().trades if utc(t.entry_ns) == "2025-10-10T21:14:39.100+00:00"]
    limit = trade.entry_ns + cfg.strategy.max_hold_secs * NS
    assert trade.exit_reason == "max_hold"
    (cancel,) = [t for t, c in replay.commands if isinstance(c, wire.CancelOrder) and t >= trade.entry_ns]
    assert limit <= cancel < limit + cfg.backtest.book_interval_ms * 1_000_000
