"""The thin slice across the real processes: exchange-sim replays the real POLUSDT crash, the engine
keeps the book and paper-trades, the strategy detects the crash, places orders and gets fills."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import msgpack
import pytest
import zmq

from flashcrash import config, wire
from flashcrash.engine_command import Outcome, ask
from flashcrash.launcher import REPO, Session, SimSpec, tail

pytestmark = pytest.mark.integration

CONFIG = REPO / "config" / "config.toml"
# Five and a half minutes around the crash's first leg, at 20x: about 17 s of replay.
CRASH = SimSpec(speed="20", start="2025-10-10T21:09:30Z", end="2025-10-10T21:15:00Z")
# The plumbing under test, not the strategy's selectivity: every bullish candle while ACTIVE/RECOVERY
# that the window can price is an entry (the gates have their own unit tests).
OPEN_GATES = {
    "strategy": {"score_good": 0.0, "score_exhaustion": 0.0, "volume_multiple": 0.0, "volume_min_quote": 0.0}
}


def test_crash_is_detected_traded_and_everything_stops_cleanly(bin_dir: Path) -> None:
    session = Session(config=CONFIG, bin_dir=bin_dir, sim=CRASH, overrides=OPEN_GATES)
    ctx = zmq.Context()
    states = ctx.socket(zmq.SUB)
    states.setsockopt(zmq.LINGER, 0)
    states.setsockopt(zmq.SUBSCRIBE, b"state")
    with session:
        # The detector needs its warm-up (60 s of event time, 3 s here) before any transition: the
        # subscription is in place long before.
        states.connect(session.endpoint("strategy"))
        session.wait_replay_end(timeout=180)
        sent = int((session.sim_stats() or {})["trades_sent"])
        received, caught_up = session.wait_strategy_caught_up(sent, timeout=60)
        codes = session.stop()
    published = []
    while states.poll(0):
        topic, body = states.recv_multipart()
        assert topic == b"state"
        published.append(msgpack.unpackb(body, raw=False))
    ctx.destroy(0)
    assert codes == {"strategy": 0, "engine": 0, "exchange-sim": 0}, codes
    assert session.ports_free()
    summary = json.loads(session.summary_path.read_text())
    engine_log = session.procs["engine"].log_path.read_text()
    assert "panicked" not in engine_log
    assert "book in sync" in engine_log
    text = json.dumps(summary)
    assert '"ACTIVE"' in text, summary
    assert summary["orders"]["placed"] >= 1, summary
    assert summary["orders"]["fills"] >= 1, summary
    # Every trade replayed reached the strategy, the first ones too: the engine opened its feed once
    # the strategy's subscription had reached it ([zmq] subscriber_wait_ms).
    assert caught_up and received == sent == summary["messages"]["trade"] > 1000, (sent, received, summary)
    assert summary["messages"]["book"] > 100, summary
    assert summary["feed"]["resync_count"] >= 1, summary
    # The engine's paper account reported its free quote to the strategy while it traded.
    funds = summary["risk"]["funds"]
    assert funds["reports"] >= 1 and funds["asset"] == "USDT", funds
    assert 0 < float(funds["free"]) <= 1000, funds  # [backtest] initial_capital
    # Every detector transition of the session went out on the strategy's StateChange channel, in
    # order, with its reason; the last is the shutdown.
    detector = [(m["previous"], m["current"], m["reason"]) for m in published if m["component"] == "detector"]
    expected = [(t["from"], t["to"], t["reason"]) for t in summary["detector"]["transitions"]]
    assert detector == expected, (detector, expected)
    assert detector[-1][1] == "SHUTDOWN", detector
    assert all(m["type"] == "StateChange" and m["ts_ns"] > 0 for m in published), published
    session.cleanup()


def _ask(
    push: zmq.Socket,
    sub: zmq.Socket,
    payload: bytes,
    command_id: str | None,
    timeout: float = 20.0,
    session: Session | None = None,
) -> dict:
    """Sends `payload` until its response arrives (the first sends may precede the subscription).
    `command_id` None: the answer to a command refused for its empty id (no id to carry back). With
    `session`, no answer shows the end of the engine's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        push.send(payload)
        if sub.poll(1000):
            topic, body = sub.recv_multipart()
            assert topic == b"resp"
            msg = msgpack.unpackb(body, raw=False)
            if command_id is None and msg.get("field") == "command_id":
                return msg
            if command_id is not None and msg.get("command_id") == command_id:
                return msg
    log = f"; engine log:\n{tail(session.procs['engine'].log_path, 40)}" if session is not None else ""
    raise AssertionError(f"no response to {command_id} within {timeout} s{log}")


def test_engine_survives_malformed_commands(bin_dir: Path) -> None:
    session = Session(config=CONFIG, bin_dir=bin_dir, sim=SimSpec(speed="1"))
    ctx = zmq.Context.instance()
    push = ctx.socket(zmq.PUSH)
    sub = ctx.socket(zmq.SUB)
    try:
        with session:
            push.setsockopt(zmq.LINGER, 0)
            sub.setsockopt(zmq.LINGER, 0)
            push.connect(session.endpoint("command"))
            sub.connect(session.endpoint("response"))
            sub.setsockopt(zmq.SUBSCRIBE, b"resp")
            push.send(b"\xc1 not msgpack")
            push.send(msgpack.packb([1, 2, 3]))
            bad = {"type": "PlaceOrder", "command_id": "bad-1", "ts_ns": 1, "quantity": "1e3"}
            err = _ask(push, sub, msgpack.packb(bad), "bad-1")
            assert err["type"] == "Error" and err["code"] == "MALFORMED", err
            # A well-formed order without a command_id is refused: its answers could carry no id.
            no_id = {"type": "PlaceOrder", "command_id": "", "ts_ns": 1, "client_order_id": "no-id-1",
                     "symbol": "POLUSDT", "side": "BUY", "order_type": "LIMIT", "time_in_force": "GTC",
                     "quantity": "100", "price": "0.1"}  # fmt: skip
            err = _ask(push, sub, msgpack.packb(no_id), None)
            assert err["type"] == "Error" and err["code"] == "MALFORMED", err
            assert err["command_id"] is None and "command_id is empty" in err["message"], err
            query = {"type": "QueryOpenOrders", "command_id": "q-1", "ts_ns": 1, "symbol": "POLUSDT"}
            ok = _ask(push, sub, msgpack.packb(query), "q-1")
            assert ok["type"] == "OpenOrders" and ok["orders"] == [], ok
            session.check_alive()
            codes = session.stop()
        assert codes["engine"] == 0 and codes["strategy"] == 0, codes
        assert session.ports_free()
    finally:
        push.close()
        sub.close()
        session.cleanup()


@pytest.mark.parametrize(
    ("overlay", "words"),
    [
        ("[feed]\nsnapshot_limit = 9000\n", ["[feed] snapshot_limit", "integer from 5 to 5000"]),
        ('[execution]\nmode = "live"\n', ["[execution] mode", "paper, real"]),
    ],
)
def test_engine_refuses_a_bad_config_with_one_line(
    bin_dir: Path, tmp_path: Path, overlay: str, words: list[str]
) -> None:
    for name in ("config.toml", "schema.toml"):
        (tmp_path / name).write_bytes((REPO / "config" / name).read_bytes())
    (tmp_path / "local.toml").write_text(overlay)
    r = subprocess.run(
        [str(bin_dir / "engine"), "--config", str(tmp_path / "config.toml")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    for w in words:
        assert w in lines[0]


def test_engine_halts_when_the_feed_cannot_come_back(bin_dir: Path) -> None:
    """The venue goes away for good: after 10 failed reconnects the engine halts and refuses orders."""
    fast_reconnect = {"feed": {"reconnect_initial_ms": 20, "reconnect_max_ms": 50}}
    short = SimSpec(speed="max", start="2025-10-10T21:12:30Z", end="2025-10-10T21:12:45Z")
    session = Session(config=CONFIG, bin_dir=bin_dir, sim=short, overrides=fast_reconnect)
    ctx = zmq.Context.instance()
    push, sub = ctx.socket(zmq.PUSH), ctx.socket(zmq.SUB)
    try:
        with session:
            for s in (push, sub):
                s.setsockopt(zmq.LINGER, 0)
            push.connect(session.endpoint("command"))
            sub.connect(session.endpoint("response"))
            sub.setsockopt(zmq.SUBSCRIBE, b"resp")
            session.wait_replay_end(timeout=60)
            session.kill("exchange-sim", signal.SIGTERM)  # the venue gone: nothing to reconnect to
            codes: list[str] = []
            deadline = time.monotonic() + 30
            while "HALTED" not in codes and time.monotonic() < deadline:
                order = {
                    "type": "PlaceOrder", "command_id": f"h-{len(codes)}", "ts_ns": 1,
                    "client_order_id": f"halt-{len(codes)}", "symbol": "POLUSDT", "side": "BUY",
                    "order_type": "MARKET", "time_in_force": None, "quantity": "100", "price": None,
                }  # fmt: skip
                codes.append(_ask(push, sub, msgpack.packb(order), order["command_id"]).get("code", "none"))
            assert "HALTED" in codes, codes
            engine_log = session.procs["engine"].log_path.read_text()
            assert "feed halted: engine halted" in engine_log
            codes_at_stop = session.stop()
        assert codes_at_stop["engine"] == 0 and codes_at_stop["strategy"] == 0, codes_at_stop
        assert session.ports_free()
    finally:
        push.close()
        sub.close()
        session.cleanup()


def _engine_state(data: zmq.Socket, want: str, timeout: float = 30.0) -> dict:
    """The next StateChange of the engine whose new state is (or, with a leading "!", is not) `want`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if data.poll(200):
            _, body = data.recv_multipart()
            m = msgpack.unpackb(body, raw=False)
            if m.get("component") != "engine":
                continue
            if (m["current"] != want[1:]) if want.startswith("!") else (m["current"] == want):
                return m
    raise AssertionError(f"no engine state {want} within {timeout} s")


def test_a_halted_feed_that_comes_back_lifts_the_halt(bin_dir: Path) -> None:
    """The venue hangs up and refuses connections for 4 s: after 10 failed reconnects the engine
    halts (an order is refused with HALTED); once the venue takes connections again the feed is live,
    the engine says so and an order is accepted again."""
    fast_reconnect = {"feed": {"reconnect_initial_ms": 20, "reconnect_max_ms": 50}}
    outage = ("--refuse-at", "2.5:4", "--disconnect-at", "3")
    calm = SimSpec(speed="1", start="2025-10-10T20:50:00Z", end="2025-10-10T21:00:00Z", extra_args=outage)
    session = Session(config=CONFIG, bin_dir=bin_dir, sim=calm, overrides=fast_reconnect)
    ctx = zmq.Context.instance()
    push, sub, data = ctx.socket(zmq.PUSH), ctx.socket(zmq.SUB), ctx.socket(zmq.SUB)
    try:
        with session:
            for s in (push, sub, data):
                s.setsockopt(zmq.LINGER, 0)
            data.connect(session.endpoint("data"))
            data.setsockopt(zmq.SUBSCRIBE, b"state")
            push.connect(session.endpoint("command"))
            sub.connect(session.endpoint("response"))
            sub.setsockopt(zmq.SUBSCRIBE, b"resp")
            halted = _engine_state(data, "halted")
            assert "feed halted" in halted["reason"], halted
            # A bid far below the market (it would rest, harmless).
            bid = {"order_type": "LIMIT", "time_in_force": "GTC", "price": "0.1"}
            refused = _ask(push, sub, _order("while-halted", **bid), "while-halted", session=session)
            assert refused["type"] == "Error" and refused["code"] == "HALTED", refused
            back = _engine_state(data, "!halted")
            assert back["previous"] == "halted" and "feed live again" in back["reason"], back
            placed = _ask(push, sub, _order("after-halt", **bid), "after-halt", session=session)
            assert placed["type"] == "OrderPlaced", placed
            session.check_alive()
            codes = session.stop()
        assert codes["engine"] == 0 and codes["strategy"] == 0, codes
        assert session.ports_free()
    finally:
        for s in (push, sub, data):
            s.close()
        session.cleanup()


def _order(command_id: str, **kw: object) -> bytes:
    order = {
        "type": "PlaceOrder", "command_id": command_id, "ts_ns": 1, "client_order_id": command_id,
        "symbol": "POLUSDT", "side": "BUY", "order_type": "MARKET", "time_in_force": None,
        "quantity": "100", "price": None,
    }  # fmt: skip
    return msgpack.packb({**order, **kw})


def test_a_command_sent_while_the_engine_cannot_read_it_is_not_sent(bin_dir: Path) -> None:
    """While the engine waits for a subscriber of its trades (or for the venue) its command socket is
    not bound: a halt sent then is told `not sent` and never acted on (it was queued, its sender told
    there was no answer, and applied seconds later); once the engine reads commands a halt applies."""
    calm = SimSpec(speed="1", start="2025-10-10T20:50:00Z", end="2025-10-10T21:00:00Z")
    session = Session(
        config=CONFIG,
        bin_dir=bin_dir,
        sim=calm,
        strategy=False,
        overrides={"zmq": {"subscriber_wait_ms": 4000}},
    )
    with session:
        log = session.procs["engine"].log_path
        deadline = time.monotonic() + 30
        while "waiting for a subscriber of the trades" not in log.read_text():
            assert time.monotonic() < deadline, tail(log)
            session.check_alive()
            time.sleep(0.05)
        endpoints = config.load_zmq(session.run_config)
        early = ask(endpoints, lambda cid, ts: wire.EmergencyHalt(cid, ts, "sent too early", False), 1.0)
        while "no subscriber of the trades joined" not in log.read_text():
            assert time.monotonic() < deadline, tail(log)
            session.check_alive()
            time.sleep(0.05)
        later = ask(endpoints, lambda cid, ts: wire.EmergencyHalt(cid, ts, "sent in time", False), 10.0)
        codes = session.stop()
    assert codes["engine"] == 0, codes
    assert early.outcome is Outcome.NOT_SENT, early
    assert later.outcome is Outcome.APPLIED, later
    text = log.read_text()
    assert "sent too early" not in text and "sent in time" in text, tail(log, 40)
    session.cleanup()


def test_emergency_halt_cancels_flattens_refuses_and_resumes(bin_dir: Path) -> None:
    """`EmergencyHalt` with `flatten`: the resting order is canceled, the long position is sold (100
    bought less the 0.1 the venue took as fee, as Binance takes a buy's fee from the coins), new
    orders are refused with HALTED until `Resume`; the engine announces both changes."""
    calm = SimSpec(speed="1", start="2025-10-10T20:50:00Z", end="2025-10-10T21:00:00Z")
    session = Session(config=CONFIG, bin_dir=bin_dir, sim=calm)
    ctx = zmq.Context.instance()
    push, sub, data = ctx.socket(zmq.PUSH), ctx.socket(zmq.SUB), ctx.socket(zmq.SUB)
    try:
        with session:
            for s in (push, sub, data):
                s.setsockopt(zmq.LINGER, 0)
            data.connect(session.endpoint("data"))
            data.setsockopt(zmq.SUBSCRIBE, b"state")
            push.connect(session.endpoint("command"))
            sub.connect(session.endpoint("response"))
            sub.setsockopt(zmq.SUBSCRIBE, b"resp")
            # A market buy once the book is in sync, then a resting bid far below the market.
            # `_ask` sends again until an answer arrives: a DUPLICATE_ORDER answer means an earlier
            # send of this buy was placed and its answer missed (a new buy would make two).
            deadline = time.monotonic() + 30
            bought: dict = {}
            placed = False
            while not placed and time.monotonic() < deadline:
                cid = f"buy-{time.monotonic_ns()}"
                bought = _ask(push, sub, _order(cid), cid)
                placed = bought.get("type") == "OrderPlaced" or bought.get("code") == "DUPLICATE_ORDER"
                time.sleep(0.2)
            assert placed, bought
            rest = _ask(
                push, sub, _order("rest-1", order_type="LIMIT", time_in_force="GTC", price="0.1000"), "rest-1"
            )
            assert rest["type"] == "OrderPlaced", rest
            halt = {
                "type": "EmergencyHalt",
                "command_id": "halt-1",
                "ts_ns": 1,
                "reason": "test",
                "flatten": True,
            }
            ok = _ask(push, sub, msgpack.packb(halt), "halt-1")
            assert ok["type"] == "Success", ok
            assert "1 open orders canceled" in ok["message"] and "flattening SELL 99.9" in ok["message"], ok
            halted = _engine_state(data, "halted")
            assert halted["previous"] == "running" and "emergency halt" in halted["reason"], halted
            refused = _ask(push, sub, _order("after-halt"), "after-halt")
            assert refused["type"] == "Error" and refused["code"] == "HALTED", refused
            assert "emergency halt (test)" in refused["message"], refused
            resume = {"type": "Resume", "command_id": "resume-1", "ts_ns": 1, "reason": "test over"}
            ok = _ask(push, sub, msgpack.packb(resume), "resume-1")
            assert ok["type"] == "Success" and "lifted" in ok["message"], ok
            back = _engine_state(data, "running")
            assert back["previous"] == "halted" and back["reason"] == "resume: test over", back
            again = _ask(push, sub, _order("after-resume"), "after-resume")
            assert again["type"] == "OrderPlaced", again
            log = session.procs["engine"].log_path.read_text()
            assert "emergency halt" in log and "flattening" in log and "resume" in log
            codes = session.stop()
        assert codes["engine"] == 0 and codes["strategy"] == 0, codes
        assert session.ports_free()
    finally:
        data.close()
        push.close()
        sub.close()
        session.cleanup()
