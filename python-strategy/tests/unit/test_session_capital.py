"""A live session's capital is the account's equity at its start, not `[backtest] initial_capital`:
the balances asked once when the engine is first seen, valued at the first trade price, written to
the session's row; the metrics' equity and drawdown, the drawdown alert and the summary's return are
measured against it. Balances that never answer leave `initial_capital`, and the log and summary say
so. Driven by hand (`ScriptedLink`, a clock moved by the test) with a real database."""

from __future__ import annotations

import logging
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from test_runner_fake_engine import Clock, ScriptedLink, Unconnected, _health, config_for
from trading_fixtures import balances, error

from flashcrash import wire
from flashcrash.monitoring.metrics import StrategyMetrics
from flashcrash.persistence import PersistenceService
from flashcrash.runner import Runner
from flashcrash.session_capital import MAX_ASKS
from flashcrash.trading_engine.position import ClosedTrade

S = 1_000_000_000


class Alerts:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def alert(self, kind: str, text: str) -> None:
        self.sent.append((kind, text))


def _session(tmp_path: Path) -> tuple[Runner, ScriptedLink, Clock, PersistenceService, Alerts]:
    cfg = config_for(tmp_path, Unconnected, f'db_path = "{tmp_path / "flashcrash.db"}"\n')  # type: ignore[arg-type]
    clock, link, alerts = Clock(), ScriptedLink(), Alerts()
    db = PersistenceService.open(cfg)
    metrics = StrategyMetrics("POLUSDT", cfg.initial_capital)
    runner = Runner(cfg, link, db, clock=clock, metrics=metrics, alerts=alerts)  # type: ignore[arg-type]
    runner.start()
    return runner, link, clock, db, alerts


def _asked(runner: Runner, link: ScriptedLink) -> wire.QueryBalances:
    """The engine first seen: the session asks its balances, once."""
    link.inbox.append(replace(_health(), started_ts_ns=100))
    runner.step(0)
    asks = [c for c in link.sent if isinstance(c, wire.QueryBalances)]
    assert len(asks) == 1, link.sent
    return asks[0]


def _trade(price: float, tid: int) -> wire.Trade:
    ts = (1000 + tid) * S
    return wire.Trade("POLUSDT", ts, ts, tid, price, 100.0, "buy")


def _book(tid: int) -> wire.OrderBookSnapshot:
    """A book 100 ms after trade `tid`, as the engine publishes one every 100 ms: the session's first
    trade waits for the next event (the input guard has no time to judge the first one's by)."""
    ts = (1000 + tid) * S + S // 10
    return wire.OrderBookSnapshot("POLUSDT", ts, ts, tid, ((0.1999, 1.0),), ((0.2001, 1.0),))


def _loss(pnl: str) -> ClosedTrade:
    return ClosedTrade(
        1, 2, Decimal(100), Decimal("0.2"), Decimal("0.19"), Decimal(0), Decimal(pnl), "stop_loss"
    )


def test_the_capital_is_the_accounts_equity_at_the_first_trade_price(tmp_path: Path) -> None:
    """An account of 9,800 USDT and 1,000 POL at 0.2 is a capital of 10,000: a 22.01 loss is a
    0.22 % drawdown (not 2.20 % of the configured 1000), under the 5 % alert, and the summary's
    return and the session's row are on 10,000."""
    runner, link, clock, db, alerts = _session(tmp_path)
    try:
        ask = _asked(runner, link)
        link.inbox.append(balances(ask, "9800", base="1000"))
        runner.step(0)
        assert runner.capital.value == runner.cfg.initial_capital  # the coins wait for a price
        link.inbox += [_trade(0.2, 1), _book(1)]
        runner.step(0)
        assert runner.capital.value == Decimal("10000")
        runner.strategy.position.closed.append(_loss("-22.01"))
        runner.strategy.position._done_realized = Decimal("-22.01")
        clock.ns += 2 * S
        link.inbox.append(_trade(0.2, 2))
        runner.step(0)
        m = runner.metrics
        assert m is not None
        assert m.equity._value.get() == pytest.approx(9977.99)
        assert m.drawdown_pct._value.get() == pytest.approx(0.2201)
        assert [k for k, _ in alerts.sent if k == "drawdown"] == []
        pnl = runner.summary()["pnl"]
        assert (pnl["initial_capital"], pnl["return_pct"]) == ("10000.0", "-0.2201")
        assert pnl["capital_source"] == "account: 9800 USDT + 1000 POL at 0.2"
        db.flush()
        row = db.get_session(1)
        assert row is not None and row.initial_capital == Decimal("10000")
        assert [e for e in db.events_of(1, "command") if e.message_type == "QueryBalances"]
    finally:
        db.close()


def test_a_loss_past_the_limit_of_the_accounts_equity_alerts(tmp_path: Path) -> None:
    """The drawdown alert fires at `alert_drawdown_pct` of the account's equity, whatever
    `initial_capital` says: 600 lost of a 10,000 account (6 %) alerts, measured from the capital."""
    runner, link, clock, db, alerts = _session(tmp_path)
    try:
        ask = _asked(runner, link)
        link.inbox.append(balances(ask, "10000"))  # nothing in the base asset: no price needed
        runner.step(0)
        assert runner.capital.value == Decimal("10000")
        runner.strategy.position._done_realized = Decimal("-500")
        clock.ns += 2 * S
        runner.step(0)
        assert alerts.sent == []  # 5 %: not over the limit
        runner.strategy.position._done_realized = Decimal("-600")
        clock.ns += 2 * S
        runner.step(0)
        assert [k for k, _ in alerts.sent] == ["drawdown"] and "6.00 %" in alerts.sent[0][1]
    finally:
        db.close()


def test_balances_that_never_answer_leave_the_initial_capital_and_say_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runner, link, clock, db, _ = _session(tmp_path)
    try:
        _asked(runner, link)
        with caplog.at_level(logging.WARNING):
            clock.ns += 2 * runner.cfg.risk.order_timeout_ms * 1_000_000
            link.inbox.append(replace(_health(), ts_ns=2, started_ts_ns=100))
            runner.step(0)
        assert "balances never answered" in caplog.text
        pnl = runner.summary()["pnl"]
        assert pnl["initial_capital"] == wire.dec_text(runner.cfg.initial_capital)
        assert pnl["capital_source"].startswith("initial_capital: the balances never answered")
        assert len([c for c in link.sent if isinstance(c, wire.QueryBalances)]) == 1  # asked once
        db.flush()
        row = db.get_session(1)
        assert row is not None and row.initial_capital == runner.cfg.initial_capital
    finally:
        db.close()


def test_refused_balances_leave_the_initial_capital(tmp_path: Path) -> None:
    runner, link, _, db, _ = _session(tmp_path)
    try:
        ask = _asked(runner, link)
        link.inbox.append(error(ask, "VENUE", "account unavailable"))
        runner.step(0)
        assert runner.capital.value == runner.cfg.initial_capital
        assert runner.summary()["pnl"]["capital_source"].startswith(
            "initial_capital: the balances were refused"
        )
        assert runner.orders.stats["errors"] == 0  # not an order's error
    finally:
        db.close()


def test_refused_balances_are_asked_again_the_wait_doubling(tmp_path: Path) -> None:
    """A refusal at the start (a venue's 429) left a 10,000 account measured against 1,000 for the
    whole session: asked again, the wait doubling from the order timeout, at most `MAX_ASKS` times;
    the answer that comes is taken."""
    runner, link, clock, db, _ = _session(tmp_path)
    try:
        ask = _asked(runner, link)
        link.inbox.append(error(ask, "VENUE", "429 too many requests"))
        runner.step(0)
        timeout = runner.capital.timeout_ns
        asks: list[wire.QueryBalances] = []
        for _ in range(MAX_ASKS + 2):
            clock.ns += 2 * timeout * 2**MAX_ASKS  # past every wait
            link.inbox.append(replace(_health(), started_ts_ns=100))
            runner.step(0)
            sent = [c for c in link.sent if isinstance(c, wire.QueryBalances)]
            asks = sent
            if len(sent) == 2:
                link.inbox.append(error(sent[-1], "VENUE", "429 too many requests"))
                runner.step(0)
            elif len(sent) == 3:
                link.inbox.append(balances(sent[-1], "10000", base="0"))
                runner.step(0)
        assert len(asks) == 3, len(asks)  # answered at the third: asked no more
        assert runner.capital.from_account and runner.capital.value == Decimal(10000)
    finally:
        db.close()


def test_a_capital_equal_to_initial_capital_is_a_new_peak(tmp_path: Path) -> None:
    """The peak was reset only when the capital's value changed: a session carrying on earlier ones'
    +50 measured an account of exactly initial_capital (1,000) and kept the peak of 1,050, a 5 %
    drawdown that never happened (and its alert)."""
    runner, link, _, db, _ = _session(tmp_path)
    try:
        runner.strategy.position._done_realized = Decimal(50)  # the sessions carried on made 50
        ask = _asked(runner, link)
        runner.metrics.update(runner, 0)  # equity 1,050 before the capital is measured
        link.inbox.append(balances(ask, "1000", base="0"))
        runner.step(0)
        assert runner.capital.from_account and runner.capital.value == Decimal(1000)
        runner.metrics.update(runner, 0)
        assert runner.metrics.drawdown_of_capital_pct == 0.0
    finally:
        db.close()


def test_a_recovered_position_is_in_the_capital_once(tmp_path: Path) -> None:
    """A lot held at the start (recovered) is in the account already: its coins are in the capital at
    the first price, and the equity moves only with the price after it (not by the lot's gain
    before)."""
    runner, link, clock, db, _ = _session(tmp_path)
    try:
        from flashcrash.trading_engine.money import Price
        from flashcrash.trading_engine.percentile import Plan
        from flashcrash.trading_engine.portfolio import Lot, Phase
        from flashcrash.trading_engine.position import Position

        pos = Position()
        pos.on_fill("BUY", Decimal("0.1"), Decimal(1000), Decimal(0), 1000 * S, "test")  # bought at 0.1
        plan = Plan(Price(Decimal("0.1")), Price(Decimal("0.3")), 0.1, 0.1)
        lot = Lot("entry-1", plan, Decimal(1000), 1000 * S, 50.0, pos, phase=Phase.HOLDING)
        runner.strategy.position.add(lot)
        ask = _asked(runner, link)
        link.inbox.append(balances(ask, "9800", base="1000"))
        link.inbox += [_trade(0.2, 1), _book(1)]
        runner.step(0)
        assert runner.capital.value == Decimal("10000")
        clock.ns += 2 * S
        link.inbox.append(_trade(0.21, 2))
        runner.step(0)
        m = runner.metrics
        assert m is not None and m.equity._value.get() == pytest.approx(10010.0)
    finally:
        db.close()


def test_without_a_session_nothing_is_asked() -> None:
    """A runner without a database session (the backtest's, whose account starts with
    `initial_capital`) never asks the balances for its capital."""
    from test_runner_fake_engine import _scripted_runner

    runner, link, _ = _scripted_runner()
    link.inbox.append(replace(_health(), started_ts_ns=100))
    runner.step(0)
    assert not [c for c in link.sent if isinstance(c, wire.QueryBalances)]
    assert runner.capital.value == runner.cfg.initial_capital
