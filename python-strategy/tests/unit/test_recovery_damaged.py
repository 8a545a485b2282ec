"""Recovery from a database a crash, a disk or a hand has damaged: a snapshot, an audit event or a
trade row that cannot be restored stops the start with a `DatabaseCorrupt` naming the file and the
row (`flashcrash run` prints it on one line and exits 2), never a traceback, and never a state
restored wrong (a NaN or negative quantity that later stopped the loop or lost the stop-loss). A
supervisor restarting the strategy over such a file does not wear the position away: the lineage of
sessions is followed to the end however many failed starts it holds (cut at 100, it started flat)."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from test_runner_fake_engine import Unconnected, config_for

from flashcrash import config, wire
from flashcrash.persistence import PersistenceService
from flashcrash.persistence.errors import DatabaseCorrupt
from flashcrash.runner import Runner
from flashcrash.trading_engine.money import Price, Quantity
from flashcrash.trading_engine.percentile import Plan
from flashcrash.trading_engine.portfolio import Lot
from flashcrash.trading_engine.position import Position


@pytest.fixture
def cfg(tmp_path: Path) -> config.Config:
    return config_for(tmp_path, Unconnected(), f'db_path = "{tmp_path / "flashcrash.db"}"\n')  # type: ignore[arg-type]


def _start(cfg: config.Config) -> tuple[Runner, Unconnected, PersistenceService]:
    client, db = Unconnected(), PersistenceService.open(cfg)
    runner = Runner(cfg, client, db)  # type: ignore[arg-type]
    try:
        runner.start()
    except BaseException:
        db.close()
        raise
    return runner, client, db


def _killed_holding_100(cfg: config.Config) -> Path:
    """Session 1 buys 100 (filled), snapshots, and dies. Returns the database file."""
    runner, client, db = _start(cfg)
    plan = Plan(Price(Decimal("0.2010")), Price(Decimal("0.2100")), 0.2, 0.21)
    with runner._atomic():
        coid = runner.orders.place("BUY", Quantity(Decimal("100")), plan.entry, 1, "entry")
        assert coid is not None
        runner.strategy.position.add(Lot(coid, plan, Decimal("100"), 1, 1.0, Position()))
    buy = client.sent[-1]
    assert isinstance(buy, wire.PlaceOrder)
    fill = wire.OrderExecution(
        buy.command_id, 1, buy.client_order_id, "X-1", buy.symbol, buy.side, 1, Decimal("0.2010"),
        Decimal("100"), Decimal("100"), buy.quantity, "FILLED", "maker", Decimal(0), "USDT",
    )  # fmt: skip
    with runner._atomic():
        runner.handle(fill)
    with runner._atomic():
        runner._save_snapshots("periodic")
    db.flush()
    db.close()
    return Path(str(cfg.raw["persistence"]["db_path"]))


def _tamper(path: Path, sql: str, *args: object) -> None:
    c = sqlite3.connect(path)
    c.execute(sql, args)
    c.commit()
    c.close()


def _snapshot(component: str, change: Callable[[dict], object]) -> tuple[str, Callable[[Path], None]]:
    def apply(path: Path) -> None:
        c = sqlite3.connect(path)
        sid, state = c.execute(
            "SELECT id, state FROM snapshots WHERE component = ? ORDER BY id DESC LIMIT 1", (component,)
        ).fetchone()
        c.execute("UPDATE snapshots SET state = ? WHERE id = ?", (json.dumps(change(json.loads(state))), sid))
        c.commit()
        c.close()

    return component, apply


def _lot_quantity(value: str) -> Callable[[dict], object]:
    def change(state: dict) -> dict:
        for lot in state["portfolio"]["lots"]:
            lot["position"]["quantity"] = value
        return state

    return change


@pytest.mark.parametrize(
    ("named", "damage"),
    [
        ("the strategy snapshot of session 1", _snapshot("strategy", lambda s: {})[1]),
        ("the strategy snapshot of session 1", _snapshot("strategy", _lot_quantity("NaN"))[1]),
        ("the strategy snapshot of session 1", _snapshot("strategy", _lot_quantity("-100"))[1]),
        ("the orders snapshot of session 1", _snapshot("orders", lambda s: [])[1]),
        ("the breaker snapshot of session 1", _snapshot("breaker", lambda s: {**s, "state": "bogus"})[1]),
        (
            "(response) of session 1",
            lambda p: _tamper(
                p,
                "INSERT INTO events (session_id, ts_ns, ts_utc, kind, summary, payload)"
                " VALUES (1, 9e18, 'x', 'response', 'x', ?)",
                "[1, 2]",
            ),
        ),
    ],
    ids=["strategy-empty", "lot-nan", "lot-negative", "orders-list", "breaker-state", "event-payload"],
)
def test_a_damaged_row_stops_the_start_naming_the_file_and_the_row(
    cfg: config.Config, named: str, damage: Callable[[Path], None]
) -> None:
    path = _killed_holding_100(cfg)
    damage(path)
    with pytest.raises(DatabaseCorrupt) as e:
        _start(cfg)
    assert str(path) in str(e.value) and named in str(e.value), e.value
    assert "cannot be restored" in str(e.value)


def test_failed_starts_never_wear_the_position_away(
    cfg: config.Config, caplog: pytest.LogCaptureFixture
) -> None:
    """120 starts refused by a damaged breaker snapshot each leave a session behind, ended "failed"
    by the start itself (none left "running", none called crashed but session 1), each carrying on the
    one before; once the row is repaired, the next start still finds the 100 bought in session 1 (the
    lineage is followed past 100 sessions: cut there, the strategy started flat and the coins were no
    position's)."""
    path = _killed_holding_100(cfg)
    c = sqlite3.connect(path)
    good = c.execute(
        "SELECT state FROM snapshots WHERE component = 'breaker' ORDER BY id DESC LIMIT 1"
    ).fetchone()[0]
    c.close()
    _snapshot("breaker", lambda s: {**s, "state": "bogus"})[1](path)
    with caplog.at_level(logging.CRITICAL):
        for _ in range(120):
            with pytest.raises(DatabaseCorrupt):
                _start(cfg)
    c = sqlite3.connect(path)
    rows = c.execute("SELECT id, status, recovered_from FROM sessions ORDER BY id").fetchall()
    c.close()
    assert rows == [(1, "crashed", None)] + [(i, "failed", i - 1) for i in range(2, 122)]
    _tamper(path, "UPDATE snapshots SET state = ? WHERE component = 'breaker'", good)
    runner, _, db = _start(cfg)
    try:
        assert runner.session is not None and runner.session.recovered_from == 121
        assert runner.recovery is not None and runner.recovery["from_session"] == 121
        assert runner.recovery["snapshot_session"] == 1
        assert runner.strategy.position.quantity == Decimal("100")
    finally:
        db.close()
