"""`flashcrash optimize --n-jobs 2` stopped from outside, as a real process: SIGTERM stops it as Ctrl-C
does (exit 130, its workers stopped with it, their running trials FAIL, none left RUNNING), and its
workers die with it even when it is killed outright (SIGKILL), failing their running trials. Every
wait is bounded and the process group is always killed at the end. In the command's own process
(`--n-jobs 1`) a signal stops the run after the trial under way."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from flashcrash import config
from flashcrash.backtest.commands import parse_utc, window
from flashcrash.marketdata import load_trades
from flashcrash.optimize import study as study_mod
from flashcrash.optimize.space import QUICK

REPO = Path(__file__).resolve().parents[3]
POL = REPO / "data" / "binance_trades_2025-10-10_POLUSDT_2045-2145.csv.gz"
CONFIG = REPO / "config" / "config.toml"
# What a study replays on (the synthetic book) and loads first: the synthetic book's overlay.
SYNTHETIC = config.synthetic_book_overlay(CONFIG)
STUDY = "signals"
WAIT_SECS = 60.0

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warm trade cache, so the runs start their trials at once."""
    path = tmp_path_factory.mktemp("cache")
    load_trades(POL, path)
    return path


def group(pgid: int) -> list[int]:
    """The live (not zombie) processes of process group `pgid`."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if fields[0] != "Z" and int(fields[2]) == pgid:
                members.append(int(stat.parent.name))
    return members


def trials(storage: str, *states: optuna.trial.TrialState) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=STUDY, storage=storage).get_trials(
        deepcopy=False, states=states or None
    )


def workers(storage: str) -> set[int]:
    """The process ids of the study's workers (`host:pid` in each trial)."""
    return {
        int(t.user_attrs["worker"].rsplit(":", 1)[1]) for t in trials(storage) if "worker" in t.user_attrs
    }


def wait_for(what: str, check: object) -> None:
    deadline = time.monotonic() + WAIT_SECS
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"no {what} within {WAIT_SECS:.0f} s"
        time.sleep(0.1)


@contextlib.contextmanager
def optimize_running(tmp: Path, cache: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`flashcrash optimize` with two workers, in a session of its own, once both workers are running
    a trial of the whole crash hour; its whole process group killed on the way out."""
    storage = f"sqlite:///{tmp / 'study.db'}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "flashcrash", "optimize", "--data", str(POL), "--storage", storage,
         "--study-name", STUDY, "--cache-dir", str(cache), "--out", str(tmp / "out"), "--seed", "1",
         "--n-jobs", "2", "--n-trials", "400"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        running = optuna.trial.TrialState.RUNNING

        def two_workers_running() -> bool:
            assert proc.poll() is None, proc.communicate()[1].decode()
            with contextlib.suppress(KeyError):  # the study is not made yet
                return len({t.user_attrs.get("worker") for t in trials(storage, running)} - {None}) == 2
            return False

        wait_for("two running workers", two_workers_running)
        yield proc, storage
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=10)


def test_sigterm_stops_the_run_and_its_workers_as_ctrl_c_does(tmp_path: Path, cache: Path) -> None:
    with optimize_running(tmp_path, cache) as (proc, storage):
        os.kill(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=WAIT_SECS)
        assert proc.returncode == 130, err.decode()
        assert "flashcrash optimize: interrupted (signal SIGTERM)" in err.decode()
        assert not workers(storage) & set(group(proc.pid))  # stopped before it exited
        wait_for("end of the run's processes", lambda: group(proc.pid) == [])  # resource tracker
        assert trials(storage, optuna.trial.TrialState.RUNNING) == []
        failed = trials(storage, optuna.trial.TrialState.FAIL)  # the trials the workers were running
        assert any(t.user_attrs.get("stopped") == "SIGTERM" for t in failed)


def test_the_workers_die_with_a_run_killed_outright(tmp_path: Path, cache: Path) -> None:
    with optimize_running(tmp_path, cache) as (proc, storage):
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=WAIT_SECS)
        wait_for("end of the workers", lambda: not workers(storage) & set(group(proc.pid)))
        wait_for("end of the run's processes", lambda: group(proc.pid) == [])
        assert trials(storage, optuna.trial.TrialState.RUNNING) == []
        failed = trials(storage, optuna.trial.TrialState.FAIL)  # stopped by their death signal
        assert any(t.user_attrs.get("stopped") == "SIGTERM" for t in failed)


def test_a_signal_to_a_run_in_this_process_stops_it_after_the_trial(tmp_path: Path, cache: Path) -> None:
    """`run_trials`, as `--n-jobs 1` runs it: a SIGTERM is a request, not an interruption inside
    optuna's own writes; no trial starts after it, KeyboardInterrupt names it, and the handler of
    before the run is back."""
    trades, _, _ = load_trades(POL, cache)
    job = study_mod.Job(
        mode="quick", objective="return", config=CONFIG, overlays=[SYNTHETIC],
        trades=window(trades, parse_utc("2025-10-10T21:05:00Z"), parse_utc("2025-10-10T21:06:00Z")),
        storage=study_mod.storage_url(f"sqlite:///{tmp_path / 's.db'}"), study_name=STUDY, seed=1,
    )  # fmt: skip
    study_mod.open_study(job).enqueue_trial(QUICK.baseline(config.load_synthetic(CONFIG)))

    def before_the_run(_sig: int, _frame: object) -> None:
        raise AssertionError("the run did not take the signal")

    def on_trial(_event: study_mod.TrialEvent) -> None:
        os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, before_the_run)
    try:
        with pytest.raises(KeyboardInterrupt, match="signal SIGTERM"):
            study_mod.run_trials(job, 5, on_trial)
        assert signal.getsignal(signal.SIGTERM) is before_the_run
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert [t.state for t in trials(job.storage)] == [optuna.trial.TrialState.COMPLETE]
