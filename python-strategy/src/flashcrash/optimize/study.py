"""Studies: the storage (SQLite file or PostgreSQL server, shared by every worker), the sampler and
pruner of each mode, the trial objective (a backtest that reports its return at checkpoints so the
pruner can stop it early, or a signal asks it to stop), and the worker processes that join one
study and run their share of its trials, and stop with the run however it ends."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import queue
import signal
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from flashcrash.backtest.replay import Replay
from flashcrash.config import ConfigError
from flashcrash.optimize.objectives import OBJECTIVES
from flashcrash.optimize.overlay import trial_config
from flashcrash.optimize.space import SPACES
from flashcrash.paths import REPO
from flashcrash.process_signals import die_with_parent

DEFAULT_STORAGE = f"sqlite:///{REPO / 'data' / 'optuna_study.db'}"
MODES = ("quick", "random", "bayesian")
DEFAULT_TRIALS = {"quick": 12, "random": 50, "bayesian": 100}
STORAGE_HELP = "sqlite:///PATH or postgresql+psycopg://USER[:PASSWORD]@HOST:PORT/DB"
MAX_SEED = 2**32 - 1  # numpy's (the samplers') seeds are 0 to 2**32 - 1
OPEN_TRIES = 4  # concurrent first connections may race to create optuna's tables
STOP_GRACE_SECS = 10.0  # a stopped run's workers have this long to fail their trials and exit
# Each running trial's worker writes a heartbeat into the study every HEARTBEAT_SECS; a RUNNING trial
# whose heartbeat is older than STALE_AFTER_SECS belongs to a worker that died without a word (killed
# outright, its machine gone) and is marked FAIL by the next trial to start on any machine.
HEARTBEAT_SECS = 30
STALE_AFTER_SECS = 120

log = logging.getLogger(__name__)


class StudyError(Exception):
    """A study that cannot be opened or run; the message is one line naming the bad value."""


class Stopped(Exception):
    """Raised inside a trial asked to stop (`stop_requests`): optuna records the trial FAIL."""


@dataclass(frozen=True)
class TrialEvent:
    """One finished trial, as a worker reports it to the progress bar."""

    number: int
    state: str
    value: float | None
    worker: str


def storage_url(url: str) -> str:
    """`url` checked (SQLite or PostgreSQL); `postgresql://` means the psycopg 3 driver."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StudyError(f"optimize error: --storage {url!r}: expected {STORAGE_HELP}") from None
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername not in ("sqlite", "postgresql+psycopg"):
        raise StudyError(
            f"optimize error: --storage {url!r}: driver {parsed.drivername!r} is not supported; expected {STORAGE_HELP}"
        )
    if parsed.drivername == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise StudyError(
                f"optimize error: --storage {url!r}: a SQLite study needs a file, {STORAGE_HELP}"
            )
        try:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StudyError(f"optimize error: --storage {url!r}: cannot make its folder: {e}") from None
    return parsed.render_as_string(hide_password=False)


def shown(url: str) -> str:
    """`url` with its password hidden, for printing and results files."""
    return make_url(url).render_as_string(hide_password=True)


def open_storage(url: str) -> optuna.storages.RDBStorage:
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 60}  # workers wait for each other's writes
    else:
        kwargs["connect_args"] = {"connect_timeout": 10}
    last: Exception | None = None
    for attempt in range(OPEN_TRIES):
        try:
            with warnings.catch_warnings():  # the heartbeat is "experimental" in optuna 5
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                storage = optuna.storages.RDBStorage(
                    url,
                    engine_kwargs=kwargs,
                    heartbeat_interval=HEARTBEAT_SECS,
                    grace_period=STALE_AFTER_SECS,
                    heartbeat_stale_trial_callback=_stale_trial_failed,
                )
            if url.startswith("sqlite"):
                _immediate_transactions(storage.engine)
            return storage
        except (SQLAlchemyError, ImportError) as e:
            last = e
            time.sleep(0.25 * (attempt + 1))
    reason = str(last).strip().splitlines()[0] if last and str(last).strip() else type(last).__name__
    raise StudyError(f"optimize error: storage {shown(url)}: cannot open: {reason}")


def _stale_trial_failed(_study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    worker = trial.user_attrs.get("worker", "a worker not named yet")
    log.warning(
        "trial %d marked FAIL: its worker (%s) wrote no heartbeat for over %d s",
        trial.number, worker, STALE_AFTER_SECS,
    )  # fmt: skip


def _immediate_transactions(engine: Engine) -> None:
    """Every transaction on a SQLite study takes the write lock when it begins (`BEGIN IMMEDIATE`).
    Optuna claims an enqueued trial by reading it WAITING and then marking it RUNNING, with a row
    lock that SQLite does not have; under Python's sqlite3 the read runs outside any transaction,
    so two workers could both claim the same trial (the second to finish then failed with "Cannot
    tell a COMPLETE trial"). Pooled connections made before this are closed."""

    @event.listens_for(engine, "connect")
    def _manual(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver issues no BEGIN of its own

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()


def sampler_for(mode: str, seed: int | None) -> optuna.samplers.BaseSampler:
    if mode == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    # quick: few trials, so a short random start; bayesian: TPE after 10 random trials.
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=4 if mode == "quick" else 10)


class CurrentMedianPruner(optuna.pruners.BasePruner):
    """Stops a trial whose return *now* (at its latest checkpoint) is below the median of the
    finished trials' returns at that checkpoint, once `n_startup_trials` have finished and the trial
    has reported more than `n_warmup_reports` times.

    A trial reports its return from its first filled entry on: a finished trial with no report at a
    checkpoint had not entered yet and stood at 0 there. Optuna's MedianPruner compares a trial's
    *best* value so far, so one early gain would shield a trial whose trades then lose, and it counts
    its warm-up in checkpoints from the start of the replay, so a trial that first entered late could
    be stopped on its first report: here both are the trial's own reports."""

    def __init__(self, n_startup_trials: int = 5, n_warmup_reports: int = 2) -> None:
        self.n_startup_trials = n_startup_trials
        self.n_warmup_reports = n_warmup_reports

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        step = trial.last_step
        if step is None or len(trial.intermediate_values) <= self.n_warmup_reports:
            return False
        done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if len(done) < self.n_startup_trials:
            return False
        at_step = [t.intermediate_values.get(step, 0.0) for t in done]
        return trial.intermediate_values[step] < float(np.median(at_step))


def pruner_for(mode: str, objective: str = "return") -> optuna.pruners.BasePruner:
    """bayesian studies of the return: `CurrentMedianPruner` (5 finished trials, 2 reports of warm-up).
    Other objectives are not pruned: a trial reports its return so far, which is not what a Sharpe
    or return-over-drawdown study ranks by. A trial that never enters is never pruned (and scores 0)."""
    if mode == "bayesian" and objective == "return":
        return CurrentMedianPruner(n_startup_trials=5, n_warmup_reports=2)
    return optuna.pruners.NopPruner()


@dataclass
class Job:
    """What a worker needs to join the study and run trials; picklable for worker processes."""

    mode: str
    objective: str
    config: Path
    overlays: list[Path]
    trades: np.ndarray
    storage: str
    study_name: str
    seed: int | None = None
    checkpoints: int = 10
    log_file: Path | None = None
    log_level: str = "warning"
    pruner: optuna.pruners.BasePruner | None = field(default=None)


def worker_seed(seed: int, trials_before: int, index: int) -> int:
    """The sampler seed of worker `index` of a run that began with `trials_before` trials in its
    study: drawn from `SeedSequence([seed, trials_before, index])`, so the same seed and study give
    the same seeds again, and no two (run, worker) pairs share one (a sum such as seed + index +
    trials gave a resumed run's worker 0 the seed of the last run's worker 1). Always in 0..2**32-1."""
    return int(np.random.SeedSequence([seed, trials_before, index]).generate_state(1)[0])


def open_study(job: Job, index: int = 0, trials_before: int | None = None) -> optuna.Study:
    """Opens (or creates) the job's study. With a seed, worker `index` samples with `worker_seed` of
    the number of trials the study had when the run began (`trials_before`; default: now), so a
    resumed study does not repeat its trials."""
    try:
        study = optuna.create_study(
            storage=open_storage(job.storage),
            study_name=job.study_name,
            sampler=sampler_for(job.mode, None),
            pruner=job.pruner or pruner_for(job.mode, job.objective),
            direction="maximize",
            load_if_exists=True,
        )
        if job.seed is not None:
            before = len(study.trials) if trials_before is None else trials_before
            study.sampler = sampler_for(job.mode, worker_seed(job.seed, before, index))
        return study
    except StudyError:
        raise
    except (SQLAlchemyError, ValueError) as e:
        raise StudyError(f"optimize error: study {job.study_name!r}: {str(e).splitlines()[0]}") from None


def worker_id(pid: int | None = None) -> str:
    """The process `pid` (default this one) as its trials name their worker: `host:pid`."""
    return f"{socket.gethostname()}:{os.getpid() if pid is None else pid}"


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def stop_requests() -> Iterator[list[str]]:
    """While trials run in this process (main thread only): SIGINT, SIGTERM and SIGHUP ask them to
    stop rather than interrupt whatever runs (a KeyboardInterrupt inside optuna's own writes left
    trials RUNNING for ever). Yields the names of the signals received: the trial under way fails
    at its next checkpoint (`TrialObjective`) and no trial starts after it. A second Ctrl-C
    interrupts at once (KeyboardInterrupt). The previous handlers are restored on the way out."""
    received: list[str] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def ask(sig: int, _frame: object) -> None:
        name = signal.Signals(sig).name
        if name == "SIGINT" and name in received:
            raise KeyboardInterrupt("Ctrl-C")
        received.append(name)

    previous = {sig: signal.signal(sig, ask) for sig in STOP_SIGNALS}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def interruption(signals: list[str]) -> str:
    """How `flashcrash` names the first of `signals` ("interrupted (...)")."""
    return "Ctrl-C" if signals[0] == "SIGINT" else f"signal {signals[0]}"


class TrialObjective:
    """A trial: the space's values over the job's configuration, a backtest of the job's trades that
    reports the objective's intermediate value at `checkpoints` points of the replay (and stops when
    the pruner says so, or when `stop` holds a signal: `stop_requests`), then the objective's value
    of the whole run."""

    def __init__(self, job: Job, stop: list[str] | None = None) -> None:
        self.job = job
        self.space = SPACES[job.mode]
        self.objective = OBJECTIVES[job.objective]
        self.worker = worker_id()
        self.stop = stop if stop is not None else []

    def _stop_if_asked(self, trial: optuna.Trial) -> None:
        if self.stop:
            trial.set_user_attr("stopped", self.stop[0])
            raise Stopped(f"stopped by {self.stop[0]}")

    def __call__(self, trial: optuna.Trial) -> float:
        job = self.job
        trial.set_user_attr("worker", self.worker)
        self._stop_if_asked(trial)
        try:
            cfg = trial_config(job.config, job.overlays, self.space.sample(trial))
        except ConfigError as e:
            # The values break a rule across keys with the study's overlay (score_good above its
            # score_excellent, ...): this trial fails, the study goes on.
            trial.set_user_attr("invalid", str(e))
            raise
        trades = job.trades
        replay = Replay(cfg, trades)
        every = max(1, len(trades) // job.checkpoints)
        initial = float(cfg.backtest.initial_capital)
        prices = trades["price"]

        def checkpoint(done: int, total: int) -> None:
            self._stop_if_asked(trial)
            if done == 0 or done >= total or not replay.runner.strategy.entries:
                return  # judged from its first filled entry on (see `pruner_for`)
            step = done // every
            equity = float(replay.venue.equity(float(prices[done])))
            value = self.objective.intermediate(equity=equity, initial_capital=initial, config=cfg)
            trial.report(value, step)
            if trial.should_prune():
                trial.set_user_attr("pruned_at", f"checkpoint {step} of {job.checkpoints}, trade {done}")
                raise optuna.TrialPruned(f"checkpoint {step}: {value:.4f} below the median")

        result = replay.run(checkpoint, every=every)
        metrics = result.metrics()
        for key in ("return_pct", "trades", "max_drawdown_pct", "net_pnl", "win_rate"):
            trial.set_user_attr(key, metrics[key])
        trial.set_user_attr("run_secs", round(result.run_secs, 3))
        return self.objective.value(result=result, metrics=metrics, config=cfg)


def run_trials(
    job: Job,
    n_trials: int,
    on_trial: Callable[[TrialEvent], None],
    index: int = 0,
    trials_before: int | None = None,
) -> optuna.Study:
    """Joins the study and runs `n_trials` of its trials in this process, as worker `index` of a run
    that began with `trials_before` trials in the study (its seed: `worker_seed`). Asked to stop by
    a signal (`stop_requests`), it fails the trial under way and raises KeyboardInterrupt."""
    study = open_study(job, index, trials_before)
    with stop_requests() as stop:
        objective = TrialObjective(job, stop)

        def callback(study: optuna.Study, t: optuna.trial.FrozenTrial) -> None:
            on_trial(TrialEvent(t.number, t.state.name, t.value, objective.worker))
            if stop:
                study.stop()

        with contextlib.suppress(Stopped):
            study.optimize(objective, n_trials=n_trials, callbacks=[callback], catch=(ConfigError,))
    if stop:
        raise KeyboardInterrupt(interruption(stop))
    return study


def quiet(log_file: Path | None, level: str = "warning") -> None:
    """The strategy's and optuna's log lines go to `log_file`, not over the progress bar."""
    root = logging.getLogger()
    handlers: list[logging.Handler] = []
    if log_file is not None:
        h = logging.FileHandler(log_file)
        h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handlers.append(h)
    else:
        handlers.append(logging.NullHandler())
    root.handlers[:] = handlers
    root.setLevel(level.upper())
    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def _worker(job: Job, n_trials: int, index: int, trials_before: int, events: Any) -> None:
    """A worker process's body: it dies with the run (`die_with_parent`: a SIGTERM, however the run
    ends), and a signal stops it after failing its trial under way (`stop_requests`); its own log
    file at the run's `--log-level`, its share of the trials, each reported."""
    die_with_parent()
    parent = mp.parent_process()
    if parent is not None and os.getppid() != parent.pid:  # the run ended before this worker began
        os._exit(1)
    log_file = None if job.log_file is None else job.log_file.with_name(f"worker_{index}.log")
    quiet(log_file, job.log_level)
    try:
        run_trials(job, n_trials, events.put, index, trials_before)
    except KeyboardInterrupt as e:
        log.warning("worker %d stopped (%s)", index, str(e) or "Ctrl-C")
        raise SystemExit(1) from None
    except BaseException:
        log.exception("worker %d failed", index)
        raise SystemExit(1) from None


def shares(n_trials: int, n_jobs: int) -> list[int]:
    """`n_trials` split over `n_jobs` workers as evenly as it goes (no worker without a trial)."""
    n_jobs = max(1, min(n_jobs, n_trials))
    return [n_trials // n_jobs + (1 if i < n_trials % n_jobs else 0) for i in range(n_jobs)]


def run_workers(job: Job, n_trials: int, n_jobs: int, on_trial: Callable[[TrialEvent], None]) -> None:
    """`n_trials` trials of the study: in this process when `n_jobs` is 1, else in `n_jobs` worker
    processes (the strategy is CPU-bound Python: threads would share one core), each joining the
    study through the storage and running its share. Raises `StudyError` when a worker fails.
    Interrupted (KeyboardInterrupt: Ctrl-C, or SIGTERM/SIGHUP as `cmd_optimize` handles them), it
    stops its workers (`_stop`), fails the trials they left running, and raises again."""
    # Creates the study (and the storage's tables) once, before the workers race; the run's seeds
    # are drawn from the number of trials it begins with.
    trials_before = len(open_study(job).trials)
    parts = shares(n_trials, n_jobs)
    if len(parts) == 1:
        try:
            run_trials(job, parts[0], on_trial, 0, trials_before)
        except KeyboardInterrupt:
            _fail_left_running(job, [os.getpid()])
            raise
        return
    ctx = mp.get_context("spawn")
    events = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(job, n, i, trials_before, events), daemon=True)
        for i, n in enumerate(parts)
    ]
    try:
        for p in procs:
            p.start()
        while any(p.is_alive() for p in procs) or not events.empty():
            try:
                on_trial(events.get(timeout=0.2))
            except queue.Empty:
                continue
    except BaseException:
        _stop(procs)
        _fail_left_running(job, [p.pid for p in procs if p.pid is not None])
        raise
    failed = [(i, p.exitcode) for i, p in enumerate(procs) if p.exitcode != 0]
    if failed:
        i, code = failed[0]
        where = f" (see {job.log_file.with_name(f'worker_{i}.log')})" if job.log_file else ""
        raise StudyError(f"optimize error: worker {i} exited with code {code}{where}")


def _stop(procs: list[Any]) -> None:
    """Workers still running are asked to stop (SIGTERM: the running trial fails, the worker exits)
    and killed when they have not within `STOP_GRACE_SECS`."""
    started = [p for p in procs if p.pid is not None]
    for p in started:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + STOP_GRACE_SECS
    for p in started:
        p.join(timeout=max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join(timeout=5)


def _fail_left_running(job: Job, pids: Iterable[int]) -> None:
    """The trials of the processes `pids` still RUNNING (a worker killed while it wrote, a second
    Ctrl-C) marked FAIL, so none stays RUNNING for ever. A trial is its worker's from its first step
    (`worker_id`)."""
    ours = {worker_id(pid) for pid in pids}
    try:
        study = open_study(job)
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            if t.user_attrs.get("worker") in ours:
                study.tell(t.number, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
    except (StudyError, SQLAlchemyError) as e:
        log.warning("the stopped workers' running trials could not be marked failed: %s", e)
