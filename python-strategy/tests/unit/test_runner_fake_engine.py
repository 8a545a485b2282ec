"""The strategy's run loop against a fake engine on real ZeroMQ sockets (random loopback ports): a
scripted crash goes out on the data channel, the strategy's PlaceOrder comes back on the command
channel, fills go out on the responses channel, and the position and summary follow.

The detector's state and readings are scripted (ACTIVE, every indicator at full strength): this test
is about the loop, the strategy and the order manager; the detector has its own tests.

The loop's own duties are also driven by hand, without sockets (`ScriptedLink`, a clock moved by the
test, a `RecordingDb`): engine liveness, order timeouts, the engine's stop, and snapshots."""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import fields, replace
from decimal import Decimal
from pathlib import Path

import zmq
from hypothesis import example, given, settings
from hypothesis import strategies as st
from trading_fixtures import balances, candle, error, execution, placed

from flashcrash import config, wire
from flashcrash.backtest.replay import ReplayLink
from flashcrash.data_client import EngineClient
from flashcrash.event_detector import State
from flashcrash.event_detector.readings import Indicator, Pattern, Reading, Readings
from flashcrash.runner import Runner, engine_silence_ns
from flashcrash.trading_engine.money import Price, Quantity
from flashcrash.trading_engine.orders import OrderStatus
from flashcrash.trading_engine.portfolio import Phase

REPO = Path(__file__).resolve().parents[3]
S = 1_000_000_000
AMPLE = Decimal(1_000_000)  # the fake engine's free quote


class FakeEngine:
    def __init__(self) -> None:
        self.ctx = zmq.Context()
        self.data = self.ctx.socket(zmq.PUB)
        self.cmds = self.ctx.socket(zmq.PULL)
        self.resp = self.ctx.socket(zmq.PUB)
        self.ports = [s.bind_to_random_port("tcp://127.0.0.1") for s in (self.data, self.cmds, self.resp)]
        for s in (self.data, self.cmds, self.resp):
            s.setsockopt(zmq.LINGER, 0)

    def trade(self, sec: float, price: float, tid: int, qty: float = 100.0) -> None:
        ts = int(sec * S)
        t = wire.Trade("POLUSDT", ts, ts, tid, price, qty, "buy")
        self.data.send_multipart([b"trade.POLUSDT", wire.encode(t)])

    def command(self, timeout: float = 5.0) -> object:
        cmd = self.recv(int(timeout * 1000))
        assert cmd is not None, "no command from the strategy"
        return cmd

    def recv(self, timeout_ms: int = 0) -> object | None:
        """The strategy's next command within `timeout_ms` (None: none), but for the balances it asks
        for, which are answered here at once (ample quote): a test handles its orders."""
        end = time.monotonic() + timeout_ms / 1000
        while self.cmds.poll(max(0, int((end - time.monotonic()) * 1000))):
            cmd = wire.decode(self.cmds.recv())
            if not isinstance(cmd, wire.QueryBalances):
                return cmd
            self.resp.send_multipart([b"resp", wire.encode(balances(cmd, AMPLE))])
        return None

    def fill(self, cmd: wire.PlaceOrder, price: str, tid: int) -> None:
        """Accepts `cmd` (resting) and fills it whole as maker."""
        placed = wire.OrderPlaced(
            cmd.command_id, 1, cmd.client_order_id, f"P-{tid}", cmd.symbol, cmd.side, cmd.order_type,
            cmd.time_in_force, cmd.quantity, cmd.price, "NEW",
        )  # fmt: skip
        ex = wire.OrderExecution(
            cmd.command_id, 1, cmd.client_order_id, f"P-{tid}", cmd.symbol, cmd.side, tid,
            Decimal(price), cmd.quantity, cmd.quantity, cmd.quantity, "FILLED", "maker", Decimal("0.05"), "USDT",
        )  # fmt: skip
        for m in (placed, ex):
            self.resp.send_multipart([b"resp", wire.encode(m)])

    def close(self) -> None:
        for s in (self.data, self.cmds, self.resp):
            s.close()
        self.ctx.term()


class ScriptedDetector:
    """The real detector, except for the state and readings the strategy sees."""

    def __init__(self, real: object) -> None:
        self._real = real
        self.state = State.ACTIVE

    def readings(self) -> Readings:
        by = {i: Reading(i, 1.0, 1.0, True, 1.0) for i in Indicator}
        return Readings(0, by, Pattern.NONE, 1.0, 1e6, price_move=6.0)

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)


class Unconnected(ReplayLink):
    """Ports of an engine that is never reached, and a client that only keeps what it sends (the
    backtest's link to the runner: nothing is polled)."""

    ports = (1, 2, 3)

    @property
    def sent(self) -> list[object]:
        return self.outbox


def config_for(tmp_path: Path, eng: FakeEngine, persistence: str = "") -> config.Config:
    """The repository's config copied to `tmp_path`, layered with the fake engine's endpoints and
    `[persistence]` report_dir under `tmp_path` plus the `persistence` lines given."""
    for name in ("config.toml", "schema.toml"):
        (tmp_path / name).write_bytes((REPO / "config" / name).read_bytes())
    d, c, r = eng.ports
    (tmp_path / "local.toml").write_text(
        f'[zmq]\ndata_endpoint = "tcp://127.0.0.1:{d}"\ncommand_endpoint = "tcp://127.0.0.1:{c}"\n'
        f'response_endpoint = "tcp://127.0.0.1:{r}"\n[persistence]\nreport_dir = "{tmp_path / "reports"}"\n'
        + persistence
    )
    return config.load(tmp_path / "config.toml")


def test_scripted_crash_round_trip(tmp_path: Path) -> None:
    eng = FakeEngine()
    cfg = config_for(tmp_path, eng)
    client = EngineClient(cfg.zmq, "POLUSDT")
    runner = Runner(cfg, client)
    runner.detector = ScriptedDetector(runner.detector)  # type: ignore[assignment]
    stop: list[str] = []
    thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    thread.start()
    try:
        time.sleep(0.5)  # subscriptions reach the publisher
        tid = 1
        for sec in range(1000, 1030):  # calm
            eng.trade(sec, 1.0, tid)
            tid += 1
        eng.trade(1030.2, 0.95, tid)  # -5 %: the new local low
        eng.trade(1031.1, 0.95, tid + 1)  # closes the crash second
        eng.trade(1031.5, 0.97, tid + 2, qty=1000.0)  # bullish candle 1031 (0.95 -> 0.97), high volume
        eng.trade(1032.1, 0.97, tid + 3)  # closes candle 1031: entry
        buy = eng.command()
        # Window 0.95 .. 0.97: limit buy at 0.95 + 0.2 x 0.02, target at 0.95 + 0.8 x 0.02.
        assert isinstance(buy, wire.PlaceOrder) and buy.side == "BUY" and buy.order_type == "LIMIT"
        assert buy.price == Decimal("0.9540") and buy.quantity == cfg.symbol.order_quantity
        eng.fill(buy, "0.9540", 1)
        target = eng.command()
        assert isinstance(target, wire.PlaceOrder) and target.side == "SELL" and target.order_type == "LIMIT"
        assert target.price == Decimal("0.9660") and target.quantity == buy.quantity
        eng.trade(1032.5, 0.97, tid + 4)
        eng.fill(target, "0.9660", 2)
        time.sleep(0.3)
    finally:
        stop.append("TEST")
        thread.join(timeout=10)
    summary = runner.write(tmp_path / "summary.json")
    client.close()
    eng.close()
    assert not thread.is_alive()
    assert summary["orders"] == {
        "sent": 2, "placed": 2, "fills": 2, "errors": 0, "cancel_too_late": 0, "timeouts": 0, "cancels": 0,
        "queries": 0, "resends": 0, "in_doubt": 0, "lost": 0, "duplicate_fills": 0, "refused_fills": 0,
        "refused_answers": 0, "unknown_order": 0,
    }  # fmt: skip
    assert summary["pnl"]["trades"] == 1
    # 500 x (0.966 - 0.954) - 2 x 0.05 fees = 5.90
    assert Decimal(summary["pnl"]["net_pnl"]) == Decimal("5.90")
    assert summary["trades"][0]["exit_reason"] == "target"
    assert summary["decisions"]["taken"] == 1
    assert summary["risk"]["breaker"] == "closed"
    assert (tmp_path / "summary.json").exists()
    assert summary["report_png"] and Path(summary["report_png"]).exists()


def test_the_runner_builds_the_breaker_and_the_risk_limits_from_the_config(tmp_path: Path) -> None:
    # Every [risk] value moved off the shipped one: the breaker, the order timeouts, the emergency
    # stops and the order size are the configured ones, not defaults that happen to match.
    eng = FakeEngine()
    base = config_for(tmp_path, eng)
    risk = replace(
        base.risk,
        breaker_failures=base.risk.breaker_failures + 2,
        breaker_open_secs=base.risk.breaker_open_secs + 7,
        order_timeout_ms=base.risk.order_timeout_ms + 250,
        max_latency_ms=base.risk.max_latency_ms + 100,
    )
    cfg = replace(base, risk=risk)
    client = EngineClient(cfg.zmq, "POLUSDT")
    try:
        runner = Runner(cfg, client)
        breaker = runner.orders.breaker
        assert (breaker.max_failures, breaker.open_ns) == (risk.breaker_failures, risk.breaker_open_secs * S)
        assert runner.orders.timeout_ns == risk.order_timeout_ms * 1_000_000
        assert runner.strategy.risk is risk
        assert runner.strategy.stops.max_latency_us == risk.max_latency_ms * 1000
        assert runner.strategy.quantity.value == cfg.symbol.order_quantity
    finally:
        client.close()
        eng.close()


class ScriptedLink:
    """A stand-in for `EngineClient` without sockets: `poll` hands out the messages queued in `inbox`
    (then empties it), `send` records every command."""

    def __init__(self) -> None:
        self.inbox: list[object] = []
        self.sent: list[object] = []
        self.received: Counter[str] = Counter()
        self.malformed: Counter[str] = Counter()
        self.conflated = 0

    def send(self, msg: object) -> bool:
        self.sent.append(msg)
        return True

    def poll(self, timeout_ms: int) -> Iterator[object]:
        msgs, self.inbox = self.inbox, []
        return iter(msgs)


class Clock:
    """The runner's clock, moved by hand."""

    def __init__(self) -> None:
        self.ns = 0

    def __call__(self) -> int:
        return self.ns


def _health() -> wire.HealthMetrics:
    """A HealthMetrics of a live feed with nothing wrong."""
    zero = {f.name: 0 for f in fields(wire.HealthMetrics)}
    return wire.HealthMetrics(**{**zero, "ts_ns": 1, "symbol": "POLUSDT", "feed_state": "live"})


def _scripted_runner() -> tuple[Runner, ScriptedLink, Clock]:
    clock, link = Clock(), ScriptedLink()
    runner = Runner(config.load(REPO / "config" / "config.toml"), link, clock=clock)  # type: ignore[arg-type]
    return runner, link, clock


def test_health_and_state_messages_alone_keep_the_engine_alive() -> None:
    """In a quiet market the engine publishes no trade and no book, only HealthMetrics and the odd
    StateChange: each one proves it alive. Silence is declared `engine_silence_ns` after the last data
    message of any kind (not before), and pauses entries."""
    runner, link, clock = _scripted_runner()
    silence = runner.engine_silence_ns
    clock.ns = silence - 1
    link.inbox.append(_health())
    runner.step(0)
    clock.ns = 2 * silence - 2
    link.inbox.append(wire.StateChange(1, "feed", "syncing", "live", "book in sync"))
    runner.step(0)
    clock.ns = 3 * silence - 3  # one nanosecond short of the silence after the StateChange
    runner.step(0)
    assert not runner.engine_silent and runner.strategy.paused_reason == ""
    clock.ns = 3 * silence - 2
    runner.step(0)
    assert runner.engine_silent and runner.strategy.paused_reason == "engine silent"


def test_entries_wait_while_the_engine_is_halted() -> None:
    """The engine halted (an operator's `EmergencyHalt`, its feed, a venue ban) refuses every order:
    entries pause from its `StateChange` to halted until it runs again."""
    runner, link, _ = _scripted_runner()
    link.inbox.append(wire.StateChange(1, "engine", "running", "halted", "emergency halt: test"))
    runner.step(0)
    assert runner.engine_halted and runner.strategy.paused_reason == "engine halted"
    link.inbox.append(wire.StateChange(2, "engine", "halted", "running", "resume: over"))
    runner.step(0)
    assert not runner.engine_halted and runner.strategy.paused_reason == ""


def test_an_engine_restart_shorter_than_the_silence_is_seen_in_its_health_and_reconciled() -> None:
    """A paper engine restarted within a second holds none of its orders, and the runner never went
    without data for `engine_silence_ns`. The new engine's health carries a new `started_ts_ns`: the
    runner pauses entries and reconciles; the entry the engine no longer knows expires (it filled
    nothing), and entries resume. The first start seen, and the same start again, reconcile nothing."""
    runner, link, clock = _scripted_runner()
    first = replace(_health(), started_ts_ns=100)
    link.inbox.append(first)
    runner.step(0)
    coid = runner.orders.place("BUY", Quantity(Decimal("100")), Price(Decimal("0.2")), 0, "entry")
    assert coid is not None
    (cmd,) = link.sent
    link.inbox += [placed(cmd), replace(first, ts_ns=2)]
    clock.ns = runner.engine_silence_ns // 3
    runner.step(0)
    assert link.sent == [cmd] and runner.strategy.paused_reason == ""
    link.inbox.append(replace(first, ts_ns=3, started_ts_ns=200))  # the engine restarted
    clock.ns = 2 * runner.engine_silence_ns // 3
    runner.step(0)
    ask = link.sent[-1]
    assert isinstance(ask, wire.QueryOpenOrders) and runner.strategy.paused_reason == "reconciling orders"
    assert not runner.engine_silent and runner.engine_started_ns == 200 and runner.engine_restarts == 1
    link.inbox.append(wire.OpenOrders(ask.command_id, 4, "POLUSDT", ()))
    runner.step(0)
    query = link.sent[-1]
    assert isinstance(query, wire.QueryOrder) and query.client_order_id == coid
    link.inbox.append(error(query, "UNKNOWN_ORDER"))
    runner.step(0)
    o = runner.orders.get(coid)
    assert o is not None and o.status is OrderStatus.EXPIRED and o.settled
    assert runner.strategy.paused_reason == ""
    link.inbox.append(replace(first, ts_ns=5, started_ts_ns=200))
    runner.step(0)
    assert link.sent[-1] is query and runner.orders.stats["reconciliations"] == 1


def test_a_start_with_nothing_to_recover_asks_the_engine_what_it_holds_when_first_seen() -> None:
    """A live start with nothing to recover (a database started afresh, against an account that holds
    something) asks the engine for its open orders and net position with its first health, and
    entries wait for the answer: an open order of the symbol nobody here knows is canceled, coins no
    position manages are counted and journaled (not traded). The same start seen again asks nothing."""
    runner, link, _ = _scripted_runner()
    journal: list[tuple[str, str]] = []
    runner.strategy.journal = lambda kind, text, _payload: journal.append((kind, text))
    runner.start()
    assert link.sent == []
    first = replace(_health(), started_ts_ns=100)
    link.inbox.append(first)
    runner.step(0)
    (ask,) = link.sent
    assert isinstance(ask, wire.QueryOpenOrders) and runner.strategy.paused_reason == "reconciling orders"
    stray = wire.OrderInfo(
        "by-hand-1", "X-9", "POLUSDT", "BUY", "LIMIT", "GTC", Decimal("50"), Decimal("0.1"),
        Decimal("0"), Decimal("0"), "NEW", 1, 2,
    )  # fmt: skip
    link.inbox.append(wire.OpenOrders(ask.command_id, 2, "POLUSDT", (stray,), Decimal("300")))
    runner.step(0)
    cancel = link.sent[-1]
    assert isinstance(cancel, wire.CancelOrder) and cancel.client_order_id == "by-hand-1"
    assert runner.orders.stats["orphans_canceled"] == 1
    assert runner.strategy.decisions["error_engine_holds_more"] == 1
    assert ("error", "the engine holds 300, the positions 0") in journal
    assert runner.strategy.paused_reason == ""
    link.inbox.append(replace(first, ts_ns=3))
    runner.step(0)
    assert link.sent[-1] is cancel and runner.orders.stats["reconciliations"] == 1


def test_a_restart_after_a_silence_is_reconciled_once() -> None:
    """A restart longer than `engine_silence_ns`: the new engine's first message is its health, with a
    new start. Its return after the silence already reconciles; the new start asks nothing more."""
    runner, link, clock = _scripted_runner()
    link.inbox.append(replace(_health(), started_ts_ns=100))
    runner.step(0)
    clock.ns = runner.engine_silence_ns
    runner.step(0)
    assert runner.engine_silent
    link.inbox.append(replace(_health(), ts_ns=2, started_ts_ns=200))
    runner.step(0)
    assert [type(m) for m in link.sent] == [wire.QueryOpenOrders]
    assert runner.orders.stats["reconciliations"] == 1 and runner.engine_started_ns == 200


def test_engine_silence_is_five_health_intervals_and_at_least_three_seconds() -> None:
    """A killed engine says nothing: silence is 5 missed health intervals, never under 3 s."""
    cfg = config.load(REPO / "config" / "config.toml")
    for interval_ms, expected in ((100, 3 * S), (600, 3 * S), (1000, 5 * S), (2000, 10 * S)):
        c = replace(cfg, monitoring=replace(cfg.monitoring, health_interval_ms=interval_ms))
        assert engine_silence_ns(c) == expected, interval_ms


def test_the_loop_follows_up_an_unanswered_order_after_the_configured_timeout() -> None:
    """Each loop iteration checks the order timeouts on the runner's clock: an order unanswered for
    `[risk] order_timeout_ms` is queried by its client order id (never placed again)."""
    runner, link, clock = _scripted_runner()
    timeout = runner.cfg.risk.order_timeout_ms * 1_000_000
    coid = runner.orders.place("BUY", Quantity(Decimal("100")), Price(Decimal("0.2")), 0, "entry")
    clock.ns = timeout - 1
    runner.step(0)
    assert [type(m) for m in link.sent] == [wire.PlaceOrder]
    clock.ns = timeout
    runner.step(0)
    assert [type(m) for m in link.sent] == [wire.PlaceOrder, wire.QueryOrder]
    assert link.sent[-1].client_order_id == coid  # type: ignore[attr-defined]


class RecordingDb:
    """A stand-in for `PersistenceService` that keeps what the runner writes: every snapshot as
    (name, reason, the runner's time), every response and command."""

    def __init__(self, snapshot_interval_secs: int) -> None:
        self.settings = type("Settings", (), {"snapshot_interval_secs": snapshot_interval_secs})()
        self.snapshots: list[tuple[str, str, int]] = []
        self.responses: list[object] = []
        self.refusals: list[tuple[str | None, str]] = []
        self.commands: list[object] = []
        self.event_clock = None

    def find_unfinished_session(self) -> None:
        return None

    def start_session(self) -> object:
        return object()

    def save_snapshot(self, name: str, state: object, reason: str, now_ns: int) -> None:
        self.snapshots.append((name, reason, now_ns))

    def record_response(
        self, msg: object, client_order_id: str | None = None, refused: str | None = None
    ) -> None:
        self.responses.append(msg)
        if refused is not None:
            self.refusals.append((client_order_id, refused))

    def record_command(self, cmd: object, tag: str = "") -> None:
        self.commands.append(cmd)

    def commit_now(self) -> None:
        pass

    def atomic(self, label: str = "group") -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def __getattr__(self, name: str) -> object:  # record_event, record_candle, ...: not looked at here
        return lambda *args, **kw: None


def test_every_component_is_snapshot_on_the_interval_of_the_runners_clock() -> None:
    """`snapshot_interval_secs` apart, every component is snapshot ("periodic"), and not in between
    while nothing changes."""
    interval = 60 * S
    clock, link = Clock(), ScriptedLink()
    db = RecordingDb(60)
    runner = Runner(config.load(REPO / "config" / "config.toml"), link, db, clock=clock)  # type: ignore[arg-type]
    base = 10**18  # the runner's clock, far from the wall clock: snapshots follow the runner's
    clock.ns = base
    runner.start()  # the first snapshot is due an interval after the start
    runner.step(0)
    assert db.snapshots == []
    clock.ns = base + 2 * interval
    runner.step(0)
    periodic = {n for n, reason, _ in db.snapshots if reason == "periodic"}
    assert {"strategy", "orders", "breaker", "runner"} <= periodic and len(db.snapshots) == len(periodic)
    taken = len(db.snapshots)
    clock.ns = base + 3 * interval - 1
    runner.step(0)
    assert len(db.snapshots) == taken  # not yet
    clock.ns = base + 3 * interval
    runner.step(0)
    second = db.snapshots[taken:]
    assert len(second) == taken and {r for _, r, _ in second} == {"periodic"}


def test_a_refusal_is_recorded_with_the_order_and_the_kind_of_the_refused_command() -> None:
    """The database marks an order REJECTED only for a refused PlaceOrder: the runner tells it which
    order and which kind of command each Error answers."""
    clock, link = Clock(), ScriptedLink()
    db = RecordingDb(60)
    runner = Runner(config.load(REPO / "config" / "config.toml"), link, db, clock=clock)  # type: ignore[arg-type]
    runner.start()
    coid = runner.orders.place("BUY", Quantity(Decimal("100")), Price(Decimal("0.2")), 0, "entry")
    link.inbox.append(placed(link.sent[-1]))
    runner.step(0)
    assert runner.orders.cancel(coid, 0)  # type: ignore[arg-type]
    link.inbox.append(error(link.sent[-1], "NOT_SYNCED"))
    runner.step(0)
    other = runner.orders.place("BUY", Quantity(Decimal("100")), Price(Decimal("0.2")), 0, "entry")
    link.inbox.append(error(link.sent[-1], "VALIDATION"))
    runner.step(0)
    assert db.refusals == [(coid, "CancelOrder"), (other, "PlaceOrder")]


def test_an_iteration_with_a_response_snapshots_the_trading_components_and_records_it() -> None:
    """A response changes the trading state: it goes to the audit log, and the iteration that got it
    ends with a snapshot of the trading components (reason "change"), before the periodic one is due."""
    clock, link = Clock(), ScriptedLink()
    db = RecordingDb(60)
    runner = Runner(config.load(REPO / "config" / "config.toml"), link, db, clock=clock)  # type: ignore[arg-type]
    runner.start()
    clock.ns = time.time_ns()
    coid = runner.orders.place("BUY", Quantity(Decimal("100")), Price(Decimal("0.2")), clock.ns, "entry")
    cmd = link.sent[-1]
    assert isinstance(cmd, wire.PlaceOrder) and cmd.client_order_id == coid and db.commands == [cmd]
    runner.step(0)  # the command was sent outside the loop: this iteration snapshots it
    db.snapshots.clear()
    runner.step(0)
    assert db.snapshots == []  # nothing changed
    placed = wire.OrderPlaced(
        cmd.command_id, 1, cmd.client_order_id, "X-1", cmd.symbol, cmd.side, cmd.order_type,
        cmd.time_in_force, cmd.quantity, cmd.price, "NEW",
    )  # fmt: skip
    link.inbox.append(placed)
    taken: list[int] = []  # the detector's snapshot (about 2 ms) is not taken to be thrown away
    real = runner.detector.snapshot
    runner.detector.snapshot = lambda: taken.append(1) or real()  # type: ignore[method-assign]
    runner.step(0)
    assert db.responses == [placed]
    assert sorted(n for n, _, _ in db.snapshots) == ["breaker", "orders", "runner", "strategy"]
    assert {r for _, r, _ in db.snapshots} == {"change"}
    assert taken == []


def test_the_engine_announcing_it_stopped_stops_the_loop() -> None:
    """A StateChange of component `engine` to `stopped` ends the run (`stop_reason`); other engine
    state changes do not."""
    runner, link, _ = _scripted_runner()
    link.inbox.append(wire.StateChange(1, "engine", "starting", "running", "up"))
    runner.step(0)
    assert runner.stop_reason == ""
    link.inbox.append(wire.StateChange(2, "engine", "running", "stopped", "SIGTERM"))
    runner.step(0)
    assert runner.stop_reason == "engine stopped"


def _resting_entry(runner: Runner, link: ScriptedLink) -> wire.PlaceOrder:
    """The detector scripted ACTIVE, the window of `trading_fixtures.setup_window`: the strategy's
    limit buy at 0.2010 (target 0.2040), acknowledged by the engine."""
    runner.detector = ScriptedDetector(runner.detector)  # type: ignore[assignment]
    runner._on_candle(candle(1, 0.2010, 0.2010, 0.2000, 0.2005), 0)
    runner._on_candle(candle(2, 0.2005, 0.2050, 0.2004, 0.2050, 5000), 0)
    (buy,) = [m for m in link.sent if isinstance(m, wire.PlaceOrder)]
    link.inbox.append(placed(buy))
    runner.step(0)
    return buy


def _book(ts_ns: int, mid: float = 0.2020) -> wire.OrderBookSnapshot:
    bids = tuple((round(mid - 0.0001 * (k + 1), 4), 10_000.0) for k in range(5))
    asks = tuple((round(mid + 0.0001 * (k + 1), 4), 10_000.0) for k in range(5))
    return wire.OrderBookSnapshot("POLUSDT", ts_ns, ts_ns, ts_ns // 1_000_000, bids, asks)


def test_the_feeds_state_change_sets_the_feed_stop_at_once_and_its_return_clears_it() -> None:
    """The feed stop follows the feed's StateChange, which a backtest replays a recording gap as
    (it has no HealthMetrics): entries pause and the resting entry is canceled as the feed leaves
    live, not a health interval later; trading resumes as it comes back."""
    runner, link, _ = _scripted_runner()
    buy = _resting_entry(runner, link)
    link.inbox.append(wire.StateChange(3 * S, "feed", "live", "reconnecting", "stream lost"))
    runner.step(0)
    st = runner.strategy
    assert set(st.stops.active) == {"feed"} and st.stops.triggered == {"feed": 1}
    cancel = link.sent[-1]
    assert isinstance(cancel, wire.CancelOrder) and cancel.client_order_id == buy.client_order_id
    link.inbox.append(wire.StateChange(4 * S, "feed", "reconnecting", "live", "book in sync"))
    runner.step(0)
    assert not st.stops.paused


def test_the_seconds_of_a_feed_outage_do_not_count_as_quiet_ones_in_the_volume_average() -> None:
    """Ten seconds at 3000 a second, then the feed out of live for 50 s: the average volume of the
    last 60 s is 3000 a second (over the 10 s observed), not 500, and a candle of 2000 is no spike."""
    runner, link, _ = _scripted_runner()
    for k in range(10):
        runner._on_candle(candle(k, 0.2, 0.2, 0.2, 0.2, 3000), 0)
    link.inbox += [
        wire.StateChange(10 * S, "feed", "live", "reconnecting", "stream lost"),
        wire.StateChange(60 * S, "feed", "reconnecting", "live", "book in sync"),
    ]
    runner.step(0)
    check = runner.strategy.volume.check(candle(60, 0.2, 0.2, 0.2, 0.2, 2000))
    assert check.average == 3000 and not check.ok


def test_max_hold_is_enforced_on_books_when_no_trade_comes() -> None:
    """A position bought at 3.5 s, then books and no trade: it is sold (its target canceled first)
    at the first book `max_hold_secs` after the entry, not whenever the next trade comes."""
    runner, link, _ = _scripted_runner()
    buy = _resting_entry(runner, link)
    fill_ns = int(3.5 * S)
    link.inbox += [
        _book(fill_ns - S // 10),  # the session's first event: held until the trade confirms its time
        wire.Trade("POLUSDT", fill_ns, fill_ns, 1, 0.2020, 100.0, "buy"),
        execution(buy, "0.2010", str(buy.quantity), 1),
    ]
    runner.step(0)
    (lot,) = runner.strategy.position.lots.values()
    assert lot.phase is Phase.HOLDING and lot.position.entry_ns == fill_ns
    limit = fill_ns + runner.cfg.strategy.max_hold_secs * S
    for ts in range(fill_ns + S // 10, limit, S // 10):
        link.inbox.append(_book(ts))
        runner.step(0)
    assert lot.phase is Phase.HOLDING and not any(isinstance(m, wire.CancelOrder) for m in link.sent)
    link.inbox.append(_book(limit))
    runner.step(0)
    assert lot.phase is Phase.EXITING and lot.exit_reason == "max_hold"
    cancel = link.sent[-1]
    assert isinstance(cancel, wire.CancelOrder) and cancel.client_order_id == lot.target_coid


# ------------------------------------------------- odd market data down the order path
_BAD = st.sampled_from([math.nan, math.inf, -math.inf, -1.0, -1e-9, 0.0])
_ODD_TIMES = st.one_of(
    st.tuples(st.just("near"), st.integers(-5 * S, 5 * S)),  # shuffled around the market's time
    st.tuples(st.just("at"), st.integers(1_000 * S, 1_040 * S)),  # anywhere in it
    st.tuples(st.just("at"), st.integers(1_041 * S + 86_400 * S, 2**62)),  # far ahead, to 2116
    st.tuples(st.just("at"), st.integers(1, 900 * S) | st.integers(-S, 0)),  # far back, not positive
)


def _crash_market() -> list[tuple[int, float, float]]:
    """`test_scripted_crash_round_trip`'s market, a trade every 250 ms: calm at 1.0 from 1,000 s, a
    new low at 0.95, a bullish candle of high volume (an entry), then calm at 0.97."""
    out = [(1_000 * S + k * S // 4, 1.0, 100.0) for k in range(120)]
    out += [(int(1030.2 * S), 0.95, 100.0), (int(1031.1 * S), 0.95, 100.0), (int(1031.5 * S), 0.97, 1000.0)]
    out += [(1_032 * S + S // 10 + k * S // 4, 0.97, 100.0) for k in range(32)]
    return out


def _sane(x: Decimal | None, may_be_none: bool = False) -> bool:
    return (x is None and may_be_none) or (x is not None and x.is_finite() and x > 0)


@settings(max_examples=60, deadline=None)
@example(odd={})
@given(
    st.dictionaries(
        st.integers(1, 150),  # where among the market's trades (one odd event at most there)
        st.tuples(
            _ODD_TIMES,
            st.floats(0.9, 1.1) | _BAD,
            st.floats(0.0, 2_000.0) | _BAD,
            st.booleans(),
        ),
        max_size=60,
    )
)
def test_odd_market_data_never_reaches_an_order(
    odd: dict[int, tuple[tuple[str, int], float, float, bool]],
) -> None:
    """The runner on a market (the detector's state scripted ACTIVE, as `test_scripted_crash_round_trip`)
    with odd trades and books among its trades: NaN, Inf, negative and zero prices and quantities,
    times shuffled, far ahead, far back or not positive. Every order sent has a finite positive price
    and quantity; no candle is far off in time or of a bad price; the event clock never jumps ahead.
    The market alone enters and places its target (`@example`): the property is not vacuous."""
    runner, link, clock = _scripted_runner()
    runner.detector = ScriptedDetector(runner.detector)  # type: ignore[assignment]
    for i, (ts, price, qty) in enumerate(_crash_market()):
        clock.ns, tid = ts, i + 1
        if i in odd:
            (kind, t), o_price, o_qty, is_book = odd[i]
            o_ts = ts + t if kind == "near" else t
            if is_book:
                bids, asks = ((o_price, o_qty),), ((o_price + 0.001, o_qty),)
                link.inbox.append(wire.OrderBookSnapshot("POLUSDT", o_ts, o_ts, 1, bids, asks))
            else:
                link.inbox.append(wire.Trade("POLUSDT", o_ts, o_ts, 0, o_price, o_qty, "sell"))
        link.inbox.append(wire.Trade("POLUSDT", ts, ts, tid, price, qty, "buy"))
        sent = len(link.sent)
        runner.step(0)
        for cmd in link.sent[sent:]:  # the engine fills every order at its price at once
            if isinstance(cmd, wire.PlaceOrder) and cmd.price is not None:
                link.inbox += [placed(cmd), execution(cmd, str(cmd.price), str(cmd.quantity), tid)]
    orders = [m for m in link.sent if isinstance(m, wire.PlaceOrder)]
    for o in orders:
        assert _sane(o.price, may_be_none=o.order_type == "MARKET") and _sane(o.quantity), o
    for c in runner.history:
        assert 1_000 * S <= c.start_ns <= 1_041 * S, c
        assert all(math.isfinite(x) and x > 0 for x in (c.open, c.high, c.low, c.close)), c
    assert runner.event_ns <= 1_041 * S + 5 * S
    if not odd:
        assert [(o.side, o.price) for o in orders] == [
            ("BUY", Decimal("0.9540")),
            ("SELL", Decimal("0.9660")),
        ]
