"""Configuration without restart, strategy side: a changed threshold takes effect in the running
components, fixed keys (window sizes, addresses) keep their running value with a warning, an invalid
file changes nothing; the engine's StateChange `config` triggers it; `flashcrash reload` sends
`ReloadConfig` and prints the engine's answer (a fake engine on real ZeroMQ sockets)."""

from __future__ import annotations

import dataclasses
import logging
import threading
from pathlib import Path

import pytest
import zmq
from engine_fakes import SilentEngine

from flashcrash import cli, config, wire
from flashcrash.launcher import REPO
from flashcrash.monitoring.reload import reload
from flashcrash.runner import Runner


def _setup(tmp_path: Path, local: str = "") -> tuple[Path, Runner]:
    for name in ("config.toml", "schema.toml"):
        (tmp_path / name).write_bytes((REPO / "config" / name).read_bytes())
    (tmp_path / "local.toml").write_text(local)
    path = tmp_path / "config.toml"
    return path, Runner(config.load(path), SilentEngine(), config_path=path)  # type: ignore[arg-type]


EDIT = """
[event_detection]
obi_threshold = 0.3
core_quorum = 2
baseline_secs = 120
[strategy]
score_good = 20.0
score_exhaustion = 15.0
stop_loss_pct = 2.5
range_samples = 50
[risk]
breaker_failures = 7
order_timeout_ms = 2500
max_positions = 1
[symbol]
order_quantity = "250"
[zmq]
data_endpoint = "tcp://127.0.0.1:6000"
subscriber_wait_ms = 500
data_send_buffer_kib = 16384
[monitoring]
alert_drawdown_pct = 9.0
log_format = "json"
watchdog_interval_secs = 5
[fees]
maker_rate = "0.0002"
"""


def _core(det: object) -> dict:
    """What the compiled detector runs with: its snapshot's indicators, patterns and timers."""
    return det.snapshot()["detector"]["core"]  # type: ignore[attr-defined, no-any-return]


def test_changed_thresholds_take_effect(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _, runner = _setup(tmp_path)
    det, st = runner.detector, runner.strategy
    assert _core(det)["obi"]["threshold"] == 0.5
    old_window = _core(det)["volatility"]["returns"]
    (tmp_path / "local.toml").write_text(EDIT)
    with caplog.at_level(logging.INFO, logger="flashcrash.monitoring.reload"):
        # The engine applied a ReloadConfig: the runner re-reads the file it was started with.
        runner.handle(wire.StateChange(1, "config", "a" * 16, "b" * 16, "reloaded: risk.max_positions"))
    assert det is runner.detector and _core(det)["obi"]["threshold"] == 0.3  # the same detector
    assert det.cfg.obi_threshold == 0.3 and det.cfg.core_quorum == 2
    assert st.bands.good == 20.0 and st.rules.stop_loss == pytest.approx(0.025)
    assert st.risk.max_positions == 1 and runner.orders.breaker.max_failures == 7
    assert runner.orders.timeout_ns == 2_500_000_000
    assert str(st.quantity.value) == "250"  # type: ignore[union-attr]
    # Fixed keys keep their running value (and the buffers they sized), with a warning.
    assert det.cfg.baseline_secs == 300 and _core(det)["volatility"]["returns"] == old_window
    assert st.cfg.range_samples == config.load(REPO / "config" / "config.toml").strategy.range_samples
    assert runner.cfg.zmq.data_endpoint != "tcp://127.0.0.1:6000"
    assert runner.cfg.strategy.score_good == 20.0 and runner.cfg.event_detection.baseline_secs == 300
    text = caplog.text
    assert "config reload: [event_detection] obi_threshold 0.5 -> 0.3" in text
    assert "config reload: [risk] breaker_failures 3 -> 7" in text
    assert "[event_detection] baseline_secs 300 -> 120 not applied (restart required)" in text
    assert "[zmq] data_endpoint" in text and "not applied" in text
    assert runner.cfg.monitoring.alert_drawdown_pct == 9.0 and runner.cfg.monitoring.log_format == "text"
    assert "[monitoring] log_format 'text' -> 'json' not applied (restart required)" in text
    assert "watchdog_interval_secs" not in text  # the engine's key: not the strategy's business
    assert "subscriber_wait_ms" not in text  # the engine's, though in a section the strategy reads
    assert "data_send_buffer_kib" not in text
    assert str(runner.orders.maker_rate) == "0.0002" and "[fees] maker_rate '0.001' -> '0.0002'" in text


def test_an_invalid_file_keeps_the_old_values(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path, runner = _setup(tmp_path)
    before = runner.cfg
    # One good change and one out of range: nothing at all is applied.
    (tmp_path / "local.toml").write_text("[strategy]\nscore_good = 20.0\n[risk]\nbreaker_failures = -1\n")
    with caplog.at_level(logging.ERROR):
        assert reload(runner, path) is None
    assert runner.cfg is before and runner.strategy.bands.good == before.strategy.score_good
    assert runner.orders.breaker.max_failures == before.risk.breaker_failures
    assert "config reload refused, old values kept" in caplog.text and "breaker_failures" in caplog.text
    (tmp_path / "local.toml").write_text("[strategy\n")  # not TOML
    assert reload(runner, path) is None and runner.cfg is before


@pytest.mark.parametrize(
    ("local", "named"),
    [
        ("[event_detection]\nbaseline_secs = 600\nwarmup_secs = 500\n", "warmup_secs = 500"),
        ("[strategy]\nrange_samples = 5000\nrange_min_samples = 2000\n", "range_min_samples = 2000"),
    ],
)
def test_a_reload_keeps_the_rules_between_keys_with_the_running_values(
    tmp_path: Path, local: str, named: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A file valid on its own whose reloadable key would break a rule with the running value of
    its fixed partner (a warm-up above the running 300-s baseline: four indicators never ready; a
    minimum above the running 1,000-sample window: the range filter never applies) is refused,
    naming the pair, and nothing is applied."""
    path, runner = _setup(tmp_path)
    before = runner.cfg
    (tmp_path / "local.toml").write_text(local)
    with caplog.at_level(logging.ERROR):
        assert reload(runner, path) is None
    assert runner.cfg is before
    assert "config reload refused, old values kept" in caplog.text and named in caplog.text


def test_a_decimal_of_thousands_of_digits_is_refused_or_read_never_a_crash(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """After the engine's `StateChange` config, a file whose decimal has thousands of digits (more
    than Python's int() converts) is refused naming the key, the old values kept; one of thousands of
    leading zeros is read as the engine reads it (`"000…0250"` is 250) and applied."""
    path, runner = _setup(tmp_path)
    before = runner.cfg
    (tmp_path / "local.toml").write_text(f'[symbol]\norder_quantity = "{"5" * 5000}"\n')
    with caplog.at_level(logging.ERROR):
        runner.handle(wire.StateChange(1, "config", "a" * 16, "b" * 16, "reloaded: symbol.order_quantity"))
    assert runner.cfg is before
    assert "config reload refused, old values kept: config error: [symbol] order_quantity" in caplog.text
    (tmp_path / "local.toml").write_text(f'[symbol]\norder_quantity = "{"0" * 5000}250"\n')
    assert reload(runner, path) is not None
    assert runner.cfg.symbol.order_quantity == 250 and str(runner.strategy.quantity.value) == "250"  # type: ignore[union-attr]


def test_any_failure_of_the_loader_keeps_the_old_values(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever the loader raises (not only `ConfigError`: a fault of its own), the reload is logged
    as failed and nothing changes; the strategy's loop goes on."""
    path, runner = _setup(tmp_path)
    before = runner.cfg

    def broken(*_: object, **__: object) -> config.Config:
        raise ValueError("Exceeds the limit (4300 digits) for integer string conversion")

    monkeypatch.setattr(config, "load", broken)
    with caplog.at_level(logging.ERROR):
        assert reload(runner, path) is None
        runner.handle(wire.StateChange(1, "config", "a" * 16, "b" * 16, "reloaded: risk.max_positions"))
    assert runner.cfg is before
    assert "config reload failed, old values kept: ValueError: Exceeds the limit" in caplog.text


def test_unchanged_file_is_a_no_op(tmp_path: Path) -> None:
    path, runner = _setup(tmp_path)
    assert reload(runner, path) == []


class FakeEngine:
    """Answers the first command with `answer(command_id)` (None: never answers), on `host`."""

    def __init__(self, answer: object, host: str = "127.0.0.1") -> None:
        self.ctx = zmq.Context()
        self.cmds = self.ctx.socket(zmq.PULL)
        self.resp = self.ctx.socket(zmq.PUB)
        self.host = host
        for s in (self.cmds, self.resp):
            s.setsockopt(zmq.LINGER, 0)
            s.setsockopt(zmq.IPV6, 1)
        self.cmd_port = self.cmds.bind_to_random_port(f"tcp://{host}")
        self.resp_port = self.resp.bind_to_random_port(f"tcp://{host}")
        self.answer = answer
        self.got: list[object] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        if self.cmds.poll(10_000):
            msg = wire.decode(self.cmds.recv())
            self.got.append(msg)
            if self.answer is not None:
                self.resp.send_multipart([b"resp", wire.encode(self.answer(msg.command_id))])  # type: ignore[attr-defined, operator]

    def close(self) -> None:
        self.thread.join(timeout=11)
        self.cmds.close()
        self.resp.close()
        self.ctx.term()


def _reload_config(tmp_path: Path, eng: FakeEngine) -> Path:
    host = eng.host  # an IPv6 address in brackets, as in an endpoint
    path, _ = _setup(
        tmp_path,
        f'[zmq]\ncommand_endpoint = "tcp://{host}:{eng.cmd_port}"\n'
        f'response_endpoint = "tcp://{host}:{eng.resp_port}"\n',
    )
    return path


def test_reload_command_success(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    eng = FakeEngine(lambda cid: wire.Success(cid, 1, "reloaded: risk.max_positions"))
    try:
        code = cli.main(["reload", "--config", str(_reload_config(tmp_path, eng)), "--timeout", "5"])
    finally:
        eng.close()
    assert code == 0
    assert isinstance(eng.got[0], wire.ReloadConfig)
    assert "reload applied: reloaded: risk.max_positions" in capsys.readouterr().out


def test_reload_command_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    eng = FakeEngine(
        lambda cid: wire.Error(
            cid, 1, "VALIDATION", "zmq.data_endpoint", "restart required for: zmq.data_endpoint"
        )
    )
    try:
        code = cli.main(["reload", "--config", str(_reload_config(tmp_path, eng)), "--timeout", "5"])
    finally:
        eng.close()
    assert code == 1
    err = capsys.readouterr().err
    assert "reload refused: VALIDATION (zmq.data_endpoint): restart required for: zmq.data_endpoint" in err


@pytest.mark.parametrize(
    ("argv", "sent"),
    [
        (
            ["halt", "--flatten", "--reason", "desk says stop"],
            wire.EmergencyHalt("", 0, "desk says stop", True),
        ),
        (["halt"], wire.EmergencyHalt("", 0, "from the command line", False)),
        (["resume", "--reason", "checked"], wire.Resume("", 0, "checked")),
    ],
    ids=["halt-flatten", "halt", "resume"],
)
def test_halt_and_resume_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], sent: wire.Message
) -> None:
    """A halt that needs a `Resume` (a watchdog halt, refused credentials, a ban once over) could be
    lifted by nothing the product shipped; `flashcrash halt` and `flashcrash resume` send the engine's
    own commands and print its answer."""
    eng = FakeEngine(lambda cid: wire.Success(cid, 1, "running"))
    try:
        code = cli.main([*argv, "--config", str(_reload_config(tmp_path, eng)), "--timeout", "5"])
    finally:
        eng.close()
    assert code == 0
    (got,) = eng.got
    assert type(got) is type(sent) and got.command_id and got.ts_ns > 0
    assert dataclasses.replace(got, command_id="", ts_ns=0) == sent
    assert f"{argv[0]} applied: running" in capsys.readouterr().out


def test_commands_reach_an_engine_on_ipv6(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`tcp://[::1]:...` endpoints (the config accepts them, the strategy connects to them): the
    command line's sockets had no IPV6 set and said the engine was not there."""
    eng = FakeEngine(lambda cid: wire.Success(cid, 1, "halted"), host="[::1]")
    try:
        assert cli.main(["halt", "--config", str(_reload_config(tmp_path, eng)), "--timeout", "5"]) == 0
    finally:
        eng.close()
    assert "halt applied: halted" in capsys.readouterr().out


def test_a_command_sent_and_never_answered_may_still_be_applied(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An engine that took the command and did not answer in time was reported as having refused it."""
    eng = FakeEngine(None)
    try:
        assert cli.main(["resume", "--config", str(_reload_config(tmp_path, eng)), "--timeout", "1"]) == 1
    finally:
        eng.close()
    assert isinstance(eng.got[0], wire.Resume)
    assert "resume sent, no answer: no answer from the engine within 1 s: it may still act on it" in (
        capsys.readouterr().err
    )


def test_a_halt_reads_only_the_engines_addresses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A bad value elsewhere in the files (here `[risk] max_positions = 0`) refuses a reload before it
    is sent, but never stops a halt; a bad `[zmq]` address stops both, named."""
    eng = FakeEngine(lambda cid: wire.Success(cid, 1, "halted"))
    path = _reload_config(tmp_path, eng)
    local = tmp_path / "local.toml"
    local.write_text(local.read_text() + "[risk]\nmax_positions = 0\n")
    try:
        assert cli.main(["reload", "--config", str(path), "--timeout", "1"]) == 2
        assert "max_positions = 0" in capsys.readouterr().err
        assert cli.main(["halt", "--config", str(path), "--timeout", "5"]) == 0
    finally:
        eng.close()
    assert isinstance(eng.got[0], wire.EmergencyHalt)
    local.write_text('[zmq]\ncommand_endpoint = "tcp://*:1"\n')
    assert cli.main(["resume", "--config", str(path), "--timeout", "1"]) == 2
    assert "[zmq] command_endpoint" in capsys.readouterr().err


def test_reload_command_without_engine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with zmq.Context() as ctx, ctx.socket(zmq.PUB) as probe:
        port = probe.bind_to_random_port("tcp://127.0.0.1")
        probe.unbind(f"tcp://127.0.0.1:{port}")
    path, _ = _setup(
        tmp_path,
        f'[zmq]\ncommand_endpoint = "tcp://127.0.0.1:{port}"\nresponse_endpoint = "tcp://127.0.0.1:{port}"\n',
    )
    assert cli.main(["reload", "--config", str(path), "--timeout", "0.5"]) == 1
    assert "reload not sent: no engine listening" in capsys.readouterr().err


EVERY_COMPONENT = """
[event_detection]
volatility_floor_bps = 35.0
velocity_min_per_sec = 25.0
warmup_secs = 90
exhaustion_wick_pct = 30.0
exhaustion_wick_growth_pct = 15.0
climax_wick_pct = 33.0
climax_volume_ratio = 2.5
depth_levels = 10
liquidity_min_usd = 50000.0
extreme_imbalance = 0.8
wall_ratio = 4.5
[strategy]
volume_multiple = 2.0
volume_min_quote = 300.0
entry_cooldown_secs = 7
loss_cooldown_secs = 13
[risk]
max_latency_ms = 750
max_spread_ratio = 12.0
min_liquidity_usd = 1500.0
breaker_open_secs = 45
[fees]
taker_rate = "0.0008"
[monitoring]
log_level = "error"
"""


def test_every_reloadable_value_reaches_its_component(tmp_path: Path) -> None:
    """Each reloadable key lands in the object that reads it at each use (not only in `runner.cfg`):
    indicators and patterns, the volume rule, the cooldowns (entry and loss not swapped), the
    emergency-stop limits (ms to us), the breaker's open time, the taker fee, the root log level."""
    path, runner = _setup(tmp_path)
    root = logging.getLogger()
    level = root.level
    (tmp_path / "local.toml").write_text(EVERY_COMPONENT)
    try:
        assert reload(runner, path)
        assert root.level == logging.ERROR
    finally:
        root.setLevel(level)
    det, st, S = runner.detector, runner.strategy, 1_000_000_000
    core = _core(det)
    assert core["volatility"]["floor_bps"] == 35.0 and core["velocity"]["min_per_sec"] == 25.0
    assert [core[i]["warmup"] for i in ("volatility", "spread", "volume_delta", "velocity")] == [90] * 4
    p = core["patterns"]
    assert (p["ex_wick"], p["ex_growth"], p["cl_wick"], p["cl_volume"]) == (30.0, 15.0, 33.0, 2.5)
    d = core["depth"]
    assert (d["levels"], d["min_usd"], d["extreme"], d["wall_ratio"]) == (10, 50000.0, 0.8, 4.5)
    assert (st.volume.multiple, st.volume.min_quote) == (2.0, 300.0)
    assert (st.cooldown.entry_ns, st.cooldown.loss_ns) == (7 * S, 13 * S)
    assert st.stops.max_latency_us == 750_000.0
    assert (st.stops.max_spread_ratio, st.stops.min_liquidity_usd) == (12.0, 1500.0)
    assert runner.orders.breaker.open_ns == 45 * S
    assert str(runner.orders.taker_rate) == "0.0008"
