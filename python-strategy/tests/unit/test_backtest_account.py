"""The replay's account settings reach its venue and its orders, checked on the busy minutes of the
bundled POLUSDT crash: `[backtest] order_latency_ms` delays every command and every answer by exactly
that much event time, `[fees]` maker and taker rates are charged by liquidity, `slippage_bps` worsens
every taker fill from the book of that instant, and `position_fraction` sizes each entry from the
account's equity (capped by `[risk] max_order_notional`, at the target the strategy plans to sell at:
the venue refuses no take-profit for its notional)."""

from __future__ import annotations

import dataclasses
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from flashcrash import config, wire
from flashcrash.backtest.commands import parse_utc, window
from flashcrash.backtest.replay import Replay
from flashcrash.marketdata import TRADE_DTYPE, load_trades

REPO = Path(__file__).resolve().parents[3]
POL = REPO / "data" / "binance_trades_2025-10-10_POLUSDT_2045-2145.csv.gz"
BUSY = ("2025-10-10T21:10:00Z", "2025-10-10T21:18:00Z")
D = Decimal
MS = 1_000_000
EIGHT = D("0.00000001")


@pytest.fixture(scope="module")
def cfg() -> config.Config:
    return config.load_synthetic(REPO / "config" / "config.toml")


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    trades, _, _ = load_trades(POL, tmp_path_factory.mktemp("cache"))
    return window(trades, *map(parse_utc, BUSY))


def with_backtest(cfg: config.Config, **kw: Any) -> config.Config:
    return dataclasses.replace(cfg, backtest=dataclasses.replace(cfg.backtest, **kw))


def test_every_command_and_answer_takes_the_order_latency(cfg: config.Config, busy: np.ndarray) -> None:
    """With `order_latency_ms = 50`, each command reaches the venue exactly 50 ms of event time
    after the strategy sent it, and each answer of the venue (to a command, or a resting order's fill
    by a market trade) reaches the strategy exactly 50 ms after the venue gave it."""
    replay = Replay(with_backtest(cfg, order_latency_ms=50), busy)
    venue, runner = replay.venue, replay.runner
    arrived: dict[int, int] = {}  # id(command) -> event time it reached the venue
    given: dict[int, tuple[object, int]] = {}  # id(answer) -> (the answer, the time the venue gave it)
    handle, on_trade, runner_handle = venue.handle, venue.on_trade, runner.handle

    def venue_handle(cmd: object, now: int) -> list[object]:
        arrived[id(cmd)] = now
        out = handle(cmd, now)
        given.update((id(m), (m, now)) for m in out)
        return out

    def venue_trade(now: int, price: float, qty: float) -> list[object]:
        out = on_trade(now, price, qty)
        given.update((id(m), (m, now)) for m in out)
        return out

    delays: list[int] = []

    def strategy_handle(msg: object) -> None:
        answer, at = given.get(id(msg), (None, 0))
        if answer is msg:
            delays.append(replay.now - at)
        runner_handle(msg)

    venue.handle = venue_handle  # type: ignore[method-assign]
    venue.on_trade = venue_trade  # type: ignore[method-assign]
    runner.handle = strategy_handle  # type: ignore[method-assign]
    replay.run()
    assert len(replay.commands) >= 25 and {f.liquidity for f in venue.fills} == {"maker", "taker"}
    assert [arrived[id(c)] - ts for ts, c in replay.commands] == [50 * MS] * len(replay.commands)
    assert len(delays) == len(given) >= len(replay.commands)
    assert set(delays) == {50 * MS}


def test_fee_rates_and_slippage_reach_the_venue(cfg: config.Config, busy: np.ndarray) -> None:
    """`[fees]` maker 0.02 % and taker 0.07 %, `slippage_bps = 10`: every maker fill is at its order's
    own limit price; every taker fill walks the book the venue had at that instant, best level first,
    each at the level's price made 10 bp worse (dearer for a buy, cheaper for a sell), never past a
    limit order's own price. Each pays its
    rate, a buy in the coins bought (quantity x rate), a sell in the quote asset (notional x rate),
    rounded down to 8 decimals; the account's fees are their sum in the quote asset."""
    raw = {**cfg.raw, "fees": {"maker_rate": "0.0002", "taker_rate": "0.0007"}}
    replay = Replay(dataclasses.replace(with_backtest(cfg, slippage_bps=10.0), raw=raw), busy)
    venue = replay.venue
    book, place = venue.book, venue.place
    seen: list[tuple[Any, Any]] = []  # (book, the taker fills of one order)

    def spy_book(now: int) -> Any:
        seen.append((book(now), None))
        return seen[-1][0]

    def spy_place(cmd: wire.PlaceOrder, now: int) -> list[object]:
        out = place(cmd, now)
        fills = [m for m in out if isinstance(m, wire.OrderExecution)]
        if fills:
            seen[-1] = (seen[-1][0], fills)
        return out

    venue.book = spy_book
    venue.place = spy_place  # type: ignore[method-assign]
    replay.run()
    rate = {"maker": D("0.0002"), "taker": D("0.0007")}
    assert {f.liquidity for f in venue.fills} == {"maker", "taker"}
    assert {(f.side, f.fee_asset) for f in venue.fills} == {("BUY", "POL"), ("SELL", "USDT")}
    limits = {c.client_order_id: c.price for _, c in replay.commands if isinstance(c, wire.PlaceOrder)}
    for f in venue.fills:
        charged = f.quantity if f.side == "BUY" else f.price * f.quantity
        assert f.fee == (charged * rate[f.liquidity]).quantize(EIGHT, ROUND_DOWN), f
        if f.liquidity == "maker":
            assert f.price == limits[f.client_order_id], f
    in_quote = (f.fee * f.price if f.side == "BUY" else f.fee for f in venue.fills)
    assert venue.fees == sum(in_quote, D(0))
    walks = [(b, fills) for b, fills in seen if fills]
    assert len(walks) >= 3
    for (bids, asks), fills in walks:
        buy = fills[0].side == "BUY"
        levels = asks if buy else bids
        worse = D(1) + (D("0.001") if buy else D("-0.001"))
        for level, f in zip(levels, fills, strict=False):
            assert f.liquidity == "taker"
            slipped = (D(repr(level[0])) * worse).quantize(EIGHT)
            limit = limits[f.client_order_id]  # never filled past it
            if limit is not None:
                slipped = min(slipped, limit) if buy else max(slipped, limit)
            assert f.last_price == slipped, (level, f)


def test_position_fraction_sizes_each_entry_from_equity(cfg: config.Config, busy: np.ndarray) -> None:
    """`position_fraction = 0.33` (under 1 / max_positions, as the loader requires) with `[risk]
    max_order_notional = 300`: each entry buys min(equity x 0.33, 300) x 0.999 / price, rounded down to the 0.1 grid, at the equity and last trade
    price of the second it is sized in (at 1000 of equity and a price of 0.2: 300 x 0.999 / 0.2 =
    1498.5), cut (the strategy's check) to 300 / its target where that is less, so that its
    take-profit fits the limit too; with 0 the fixed [symbol] order_quantity (500) is used."""
    risk = dataclasses.replace(cfg.risk, max_order_notional=D("300"))
    sized = dataclasses.replace(with_backtest(cfg, position_fraction=0.33), risk=risk)
    probe = Replay(sized, busy)
    probe._size(0.2)
    assert probe.runner.strategy.quantity is not None
    assert probe.runner.strategy.quantity.value == D("1498.5")
    probe = Replay(with_backtest(sized, initial_capital=D("400")), busy)
    probe._size(0.2)  # equity 400: 132 x 0.999 / 0.2 = 659.34 (the cap does not bind)
    assert probe.runner.strategy.quantity.value == D("659.3")

    replay = Replay(sized, busy)
    size = replay._size
    sizings: list[tuple[int, float, Decimal]] = []  # (commands sent so far, price, equity)

    def spy(price: float) -> None:
        sizings.append((len(replay.commands), price, replay.venue.equity(price)))
        size(price)

    replay._size = spy  # type: ignore[method-assign]
    targets: dict[str, Decimal] = {}  # entry's client order id -> its target
    replay.runner.strategy.journal = lambda kind, _summary, p: (
        targets.__setitem__(p["client_order_id"], D(p["lot"]["plan"]["target"]))
        if kind == "entry_decision"
        else None
    )
    replay.run()
    entries = [(i, c) for i, (_, c) in enumerate(replay.commands)
               if isinstance(c, wire.PlaceOrder) and c.side == "BUY" and c.order_type == "LIMIT"]  # fmt: skip
    assert len(entries) >= 2
    cut = 0
    for i, c in entries:
        _, price, equity = [s for s in sizings if s[0] <= i][-1]
        budget = min(equity * D("0.33"), D("300"))
        want = (budget * D("0.999") / D(repr(price)) / D("0.1")).to_integral_value(ROUND_DOWN) * D("0.1")
        target = targets[c.client_order_id]
        if want * target > D("300"):
            want, cut = (D("300") / target / D("0.1")).to_integral_value(ROUND_DOWN) * D("0.1"), cut + 1
        assert c.quantity == want, (c, price, equity, target)
        assert c.quantity != D("500")
    assert 0 < cut < len(entries)
    fixed = Replay(cfg, busy)
    fixed.run()
    buys = [c for _, c in fixed.commands if isinstance(c, wire.PlaceOrder) and c.side == "BUY"]
    assert buys and {c.quantity for c in buys} == {cfg.symbol.order_quantity}


def test_sized_entries_take_profit_within_max_order_notional(cfg: config.Config) -> None:
    """The bundled hour with `initial_capital = 5000` and `position_fraction = 0.3`: 1500 of equity
    per entry, so the entries are capped by `[risk] max_order_notional` (1000). Capped at the entry's
    price, a take-profit above it was over the limit (1003.93 of notional): the venue refused it as
    the engine does (VALIDATION), and the position was sold at market (`target_refused`, 4 of 16
    trades). Cut so that the target fits, no order is refused and every target sells within it."""
    trades, _, _ = load_trades(POL, None)
    sized = with_backtest(cfg, initial_capital=D("5000"), position_fraction=0.3)
    replay = Replay(sized, trades)
    result = replay.run()
    m = result.metrics()
    assert m["trades"] >= 10 and "errors" not in m["orders"], m["orders"]
    assert not [t for t in result.trades if t.exit_reason == "target_refused"]
    cap = cfg.risk.max_order_notional
    targets = [
        c for _, c in replay.commands if isinstance(c, wire.PlaceOrder) and c.side == "SELL" and c.price
    ]
    assert len(targets) >= 10 and all(c.quantity * c.price <= cap for c in targets)
    entries = [c for _, c in replay.commands if isinstance(c, wire.PlaceOrder) and c.side == "BUY"]
    assert max(c.quantity * c.price for c in entries) > cap * D("0.99")  # the cap binds


def test_a_recorded_book_is_met_less_what_the_trades_since_it_took(cfg: config.Config) -> None:
    """Data with real L2: an order reaching the venue between two recorded books meets the last one
    less what the trades printed since took (a taker sell at 0.1950 took the bids above it, a buy at
    0.2003 the asks below it), not the bids the book still showed: a stop-loss in a crash sells at
    what is left."""
    t0 = 1_760_130_000 * 10**9
    trades = np.array(
        [(t0 + 30_000_000, 1, 0.1950, 10.0, False), (t0 + 40_000_000, 2, 0.2003, 5.0, True)],
        dtype=TRADE_DTYPE,
    )
    book = wire.OrderBookSnapshot(
        "POLUSDT", t0, t0, 1, ((0.2, 5000.0), (0.195, 100.0), (0.19, 100.0)),
        ((0.2001, 10.0), (0.2003, 10.0), (0.2005, 10.0)),
    )  # fmt: skip
    replay = Replay(cfg, trades, [book])
    replay._publish_book(t0)
    assert replay._book_at(t0 + 10_000_000) == (book.bids, book.asks)  # no trade since
    replay.k = 1  # the sell at 0.1950 replayed
    assert replay._book_at(t0 + 35_000_000) == (((0.195, 100.0), (0.19, 100.0)), book.asks)
    replay.k = 2
    assert replay._book_at(t0 + 45_000_000)[1] == ((0.2003, 10.0), (0.2005, 10.0))
