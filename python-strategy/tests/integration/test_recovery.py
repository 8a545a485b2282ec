"""Crash recovery across the real processes (issue 6).

* `kill -9` the strategy while a position is open, start it again: the position is restored from the
  database, reconciled with the engine and closed exactly once; no order is sent twice; the audit log
  shows the crash and the recovery.
  Both sessions' 1-second candles are in the database, and `flashcrash report` draws the recovered
  session's price from them.
* real mode against exchange-sim's order API through the crash, with the engine and the strategy
  killed and restarted five times between them: every order the venue holds is in the database
  once, with every fill the venue made, and the strategy's P&L and position are the venue account's;
* `kill -9` the engine: the strategy survives, pauses entries, and reconciles when the engine is back;
  started again at once (sooner than the strategy calls it silent), the new engine's health tells the
  strategy it restarted, and it reconciles all the same;
* an operator's `EmergencyHalt` while a position is open: with `flatten`, the engine's own sell
  closes the strategy's lots, and the database keeps that order and its fills; without, the exit
  waits out the halt and sells after `Resume`.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import msgpack
import pytest
import zmq

from flashcrash.launcher import REPO, Session, SimSpec
from flashcrash.trading_engine.orders import ESTIMATED_BASE_FEE

pytestmark = pytest.mark.integration

CONFIG = REPO / "config" / "config.toml"
# The crash and the 10 minutes after it at 20x (46 s): the tests stop the processes while it still
# replays (after its end the engine's book is out of sync, and a sell at the stop would be refused).
CRASH = SimSpec(speed="20", start="2025-10-10T21:09:30Z", end="2025-10-10T21:25:00Z")
# The recovery under test, not the strategy's selectivity: every bullish candle while ACTIVE/RECOVERY
# is an entry, and no emergency stop holds entries back (a loaded machine's feed latency would), so
# that a position is open often enough for the kill to find one.
OPEN_GATES = {
    "strategy": {"score_good": 0.0, "score_exhaustion": 0.0, "volume_multiple": 0.0, "volume_min_quote": 0.0},
    "risk": {"max_latency_ms": 600000, "max_spread_ratio": 10000.0, "min_liquidity_usd": 0.0},
}


def _rows(db: Path, sql: str, *args: object) -> list[tuple]:
    """The rows of `sql`; an error (no database, no table) fails the test: an absence asserted on an
    unreadable database would pass for nothing."""
    assert db.exists(), db
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def _poll(db: Path, sql: str, *args: object) -> list[tuple]:
    """`_rows` while waiting for the processes: no rows while the database or its tables are not
    created yet."""
    if not db.exists():
        return []
    try:
        return _rows(db, sql, *args)
    except sqlite3.OperationalError:
        return []


def _held(db: Path) -> Decimal:
    """What the fills leave held: bought, less a fee taken from the coins bought (in POL, or estimated
    so for a fill made up after a restart), less sold."""
    held = Decimal(0)
    for side, qty, fee, asset in _rows(db, "SELECT side, quantity, fee, fee_asset FROM fills"):
        q = Decimal(qty) - (Decimal(fee) if asset in ("POL", ESTIMATED_BASE_FEE) else 0)
        held += q if side == "BUY" else -Decimal(qty)
    return held


def _halt(flatten: bool) -> bytes:
    """An operator's `EmergencyHalt`, as the command socket takes it."""
    halt = {"type": "EmergencyHalt", "command_id": "halt-1", "ts_ns": 1, "reason": "test", "flatten": flatten}
    return msgpack.packb(halt)


_RESUME = msgpack.packb({"type": "Resume", "command_id": "resume-1", "ts_ns": 1, "reason": "over"})


def _wait_log(session: Session, name: str, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in session.procs[name].log_path.read_text(errors="replace"):
        assert time.monotonic() < deadline, f"{text!r} not in the {name} log within {timeout} s"
        time.sleep(0.2)


def test_strategy_killed_with_an_open_position_recovers_it_and_closes_it_once(bin_dir: Path) -> None:
    session = Session(config=CONFIG, bin_dir=bin_dir, sim=CRASH, overrides=OPEN_GATES)
    try:
        with session:
            assert session.workdir is not None
            db = session.workdir / "reports" / "flashcrash.db"
            deadline = time.monotonic() + 120
            open_trade: list[tuple] = []
            while not open_trade:
                assert time.monotonic() < deadline, "no position opened"
                session.check_alive()
                open_trade = _poll(db, "SELECT trade_key FROM trades WHERE exit_ns IS NULL")
                time.sleep(0.05)
            key = open_trade[0][0]
            assert session.kill("strategy", signal.SIGKILL) == -signal.SIGKILL
            session.restart("strategy")
            _wait_log(session, "strategy", "recovered from session 1", 30)
            _wait_log(session, "strategy", "reconciliation:", 30)
            # The recovered position closes by its own exit, or else at the stop's sell; the recovered
            # session has stored a candle of its own before the stop.
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                rows = _poll(db, "SELECT exit_ns FROM trades WHERE trade_key = ?", key)
                candles = _poll(db, "SELECT count(*) FROM candles WHERE session_id = 2")
                if rows and rows[0][0] is not None and candles and candles[0][0] > 0:
                    break  # an unreadable database (a write in progress) is no answer: asked again
                session.check_alive()
                time.sleep(0.2)
            session.check_alive_one("exchange-sim")
            codes = session.stop()
        assert codes["strategy"] == 0 and codes["engine"] == 0, codes
        assert session.ports_free()
        log = session.procs["strategy"].log_path.read_text()
        assert "reconciliation:" in log, log[-3000:]
        # The position open at the kill was closed, exactly once.
        rows = _rows(db, "SELECT exit_ns, exit_price FROM trades WHERE trade_key = ?", key)
        assert len(rows) == 1 and rows[0][0] is not None and rows[0][1] is not None, rows
        # Every trade is closed, and the fills leave nothing held but dust (under one 0.1 step per
        # trade, what a buy's fee in POL leaves off the grid): nothing lost, nothing sold twice.
        assert _rows(db, "SELECT count(*) FROM trades WHERE exit_ns IS NULL") == [(0,)]
        (trades,) = _rows(db, "SELECT count(*) FROM trades")[0]
        assert 0 <= _held(db) < Decimal("0.1") * trades, (_held(db), trades)
        # No order was ever sent twice with a new id, and none re-sent after the restart (of the orders
        # the audit log holds: at least the entry and the exit of the position killed open).
        placed = _rows(
            db, "SELECT count(*) FROM events WHERE kind = 'command' AND message_type = 'PlaceOrder'"
        )
        assert placed[0][0] >= 2, placed
        dup = _rows(
            db,
            "SELECT client_order_id, count(*) FROM events WHERE kind = 'command'"
            " AND message_type = 'PlaceOrder' GROUP BY client_order_id HAVING count(*) > 1",
        )
        assert dup == [], dup
        sessions = _rows(db, "SELECT id, status, recovered_from FROM sessions ORDER BY id")
        assert sessions == [(1, "crashed", None), (2, "clean", 1)], sessions
        audit = [
            r[0] for r in _rows(db, "SELECT summary FROM events WHERE session_id = 2 AND kind = 'session'")
        ]
        assert any("session 1 had crashed" in s for s in audit), audit
        assert any(s.startswith("recovered from session 1") for s in audit), audit
        # The killed session's candles up to its last committed loop, and the recovered one's.
        counts = dict(_rows(db, "SELECT session_id, count(*) FROM candles GROUP BY session_id"))
        assert counts.get(1, 0) > 0 and counts.get(2, 0) > 0, counts
        out = session.workdir / "session_2.png"
        report = subprocess.run(
            [
                sys.executable,
                "-m",
                "flashcrash",
                "report",
                "--session",
                "2",
                "--db",
                str(db),
                "--out",
                str(out),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert report.returncode == 0, report.stdout + report.stderr
        assert "price, states and equity" in report.stdout and out.stat().st_size > 10_000, report.stdout
    finally:
        session.cleanup()


@pytest.mark.parametrize("at_once", [False, True], ids=["after-silence", "at-once"])
def test_engine_killed_the_strategy_reconciles_when_it_is_back(bin_dir: Path, at_once: bool) -> None:
    """Started again after the strategy called it silent, the engine is back with its first data;
    started again at once, its new `started_ts_ns` in `HealthMetrics` says so. Either way the
    strategy reconciles before entries resume."""
    calm = SimSpec(speed="1", start="2025-10-10T20:50:00Z", end="2025-10-10T21:00:00Z")
    session = Session(config=CONFIG, bin_dir=bin_dir, sim=calm)
    try:
        with session:
            _wait_log(session, "engine", "book in sync", 60)
            _wait_log(session, "strategy", "engine up since", 30)  # the first engine's health
            session.kill("engine", signal.SIGKILL)
            if not at_once:
                _wait_log(session, "strategy", "engine silent", 30)
                _wait_log(session, "strategy", "entries paused: engine silent", 5)
                session.check_alive_one("strategy")
            session.restart("engine")
            _wait_log(session, "strategy", "engine restarted" if at_once else "engine back", 60)
            _wait_log(session, "strategy", "reconciliation:", 30)
            _wait_log(session, "strategy", "entries resume", 30)
            codes = session.stop()
        assert codes["strategy"] == 0 and codes["engine"] == 0, codes
        assert session.ports_free()
        assert session.workdir is not None
        db = session.workdir / "reports" / "flashcrash.db"
        kinds = _rows(db, "SELECT kind, summary FROM events WHERE session_id = 1 ORDER BY id")
        texts = [s for _, s in kinds]
        if at_once:
            assert "engine restarted" in texts, texts
        else:
            assert any(s.startswith("engine silent") for s in texts), texts
            assert any("engine back" in s for s in texts), texts
        assert ("command", "QueryOpenOrders") in kinds, kinds
        assert _rows(db, "SELECT status FROM sessions") == [("clean",)]
    finally:
        session.cleanup()


def test_real_mode_through_kills_loses_nothing(bin_dir: Path) -> None:
    """Real mode, the crash at 4x, every gate open so that the strategy trades: the engine killed and
    restarted at once, after a silence and at once again, the strategy killed and restarted twice.
    Afterwards the venue and the database agree on everything: each order the venue holds is in the
    database, once; each one's fills sum to what the venue executed; the account's POL is what those
    fills leave (dust under one step per trade, no trade open), and its USDT moved by the strategy's
    net P&L."""
    from test_real_executor import REAL_ENV, sim_account, sim_orders

    crash = SimSpec(speed="4", start="2025-10-10T21:10:00Z", end="2025-10-10T21:40:00Z")
    overrides = {**OPEN_GATES, "execution": {"mode": "real", "reconcile_secs": 5}}
    session = Session(config=CONFIG, bin_dir=bin_dir, sim=crash, overrides=overrides, env=REAL_ENV,
                      confirm_real=True)  # fmt: skip
    try:
        with session:
            _wait_log(session, "strategy", "engine up since", 60)
            _wait_log(session, "strategy", "order sent: entry", 120)
            for what in ("engine", "strategy", "engine-after-silence", "engine", "strategy"):
                time.sleep(6)
                if what == "strategy":
                    session.kill("strategy", signal.SIGKILL)
                    session.restart("strategy")
                    continue
                session.kill("engine", signal.SIGKILL)
                if what == "engine-after-silence":
                    _wait_log(session, "strategy", "engine silent", 30)
                session.restart("engine")
            time.sleep(10)
            # The strategy stops first (it sells what it holds), then the engine (it cancels what
            # rests); the venue is read after both, before it stops.
            assert session.kill("strategy", signal.SIGTERM, timeout=20) == 0
            assert session.kill("engine", signal.SIGTERM, timeout=20) == 0
            venue, account = sim_orders(session), sim_account(session)
            session.stop()
        assert session.workdir is not None
        db = session.workdir / "reports" / "flashcrash.db"
        ours = dict(_rows(db, "SELECT client_order_id, side FROM orders"))
        filled: dict[str, Decimal] = defaultdict(Decimal)
        for coid, q in _rows(db, "SELECT client_order_id, quantity FROM fills"):
            filled[coid] += Decimal(q)
        ids = [o["clientOrderId"] for o in venue]
        assert ids and len(ids) == len(set(ids)), ids
        for o in venue:
            assert o["clientOrderId"] in ours, o
            assert filled[o["clientOrderId"]] == Decimal(o["executedQty"]), (o, filled[o["clientOrderId"]])
        assert sum(filled.values()) > 0, "no fill: nothing was tested"
        open_trades = _rows(db, "SELECT trade_key FROM trades WHERE exit_ns IS NULL")
        pnl = sum(
            (Decimal(p) for (p,) in _rows(db, "SELECT pnl FROM trades WHERE pnl IS NOT NULL")), Decimal(0)
        )
        (trades,) = _rows(db, "SELECT count(*) FROM trades")[0]
        assert open_trades == [] and account["POL"] == _held(db) < Decimal("0.1") * trades, (
            open_trades,
            account,
        )
        assert account["USDT"] - 10_000 == pnl, (account, pnl)
    finally:
        session.cleanup()


@pytest.mark.parametrize("flatten", [True, False], ids=["with flatten", "without flatten"])
def test_an_operators_halt_while_a_position_is_open_loses_nothing(bin_dir: Path, flatten: bool) -> None:
    """An operator's `EmergencyHalt` while the strategy holds a position: the engine cancels every
    order (the target too) and refuses orders until `Resume`.
    * With `flatten` the engine sells its net position itself: the strategy closes its lots from that
      sell while the engine is still halted (exit reason `engine_flatten`), and the database keeps
      the engine's order and its fills.
    * Without, the strategy's exit is refused while halted, asked again each second, and sells once
      the engine runs again (exit reason `target_refused`); entries wait meanwhile.
    After a clean stop nothing is left held but dust, and no fill was of an order the strategy could
    not place."""
    session = Session(config=CONFIG, bin_dir=bin_dir, sim=CRASH, overrides=OPEN_GATES)
    ctx = zmq.Context.instance()
    push = ctx.socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 0)
    open_trades = "SELECT count(*) FROM trades WHERE exit_ns IS NULL"

    def wait_no_open_trade(why: str) -> None:
        deadline = time.monotonic() + 30
        while _poll(db, open_trades) != [(0,)]:
            assert time.monotonic() < deadline, why
            time.sleep(0.1)

    try:
        with session:
            assert session.workdir is not None
            db = session.workdir / "reports" / "flashcrash.db"
            push.connect(session.endpoint("command"))
            deadline = time.monotonic() + 120
            while _poll(db, open_trades) in ([], [(0,)]):
                assert time.monotonic() < deadline, "no position opened"
                session.check_alive()
                time.sleep(0.05)
            push.send(_halt(flatten))
            if flatten:  # halted, the engine takes no order: only its flatten can close the lots
                wait_no_open_trade("the engine's flatten did not close the open lots")
            else:
                _wait_log(session, "strategy", "entries paused: engine halted", 10)
                time.sleep(3.0)  # the exit refused, asked again each second
                assert _rows(db, open_trades) != [(0,)], "a position closed while the engine was halted"
            push.send(_RESUME)
            if not flatten:
                wait_no_open_trade("the exit did not go once the engine ran again")
            time.sleep(1.0)
            session.check_alive()
            codes = session.stop()
        assert codes["strategy"] == 0 and codes["engine"] == 0, codes
        reason = "engine_flatten" if flatten else "target_refused"
        closed = _rows(db, "SELECT count(*) FROM trades WHERE exit_reason = ?", reason)
        assert closed[0][0] >= 1, closed
        orders = _rows(db, "SELECT client_order_id, status FROM orders WHERE tag = 'engine_flatten'")
        if flatten:
            assert len(orders) == 1 and orders[0][0].startswith("flatten-") and orders[0][1] == "FILLED", (
                orders
            )
            assert _rows(db, "SELECT count(*) FROM fills WHERE client_order_id = ?", orders[0][0])[0][0] >= 1
        else:
            assert orders == [], orders
        assert _rows(db, open_trades) == [(0,)]
        (trades,) = _rows(db, "SELECT count(*) FROM trades")[0]
        assert 0 <= _held(db) < Decimal("0.1") * trades, (_held(db), trades)
        log = session.procs["strategy"].log_path.read_text()
        assert "fill of unknown order" not in log and "exit could not be sent" not in log, log[-3000:]
    finally:
        push.close()
        session.cleanup()


def test_a_flatten_while_the_strategy_is_down_is_not_sold_again(bin_dir: Path) -> None:
    """The strategy is killed holding a position; while it is down an operator's `EmergencyHalt` with
    `flatten` makes the engine sell it, a sale the strategy never hears. Started again, it reconciles:
    the engine's net position (nothing) against its lots (the position) tells it the lots were sold,
    and it closes them as by the flatten (`engine_flatten`) instead of selling them a second time (it
    did: the paper engine went 499.5 short)."""
    session = Session(config=CONFIG, bin_dir=bin_dir, sim=CRASH, overrides=OPEN_GATES)
    push = zmq.Context.instance().socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 0)
    try:
        with session:
            assert session.workdir is not None
            db = session.workdir / "reports" / "flashcrash.db"
            engine_file = session.workdir / "reports" / "engine-paper-POLUSDT.json"
            push.connect(session.endpoint("command"))

            def engine_holds() -> Decimal:
                return (
                    Decimal(json.loads(engine_file.read_text())["position"])
                    if engine_file.exists()
                    else Decimal(0)
                )

            deadline = time.monotonic() + 120
            open_trade: list[tuple] = []
            while True:  # killed while the engine holds the position (not while its exit sells it)
                assert time.monotonic() < deadline, "no position opened"
                session.check_alive()
                open_trade = _poll(db, "SELECT trade_key FROM trades WHERE exit_ns IS NULL")
                if open_trade and engine_holds() > 0:
                    assert session.kill("strategy", signal.SIGKILL) == -signal.SIGKILL
                    time.sleep(0.3)
                    if engine_holds() > 0:
                        break
                    session.restart("strategy")  # sold by its own exit meanwhile: another one
                time.sleep(0.05)
            push.send(_halt(True))
            deadline = time.monotonic() + 15
            while engine_holds() > 0:
                assert time.monotonic() < deadline, "the engine did not flatten"
                time.sleep(0.1)
            session.restart("strategy")
            _wait_log(session, "strategy", "while nobody listened: the positions follow it", 30)
            push.send(_RESUME)
            time.sleep(1.0)
            session.check_alive()
            codes = session.stop()
        assert codes["strategy"] == 0 and codes["engine"] == 0, codes
        key = open_trade[0][0]
        assert _rows(db, "SELECT exit_reason FROM trades WHERE trade_key = ?", key) == [("engine_flatten",)]
        assert _rows(db, "SELECT count(*) FROM trades WHERE exit_ns IS NULL") == [(0,)]
        # Never short: the lots' coins were sold once, by the engine.
        assert engine_holds() >= 0
    finally:
        push.close()
        session.cleanup()
