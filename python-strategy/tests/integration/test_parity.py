"""Paper trading and the backtest decide the same on the same data (docs/parity.md).

The thin slice's window of the real crash (21:09:30-21:15:00 UTC) is paper-traded through the real
processes (exchange-sim replaying at 20x, the engine in paper mode, the strategy) and backtested
in-process (`flashcrash.backtest.replay.Replay`) with the same configuration. Both strategies record
through the same persistence code into a database of their own; the two are compared in replay
time, the paper session's times less the simulator's whole-second rebase:

* every 1-second candle is the same (open, high, low, close, volume, trades);
* the detector goes through the same transitions, each in the same second;
* the same entries are decided: count, second, limit price and quantity, and so the same entry
  orders are sent.

What order latency and the paper engine's book make differ (which exits fill and at what price, the
P&L) is measured in docs/parity.md, not asserted: it depends on the machine's timing.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from flashcrash import config
from flashcrash.backtest.commands import parse_utc, window
from flashcrash.backtest.replay import Clock, Replay
from flashcrash.launcher import DEMO_DATA, REPO, Session, SimSpec
from flashcrash.marketdata import load_trades
from flashcrash.persistence import PersistenceService
from flashcrash.persistence.service import PersistenceSettings
from flashcrash.runner import Runner

pytestmark = pytest.mark.integration

CONFIG = REPO / "config" / "config.toml"
START, END = "2025-10-10T21:09:30Z", "2025-10-10T21:15:00Z"
S = 1_000_000_000


def trace(db: Path) -> dict[str, Any]:
    """What the strategy recorded in its (only) session: candles, detector transitions, entries and
    their orders (times are event times)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        (sid,) = con.execute("SELECT max(id) FROM sessions").fetchone()
        candles = {
            row[0]: row[1:]
            for row in con.execute(
                "SELECT start_ns, open, high, low, close, volume, trades FROM candles WHERE session_id=?",
                (sid,),
            )
        }
        transitions, entries, orders = [], [], []
        for kind, component, message_type, event_ns, ts_ns, summary, payload in con.execute(
            "SELECT kind, component, message_type, event_ns, ts_ns, summary, payload FROM events"
            " WHERE session_id=? ORDER BY id",
            (sid,),
        ):
            p = json.loads(payload)
            if kind == "transition" and component == "detector" and p["current"] != "SHUTDOWN":
                transitions.append((ts_ns, p["previous"], p["current"]))
            elif kind == "entry_decision":
                entries.append((event_ns, summary))
            elif kind == "command" and message_type == "PlaceOrder" and p["side"] == "BUY":
                orders.append((event_ns, p["order_type"], p["price"], float(p["quantity"])))
    finally:
        con.close()
    return {"candles": candles, "transitions": transitions, "entries": entries, "entry_orders": orders}


def backtest(db: Path) -> dict[str, Any]:
    """The backtest of the window, its strategy recording into `db` as `flashcrash run` records (on the
    synthetic book with its overlay, as the paper session's exchange-sim)."""
    cfg = config.load(CONFIG, [config.synthetic_book_overlay(CONFIG)])
    trades, _, _ = load_trades(DEMO_DATA, REPO / "data" / "cache")
    replay = Replay(cfg, window(trades, parse_utc(START), parse_utc(END)))
    service = PersistenceService.open(PersistenceSettings(db))
    service.cfg = cfg
    replay.runner = Runner(cfg, replay.link, service, clock=Clock(replay))
    try:
        replay.runner.start()
        replay.run()
        replay.runner._record_transitions()
        replay.runner.finish()
    finally:
        service.close()
    return trace(db)


def paired(a: list[tuple[int, Any]], b: list[tuple[int, Any]]) -> list[tuple[int, Any]]:
    """The items of `a` without an item of `b` of the same value in the same second (each used once)."""
    left = Counter((t // S, tuple(v)) for t, *v in b)
    missing = []
    for t, *v in a:
        key = (t // S, tuple(v))
        if left[key]:
            left[key] -= 1
        else:
            missing.append((t, *v))
    return missing


def test_paper_and_backtest_decide_the_same(bin_dir: Path, tmp_path: Path) -> None:
    session = Session(config=CONFIG, bin_dir=bin_dir, sim=SimSpec(speed="20", start=START, end=END))
    try:
        with session:
            session.wait_replay_end(timeout=120)
            sent = int((session.sim_stats() or {})["trades_sent"])
            received, caught_up = session.wait_strategy_caught_up(sent, timeout=60)
            codes = session.stop()
        assert codes == {"strategy": 0, "engine": 0, "exchange-sim": 0}, codes
        assert session.ports_free()
        assert session.workdir is not None
        paper = trace(session.workdir / "reports" / "flashcrash.db")
    finally:
        session.cleanup()
    bt = backtest(tmp_path / "backtest.db")
    assert caught_up and received == sent, (sent, received)

    # The simulator stamps the replay from "now", shifted by whole seconds: its first candle is the
    # backtest's first, so is every other one.
    assert bt["candles"] and paper["candles"]
    shift = min(paper["candles"]) - min(bt["candles"])
    assert shift % S == 0, shift
    moved = {t - shift: c for t, c in paper["candles"].items()}
    assert moved == bt["candles"], [
        (t, bt["candles"].get(t), moved.get(t))
        for t in sorted(set(moved) | set(bt["candles"]))
        if moved.get(t) != bt["candles"].get(t)
    ][:5]

    def back(items: list[tuple[int, Any]]) -> list[tuple[int, Any]]:
        return [(t - shift, *rest) for t, *rest in items]

    # The detector saw the same market: the same transitions, in the same seconds (measured: to the
    # millisecond at 1x, 10x, 20x and 30x; docs/parity.md).
    assert len(bt["transitions"]) >= 4, bt["transitions"]
    pt = back(paper["transitions"])
    assert [x[1:] for x in pt] == [x[1:] for x in bt["transitions"]], (pt, bt["transitions"])
    assert paired(bt["transitions"], pt) == [], (pt, bt["transitions"])

    # The same entries, decided in the same second at the same limit price and quantity, and sent.
    assert len(bt["entries"]) >= 3, bt["entries"]
    pe = back(paper["entries"])
    assert len(pe) == len(bt["entries"]), (pe, bt["entries"])
    assert paired(bt["entries"], pe) == [], (pe, bt["entries"])
    po = back(paper["entry_orders"])
    assert len(po) == len(bt["entry_orders"]), (po, bt["entry_orders"])
    assert paired(bt["entry_orders"], po) == [], (po, bt["entry_orders"])
