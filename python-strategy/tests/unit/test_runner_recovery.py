"""Crash recovery of the strategy process against a fake engine on real ZeroMQ sockets: a position is
opened and its target order rests; the process "dies" (its session never ends); a new process
restores the position from the database, reconciles with the engine (which filled the target while
nobody listened) and closes the trade exactly once, without re-sending any order. Also: a silent
engine pauses entries and its return starts a reconciliation; a corrupt or locked database stops
`flashcrash run` with one line naming the file."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from rich.console import Console
from test_runner_fake_engine import REPO, FakeEngine, ScriptedDetector, Unconnected, config_for

from flashcrash import config, wire
from flashcrash.data_client import EngineClient
from flashcrash.event_detector import Candle, State, Transition
from flashcrash.persistence import PersistenceService
from flashcrash.persistence.records import TradeRecord
from flashcrash.persistence.session_report import _trades_table, session_report
from flashcrash.runner import HISTORY_CANDLES, Runner
from flashcrash.trading_engine.money import Price, Quantity
from flashcrash.trading_engine.percentile import Plan
from flashcrash.trading_engine.portfolio import Lot, Phase
from flashcrash.trading_engine.position import Position


def _config(tmp_path: Path, eng: FakeEngine) -> config.Config:
    return config_for(tmp_path, eng, f'db_path = "{tmp_path / "flashcrash.db"}"\n')


def _runner(cfg: config.Config) -> tuple[Runner, EngineClient, PersistenceService]:
    client = EngineClient(cfg.zmq, "POLUSDT")
    db = PersistenceService.open(cfg)
    runner = Runner(cfg, client, db)
    runner.detector = ScriptedDetector(runner.detector)  # type: ignore[assignment]
    runner.start()
    return runner, client, db


def _steps(runner: Runner, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        with runner._atomic():
            runner.step(20)


def _until_command(runner: Runner, eng: FakeEngine, timeout: float = 5.0) -> object:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with runner._atomic():
            runner.step(20)
        cmd = eng.recv()
        if cmd is not None:
            return cmd
    raise AssertionError("no command from the strategy")


def _send(eng: FakeEngine, *msgs: object) -> None:
    for m in msgs:
        eng.resp.send_multipart([b"resp", wire.encode(m)])  # type: ignore[arg-type]


def _info(cmd: wire.PlaceOrder, filled: str, quote: str, status: str) -> wire.OrderInfo:
    return wire.OrderInfo(
        cmd.client_order_id, "X-1", cmd.symbol, cmd.side, cmd.order_type, cmd.time_in_force,
        cmd.quantity, cmd.price, Decimal(filled), Decimal(quote), status, 1, 2,
    )  # fmt: skip


def _entry(runner: Runner, eng: FakeEngine) -> wire.PlaceOrder:
    """A calm half minute, a -5 % second, a bullish high-volume candle: the strategy's limit buy."""
    _steps(runner, 0.5)  # subscriptions reach the publisher
    for tid, sec in enumerate(range(1000, 1030), start=1):
        eng.trade(sec, 1.0, tid)
    eng.trade(1030.2, 0.95, 31)
    eng.trade(1031.1, 0.95, 32)
    eng.trade(1031.5, 0.97, 33, qty=1000.0)
    eng.trade(1032.1, 0.97, 34)
    buy = _until_command(runner, eng)
    assert isinstance(buy, wire.PlaceOrder) and buy.side == "BUY"
    return buy


def _bought(runner: Runner, eng: FakeEngine) -> tuple[wire.PlaceOrder, wire.PlaceOrder]:
    """The entry filled at 0.9540, and the target sell the strategy then places."""
    buy = _entry(runner, eng)
    eng.fill(buy, "0.9540", 1)
    target = _until_command(runner, eng)
    assert isinstance(target, wire.PlaceOrder) and target.side == "SELL"
    return buy, target


def _holding(runner: Runner, eng: FakeEngine) -> tuple[wire.PlaceOrder, wire.PlaceOrder]:
    """`_bought`, and the target acknowledged: resting at the venue."""
    buy, target = _bought(runner, eng)
    _send(eng, _acked(target))
    _steps(runner, 0.3)
    return buy, target


def _killed_holding(cfg: config.Config, eng: FakeEngine) -> wire.PlaceOrder:
    """A session that bought, its target resting, then killed -9 (its writes flushed): the target."""
    runner, client, db = _runner(cfg)
    try:
        _, target = _holding(runner, eng)
        db.flush()
    finally:
        client.close()
        db.close()
    return target


def _acked(order: wire.PlaceOrder) -> wire.OrderPlaced:
    """The engine's acknowledgement of `order` (resting, venue id X-1)."""
    return wire.OrderPlaced(
        order.command_id, 1, order.client_order_id, "X-1", order.symbol, order.side, order.order_type,
        order.time_in_force, order.quantity, order.price, "NEW",
    )  # fmt: skip


def test_restart_restores_the_position_reconciles_and_closes_it_once(tmp_path: Path) -> None:
    eng = FakeEngine()
    cfg = _config(tmp_path, eng)
    runner, client, db = _runner(cfg)
    try:
        buy, target = _holding(runner, eng)
        assert runner.strategy.position.quantity == buy.quantity
        (lot,) = runner.strategy.position.lots.values()
        bought_at = lot.position.entry_ns  # the market time of the entry fill
        assert bought_at > 0
        db.flush()
        fill_event = [e for e in db.events_of(1, "response") if e.message_type == "OrderExecution"]
        assert fill_event and fill_event[0].event_ns == bought_at  # stamped with the market time
    finally:
        # The process dies: no flatten, no end of session (what was queued is on disk: a prefix).
        client.close()
        db.close()
    first_session = 1

    # The engine filled the target while nobody listened. A new process starts.
    runner, client, db = _runner(cfg)
    try:
        assert runner.recovery is not None and runner.recovery["from_session"] == first_session
        lots = list(runner.strategy.position.lots.values())
        assert (
            len(lots) == 1
            and lots[0].phase is Phase.HOLDING
            and lots[0].target_coid == target.client_order_id
        )
        assert runner.strategy.position.quantity == buy.quantity
        assert lots[0].position.entry_ns == bought_at  # not the time the process came back
        time.sleep(0.5)
        sent: list[object] = []
        q = None
        end = time.monotonic() + 10
        while time.monotonic() < end and not isinstance(q, wire.QueryOpenOrders):
            q = _until_command(runner, eng)
            sent.append(q)
        assert isinstance(q, wire.QueryOpenOrders)
        assert runner.strategy.paused_reason == "reconciling orders"
        _send(eng, wire.OpenOrders(q.command_id, 1, "POLUSDT", []))
        qo = _until_command(runner, eng)
        sent.append(qo)
        assert isinstance(qo, wire.QueryOrder) and qo.client_order_id == target.client_order_id
        _send(eng, wire.OrderStatus(qo.command_id, 1, _info(target, "500", "483.0000", "FILLED")))
        _steps(runner, 0.5)
        assert not any(isinstance(c, wire.PlaceOrder) for c in sent), sent  # never re-sent
        assert eng.recv() is None  # nor after the reconciliation: nothing is left to send
        assert runner.strategy.position.quantity == 0
        assert len(runner.strategy.position.closed) == 1
        assert runner.strategy.paused_reason == ""
        runner.stop_reason = "TEST"
        runner.finish()
        db.flush()
        trades = db.trades_of(first_session)
        assert len(trades) == 1 and not trades[0].is_open, trades
        t = trades[0]
        assert t.trade_key == buy.client_order_id and t.exit_price == Decimal("0.966")
        assert t.entry_price == Decimal("0.9540")
        assert db.trades_of(2) == trades  # opened by session 1, closed by session 2: counted there
        assert trades[0].closing_session == 2
        assert (db.session_stats(first_session).trades, db.session_stats(first_session).closed_later) == (
            0,
            1,
        )
        assert db.session_stats(2).trades == 1
        assert db.get_session(first_session).status == "crashed"  # type: ignore[union-attr]
        s2 = db.get_session(2)
        assert s2 is not None and s2.recovered_from == first_session and s2.status == "clean"
        texts = [e.summary for e in db.events_of(2)]
        assert any("session 1 had crashed" in x for x in texts), texts
        assert any(x.startswith("recovered from session 1") for x in texts), texts
        assert any("reconciled fill" in x for x in texts), texts
        assert any(e.message_type == "QueryOpenOrders" for e in db.events_of(2, "command"))
    finally:
        client.close()
        db.close()
        eng.close()


def test_an_order_the_engine_no_longer_knows_is_settled_in_the_database_too(tmp_path: Path) -> None:
    """The target was acknowledged before the crash; after it the engine answers the reconciliation's
    query of it with no such order (gone with what it filled: nothing). The order manager settles it
    EXPIRED, and so does its row, with a note: it stayed NEW in the database for ever."""
    eng = FakeEngine()
    cfg = _config(tmp_path, eng)
    target = _killed_holding(cfg, eng)
    runner, client, db = _runner(cfg)
    try:
        _reconcile(runner, eng, [])
        qo = _until_command(runner, eng)
        assert isinstance(qo, wire.QueryOrder) and qo.client_order_id == target.client_order_id
        _send(eng, wire.Error(qo.command_id, 2, "UNKNOWN_ORDER", "client_order_id", "no such order"))
        _steps(runner, 0.3)
        o = runner.orders.get(target.client_order_id)
        assert o is not None and o.status.value == "EXPIRED"
        db.flush()
        conn = sqlite3.connect(tmp_path / "flashcrash.db")
        try:
            (status,) = conn.execute(
                "SELECT status FROM orders WHERE client_order_id = ?", (target.client_order_id,)
            ).fetchone()
        finally:
            conn.close()
        assert status == "EXPIRED"
        assert any(e.summary.startswith("order settled EXPIRED") for e in db.events_of(2))
    finally:
        client.close()
        db.close()
        eng.close()


def _reconcile(runner: Runner, eng: FakeEngine, listed: list[wire.OrderInfo] | None) -> list[object]:
    """Waits for the restarted process's QueryOpenOrders, answers it with `listed` (None: leaves it
    unanswered), and returns the commands the strategy sent meanwhile (the QueryOpenOrders last)."""
    time.sleep(0.5)
    sent: list[object] = []
    end = time.monotonic() + 10
    while time.monotonic() < end and not (sent and isinstance(sent[-1], wire.QueryOpenOrders)):
        sent.append(_until_command(runner, eng))
    q = sent[-1]
    assert isinstance(q, wire.QueryOpenOrders), sent
    if listed is not None:
        _send(eng, wire.OpenOrders(q.command_id, 1, "POLUSDT", listed))
    return sent


def test_a_target_partly_filled_before_a_crash_is_completed_by_the_remainder_only(tmp_path: Path) -> None:
    """200 of the target's 500 filled before the crash, the rest while nobody listened: the restarted
    process makes up one fill of the 300 missing, not of the whole order."""
    eng = FakeEngine()
    cfg = _config(tmp_path, eng)
    runner, client, db = _runner(cfg)
    try:
        buy, target = _bought(runner, eng)
        placed = _acked(target)
        part = wire.OrderExecution(
            target.command_id, 1, target.client_order_id, "X-1", target.symbol, target.side, 7,
            Decimal("0.966"), Decimal("200"), Decimal("200"), target.quantity, "PARTIALLY_FILLED",
            "maker", Decimal("0.19"), "USDT",
        )  # fmt: skip
        _send(eng, placed, part)
        _steps(runner, 0.3)
        assert runner.strategy.position.quantity == buy.quantity - Decimal("200")
        db.flush()
    finally:
        client.close()
        db.close()

    runner, client, db = _runner(cfg)
    try:
        assert runner.orders.orders[target.client_order_id].filled == Decimal("200")
        sent = _reconcile(runner, eng, [])
        qo = _until_command(runner, eng)
        assert isinstance(qo, wire.QueryOrder) and qo.client_order_id == target.client_order_id
        _send(eng, wire.OrderStatus(qo.command_id, 1, _info(target, "500", "483.0000", "FILLED")))
        _steps(runner, 0.5)
        assert not any(isinstance(c, wire.PlaceOrder) for c in sent), sent
        assert eng.recv() is None  # nor after it: the remainder is made up, not re-placed
        assert runner.orders.stats["reconciled_fills"] == 1
        assert runner.orders.orders[target.client_order_id].filled == target.quantity
        assert runner.strategy.position.quantity == 0
        (closed,) = runner.strategy.position.closed
        assert closed.quantity == buy.quantity, closed
    finally:
        client.close()
        db.close()
        eng.close()


def test_closed_trades_are_history_read_back_not_snapshot_state(tmp_path: Path) -> None:
    """A strategy snapshot (written after every iteration that traded) holds no closed trade nor
    entry/exit mark, so its size does not grow with the session; a recovered strategy reads its
    predecessor's closed trades and marks back from the trades table. They are its predecessor's:
    the recovered session's summary shows them apart from its own P&L (it closed none)."""
    eng = FakeEngine()
    cfg = _config(tmp_path, eng)
    runner, client, db = _runner(cfg)
    try:
        buy, target = _bought(runner, eng)
        eng.fill(target, "0.966", 2)
        _steps(runner, 0.5)
        (trade,) = runner.strategy.position.closed
        marks = (list(runner.strategy.entries), list(runner.strategy.exits))
        assert marks == ([(trade.entry_ns, 0.954)], [(trade.exit_ns, 0.966)])
        state = runner.strategy.snapshot()
        assert not {"entries", "exits"} & state.keys() and "closed" not in state["portfolio"]
        runner.strategy.position.closed.extend([trade] * 500)
        runner.strategy.entries.extend(marks[0] * 500)
        assert json.dumps(runner.strategy.snapshot()) == json.dumps(state)
        del runner.strategy.position.closed[1:], runner.strategy.entries[1:]
        alert = Transition(trade.exit_ns, State.SLEEP, State.ALERT, "test")
        runner.detector.set_history([alert])  # as if the detector had woken: the runner records it
        runner._transitions_seen = 0
        _steps(runner, 0.1)  # the loop records it in the audit log
        db.flush()
    finally:
        client.close()  # the process dies without ending its session
        db.close()
    runner, client, db = _runner(cfg)
    try:
        assert runner.recovery is not None and runner.recovery["from_session"] == 1
        assert runner.strategy.position.closed == [trade]
        assert (runner.strategy.entries, runner.strategy.exits) == marks
        summary = runner.summary()
        assert (summary["pnl"]["trades"], summary["pnl"]["net_pnl"], summary["trades"]) == (0, "0", [])
        earlier = summary["pnl_with_earlier_sessions"]
        assert (earlier["recovered_from"], earlier["trades"], earlier["net_pnl"]) == (
            1,
            1,
            wire.dec_text(trade.pnl),
        )
        assert runner.detector.transitions == [alert] and runner._transitions_seen == 1
        _steps(runner, 0.1)
        db.flush()
        assert not db.events_of(2, "transition")  # read back, not recorded again
        out = tmp_path / "session_1_report.png"
        session_report(db.settings.db_path, 1, out, Console(file=io.StringIO()))
        with open(tmp_path / "session_1_report_trades.csv", newline="") as f:
            (row,) = csv.DictReader(f)
        assert (row["session"], row["closing_session"], row["trade_key"]) == ("1", "1", buy.client_order_id)
        assert (Decimal(row["entry_price"]), Decimal(row["exit_price"])) == (
            trade.entry_price,
            trade.exit_price,
        )
        assert Decimal(row["pnl"]) == trade.pnl and row["exit_reason"] == trade.exit_reason
    finally:
        client.close()
        db.close()
        eng.close()


def test_an_order_is_on_disk_before_it_leaves_and_a_kill_right_after_loses_nothing(tmp_path: Path) -> None:
    """Write-ahead: at the instant each PlaceOrder is handed to the socket, the committed database
    (what a kill -9 at that instant would leave: an SQLite backup reads only committed data) already
    holds the command and, for an entry, the decision with its lot. A process started on that copy
    knows the order, reconciles it (the engine filled it meanwhile) and holds the position."""
    eng = FakeEngine()
    cfg = _config(tmp_path, eng)
    runner, client, db = _runner(cfg)
    killed_at = tmp_path / "killed_at_send.db"
    seen: dict[str, list[str]] = {}
    real_send = client.send

    def send_and_check(cmd: object) -> bool:
        if isinstance(cmd, wire.PlaceOrder) and not killed_at.exists():
            src, dst = sqlite3.connect(cfg.raw["persistence"]["db_path"]), sqlite3.connect(killed_at)
            src.backup(dst)
            for c in (src, dst):
                c.close()
            with sqlite3.connect(killed_at) as c:
                rows = c.execute(
                    "SELECT kind, message_type FROM events WHERE client_order_id = ?", (cmd.client_order_id,)
                ).fetchall()
            seen[cmd.client_order_id] = [f"{k}:{m or ''}" for k, m in rows]
        return real_send(cmd)

    # What hands every command to the socket (the runner holds an order until it is committed).
    client.send = send_and_check  # type: ignore[method-assign]
    try:
        buy = _entry(runner, eng)
    finally:
        client.close()
        db.close()
    assert sorted(seen[buy.client_order_id]) == ["command:PlaceOrder", "entry_decision:"], seen

    # A process on the database as the kill left it; the engine filled the entry meanwhile.
    (tmp_path / "local.toml").write_text(
        (tmp_path / "local.toml").read_text().replace(str(tmp_path / "flashcrash.db"), str(killed_at))
    )
    cfg = config.load(tmp_path / "config.toml")
    runner, client, db = _runner(cfg)
    try:
        assert runner.recovery is not None and runner.recovery["open_orders"] == [buy.client_order_id]
        assert list(runner.strategy.position.lots) == [buy.client_order_id]
        time.sleep(0.5)
        q = None
        end = time.monotonic() + 10
        while time.monotonic() < end and not isinstance(q, wire.QueryOpenOrders):
            q = _until_command(runner, eng)
        assert isinstance(q, wire.QueryOpenOrders)
        _send(eng, wire.OpenOrders(q.command_id, 1, "POLUSDT", []))
        qo = _until_command(runner, eng)
        assert isinstance(qo, wire.QueryOrder) and qo.client_order_id == buy.client_order_id
        _send(eng, wire.OrderStatus(qo.command_id, 1, _info(buy, "500", "477.0000", "FILLED")))
        target = _until_command(runner, eng)
        assert isinstance(target, wire.PlaceOrder) and target.side == "SELL", target  # not the buy again
        # Held: what was bought, less the fee estimated in the coins bought (maker rate 0.1 %).
        assert runner.strategy.position.quantity == buy.quantity * Decimal("0.999")
        assert target.quantity == Decimal("499.5")  # sold on the 0.1 grid
        assert runner.strategy.position.lots[buy.client_order_id].phase is Phase.HOLDING
    finally:
        client.close()
        db.close()
        eng.close()


def test_a_fill_on_disk_before_the_kill_is_restored_as_it_was_not_made_up(tmp_path: Path) -> None:
    """A kill at the instant the target order leaves (the entry's fill is in the audit log; no
    snapshot holds it yet): the restarted process holds the real fill (its price and fee), settles
    the entry without asking the engine and makes up no fill."""
    eng = FakeEngine()
    cfg = _config(tmp_path, eng)
    runner, client, db = _runner(cfg)
    killed_at = tmp_path / "killed_at_target.db"
    real_send = client.send

    def send_and_copy(cmd: object) -> bool:
        if isinstance(cmd, wire.PlaceOrder) and cmd.side == "SELL" and not killed_at.exists():
            src, dst = sqlite3.connect(cfg.raw["persistence"]["db_path"]), sqlite3.connect(killed_at)
            src.backup(dst)
            for c in (src, dst):
                c.close()
        return real_send(cmd)

    client.send = send_and_copy  # type: ignore[method-assign]
    try:
        buy, target = _bought(runner, eng)
    finally:
        client.close()
        db.close()
    assert killed_at.exists()

    (tmp_path / "local.toml").write_text(
        (tmp_path / "local.toml").read_text().replace(str(tmp_path / "flashcrash.db"), str(killed_at))
    )
    runner, client, db = _runner(config.load(tmp_path / "config.toml"))
    try:
        entry = runner.orders.orders[buy.client_order_id]
        assert entry.filled == buy.quantity and entry.settled, entry
        assert runner.strategy.position.quantity == buy.quantity
        (lot,) = runner.strategy.position.lots.values()
        assert lot.position.avg_entry == Decimal("0.9540"), lot.position
        listed = [_info(target, "0", "0", "NEW")]
        sent = _reconcile(runner, eng, listed)
        _steps(runner, 0.5)
        assert not any(isinstance(c, (wire.PlaceOrder, wire.QueryOrder)) for c in sent), sent
        assert eng.recv() is None  # nothing to ask: the entry is settled, the target listed
        assert runner.orders.stats["reconciled_fills"] == 0
        assert runner.strategy.paused_reason == ""
    finally:
        client.close()
        db.close()
        eng.close()


def test_a_stop_that_could_not_sell_leaves_the_position_to_the_next_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """SIGTERM while the engine is gone (killed: nothing answers): the flatten cancels the target
    and waits in vain, the session ends clean but tells the position and the order it leaves open,
    and the next start recovers them (not a session marked crashed): the new engine still lists the
    target, whose lost cancel is sent again, and the exit sells what was bought, once."""
    eng = FakeEngine()
    try:
        cfg = _config(tmp_path, eng)
        runner, client, db = _runner(cfg)
        try:
            buy, target = _holding(runner, eng)
            runner.stop_reason = "SIGTERM"
            with runner._atomic():
                runner.flatten(wait_s=0.3)
            assert runner.strategy.position.quantity == buy.quantity  # nothing could be sold
            cancel = _until_command(runner, eng)
            assert isinstance(cancel, wire.CancelOrder) and cancel.client_order_id == target.client_order_id
            with caplog.at_level(logging.WARNING, "flashcrash.runner"):
                runner.finish()
            assert (
                "1 position(s) and 1 unsettled order(s) remain open: recovered on the next start"
                in caplog.text
            )
            s1 = db.get_session(1)
            assert s1 is not None and s1.status == "clean"
            assert (
                s1.stop_reason
                == "SIGTERM; 1 position(s) and 1 order(s) left open: recovered at the next start"
            )
        finally:
            client.close()
            db.close()

        runner, client, db = _runner(cfg)
        try:
            assert runner.recovery is not None and runner.recovery["from_session"] == 1
            assert runner.recovery["open_orders"] == [target.client_order_id]
            (lot,) = runner.strategy.position.lots.values()
            assert lot.entry_coid == buy.client_order_id and lot.phase is Phase.EXITING
            assert runner.strategy.position.quantity == buy.quantity
            s1, s2 = db.get_session(1), db.get_session(2)
            assert s1 is not None and s1.status == "clean"  # ended as it was, not marked crashed
            assert s2 is not None and s2.recovered_from == 1
            texts = [e.summary for e in db.events_of(2, "session")]
            assert any("session 1 ended with positions or orders open: recovering them" in x for x in texts)
            sent = _reconcile(runner, eng, [_info(target, "0", "0", "NEW")])
            assert not any(isinstance(c, (wire.PlaceOrder, wire.CancelOrder)) for c in sent), sent
            again = _until_command(runner, eng)
            assert isinstance(again, wire.CancelOrder) and again.client_order_id == target.client_order_id
            _send(eng, wire.OrderCanceled(again.command_id, 2, target.client_order_id, "X-1", "POLUSDT",
                                          Decimal(0), "CANCELED"))  # fmt: skip
            sell = _until_command(runner, eng)
            assert isinstance(sell, wire.PlaceOrder) and (sell.side, sell.order_type) == ("SELL", "MARKET")
            assert sell.quantity == buy.quantity
            eng.fill(sell, "0.9500", 3)
            _steps(runner, 0.3)
            assert not runner.strategy.position.lots
            (closed,) = runner.strategy.position.closed
            assert (closed.quantity, closed.exit_reason) == (buy.quantity, "shutdown")
            runner.stop_reason = "TEST"
            runner.finish()
            assert db.find_unfinished_session() is None  # nothing left open: the next start is fresh
        finally:
            client.close()
            db.close()
    finally:
        eng.close()


def test_a_stop_before_the_reconciliation_is_answered_tells_a_closed_trade_closed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Killed while holding; the restarted process asks the engine for its open orders, and the
    target's fill comes before the answer. SIGTERM then: nothing is left open, and the session's end
    says so (it told one position open, and the next start recovered it again)."""
    eng = FakeEngine()
    try:
        cfg = _config(tmp_path, eng)
        target = _killed_holding(cfg, eng)
        runner, client, db = _runner(cfg)
        try:
            sent = _reconcile(runner, eng, listed=None)
            eng.fill(target, "0.966", 2)
            _steps(runner, 0.3)
            assert runner.orders.reconciling and runner.strategy.position.quantity == 0
            runner.stop_reason = "SIGTERM"
            with runner._atomic():
                runner.flatten(wait_s=0.3)
            with caplog.at_level(logging.WARNING, "flashcrash.runner"):
                runner.finish()
            assert "remain open" not in caplog.text
            s2 = db.get_session(2)
            assert s2 is not None and (s2.status, s2.stop_reason) == ("clean", "SIGTERM")
            assert db.find_unfinished_session() is None  # the next start recovers nothing
            assert not any(isinstance(c, wire.PlaceOrder) for c in sent) and eng.recv() is None
        finally:
            client.close()
            db.close()
    finally:
        eng.close()


def test_an_exception_in_the_loop_leaves_the_position_to_the_next_start(tmp_path: Path) -> None:
    """An exception ends the loop (no flatten, as `flashcrash run` then ends the session with the
    error): the session is aborted, and the position it held is recovered by the next start."""
    eng = FakeEngine()
    try:
        cfg = _config(tmp_path, eng)
        runner, client, db = _runner(cfg)
        try:
            buy, target = _holding(runner, eng)

            def broken(now_ns: int) -> None:
                raise RuntimeError("boom")

            runner.orders.check_timeouts = broken  # type: ignore[method-assign]  # each step calls it
            error: BaseException | None = None
            try:
                runner.run([])
            except RuntimeError as e:
                error = e
            assert isinstance(error, RuntimeError)
            runner.finish(error)
            s1 = db.get_session(1)
            assert s1 is not None and s1.status == "aborted"
            assert s1.stop_reason == (
                "RuntimeError: boom; 1 position(s) and 1 order(s) left open: recovered at the next start"
            )
        finally:
            client.close()
            db.close()

        runner, client, db = _runner(cfg)
        try:
            assert runner.recovery is not None and runner.recovery["from_session"] == 1
            (lot,) = runner.strategy.position.lots.values()
            assert lot.phase is Phase.HOLDING and lot.target_coid == target.client_order_id
            assert runner.strategy.position.quantity == buy.quantity
            assert runner.orders.get(target.client_order_id).recovered  # type: ignore[union-attr]
        finally:
            client.close()
            db.close()
    finally:
        eng.close()


def test_an_order_written_after_the_snapshot_is_replayed_even_when_the_clock_stepped_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wall clock steps back 2 s (an NTP step, a VM resumed) after a snapshot; an order written
    ahead after that snapshot carries an earlier time than it, and the process is killed. The
    restarted strategy still knows the order: the audit events are replayed by their order of
    writing, not by their clock."""
    cfg = config_for(tmp_path, Unconnected(), f'db_path = "{tmp_path / "flashcrash.db"}"\n')

    def start() -> tuple[Runner, Unconnected, PersistenceService]:
        client, db = Unconnected(), PersistenceService.open(cfg)
        runner = Runner(cfg, client, db)  # type: ignore[arg-type]
        runner.start()
        return runner, client, db

    runner, client, db = start()
    with runner._atomic():
        runner._save_snapshots("periodic")
    db.flush()
    real = time.time_ns
    monkeypatch.setattr(time, "time_ns", lambda: real() - 2_000_000_000)
    with runner._atomic():
        coid = runner.orders.place("BUY", Quantity(Decimal("100")), Price(Decimal("0.2010")), real(), "entry")
    assert coid is not None and any(isinstance(m, wire.PlaceOrder) for m in client.sent)
    db.close()  # killed: the session never ends
    monkeypatch.setattr(time, "time_ns", real)
    runner2, _, db2 = start()
    try:
        assert runner2.recovery is not None and runner2.recovery["events_replayed"] >= 1, runner2.recovery
        assert coid in runner2.orders.orders
    finally:
        db2.close()


def _execution(
    cmd: wire.PlaceOrder, price: str, qty: str, cumulative: str, trade_id: int
) -> wire.OrderExecution:
    status = "FILLED" if Decimal(cumulative) == cmd.quantity else "PARTIALLY_FILLED"
    return wire.OrderExecution(
        cmd.command_id, 1, cmd.client_order_id, "X-1", cmd.symbol, cmd.side, trade_id, Decimal(price),
        Decimal(qty), Decimal(cumulative), cmd.quantity, status, "maker", Decimal(0), "USDT",
    )  # fmt: skip


def test_the_trades_table_closes_every_trade_as_the_strategy_does(tmp_path: Path) -> None:
    """Through the runner's journal into the database: an entry filled 40 at 0.2010 then 60 at
    0.1990 is stored at its average entry 0.1998 (the row opened at the first fill's price); an
    entry of which only 20 filled, worth less than the minimum notional, is written off and its row
    closed at an exit price of 0 with its loss, not left open for ever."""
    cfg = config_for(tmp_path, Unconnected(), f'db_path = "{tmp_path / "flashcrash.db"}"\n')
    client, db = Unconnected(), PersistenceService.open(cfg)
    runner = Runner(cfg, client, db)  # type: ignore[arg-type]
    runner.start()
    st = runner.strategy
    assert st.min_notional == Decimal("5")
    plan = Plan(Price(Decimal("0.2010")), Price(Decimal("0.2100")), 0.2, 0.21)

    def entry() -> wire.PlaceOrder:
        with runner._atomic():
            coid = runner.orders.place("BUY", Quantity(Decimal("100")), plan.entry, 1, "entry")
            assert coid is not None
            st.position.add(Lot(coid, plan, Decimal("100"), 1, 1.0, Position()))
        buy = client.sent[-1]
        assert isinstance(buy, wire.PlaceOrder)
        return buy

    try:
        buy = entry()
        for m in (_execution(buy, "0.2010", "40", "40", 1), _execution(buy, "0.1990", "60", "100", 2)):
            with runner._atomic():
                runner.handle(m)
        target = client.sent[-1]
        assert isinstance(target, wire.PlaceOrder) and target.side == "SELL"
        with runner._atomic():
            runner.handle(_execution(target, "0.2100", "100", "100", 3))
        small = entry()
        with runner._atomic():
            runner.handle(_execution(small, "0.2010", "20", "20", 4))
            assert runner.orders.cancel(small.client_order_id, 2)
        cancel = client.sent[-1]
        with runner._atomic():
            runner.handle(wire.OrderCanceled(cancel.command_id, 3, small.client_order_id, "X-1", "POLUSDT",
                                             Decimal("20"), "CANCELED"))  # fmt: skip
        assert not st.position.lots
        db.flush()
        rows = {r.trade_key: r for r in db.trades_of(runner.session.id)}  # type: ignore[union-attr]
        averaged, written_off = rows[buy.client_order_id], rows[small.client_order_id]
        assert (averaged.entry_price, averaged.quantity) == (Decimal("0.1998"), Decimal("100"))
        assert averaged.pnl == st.position.closed[0].pnl
        assert (written_off.exit_price, written_off.exit_reason) == (Decimal("0"), "written_off")
        assert written_off.pnl == -(Decimal("20") * Decimal("0.2010"))
        assert not db.open_trades_of(runner.session.id)  # type: ignore[arg-type]
    finally:
        db.close()


def test_silent_engine_pauses_entries_and_its_return_reconciles(tmp_path: Path) -> None:
    eng = FakeEngine()
    cfg = _config(tmp_path, eng)
    runner, client, db = _runner(cfg)
    try:
        _steps(runner, 0.5)
        runner.last_data_ns = time.time_ns() - 10 * 1_000_000_000
        _steps(runner, 0.1)
        assert runner.engine_silent and runner.strategy.paused_reason == "engine silent"
        eng.trade(1000, 1.0, 1)
        cmd = _until_command(runner, eng)
        assert isinstance(cmd, wire.QueryOpenOrders)
        assert not runner.engine_silent and runner.strategy.paused_reason == "reconciling orders"
        _send(eng, wire.OpenOrders(cmd.command_id, 1, "POLUSDT", []))
        _steps(runner, 0.3)
        assert runner.strategy.paused_reason == ""
        runner.stop_reason = "TEST"
        runner.finish()
        db.flush()
        texts = [e.summary for e in db.events_of(1)]
        assert any(x.startswith("engine silent") for x in texts), texts
        assert any("engine back" in x for x in texts), texts
    finally:
        client.close()
        db.close()
        eng.close()


def test_candles_are_stored_not_kept_and_both_reports_draw_them(tmp_path: Path) -> None:
    """With a database the runner keeps no candle in memory: each closed candle is stored in the
    session's loop write, the session's report reads them back, and `flashcrash report` draws them."""
    eng = FakeEngine()
    cfg = _config(tmp_path, eng)
    runner, client, db = _runner(cfg)
    try:
        _entry(runner, eng)  # 33 seconds of trades: 32 closed candles
        assert runner.candle_count == 32 and len(runner.history) == 0
        summary = runner.write(None)
        stored = db.candles_of(1)
        assert [c.start_ns // 1_000_000_000 for c in stored] == [*range(1000, 1031), 1031]
        assert stored[-2].low == 0.95 and (stored[-1].volume, stored[-1].trades) == (1100.0, 2)
        assert summary["detector"]["candles"] == 32 and summary["report_png"]
        runner.stop_reason = "TEST"
        runner.finish()
        db.flush()
        out = tmp_path / "session_1.png"
        console = Console(file=io.StringIO())
        assert session_report(db.settings.db_path, 1, out, console) == out and out.stat().st_size > 10_000
        assert "price, states and equity" in console.file.getvalue()  # type: ignore[attr-defined]
    finally:
        client.close()
        db.close()
        eng.close()


def test_the_report_prints_every_figure_of_a_trade_in_full() -> None:
    """Times to the millisecond (the date in the title, or per row when the trades span days),
    prices to 8 significant digits, money to 4 decimals: the table fits a wide pipe uncut."""
    day = 1_760_130_000 * 1_000_000_000  # 2025-10-10 21:00 UTC
    t1 = TradeRecord(1, "k1", "POLUSDT", Decimal("500.0000"), day + 25_084_000_000, Decimal("0.2156"),
                     "entry", Decimal("0.21523312"), day + 28_138_000_000,
                     Decimal("0.2148662400000000000001"), "bearish_candle", Decimal("-0.58211312"))  # fmt: skip
    t2 = dataclasses.replace(t1, trade_key="k2", exit_ns=None, exit_price=None, pnl=None, exit_reason=None)
    console = Console(file=io.StringIO(), width=200)
    console.print(_trades_table([t1, t2]))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "2025-10-10" in text.splitlines()[0] and "…" not in text
    row = next(line for line in text.splitlines() if "bearish_candle" in line)
    cells = [c.strip() for c in row.strip("│ ").split("│")]
    assert cells == ["1", "1", "21:00:25.084", "21:00:28.138", "500", "0.2156", "0.21486624", "3.1",
                     "bearish_candle", "0.2152", "-0.5821"]  # fmt: skip
    assert "open" in text
    next_day = dataclasses.replace(t1, exit_ns=day + 86_400 * 1_000_000_000)
    console = Console(file=io.StringIO(), width=200)
    console.print(_trades_table([next_day]))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert (
        "2025-10-10 to 2025-10-11" in text and "10-10 21:00:25.084" in text and "10-11 21:00:00.000" in text
    )


def test_without_a_database_the_runner_keeps_the_last_hour_of_candles() -> None:
    runner = Runner(config.load(REPO / "config" / "config.toml"), None)  # type: ignore[arg-type]
    for sec in range(HISTORY_CANDLES + 1):
        runner._on_candle(Candle(sec * 1_000_000_000, 1.0, 1.0, 1.0, 1.0, 10.0, 5.0, 1), 0)
    assert runner.candle_count == HISTORY_CANDLES + 1 == 3601
    assert len(runner.history) == HISTORY_CANDLES and runner.history[0].start_ns == 1_000_000_000


def _run_with_db(tmp_path: Path, db_path: Path) -> subprocess.CompletedProcess[str]:
    for name in ("config.toml", "schema.toml"):
        (tmp_path / name).write_bytes((REPO / "config" / name).read_bytes())
    (tmp_path / "local.toml").write_text(
        f'[persistence]\nreport_dir = "{tmp_path / "reports"}"\ndb_path = "{db_path}"\n'
    )
    return subprocess.run(
        [sys.executable, "-m", "flashcrash", "run", "--config", str(tmp_path / "config.toml")],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("content", [b"this is not a database" * 500, b""], ids=["garbage", "emptied"])
def test_a_corrupt_database_stops_the_strategy_with_one_line(tmp_path: Path, content: bytes) -> None:
    """Garbage, or a file cut to 0 bytes (a truncation: opened as a new database, the strategy would
    start flat and forget what it holds)."""
    bad = tmp_path / "corrupt.db"
    bad.write_bytes(content)
    r = _run_with_db(tmp_path, bad)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0], r.stderr
    assert bad.read_bytes() == content  # left as it was


def test_a_locked_database_stops_the_strategy_with_one_line(tmp_path: Path) -> None:
    locked = tmp_path / "locked.db"
    holder = sqlite3.connect(locked, isolation_level=None)
    try:
        holder.execute("CREATE TABLE t (x)")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("INSERT INTO t VALUES (1)")
        r = _run_with_db(tmp_path, locked)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(locked) in lines[0] and "lock" in lines[0].lower(), r.stderr
