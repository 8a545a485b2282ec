"""Webhook alerts against a local HTTP receiver (http.server on a free loopback port, in a thread):
Slack and Discord bodies; a storm of 50 alerts sends one POST at once and one summary after the
interval; a dead receiver never blocks the caller nor raises; no URL means logged only; the runner
raises them on a breaker opening, an emergency stop, engine/feed halts, a watchdog finding and a
drawdown past the limit."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import fields
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from engine_fakes import SilentEngine

from flashcrash import config, wire
from flashcrash.launcher import REPO
from flashcrash.monitoring.alerts import ENV_URL, Alert, AlertSender, payload, summarise
from flashcrash.monitoring.metrics import StrategyMetrics
from flashcrash.runner import Runner


class Receiver:
    """Collects every POSTed JSON body."""

    def __init__(self) -> None:
        bodies: list[dict] = []
        self.bodies = bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length", 0))
                bodies.append(json.loads(self.rfile.read(n)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, n: int, timeout: float = 5.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.bodies) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.bodies)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def posters(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of the thread each webhook post is made on, in order."""
    names: list[str] = []
    post = AlertSender._post

    def spy(self: AlertSender, text: str) -> None:
        names.append(threading.current_thread().name)
        post(self, text)

    monkeypatch.setattr(AlertSender, "_post", spy)
    return names


@pytest.mark.parametrize(("fmt", "key"), [("slack", "text"), ("discord", "content")])
def test_payload_shapes(receiver: Receiver, fmt: str, key: str) -> None:
    sender = AlertSender(receiver.url, fmt, 0.0, source="test")
    sender.alert("breaker_open", "circuit breaker closed -> open: 3 failures")
    (body,) = receiver.wait(1)
    sender.close()
    assert list(body) == [key]
    assert body[key] == "test: [breaker_open] circuit breaker closed -> open: 3 failures"
    assert sender.stats["posted"] == 1 and sender.stats["failed"] == 0


def test_a_storm_sends_one_alert_then_one_summary(receiver: Receiver, posters: list[str]) -> None:
    sender = AlertSender(receiver.url, "slack", 1.0, source="test")
    for i in range(50):
        sender.alert("emergency_stop" if i % 2 else "feed_halted", f"event {i}")
    first = receiver.wait(1)
    time.sleep(0.3)
    assert len(receiver.bodies) == 1, receiver.bodies  # the rest is held for the interval
    assert first[0]["text"] == "test: [feed_halted] event 0"
    bodies = receiver.wait(2, timeout=3.0)
    sender.close()
    assert len(bodies) == 2, bodies
    summary = bodies[1]["text"]
    assert summary.startswith("test: [emergency_stop] event 1\n+48 more: ")
    assert "emergency_stop x24" in summary and "feed_halted x24" in summary
    assert "(last: [emergency_stop] event 49)" in summary
    assert sender.stats["raised"] == 50 and sender.stats["posted"] == 2
    assert posters == ["alert-sender"] * 2  # posted by the sender's thread: the caller never waits for it


def test_a_dead_receiver_never_blocks_nor_raises(posters: list[str]) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/hook"
    sender = AlertSender(dead, "discord", 0.0, timeout_s=0.5)
    for i in range(1000):  # more than the queue holds: the rest is dropped and counted, not waited for
        sender.alert("watchdog", f"finding {i}")
    deadline = time.monotonic() + 5
    while sender.stats["failed"] < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    sender.close(timeout_s=1.0)
    assert sender.stats["failed"] >= 1 and sender.stats["posted"] == 0
    assert sender.stats["dropped"] > 0
    assert set(posters) == {"alert-sender"}  # every failing post on the sender's thread, none on the caller's


def test_without_url_alerts_are_only_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(ENV_URL, raising=False)
    sender = AlertSender.from_env("slack", 60)
    with caplog.at_level("WARNING"):
        sender.alert("drawdown", "drawdown 6 %")
    sender.close()
    assert sender.url is None and sender.stats["raised"] == 1
    assert "ALERT drawdown: drawdown 6 %" in caplog.text


def _runner(tmp_path: Path, sender: AlertSender, clock: Callable[[], int] = time.time_ns) -> Runner:
    cfg = config.load(REPO / "config" / "config.toml")
    client = SilentEngine()
    metrics = StrategyMetrics("POLUSDT", cfg.initial_capital)
    return Runner(cfg, client, clock=clock, metrics=metrics, alerts=sender)  # type: ignore[arg-type]


def test_the_runner_raises_each_alert(receiver: Receiver, tmp_path: Path) -> None:
    sender = AlertSender(receiver.url, "slack", 0.0, source="test")
    now = [time.time_ns()]
    runner = _runner(tmp_path, sender, clock=lambda: now[0])
    breaker = runner.orders.breaker
    for i in range(runner.cfg.risk.breaker_failures):
        breaker.failure(10**9, f"venue error {i}")
    zero = {f.name: 0 for f in fields(wire.HealthMetrics)}
    for state in ("syncing", "live", "reconnecting"):  # the first sync sets the FEED stop: no alert yet
        runner.handle(wire.HealthMetrics(**{**zero, "ts_ns": 1, "symbol": "POLUSDT", "feed_state": state}))
    runner.handle(wire.StateChange(1, "engine", "running", "halted", "emergency halt"))
    runner.handle(wire.StateChange(1, "feed", "reconnecting", "halted", "10 reconnects failed"))  # still set
    runner.handle(wire.StateChange(1, "watchdog", "ok", "clock_drift", "drift 1500 ms"))
    runner.handle(wire.StateChange(1, "watchdog", "clock_drift", "ok", "cleared"))  # no alert
    runner.handle(wire.StateChange(1, "feed", "halted", "live", "back"))  # no alert
    assert runner.strategy.stops.triggered["feed"] == 2 and not runner.strategy.stops.paused
    # A drawdown: a losing trade beyond alert_drawdown_pct of the initial capital.
    capital = runner.cfg.initial_capital
    loss = -capital * Decimal(str(runner.cfg.monitoring.alert_drawdown_pct + 1)) / 100
    runner.strategy.position._done_realized = loss
    runner.step(0)
    now[0] += 1_500_000_000  # past the next once-a-second check, the drawdown still over the limit
    runner.step(0)  # the drawdown alert is sent once per crossing
    bodies = receiver.wait(6)
    sender.close()
    assert sender.stats["raised"] == 6 and len(receiver.bodies) == 6, receiver.bodies
    kinds = [b["text"].split("]")[0].split("[")[1] for b in bodies]
    assert kinds == ["breaker_open", "emergency_stop", "engine_halted", "feed_halted", "watchdog", "drawdown"]
    assert "POLUSDT: circuit breaker closed -> open" in bodies[0]["text"]
    assert "feed reconnecting" in bodies[1]["text"]
    assert "drift 1500 ms" in bodies[4]["text"]
    assert "% of the session's capital" in bodies[5]["text"]


def test_the_summary_keeps_the_feed_latency_of_the_session(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A health interval without latency samples (the feed quiet, or a replay faster than real time)
    reports 0: the summary gives the last interval with samples and the worst p99 of the session."""
    monkeypatch.delenv(ENV_URL, raising=False)
    runner = _runner(tmp_path, AlertSender.from_env("slack", 60))
    assert runner.summary()["feed"]["latency_p99_us"] is None
    zero = {f.name: 0 for f in fields(wire.HealthMetrics)}
    for rate, mean, p99 in ((400.0, 500.0, 900.0), (900.0, 800.0, 4_200.0), (350.0, 600.0, 1_100.0),
                            (300.0, 0.0, 0.0), (0.0, 0.0, 0.0)):  # fmt: skip
        h = {**zero, "ts_ns": 1, "symbol": "POLUSDT", "feed_state": "live", "msgs_per_sec": rate}
        runner.handle(wire.HealthMetrics(**{**h, "latency_mean_us": mean, "latency_p99_us": p99}))
    feed = runner.summary()["feed"]
    assert (feed["latency_p99_us"], feed["latency_p99_max_us"]) == (1_100.0, 4_200.0)


def test_the_summary_gives_the_feed_state_last_heard(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The feed's state in the summary is its newest StateChange, which can come after the last
    HealthMetrics (one a second); the counters are that HealthMetrics'."""
    monkeypatch.delenv(ENV_URL, raising=False)
    runner = _runner(tmp_path, AlertSender.from_env("slack", 60))
    assert runner.summary()["feed"]["state"] is None
    zero = {f.name: 0 for f in fields(wire.HealthMetrics)}
    runner.handle(wire.HealthMetrics(**{**zero, "ts_ns": 1, "symbol": "POLUSDT", "feed_state": "syncing",
                                        "resync_count": 1}))  # fmt: skip
    assert runner.summary()["feed"]["state"] == "syncing"
    runner.handle(wire.StateChange(2, "feed", "syncing", "live", "book in sync at update 7"))
    feed = runner.summary()["feed"]
    assert (feed["state"], feed["resync_count"]) == ("live", 1)


def test_the_summary_adds_up_the_feed_counts_of_an_engine_restarted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An engine restarted during the session reports its counts from zero: the summary keeps what
    the engine before it counted (it gave the new engine's alone) and counts from the first start."""
    monkeypatch.delenv(ENV_URL, raising=False)
    runner = _runner(tmp_path, AlertSender.from_env("slack", 60))
    zero = {f.name: 0 for f in fields(wire.HealthMetrics)}
    first, second = 1_700_000_000 * 10**9, 1_700_000_100 * 10**9
    for started, ts, resyncs, gaps, reconnects, missed in (
        (first, 1, 1, 0, 0, 0),
        (first, 2, 3, 2, 1, 5),  # the first engine's last report
        (second, 3, 1, 0, 0, 0),
        (second, 4, 2, 1, 0, 1),
    ):
        runner.handle(wire.HealthMetrics(**{
            **zero, "ts_ns": ts, "symbol": "POLUSDT", "feed_state": "live", "started_ts_ns": started,
            "resync_count": resyncs, "gap_count": gaps, "reconnect_count": reconnects,
            "trades_missed_count": missed,
        }))  # fmt: skip
    feed = runner.summary()["feed"]
    counts = [feed[k] for k in ("resync_count", "gap_count", "reconnect_count", "trades_missed_count")]
    assert counts == [5, 3, 1, 6] and feed["engines"] == 2, feed
    assert feed["counted_since_utc"] == "2023-11-14T22:13:20+00:00", feed


@pytest.mark.parametrize(("fmt", "key", "limit"), [("slack", "text", 3000), ("discord", "content", 2000)])
def test_a_long_text_is_cut_to_the_webhook_limit(fmt: str, key: str, limit: int) -> None:
    """A text longer than the service accepts is cut to exactly its limit, ending with an ellipsis;
    a text of exactly the limit is sent whole."""
    body = payload(fmt, "x" * (limit + 500))
    assert list(body) == [key] and len(body[key]) == limit and body[key].endswith("x…")
    assert payload(fmt, "y" * limit) == {key: "y" * limit}


def test_the_summary_names_what_was_held_and_dropped() -> None:
    """The summary gives the first alert, the held ones by kind (most frequent first), the last held
    one, and the alerts dropped because the queue was full."""
    held = Counter({"feed_halted": 1, "watchdog": 3})
    text = summarise(Alert("drawdown", "6 %"), held, Alert("watchdog", "drift"), 2)
    assert text == (
        "[drawdown] 6 %\n+4 more: watchdog x3, feed_halted x1 (last: [watchdog] drift)"
        "\n(2 alert(s) dropped: sender queue full)"
    )
    assert summarise(Alert("drawdown", "6 %"), Counter(), None, 0) == "[drawdown] 6 %"


class _Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _until(cond: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.01)
    assert cond(), "condition not met in time"  # type: ignore[operator]


def _texts(receiver: Receiver, n: int) -> list[str]:
    bodies = receiver.wait(n)
    assert len(bodies) == n, bodies
    return [b["text"] for b in bodies]


def test_each_summary_holds_only_what_arrived_since_the_previous_post(receiver: Receiver) -> None:
    """With a 60 s interval on a test clock: `a` goes out at once; `b`, `c`, `d` wait for the interval
    and go out as one summary; `e`, `f`, `g`, held for the next interval, are summarised without
    anything of the previous summary."""
    clock = _Clock()
    sender = AlertSender(receiver.url, "slack", 60.0, source="t", clock=clock)
    try:
        sender.alert("k1", "a")
        assert _texts(receiver, 1) == ["t: [k1] a"]
        sender.alert("k2", "b")
        sender.alert("k3", "c")
        _until(lambda: sender.stats["held"] == 1)  # b waits (first of the next post), c is held
        clock.now = 100.0  # the interval has passed: the next alert wakes the sender
        sender.alert("k4", "d")
        assert _texts(receiver, 2)[1] == "t: [k2] b\n+2 more: k3 x1, k4 x1 (last: [k4] d)"
        sender.alert("k5", "e")
        sender.alert("k6", "f")
        _until(lambda: sender.stats["held"] == 3)
        clock.now = 200.0
        sender.alert("k7", "g")
        assert _texts(receiver, 3)[2] == "t: [k5] e\n+2 more: k6 x1, k7 x1 (last: [k7] g)"
    finally:
        sender.close()
    assert sender.stats["posted"] == 3 and sender.stats["raised"] == 7


def test_close_posts_what_is_held(receiver: Receiver) -> None:
    """An alert held for the interval is not lost when the sender stops: `close` posts it."""
    clock = _Clock()
    sender = AlertSender(receiver.url, "slack", 60.0, source="t", clock=clock)
    sender.alert("k1", "a")
    assert _texts(receiver, 1) == ["t: [k1] a"]
    sender.alert("k2", "b")  # within the interval: held
    sender.close(timeout_s=5.0)
    assert _texts(receiver, 2)[1] == "t: [k2] b"


def test_alerts_dropped_on_a_full_queue_are_reported_in_the_next_post() -> None:
    """While the sender waits on a slow webhook its queue (2) fills: the third alert is dropped and
    counted, and the next post says so."""
    arrived, release = threading.Event(), threading.Event()
    bodies: list[dict] = []

    class Slow(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            n = int(self.headers.get("Content-Length", 0))
            bodies.append(json.loads(self.rfile.read(n)))
            arrived.set()
            release.wait(10)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Slow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/hook"
    sender = AlertSender(url, "slack", 0.0, source="t", queue_size=2, timeout_s=10.0)
    try:
        sender.alert("k1", "a")
        assert arrived.wait(5), "the first post never arrived"  # the sender is inside that post
        sender.alert("k2", "b")
        sender.alert("k3", "c")
        sender.alert("k4", "d")  # the queue holds b and c: dropped
        assert sender.stats["dropped"] == 1
        release.set()
        _until(lambda: len(bodies) >= 3)
    finally:
        release.set()
        sender.close()
        server.shutdown()
        server.server_close()
    assert [b["text"] for b in bodies] == [
        "t: [k1] a",
        "t: [k2] b\n(1 alert(s) dropped: sender queue full)",
        "t: [k3] c",
    ]


def test_a_reload_changes_the_alert_format_and_interval(tmp_path: Path) -> None:
    """`[monitoring] alert_format` and `alert_min_interval_secs` are reloadable: the running sender
    takes them."""
    from flashcrash.monitoring.reload import reload

    for name in ("config.toml", "schema.toml"):
        (tmp_path / name).write_bytes((REPO / "config" / name).read_bytes())
    (tmp_path / "local.toml").write_text("")
    path = tmp_path / "config.toml"
    sender = AlertSender(None, "slack", 60.0)
    runner = Runner(config.load(path), SilentEngine(), alerts=sender, config_path=path)  # type: ignore[arg-type]
    (tmp_path / "local.toml").write_text(
        '[monitoring]\nalert_format = "discord"\nalert_min_interval_secs = 5\n'
    )
    assert reload(runner, path)
    assert (sender.fmt, sender.min_interval_s) == ("discord", 5.0)


@pytest.mark.parametrize(
    "url",
    [
        "hooks.slack.com/services/T000/B000/SuperSecretToken123",  # no scheme
        "https://hooks.slack.com/services/T000/B000/SuperSecretToken123 # prod",  # a .env comment
    ],
)
def test_a_malformed_webhook_url_is_refused_without_being_logged(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A webhook URL that could not be posted to (no scheme, a `.env` line's comment kept in it) is
    refused at start: alerts are only logged, nothing is queued for a sender that would die on it,
    and the URL, a secret, appears in no log line."""
    sender = AlertSender(url, "slack", 0.0)
    try:
        sender.alert("drawdown", "test")
        assert sender.stats["refused_url"] == 1 and sender._thread is None
        assert "SuperSecretToken123" not in caplog.text
        assert ENV_URL in caplog.text
    finally:
        sender.close()


def test_a_post_that_fails_in_any_way_keeps_the_sender_alive(caplog: pytest.LogCaptureFixture) -> None:
    """Whatever a post raises (here the URL made unusable after the start check), the failure is
    counted, the sender thread goes on, and the URL is not logged."""
    sender = AlertSender("http://127.0.0.1:9/SuperSecretToken123", "slack", 0.0)
    try:
        sender.url = "http://127.0.0.1:9/Super Secret\x00Token123"
        sender.alert("drawdown", "one")
        deadline = time.monotonic() + 10
        while sender.stats["failed"] < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sender.stats["failed"] == 1 and sender._thread is not None and sender._thread.is_alive()
        assert "SuperSecret" not in caplog.text
    finally:
        sender.close()
