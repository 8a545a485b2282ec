"""The real executor across the real processes: commands from Python → engine in real mode →
exchange-sim's signed order API → fills → the user data stream's executionReports → responses back to
Python. The same commands in paper mode answer with the same sequence of responses."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq

from flashcrash.launcher import REPO, Session, SimSpec

pytestmark = pytest.mark.integration

CONFIG = REPO / "config" / "config.toml"
CALM = SimSpec(speed="1", start="2025-10-10T20:50:00Z", end="2025-10-10T21:00:00Z")
# exchange-sim's default account: the example HMAC key pair of Binance's REST API documentation.
SIM_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SIM_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
REAL_ENV = {"BINANCE_API_KEY": SIM_KEY, "BINANCE_API_SECRET": SIM_SECRET}
# Far below the market: rests until canceled.
FAR_BID = "0.1000"


class Channel:
    """The strategy's side of the engine: PUSH commands, SUB responses."""

    def __init__(self, session: Session) -> None:
        ctx = zmq.Context.instance()
        self.push, self.sub = ctx.socket(zmq.PUSH), ctx.socket(zmq.SUB)
        for s in (self.push, self.sub):
            s.setsockopt(zmq.LINGER, 0)
        self.push.connect(session.endpoint("command"))
        self.sub.connect(session.endpoint("response"))
        self.sub.setsockopt(zmq.SUBSCRIBE, b"resp")
        self.seen: list[dict[str, Any]] = []

    def close(self) -> None:
        self.push.close()
        self.sub.close()

    def send(self, cmd: dict[str, Any]) -> None:
        # Sent now, as the strategy stamps its commands (a buy older than [risk] max_entry_delay_ms
        # when its turn comes is refused).
        self.push.send(msgpack.packb({"ts_ns": time.time_ns(), **cmd}))

    def collect(self, done: Callable[[list[dict[str, Any]]], bool], timeout: float) -> list[dict[str, Any]]:
        """Every response until `done(responses)` holds (or the timeout passes)."""
        deadline = time.monotonic() + timeout
        while not done(self.seen) and time.monotonic() < deadline:
            if self.sub.poll(200):
                topic, body = self.sub.recv_multipart()
                assert topic == b"resp"
                self.seen.append(msgpack.unpackb(body, raw=False))
        return self.seen

    def of(self, client_order_id: str) -> list[dict[str, Any]]:
        return [r for r in self.seen if r.get("client_order_id") == client_order_id]

    def answer(self, command_id: str, timeout: float = 20.0) -> dict[str, Any]:
        self.collect(lambda rs: any(r.get("command_id") == command_id for r in rs), timeout)
        for r in self.seen:
            if r.get("command_id") == command_id:
                return r
        raise AssertionError(f"no response to {command_id} within {timeout} s: {self.seen[-5:]}")


def order(cid: str, **kw: Any) -> dict[str, Any]:
    base = {
        "type": "PlaceOrder", "command_id": cid, "client_order_id": cid, "symbol": "POLUSDT",
        "side": "BUY", "order_type": "MARKET", "time_in_force": None, "quantity": "100", "price": None,
    }  # fmt: skip
    return {**base, **kw}


_READY = itertools.count(1)


def wait_until_tradable(ch: Channel, timeout: float = 40.0) -> None:
    """Queries open orders until the engine answers (book in sync, venue reachable). Its command ids
    are new at every call: after an engine restart, the answers to the first engine's are still in
    `ch.seen` and must not pass for the new engine's."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = next(_READY)
        cid = f"ready-{n}"
        ch.send({"type": "QueryOpenOrders", "command_id": cid, "symbol": "POLUSDT"})
        # The first answers may be lost while the subscription is still being set up.
        ch.collect(lambda rs, cid=cid: any(r.get("command_id") == cid for r in rs), 2.0)
        r = next((r for r in ch.seen if r.get("command_id") == cid), {"type": "none"})
        if r["type"] == "OpenOrders":
            snap = {"type": "RequestSnapshot", "command_id": f"snap-{n}", "symbol": "POLUSDT"}
            ch.send(snap)
            if ch.answer(f"snap-{n}")["type"] == "Success":
                return
        time.sleep(0.3)
    raise AssertionError("the engine never became ready")


@contextmanager
def running(
    bin_dir: Path,
    real: bool,
    sim: SimSpec = CALM,
    risk: dict[str, Any] | None = None,
    execution: dict[str, Any] | None = None,
) -> Iterator[tuple[Session, Channel]]:
    overrides: dict[str, dict[str, Any]] = {"risk": risk or {}, "execution": execution or {}}
    if real:
        overrides["execution"]["mode"] = "real"
    session = Session(
        config=CONFIG,
        bin_dir=bin_dir,
        sim=sim,
        overrides=overrides,
        env=REAL_ENV if real else {},
        confirm_real=real,
        strategy=False,
    )
    ch: Channel | None = None
    try:
        with session:
            ch = Channel(session)
            try:
                wait_until_tradable(ch)
            except AssertionError:
                session.check_alive()  # a dead engine says why (its log's tail)
                raise
            yield session, ch
            session.check_alive()
            codes = session.stop()
            assert codes["engine"] == 0, (codes, session.procs["engine"].log_path.read_text()[-3000:])
        assert session.ports_free()
    finally:
        if ch is not None:
            ch.close()
        session.cleanup()


def shape(rs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """What must agree between paper and real: each response's type and status."""
    return [(r["type"], r.get("status") or r.get("order", {}).get("status", "")) for r in rs]


def scenario(ch: Channel) -> dict[str, list[tuple[str, str]]]:
    """A market buy filled in one piece (its fees: the fraction of the quantity bought, and in which
    asset), a resting bid, its cancel, a query of the canceled order."""
    out: dict[str, list[tuple[str, str]]] = {}
    ch.send(order("mkt-1"))
    ch.collect(lambda rs: any(r.get("client_order_id") == "mkt-1" and r.get("status") == "FILLED"
                              and r["type"] == "OrderExecution" for r in rs), 20)  # fmt: skip
    ch.collect(lambda rs: False, 1.0)  # anything late (a duplicate fill) shows up here
    out["market"] = shape(ch.of("mkt-1"))
    fills = [r for r in ch.of("mkt-1") if r["type"] == "OrderExecution"]
    out["market_fees"] = sorted(
        {(str(Decimal(r["fee"]) / Decimal(r["last_quantity"])), r["fee_asset"]) for r in fills}
    )
    ch.send(order("rest-1", order_type="LIMIT", time_in_force="GTC", price=FAR_BID))
    ch.answer("rest-1")
    ch.send(
        {"type": "CancelOrder", "command_id": "cancel-1", "symbol": "POLUSDT", "client_order_id": "rest-1"}
    )
    ch.answer("cancel-1")
    ch.collect(lambda rs: False, 0.5)
    out["limit_then_cancel"] = shape(ch.of("rest-1"))
    ch.send({"type": "QueryOrder", "command_id": "query-1", "symbol": "POLUSDT", "client_order_id": "rest-1"})
    out["query"] = shape([ch.answer("query-1")])
    ch.send({"type": "CancelOrder", "command_id": "cancel-2", "symbol": "POLUSDT", "client_order_id": "nope"})
    err = ch.answer("cancel-2")
    out["cancel_unknown"] = [(err["type"], err.get("code", ""))]
    ch.send({"type": "QueryBalances", "command_id": "bal-1"})
    bal = ch.answer("bal-1")
    out["balances"] = [(bal["type"], ",".join(b["asset"] for b in bal.get("balances", [])))]
    return out


def sim_account(session: Session) -> dict[str, Decimal]:
    """The venue account's free plus locked balance per asset (a signed `GET /api/v3/account`)."""
    query = f"timestamp={int(time.time() * 1000)}"
    signature = hmac.new(SIM_SECRET.encode(), query.encode(), hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        f"http://127.0.0.1:{session.sim_port}/api/v3/account?{query}&signature={signature}",
        headers={"X-MBX-APIKEY": SIM_KEY},
    )
    with urllib.request.urlopen(request, timeout=5) as r:
        balances = json.loads(r.read())["balances"]
    return {b["asset"]: Decimal(b["free"]) + Decimal(b["locked"]) for b in balances}


def sim_orders(session: Session) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{session.sim_port}/sim/orders", timeout=5) as r:
        return json.loads(r.read())


def test_real_mode_answers_like_paper_mode_and_orders_reach_the_venue_once(bin_dir: Path) -> None:
    with running(bin_dir, real=False) as (_, ch):
        paper = scenario(ch)
    with running(bin_dir, real=True) as (session, ch):
        real = scenario(ch)
        orders = sim_orders(session)
        logs = "".join(p.log_path.read_text() for p in session.procs.values())
    assert paper["market"][0] == ("OrderPlaced", "FILLED"), paper
    assert paper["market"][-1] == ("OrderExecution", "FILLED"), paper
    assert paper["limit_then_cancel"] == [("OrderPlaced", "NEW"), ("OrderCanceled", "CANCELED")], paper
    assert paper["query"] == [("OrderStatus", "CANCELED")], paper
    assert paper["cancel_unknown"] == [("Error", "UNKNOWN_ORDER")], paper
    assert paper["balances"] == [("Balances", "POL,USDT")], paper
    # Both venues take a buy's fee from the coins bought: 0.1 % of each fill, in POL.
    assert paper["market_fees"] == [("0.001", "POL")], paper
    assert real == paper
    by_id = [o["clientOrderId"] for o in orders]
    assert sorted(by_id) == ["mkt-1", "rest-1"], orders
    assert SIM_SECRET not in logs
    assert "user data stream subscribed" in logs


def test_timeouts_and_5xx_never_duplicate_an_order(bin_dir: Path) -> None:
    """The venue times out or answers 500 (-1007) after taking a third of the orders: every command is
    settled by a query, never re-sent, and the venue holds each client order id at most once."""
    faulty = SimSpec(
        speed="1",
        start=CALM.start,
        end=CALM.end,
        extra_args=("--order-timeout", "0.3", "--order-reject", "0.3", "--seed", "11"),
    )
    # Buys queue behind the timeouts being settled: no age limit here (its own test is below).
    no_age = {"max_entry_delay_ms": 600_000}
    with running(
        bin_dir, real=True, sim=faulty, risk={"max_open_orders": 50, "max_positions": 50, **no_age}
    ) as (
        session,
        ch,
    ):
        ids = [f"f-{i}" for i in range(12)]
        for cid in ids:
            ch.send(order(cid, order_type="LIMIT", time_in_force="GTC", price=FAR_BID))
        ch.collect(lambda rs: all(any(r.get("command_id") == c for r in rs) for c in ids), 120)
        answers = {c: next(r for r in ch.seen if r.get("command_id") == c) for c in ids}
        orders = sim_orders(session)
        stats = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{session.sim_port}/sim/stats").read())
    held = [o["clientOrderId"] for o in orders]
    assert len(held) == len(set(held)), orders
    assert stats["faults"]["order_timeouts"] + stats["faults"]["order_rejects"] >= 2, stats
    # Never re-sent: the venue saw one new-order request per command (a re-send under the same id
    # would be refused as a duplicate and leave no second order, so `held` alone cannot show it).
    assert stats["order_requests"] == len(ids), stats
    # The venue holds exactly the orders answered as placed, under the commands' own ids.
    assert set(held) == {c for c, r in answers.items() if r["type"] == "OrderPlaced"}, (answers, held)


def test_a_burst_of_100_orders_stays_within_the_venues_rate_limits(bin_dir: Path) -> None:
    """The venue allows 20 orders per 10 s window: the engine holds the burst back window by window
    (or refuses an order it cannot send in time, with an error naming the limit); the venue never
    answers 429."""
    tight = SimSpec(speed="1", start=CALM.start, end=CALM.end, extra_args=("--order-limit-10s", "20"))
    # The burst queues behind the rate limiter: no age limit here (its own test is below).
    risk = {"max_open_orders": 200, "max_positions": 100, "max_entry_delay_ms": 600_000}
    with running(bin_dir, real=True, sim=tight, risk=risk) as (
        session,
        ch,
    ):
        ids = [f"b-{i}" for i in range(100)]
        for cid in ids:
            ch.send(order(cid, order_type="LIMIT", time_in_force="GTC", price=FAR_BID))
        ch.collect(lambda rs: all(any(r.get("command_id") == c for r in rs) for c in ids), 150)
        answers = [next(r for r in ch.seen if r.get("command_id") == c) for c in ids]
        held = sim_orders(session)
    placed = [r for r in answers if r["type"] == "OrderPlaced"]
    assert len(placed) > 20 and len(held) == len(placed), (len(placed), len(held))
    for r in answers:
        if r["type"] != "OrderPlaced":
            assert r["type"] == "Error" and "ORDERS" in r["message"], r
            assert "429" not in r["message"] and "-1015" not in r["message"], r
    # The venue's windows, on its clock (the time it took each order).
    per_window = Counter(o["time"] // 10_000 for o in held)
    assert max(per_window.values()) <= 20, per_window


@pytest.mark.parametrize(
    ("env", "flag", "words"),
    [
        ({}, True, "BINANCE_API_KEY"),
        (REAL_ENV, False, "--confirm-real"),
    ],
)
def test_real_mode_refuses_to_start_without_keys_or_confirmation(
    bin_dir: Path, tmp_path: Path, env: dict[str, str], flag: bool, words: str
) -> None:
    for name in ("config.toml", "schema.toml"):
        (tmp_path / name).write_bytes((REPO / "config" / name).read_bytes())
    (tmp_path / "local.toml").write_text('[execution]\nmode = "real"\n')
    argv = [str(bin_dir / "engine"), "--config", str(tmp_path / "config.toml")]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BINANCE_")}
    r = subprocess.run(
        argv + (["--confirm-real"] if flag else []),
        capture_output=True,
        text=True,
        timeout=30,
        env={**clean, **env},
    )
    assert r.returncode == 2, r.stderr
    assert "REAL MODE" in r.stderr and "max order notional" in r.stderr
    assert words in r.stderr.strip().splitlines()[-1]
    assert SIM_SECRET not in r.stderr


def test_real_mode_refuses_to_start_on_a_damaged_position_file(bin_dir: Path, tmp_path: Path) -> None:
    """The engine's net position file is what a restarted engine flattens from: one it cannot read
    stops it before it binds its sockets or reaches the venue (exit 1, naming the file and what to do), never
    a start from no position."""
    for name in ("config.toml", "schema.toml"):
        (tmp_path / name).write_bytes((REPO / "config" / name).read_bytes())
    state = tmp_path / "positions" / "engine-position-POLUSDT.json"
    state.parent.mkdir()
    state.write_text('{"symbol": "POLUSDT", "position": "99.')
    (tmp_path / "local.toml").write_text(
        f'[execution]\nmode = "real"\n[persistence]\nengine_position_dir = "{state.parent}"\n'
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BINANCE_")}
    r = subprocess.run(
        [str(bin_dir / "engine"), "--config", str(tmp_path / "config.toml"), "--confirm-real"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**clean, **REAL_ENV},
    )
    assert r.returncode == 1, r.stderr
    # The error, whatever the metrics task logged around it.
    line = next((x for x in r.stderr.splitlines() if f"engine position {state} is not valid" in x), "")
    assert line.endswith("delete it to start from no position"), r.stderr
    assert state.read_text() == '{"symbol": "POLUSDT", "position": "99.'


def test_a_buy_that_waited_too_long_is_refused_a_sell_goes(bin_dir: Path) -> None:
    """A buy whose command is older than `[risk] max_entry_delay_ms` (2 s) when the executor takes
    it (queued behind slow venue calls; here sent 10 s old) is refused before it reaches the venue;
    a sell of the same age goes."""
    with running(bin_dir, real=True) as (session, ch):
        ch.send(order("buy-1"))  # fresh: something to sell
        ch.collect(lambda rs: any(r.get("client_order_id") == "buy-1" and r["type"] == "OrderExecution"
                                  and r["status"] == "FILLED" for r in rs), 20)  # fmt: skip
        old = time.time_ns() - 10_000_000_000
        ch.send({**order("late-buy"), "ts_ns": old})
        refused = ch.answer("late-buy")
        assert (refused["type"], refused["code"], refused["field"]) == ("Error", "VALIDATION", "ts_ns"), (
            refused
        )
        assert "max_entry_delay_ms 2000" in refused["message"], refused
        late_sell = order("late-sell", side="SELL", order_type="LIMIT", time_in_force="GTC", quantity="50")
        ch.send({**late_sell, "price": "9.0000", "ts_ns": old})
        placed = ch.answer("late-sell")
        assert placed["type"] == "OrderPlaced", placed["message"]
        assert [o["clientOrderId"] for o in sim_orders(session)] == ["buy-1", "late-sell"]
        ch.send(
            {
                "type": "CancelOrder",
                "command_id": "c-late",
                "symbol": "POLUSDT",
                "client_order_id": "late-sell",
            }
        )
        assert ch.answer("c-late")["type"] == "OrderCanceled"


def test_a_halt_refuses_the_buys_still_queued_for_the_venue_unsent(bin_dir: Path) -> None:
    """The venue answers every order request 1.5 s late (`--order-latency-ms`): a buy is at the
    venue, a second one waits in the engine's queue behind it, and `EmergencyHalt` arrives. The
    queued buy is refused HALTED and never reaches the venue; the one already there is answered."""
    slow = SimSpec(speed="1", start=CALM.start, end=CALM.end, extra_args=("--order-latency-ms", "1500"))
    with running(bin_dir, real=True, sim=slow) as (session, ch):
        ch.send(order("at-venue"))
        time.sleep(0.5)  # the worker has taken it and waits for the venue (1.5 s)
        ch.send(order("queued"))
        ch.send({"type": "EmergencyHalt", "command_id": "halt-1", "reason": "test", "flatten": False})
        refused = ch.answer("queued", timeout=30)
        assert (refused["type"], refused["code"]) == ("Error", "HALTED"), refused
        first = ch.answer("at-venue", timeout=30)
        assert first["type"] == "OrderPlaced", first
        assert [o["clientOrderId"] for o in sim_orders(session)] == ["at-venue"]
        ch.send({"type": "Resume", "command_id": "resume-1", "reason": "test"})
        assert ch.answer("resume-1", timeout=30)["type"] == "Success"


def test_a_venue_ban_met_by_an_order_halts_the_engine_until_it_is_over(bin_dir: Path) -> None:
    """Another client of the same IP ignores the venue's 429 and is banned (exchange-sim answers 418
    from the first request sent during the 429's `Retry-After`, for 4 s). The engine's next order
    meets the ban: refused HALTED, and the engine halts (a `Resume` answered "still halted" while
    the ban lasts, nothing sent to the venue). Once the ban is over a `Resume` lets orders go again."""
    bans = SimSpec(
        speed="1",
        start=CALM.start,
        end=CALM.end,
        extra_args=("--weight-limit", "1500", "--ban-after", "1", "--ban-secs", "4"),
    )
    with running(bin_dir, real=True, sim=bans) as (session, ch):
        statuses = []
        while not statuses or statuses[-1] != 418:  # 250 a request
            url = f"http://127.0.0.1:{session.sim_port}/api/v3/depth?symbol=POLUSDT&limit=5000"
            try:
                urllib.request.urlopen(url, timeout=5).close()
                statuses.append(200)
            except urllib.error.HTTPError as e:
                statuses.append(e.code)
            assert len(statuses) < 12, statuses
        banned_at = time.monotonic()
        assert statuses[-2:] == [429, 418], statuses
        ch.send(order("in-ban", order_type="LIMIT", time_in_force="GTC", price=FAR_BID))
        refused = ch.answer("in-ban")
        assert (refused["type"], refused["code"]) == ("Error", "HALTED"), refused
        ch.send({"type": "Resume", "command_id": "resume-early", "reason": "test"})
        early = ch.answer("resume-early")
        assert early["type"] == "Success" and "still halted" in early["message"], early
        ch.send(order("halted", order_type="LIMIT", time_in_force="GTC", price=FAR_BID))
        assert ch.answer("halted")["code"] == "HALTED"
        assert sim_orders(session) == []
        # The ban's end as the engine knows it: the venue's `Retry-After`, whole seconds from its
        # answer, on the venue's clock (rebased, within half a second of this one).
        for k in itertools.count():
            ch.send({"type": "Resume", "command_id": f"resume-{k}", "reason": "test"})
            answer = ch.answer(f"resume-{k}")
            if "running" in answer["message"]:
                break
            assert "still halted" in answer["message"], answer
            assert time.monotonic() < banned_at + 10, answer
            time.sleep(0.25)
        assert time.monotonic() > banned_at + 3, "lifted before the 4-s ban was over"
        ch.send(order("after-ban", order_type="LIMIT", time_in_force="GTC", price=FAR_BID))
        assert ch.answer("after-ban")["type"] == "OrderPlaced"
        assert [o["clientOrderId"] for o in sim_orders(session)] == ["after-ban"]


def test_position_limits_count_open_orders(bin_dir: Path) -> None:
    """`[risk] max_position_notional` counts what open orders would add; `max_positions` counts open
    buys (and lots of the net long); canceling one makes room again."""
    risk = {"max_order_notional": "50", "max_position_notional": "50", "max_positions": 2}
    with running(bin_dir, real=False, risk=risk) as (_, ch):

        def bid(cid: str, qty: str) -> dict[str, Any]:
            ch.send(order(cid, order_type="LIMIT", time_in_force="GTC", price=FAR_BID, quantity=qty))
            return ch.answer(cid)

        assert bid("e-1", "400")["type"] == "OrderPlaced"
        refused = bid("e-2", "400")
        assert refused["type"] == "Error" and refused["field"] == "quantity", refused
        assert "max_position_notional 50" in refused["message"] and "open buys 400" in refused["message"]
        assert bid("e-small", "50")["type"] == "OrderPlaced"
        refused = bid("e-third", "50")
        assert refused["type"] == "Error" and refused["field"] == "side", refused
        assert "max_positions 2" in refused["message"], refused
        ch.send({"type": "CancelOrder", "command_id": "e-x", "symbol": "POLUSDT", "client_order_id": "e-1"})
        assert ch.answer("e-x")["type"] == "OrderCanceled"
        assert bid("e-3", "400")["type"] == "OrderPlaced"


@pytest.mark.parametrize("real", [False, True], ids=["paper", "real"])
def test_a_market_order_past_the_venues_market_lot_size_is_refused_unsent(bin_dir: Path, real: bool) -> None:
    """The venue lists MARKET_LOT_SIZE (exchange-sim: at most 900,000 a MARKET order, as Binance
    lists one for BTCUSDT below its LOT_SIZE): both modes refuse a bigger MARKET order naming the
    quantity and the filter, before the venue sees it; a LIMIT order of that size passes the filter,
    and the venue (the paper account as exchange-sim's) refuses it as more than the cash pays for."""
    risk = {"max_order_notional": "10000000", "max_position_notional": "10000000"}
    with running(bin_dir, real=real, risk=risk) as (session, ch):
        ch.send(order("huge-mkt", quantity="900000.1"))
        refused = ch.answer("huge-mkt")
        assert (refused["type"], refused["code"], refused["field"]) == ("Error", "VALIDATION", "quantity"), (
            refused
        )
        assert "(MARKET_LOT_SIZE)" in refused["message"], refused
        ch.send(
            order("huge-bid", order_type="LIMIT", time_in_force="GTC", price=FAR_BID, quantity="900000.1")
        )
        placed = ch.answer("huge-bid")
        # The account cannot pay for it: the venue's refusal, not the filter's.
        assert placed["type"] == "Error" and placed["code"] == "VENUE", placed
        assert "insufficient balance" in placed["message"] and "MARKET_LOT_SIZE" not in placed["message"], (
            placed
        )
        if real:
            assert [o["clientOrderId"] for o in sim_orders(session)] == [], sim_orders(session)


@pytest.mark.parametrize(
    ("drop", "path"),
    [
        ("0", "the user data stream"),
        ("1", "the engine's periodic reconcile (the venue drops every stream event)"),
    ],
)
def test_a_resting_order_filled_by_the_replayed_crash_reaches_python(
    bin_dir: Path, drop: str, path: str
) -> None:
    """A bid just under the market while the real crash replays: the venue fills it from its replayed
    trades. With the stream's events delivered the fill arrives by the stream; with every one of them
    dropped it arrives by the engine's reconcile (`[execution] reconcile_secs`), once."""
    crash = SimSpec(
        speed="1",
        start="2025-10-10T21:15:00Z",
        end="2025-10-10T21:25:00Z",
        extra_args=("--drop-user-events", drop),
    )
    with running(bin_dir, real=True, sim=crash, execution={"reconcile_secs": 2}) as (session, ch):
        with urllib.request.urlopen(f"http://127.0.0.1:{session.sim_port}/sim/book?limit=1", timeout=5) as r:
            best_bid = Decimal(json.loads(r.read())["bids"][0][0])
        price = str((best_bid * Decimal("0.998")).quantize(Decimal("0.0001")))
        ch.send(order("rest-fill", order_type="LIMIT", time_in_force="GTC", price=price))
        placed = ch.answer("rest-fill")
        assert placed["type"] == "OrderPlaced" and placed["status"] == "NEW", placed
        ch.collect(
            lambda rs: any(r["type"] == "OrderExecution" and r["status"] == "FILLED" for r in rs),
            120,
        )
        ch.collect(lambda rs: False, 3.0)  # a second reconcile must not report the fill again
        fills = [r for r in ch.of("rest-fill") if r["type"] == "OrderExecution"]
        stats = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{session.sim_port}/sim/stats").read())
        log = session.procs["engine"].log_path.read_text()
    assert fills and fills[-1]["status"] == "FILLED", (path, ch.of("rest-fill"))
    assert all(f["command_id"] == "rest-fill" and f["liquidity"] == "maker" for f in fills), fills
    assert sum(Decimal(f["last_quantity"]) for f in fills) == Decimal("100"), fills
    assert len({f["trade_id"] for f in fills}) == len(fills)
    if drop == "1":
        assert stats["faults"]["user_events_dropped"] > 0, stats
        assert "periodic reconcile found what the stream missed" in log


def test_shutdown_with_flatten_on_halt_sells_the_position_then_exits(bin_dir: Path) -> None:
    """`Shutdown` does what a halt does: with `[execution] flatten_on_halt` the engine's net long (what
    it bought less the fee taken in the coins bought) is sold at market before it cancels, announces
    `stopped` and exits 0."""
    session = Session(
        config=CONFIG,
        bin_dir=bin_dir,
        sim=CALM,
        strategy=False,
        overrides={"execution": {"flatten_on_halt": True}},
    )
    ch: Channel | None = None
    try:
        with session:
            ch = Channel(session)
            wait_until_tradable(ch)
            ch.send(order("long-1"))
            ch.collect(lambda rs: any(r.get("client_order_id") == "long-1" and r.get("status") == "FILLED"
                                      and r["type"] == "OrderExecution" for r in rs), 20)  # fmt: skip
            ch.send({"type": "Shutdown", "command_id": "bye", "reason": "test"})
            ch.collect(
                lambda rs: any(r["type"] == "OrderExecution" and r["side"] == "SELL" and r["status"] == "FILLED"
                               for r in rs), 20)  # fmt: skip
            deadline = time.monotonic() + 20
            while session.procs["engine"].alive() and time.monotonic() < deadline:
                time.sleep(0.1)
            sells = [r for r in ch.seen if r["type"] == "OrderExecution" and r["side"] == "SELL"]
            assert sells and all(
                s["command_id"].startswith("shutdown-") and s["client_order_id"].startswith("flatten-")
                for s in sells
            ), ch.seen[-5:]
            # 100 bought, less the 0.1 taken from the coins bought as fee (taker 0.1 %).
            assert sum(Decimal(s["last_quantity"]) for s in sells) == Decimal("99.9")
            codes = session.stop()
        assert codes["engine"] == 0, codes
    finally:
        if ch is not None:
            ch.close()
        session.cleanup()


def test_an_engine_killed_in_real_mode_finds_its_orders_at_the_venue_again(bin_dir: Path) -> None:
    """Real mode, the crash replaying: a far bid that rests and a near bid, then `kill -9` of the
    engine. The venue fills the near bid while no engine runs. The engine started again reads the
    venue: the far bid is still open there (listed and queried NEW, then canceled once), the near
    bid is queried FILLED with its whole quantity, and the venue holds each order once."""
    crash = SimSpec(speed="1", start="2025-10-10T21:15:00Z", end="2025-10-10T21:25:00Z")
    with running(bin_dir, real=True, sim=crash) as (session, ch):
        with urllib.request.urlopen(f"http://127.0.0.1:{session.sim_port}/sim/book?limit=1", timeout=5) as r:
            best_bid = Decimal(json.loads(r.read())["bids"][0][0])
        near = str((best_bid * Decimal("0.999")).quantize(Decimal("0.0001")))
        for cid, price in (("far-1", FAR_BID), ("near-1", near)):
            ch.send(order(cid, order_type="LIMIT", time_in_force="GTC", price=price))
            assert ch.answer(cid)["type"] == "OrderPlaced", ch.of(cid)
        assert session.kill("engine") == -9
        at_kill = {o["clientOrderId"]: o["status"] for o in sim_orders(session)}
        assert at_kill == {"far-1": "NEW", "near-1": "NEW"}, at_kill  # the replay fills it ~4 s later
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            held = {o["clientOrderId"]: o for o in sim_orders(session)}
            if held["near-1"]["status"] == "FILLED":
                break
            time.sleep(0.5)
        assert held["near-1"]["status"] == "FILLED", held
        assert held["far-1"]["status"] == "NEW", held
        session.restart("engine")
        wait_until_tradable(ch)
        ch.send({"type": "QueryOpenOrders", "command_id": "open-after", "symbol": "POLUSDT"})
        listed = [o["client_order_id"] for o in ch.answer("open-after")["orders"]]
        answers = {}
        for cid in ("far-1", "near-1"):
            ch.send(
                {"type": "QueryOrder", "command_id": f"q-{cid}", "symbol": "POLUSDT", "client_order_id": cid}
            )
            answers[cid] = ch.answer(f"q-{cid}")
        ch.send(
            {"type": "CancelOrder", "command_id": "c-far", "symbol": "POLUSDT", "client_order_id": "far-1"}
        )
        canceled = ch.answer("c-far")
        final = sim_orders(session)
    assert listed == ["far-1"], listed
    assert answers["far-1"]["type"] == "OrderStatus" and answers["far-1"]["order"]["status"] == "NEW", answers
    near_order = answers["near-1"]["order"]
    assert (near_order["status"], Decimal(near_order["filled_quantity"])) == ("FILLED", Decimal("100")), (
        answers
    )
    assert canceled["type"] == "OrderCanceled", canceled
    ids = [o["clientOrderId"] for o in final]
    assert sorted(ids) == ["far-1", "near-1"], final
    assert {o["clientOrderId"]: o["status"] for o in final} == {"far-1": "CANCELED", "near-1": "FILLED"}, (
        final
    )


def test_an_engine_killed_in_real_mode_still_flattens_what_it_bought(bin_dir: Path) -> None:
    """Real mode: the engine buys 100 (99.9 held, the fee taken from the coins bought) and keeps that
    in its file in `[persistence] engine_position_dir`; killed (`kill -9`) and started again, it reads it back
    (a query of the order, whose fill is reported again, does not count it twice), so
    an `EmergencyHalt` with `flatten` sells the 99.9 (before, a restarted engine counted from zero
    and sold nothing) and the venue account holds the POL it held at the start."""
    with running(bin_dir, real=True) as (session, ch):
        start = sim_account(session)
        ch.send(order("long-1"))
        ch.collect(lambda rs: any(r.get("client_order_id") == "long-1" and r["type"] == "OrderExecution"
                                  and r["status"] == "FILLED" for r in rs), 20)  # fmt: skip
        assert session.workdir is not None
        state_file = session.workdir / "reports" / "engine-position-POLUSDT.json"
        assert json.loads(state_file.read_text())["position"] == "99.9"
        assert session.kill("engine") == -9
        session.restart("engine")
        wait_until_tradable(ch)
        # The strategy asks after the order it had not seen settle: its fill is reported again
        # (from the venue's trade list) and must not be counted twice.
        ch.send(
            {"type": "QueryOrder", "command_id": "q-long", "symbol": "POLUSDT", "client_order_id": "long-1"}
        )
        assert ch.answer("q-long")["type"] == "OrderStatus"
        ch.collect(lambda rs: False, 1.0)
        assert json.loads(state_file.read_text())["position"] == "99.9"
        ch.send(
            {"type": "EmergencyHalt", "command_id": "halt", "ts_ns": 1, "reason": "test", "flatten": True}
        )
        ch.collect(lambda rs: any(r["type"] == "OrderExecution" and r["side"] == "SELL"
                                  and r["status"] == "FILLED" for r in rs), 20)  # fmt: skip
        sells = [r for r in ch.seen if r["type"] == "OrderExecution" and r["side"] == "SELL"]
        assert sells and all(s["client_order_id"].startswith("flatten-") for s in sells), sells
        assert sum(Decimal(s["last_quantity"]) for s in sells) == Decimal("99.9")
        assert sim_account(session)["POL"] == start["POL"]
        assert "net position restored" in session.procs["engine"].log_path.read_text()
        assert json.loads(state_file.read_text())["position"] == "0.0"


def test_an_engine_killed_in_paper_mode_keeps_its_paper_account(bin_dir: Path) -> None:
    """Paper mode: the paper venue's account (its orders and coins) is kept in the engine's file in
    `[persistence] engine_position_dir` (`engine-paper-POLUSDT.json`) as a real venue keeps it. The engine buys 100 at market and
    rests a bid far below; killed (`kill -9`) and started again, it still lists the bid, and an
    `EmergencyHalt` with `flatten` cancels it and sells the 99.9 held (before, a restarted paper
    engine had forgotten both: the bid unknown, nothing to flatten)."""
    with running(bin_dir, real=False) as (session, ch):
        ch.send(order("long-1"))
        ch.collect(lambda rs: any(r.get("client_order_id") == "long-1" and r["type"] == "OrderExecution"
                                  and r["status"] == "FILLED" for r in rs), 20)  # fmt: skip
        ch.send(order("bid-1", order_type="LIMIT", time_in_force="GTC", price="0.1000"))
        assert ch.answer("bid-1")["status"] == "NEW"
        assert session.workdir is not None
        state_file = session.workdir / "reports" / "engine-paper-POLUSDT.json"
        deadline = time.monotonic() + 10  # written in the background, off the order's round trip
        state: dict[str, Any] = {}
        while time.monotonic() < deadline:
            state = json.loads(state_file.read_text()) if state_file.exists() else {}
            if "bid-1" in [o["info"]["client_order_id"] for o in state.get("paper", {}).get("orders", [])]:
                break
            time.sleep(0.05)
        assert (
            state.get("venue", "").startswith("paper:http://127.0.0.1:") and state.get("position") == "99.9"
        ), state
        assert session.kill("engine") == -9
        session.restart("engine")
        wait_until_tradable(ch)
        ch.send({"type": "QueryOpenOrders", "command_id": "open-after", "symbol": "POLUSDT"})
        listed = ch.answer("open-after")
        assert [o["client_order_id"] for o in listed["orders"]] == ["bid-1"], listed
        ch.send(
            {"type": "EmergencyHalt", "command_id": "halt", "ts_ns": 1, "reason": "test", "flatten": True}
        )
        ch.collect(lambda rs: any(r["type"] == "OrderExecution" and r["side"] == "SELL"
                                  and r["status"] == "FILLED" for r in rs), 20)  # fmt: skip
        sells = [r for r in ch.seen if r["type"] == "OrderExecution" and r["side"] == "SELL"]
        assert sum(Decimal(s["last_quantity"]) for s in sells) == Decimal("99.9"), sells
        assert any(r["type"] == "OrderCanceled" and r["client_order_id"] == "bid-1" for r in ch.seen)
