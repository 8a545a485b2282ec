"""The launcher: its port choice (distinct, free, and never from the range the kernel hands to
outgoing connections, from where any connect on the host could take a port before its process binds
it), and the settings it reads as the session will see them."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest

from flashcrash import config, launcher
from flashcrash.monitoring.metrics import StrategyMetrics


def test_ports_are_distinct_free_and_below_the_ephemeral_range() -> None:
    top = launcher._ephemeral_start()
    ports = launcher.free_ports(50)
    assert len(set(ports)) == 50
    assert all(launcher._LOWEST_PORT <= p < top for p in ports), (top, ports)
    for p in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", p))


def test_a_taken_port_is_never_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        taken = held.getsockname()[1]
        # The whole allowed range is the one taken port: the choice falls back to the kernel's.
        monkeypatch.setattr(launcher, "_LOWEST_PORT", taken)
        monkeypatch.setattr(launcher, "_ephemeral_start", lambda: taken + 1_000)
        monkeypatch.setattr(launcher.random.Random, "randrange", lambda self, a, b: taken)
        assert taken not in launcher.free_ports(3)


def test_without_proc_the_linux_default_range_is_assumed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(launcher, "_EPHEMERAL_RANGE", Path("/nonexistent/ip_local_port_range"))
    assert launcher._ephemeral_start() == 32_768


def test_a_setting_is_read_as_the_session_will_see_it(tmp_path: Path) -> None:
    """The config, then local.toml beside it, then the session's overrides (the simulator gets the
    backtest's `data_gap_secs` this way)."""
    (tmp_path / "config.toml").write_text("[backtest]\ndata_gap_secs = 300\nbook_seed = 1\n")
    s = launcher.Session(config=tmp_path / "config.toml", bin_dir=tmp_path)

    def setting(section: str, key: str) -> object:
        return launcher._setting(s._layers(), section, key)

    assert setting("backtest", "data_gap_secs") == 300
    assert setting("backtest", "missing") is None and setting("nosection", "x") is None
    (tmp_path / "local.toml").write_text("[backtest]\ndata_gap_secs = 60\n")
    assert setting("backtest", "data_gap_secs") == 60
    s.overrides = {"backtest": {"data_gap_secs": 0}}
    assert setting("backtest", "data_gap_secs") == 0 and setting("backtest", "book_seed") == 1


def test_a_replay_of_trades_runs_on_the_synthetic_books_overlay(tmp_path: Path) -> None:
    """exchange-sim on a trade file publishes the synthetic book: the session layers
    config/synthetic_book.toml over the config and local.toml, under its own overrides. A capture's
    recorded book, a SimSpec without it, or no simulator run on the config's own values."""
    shipped = launcher.REPO / "config"
    shutil.copy(shipped / "config.toml", tmp_path / "config.toml")
    (tmp_path / "local.toml").write_text("[strategy]\nscore_good = 75.0\nentry_fraction = 0.3\n")

    def run_on(spec: launcher.SimSpec | None, **overrides: dict[str, object]) -> tuple[object, object]:
        s = launcher.Session(
            config=tmp_path / "config.toml",
            bin_dir=tmp_path,
            sim=spec,
            workdir=tmp_path / "w",
            overrides=overrides,
        )
        names = ("data", "command", "response", "strategy", "engine_metrics", "strategy_metrics")
        s.ports = dict(zip(names, launcher.free_ports(len(names)), strict=True))
        s._write_config()
        cfg = config.load(s.run_config)
        return s.book_overlay, (
            cfg.strategy.score_good,
            cfg.strategy.entry_fraction,
            cfg.risk.min_liquidity_usd,
        )

    assert run_on(launcher.SimSpec()) == (shipped / "synthetic_book.toml", (35.0, 0.3, 1000.0))
    assert run_on(launcher.SimSpec(), strategy={"score_good": 40.0})[1] == (40.0, 0.3, 1000.0)
    own = (None, (75.0, 0.3, 100000.0))
    assert run_on(launcher.SimSpec(extra_args=("--format", "capture"))) == own
    assert run_on(launcher.SimSpec(synthetic_overlay=False)) == own
    assert run_on(None) == own


class _Spawned(Exception):
    pass


def test_the_simulator_is_the_venue_the_config_describes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """exchange-sim gets the config's price tick, quantity step and minimum notional (the engine checks
    its config against the venue's exchangeInfo, so a grid other than the simulator's defaults would
    stop it), and the backtest's rule for recording gaps; flags given by the session win."""
    (tmp_path / "config.toml").write_text(
        '[backtest]\ndata_gap_secs = 300\nbook_seed = 1\n[strategy]\nprice_tick = "0.00001"\n'
        '[symbol]\nquantity_step = "1"\nmin_notional = "10"\n'
    )
    (tmp_path / "exchange-sim").touch()
    s = launcher.Session(config=tmp_path / "config.toml", bin_dir=tmp_path)
    argvs: list[list[str]] = []

    def spawn(name: str, argv: list[str], stdout: object = None) -> launcher.Proc:
        argvs.append(argv)
        raise _Spawned

    monkeypatch.setattr(s, "_spawn", spawn)
    for extra in ((), ("--min-notional", "20")):
        with pytest.raises(_Spawned):
            s._start_sim(launcher.SimSpec(extra_args=extra))
    first = argvs[0]
    assert {
        f: first[first.index(f) + 1]
        for f in ("--tick-size", "--step-size", "--min-notional", "--data-gap-secs", "--seed")
    } == {
        "--tick-size": "0.00001",
        "--step-size": "1",
        "--min-notional": "10",
        "--data-gap-secs": "300",
        "--seed": "1",  # the backtest's book noise
    }
    assert argvs[1].count("--min-notional") == 1 and argvs[1][-2:] == ["--min-notional", "20"]


def test_a_fast_replay_lets_the_engine_publish_every_book_the_simulator_sends() -> None:
    """A book every 100 ms of event time is 10 N a second at N times real time: the engine's publish
    rate is raised to four times that (1,200 at 30x: the simulator sends them in bursts, and a cap at
    their mean rate dropped a third of them at 30x, a tenth at 10x) so the strategy sees what a
    backtest of the data sees; at real time, at a rate the config already allows, or as fast as
    clients read, it stays as configured."""
    hz = launcher._publish_hz_for
    assert launcher.BOOK_BURST_HEADROOM == 4
    assert hz(launcher.SimSpec(speed="30"), 100) == 1200
    assert hz(launcher.SimSpec(speed="10"), 100) == 400
    assert hz(launcher.SimSpec(speed="12.5"), None) == 500
    assert hz(launcher.SimSpec(speed="2"), 100) is None
    assert hz(launcher.SimSpec(speed="1"), 100) is None
    assert hz(launcher.SimSpec(speed="30"), 2000) is None
    assert hz(None, 100) is None


def test_a_replay_at_max_speed_lifts_the_engines_book_rate_cap() -> None:
    """At `max` a capped book went out at the end of its interval, read then from the engine's live
    book, seconds of replay ahead of the trades still queued behind it: the strategy's guard dropped
    those as `time_backwards` (436 in 20 minutes at 100 a second). Uncapped, none is."""
    assert launcher._publish_hz_for(launcher.SimSpec(speed="max"), 100) == launcher.MAX_PUBLISH_HZ
    schema = (launcher.REPO / "config" / "schema.toml").read_text()
    assert f'[feed.max_publish_hz]\ntype = "int"\nmin = 1\nmax = {launcher.MAX_PUBLISH_HZ}\n' in schema


def test_the_launcher_records_why_it_stopped_the_strategy(tmp_path: Path) -> None:
    """`stop(why=...)` is kept when the strategy was still running to be stopped (its own summary only
    says SIGTERM), not when it had stopped by itself."""
    for running in (True, False):
        s = launcher.Session(config=tmp_path / "config.toml", bin_dir=tmp_path)
        log = open(tmp_path / "strategy.log", "wb")  # noqa: SIM115 - closed by stop()
        argv = [sys.executable, "-c", "import time; time.sleep(60)" if running else "pass"]
        popen = subprocess.Popen(argv, start_new_session=True)
        if not running:
            popen.wait()
        s.procs["strategy"] = launcher.Proc("strategy", popen, tmp_path / "strategy.log", log)
        codes = s.stop(grace=10, why="at the end of the replay")
        assert codes["strategy"] == (-signal.SIGTERM if running else 0)
        assert s.stopped_for == ("at the end of the replay" if running else None)


def test_the_strategys_messages_are_read_from_its_metrics() -> None:
    """What the strategy received, by type, as its metrics serve it (None when nothing answers)."""
    metrics = StrategyMetrics("POLUSDT", Decimal(1000))
    metrics.serve(0)
    try:
        metrics.messages.sync(96_847, "Trade")
        metrics.messages.sync(26_919, "OrderBookSnapshot")
        s = launcher.Session(config=Path("unused"), bin_dir=Path("unused"))
        s.ports["strategy_metrics"] = metrics.port or 0
        assert s.strategy_messages() == {"Trade": 96_847, "OrderBookSnapshot": 26_919}
    finally:
        metrics.close()
    assert s.strategy_messages() is None


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ([10, 50, 100], (100, True)),  # all of them
        ([10, 92, 92, 92, 92, 92, 92], (92, True)),  # stopped moving: the rest is not coming
        ([None, None, None, None, None, None], (None, False)),  # no metrics
        (list(range(1, 1000)), (19, False)),  # still reading when the wait ends (the clock ticks per read)
    ],
    ids=["all", "settled", "no metrics", "timeout"],
)
def test_the_demo_waits_for_the_strategy_to_read_what_was_published(
    monkeypatch: pytest.MonkeyPatch, counts: list[int | None], expected: tuple[int | None, bool]
) -> None:
    """At max speed the strategy is seconds behind the replay: stopped at its end it dropped the
    messages still queued for it (510 of 3,001 trades read); the demo now waits until it has read
    them all, or its count stops moving, within a bound."""
    s = launcher.Session(config=Path("unused"), bin_dir=Path("unused"))
    left = iter(counts)
    seen: list[int | None] = []
    monkeypatch.setattr(
        s, "strategy_messages", lambda: (lambda n: None if n is None else {"Trade": n})(next(left))
    )
    clock = iter(range(1_000_000))
    fake_time = SimpleNamespace(sleep=lambda _s: None, monotonic=lambda: float(next(clock)))
    monkeypatch.setattr(launcher, "time", fake_time)
    assert (
        s.wait_strategy_caught_up(100, timeout=20, settle=4, on_tick=lambda _s, n: seen.append(n)) == expected
    )
    assert seen == counts[: len(seen)]


def test_a_session_as_configured_runs_on_the_users_file_its_ports_and_database(tmp_path: Path) -> None:
    """`flashcrash paper` against a venue: the processes get the user's file itself (a reload re-reads
    it), and the ports checked at the stop are its own, `local.toml` beside it included."""
    shutil.copy(launcher.REPO / "config" / "config.toml", tmp_path / "config.toml")
    (tmp_path / "local.toml").write_text('[zmq]\ndata_endpoint = "tcp://127.0.0.1:6655"\n')
    s = launcher.Session(config=tmp_path / "config.toml", bin_dir=tmp_path, as_configured=True)
    assert s.run_config == tmp_path / "config.toml"
    assert s._configured_ports() == {
        "data": 6655,
        "command": 5556,
        "response": 5557,
        "strategy": 5558,
        "engine_metrics": 9101,
        "strategy_metrics": 9102,
    }
    # Where demo and paper copy the session's files: the report_dir read then, `local.toml`'s too.
    (tmp_path / "local.toml").write_text(f'[persistence]\nreport_dir = "{tmp_path / "mine"}"\n')
    s._load_config()
    assert s.report_root == tmp_path / "mine"
    s.overrides = {"zmq": {"data_endpoint": "tcp://127.0.0.1:1"}}
    with pytest.raises(launcher.LaunchError, match="no simulator and no overrides"):
        s._configured_ports()
    (tmp_path / "local.toml").write_text("[zmq]\ndata_endpoint = 5\n")
    s.overrides = {}
    with pytest.raises(launcher.LaunchError, match="data_endpoint"):
        s._configured_ports()


@pytest.mark.parametrize(
    ("local", "message"),
    [
        (
            '[backtest]\nbook_seed = "abc"\n',
            'config error: [backtest] book_seed = "abc": expected an integer from ',
        ),
        ("[backtest]\ndata_gap_secs = \n", "local.toml: invalid TOML: "),
    ],
    ids=["bad book_seed", "syntax error"],
)
def test_a_bad_config_is_refused_before_exchange_sim_gets_its_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, local: str, message: str
) -> None:
    """`flashcrash demo` / `paper --sim`: the config is validated before its values become
    exchange-sim's flags; a bad one is the loader's one line naming the key (or the file, line and
    column), no child is started and no port is taken."""
    for name in ("config.toml", "schema.toml"):
        shutil.copy(launcher.REPO / "config" / name, tmp_path / name)
    (tmp_path / "local.toml").write_text(local)
    s = launcher.Session(config=tmp_path / "config.toml", bin_dir=tmp_path, sim=launcher.SimSpec())

    def spawn(name: str, argv: list[str], stdout: object = None) -> launcher.Proc:
        raise _Spawned

    monkeypatch.setattr(s, "_spawn", spawn)
    with pytest.raises(launcher.LaunchError) as e, s:
        pass
    assert message in str(e.value) and "\n" not in str(e.value)
    assert not s.ports and not s.procs
