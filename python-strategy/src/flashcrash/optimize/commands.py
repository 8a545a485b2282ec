"""`flashcrash optimize`: an Optuna study of the strategy's configuration over a trade file, with a
progress bar over the trials, persistent storage shared by worker processes, walk-forward evaluation,
a results JSON, and `--save-best` to a config overlay."""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import optuna
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from flashcrash import config as config_mod
from flashcrash.atomic_files import write_text
from flashcrash.backtest.commands import (
    DEFAULT_CACHE,
    UsageError,
    check_log_level,
    config_line,
    out_folder,
    replay_overlays,
    trades_span,
    warn_other_symbol,
)
from flashcrash.backtest.results import utc
from flashcrash.marketdata import load_trades
from flashcrash.marketdata.depth import is_capture
from flashcrash.marketdata.trades import ImportError_
from flashcrash.optimize import study as study_mod
from flashcrash.optimize import walkforward
from flashcrash.optimize.objectives import OBJECTIVES
from flashcrash.optimize.overlay import params_table, trial_config, write_overlay
from flashcrash.optimize.space import SPACES, SpaceError, check_space
from flashcrash.optimize.study import DEFAULT_STORAGE, DEFAULT_TRIALS, MODES, Job, StudyError, TrialEvent
from flashcrash.optimize.walkforward import Window, WindowError, parse_time
from flashcrash.process_signals import restore_handlers, stop_on_hangup
from flashcrash.symbols import quote_currency

REPO = study_mod.REPO
DEFAULT_BEST = REPO / "config" / "best_params.toml"


def _check_args(args: argparse.Namespace) -> None:
    if args.mode not in MODES:
        raise UsageError(f"optimize error: --mode {args.mode!r}: expected one of {', '.join(MODES)}")
    if args.objective not in OBJECTIVES:
        raise UsageError(
            f"optimize error: --objective {args.objective!r}: expected one of {', '.join(OBJECTIVES)}"
        )
    for flag, v in (
        ("--n-trials", args.n_trials),
        ("--n-jobs", args.n_jobs),
        ("--checkpoints", args.checkpoints),
    ):
        if v is not None and v < 1:
            raise UsageError(f"optimize error: {flag} {v}: expected a positive integer")
    if args.seed is not None and not 0 <= args.seed <= study_mod.MAX_SEED:
        raise UsageError(
            f"optimize error: --seed {args.seed}: expected an integer from 0 to {study_mod.MAX_SEED}"
        )
    if args.train and (args.start or args.end):
        raise UsageError("optimize error: --train replaces --from/--to: give one or the other")
    check_log_level("optimize", args.log_level)


def _windows(args: argparse.Namespace) -> tuple[Window, Window | None]:
    """The training window and the test window (None: no test), checked before the data is read:
    times that parse, windows that are not reversed, and a test window of the training file that
    does not overlap a training window (which it then needs: without one, training takes it all)."""
    if args.train:
        train = Window.parse(args.train, "--train")
    else:
        train = Window(
            parse_time("--from", args.start) if args.start else None,
            parse_time("--to", args.end) if args.end else None,
        )
        if train.start_ns is not None and train.end_ns is not None and train.end_ns <= train.start_ns:
            raise WindowError(
                f"optimize error: --from {args.start} is not before --to {args.end}: the window is "
                "reversed or empty; --to must be after --from"
            )
    test = Window.parse(args.test, "--test") if args.test else None
    if args.test_data is not None and not _same_file(args.test_data, args.data):
        return train, test or Window(None, None)  # another file: its times may be the training's
    if args.test_data is not None:
        test = test or Window(None, None)  # the training file again: only what training did not see
    if test is None:
        return train, None
    given = f"--test {args.test}" if args.test else f"--test-data {args.test_data} (all of it: no --test)"
    if train.start_ns is None and train.end_ns is None:
        needs = f"--test {args.test}" if args.test else f"--test-data {args.test_data} (the training file)"
        raise WindowError(
            f"optimize error: {needs} needs --train START/END (or --from/--to): without a "
            f"training window the study trains on all of {args.data.name}, so no test window of it "
            "is unseen"
        )
    if test.overlaps(train):
        raise WindowError(
            f"optimize error: {given}: overlaps the training window ({_train_given(args)}: "
            f"{train.describe()}); out-of-sample data must be unseen"
        )
    return train, test


def _train_given(args: argparse.Namespace) -> str:
    """The flags that set the training window, as given ("" for none: the whole file)."""
    if args.train:
        return f"--train {args.train}"
    return " ".join(f"{flag} {v}" for flag, v in (("--from", args.start), ("--to", args.end)) if v)


def _span(trades: Any) -> str:
    """What times a trade file covers, for a window that holds none of them."""
    span = trades_span(trades)
    return "the file has no trades" if span is None else f"the file spans {span}"


FINISHED = (
    optuna.trial.TrialState.COMPLETE,
    optuna.trial.TrialState.PRUNED,
    optuna.trial.TrialState.FAIL,
)


def trial_counts(trials: list[optuna.trial.FrozenTrial], when: str = "") -> str:
    """The trials of a study in words: how many finished, how (complete, pruned, failed), and those
    not finished (running in a worker, or queued: the shipped configuration a new study tries first).
    `when` follows the count ("so far")."""
    n = {state: sum(t.state is state for t in trials) for state in optuna.trial.TrialState}
    finished = sum(n[s] for s in FINISHED)
    text = (
        f"{finished} finished trial{'' if finished == 1 else 's'}{' ' + when if when else ''} "
        f"({n[FINISHED[0]]} complete, {n[FINISHED[1]]} pruned, {n[FINISHED[2]]} failed)"
    )
    running, waiting = n[optuna.trial.TrialState.RUNNING], n[optuna.trial.TrialState.WAITING]
    if running:
        text += f", {running} running"
    if waiting:
        text += f", {waiting} queued"
    return text


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


# What a trial's replay reads of the configuration: these sections whole, and these keys of others
# (the synthetic book's depth). A study's trials are comparable only when all of it is the same.
REPLAYED_SECTIONS = ("symbol", "event_detection", "strategy", "risk", "fees", "backtest")
REPLAYED_KEYS = {"feed": ("publish_levels",)}


def replayed_config(cfg: config_mod.Config) -> dict[str, Any]:
    """The part of `cfg` a replay reads (`REPLAYED_SECTIONS`, `REPLAYED_KEYS`)."""
    replayed: dict[str, Any] = {k: cfg.raw.get(k) for k in REPLAYED_SECTIONS}
    for section, keys in REPLAYED_KEYS.items():
        replayed[section] = {k: cfg.raw.get(section, {}).get(k) for k in keys}
    return replayed


def study_setup(
    cfg: config_mod.Config, mode: str, objective: str, train: Any, checkpoints: int
) -> dict[str, str]:
    """What a study's trials were run on: mode, objective, the training trades (their count and a
    hash of their bytes: the data file and the window), the replayed configuration (base, local and
    overlays, hashed) and the checkpoints of a trial (the pruner compares trials at the same
    checkpoint number, a position in the replay only for the same count). A study is resumed only
    with the same setup, so the best trial of a study is always a trial of this training data, never
    one chosen on another window (a test window)."""
    conf = json.dumps(replayed_config(cfg), sort_keys=True, default=str).encode()
    return {
        "mode": mode,
        "objective": objective,
        "trades": f"{len(train)} trades, sha256 {hashlib.sha256(train.tobytes()).hexdigest()[:16]}",
        "config": f"sha256 {hashlib.sha256(conf).hexdigest()[:16]}",
        "checkpoints": str(checkpoints),
    }


def _setup_digest(setup: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(setup, sort_keys=True).encode()).hexdigest()[:8]


def _merged_overlays(overlays: list[Path], best: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The study's overlays, in order, then the best values on top: the configuration of the best
    trial as one overlay file."""
    table: dict[str, dict[str, Any]] = {}
    for path in overlays:
        config_mod.merge_layer(table, config_mod.read_toml(path))
    config_mod.merge_layer(table, best)
    return table


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]optimize"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("trials"),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _backtest_command(data: Path, w: Window, args: argparse.Namespace, warm_up: bool) -> str:
    """The `flashcrash backtest` that replays window `w` of `data` with the saved best values as the
    study did: the study's base config, the synthetic book its trials replay, and for a test window
    the warm-up before it (`--warm-up`; the training window starts cold)."""
    window = "".join(
        f" --{flag} {utc(ns)}" for flag, ns in (("from", w.start_ns), ("to", w.end_ns)) if ns is not None
    )
    warm = " --warm-up" if warm_up else ""
    bare = "" if args.synthetic_overlay else " --no-synthetic-overlay"
    q = shlex.quote
    return (
        f"flashcrash backtest --data {q(str(data))}{window}{warm} --book synthetic{bare}"
        f" --config {q(str(args.config))} --overlay {q(str(args.best_out))}"
    )


def _trial_row(t: optuna.trial.FrozenTrial) -> dict[str, Any]:
    return {
        "number": t.number,
        "state": t.state.name,
        "value": t.value,
        "params": t.params,
        "worker": t.user_attrs.get("worker"),
        "metrics": {k: v for k, v in t.user_attrs.items() if k != "worker"},
        "intermediate": {str(k): v for k, v in sorted(t.intermediate_values.items())},
    }


def _study_table(
    name: str, trials: list[optuna.trial.FrozenTrial], ran: int, secs: float, best: Any
) -> Table:
    t = Table(title=f"study {name}", show_header=False)
    t.add_row(
        "trials this run", f"{ran} in {secs:.1f} s ({ran / secs:.2f} trials/s)" if secs > 0 else str(ran)
    )
    t.add_row("trials in the study", trial_counts(trials))
    if best is not None:
        t.add_row("best", f"trial {best.number}: {best.value:.6g}")
        for k, v in best.params.items():
            t.add_row(f"  {k}", str(round(v, 10) if isinstance(v, float) else v))
    else:
        t.add_row("best", "no finished trial")
    return t


def cmd_optimize(args: argparse.Namespace) -> int:
    """`flashcrash optimize`. SIGTERM and SIGHUP stop it as Ctrl-C does: a KeyboardInterrupt, on which
    the workers are stopped and their running trials marked failed (`study.run_workers`)."""
    replaced = stop_on_hangup()
    try:
        return _optimize(args)
    finally:
        restore_handlers(replaced)


def _optimize(args: argparse.Namespace) -> int:
    console = Console()
    try:
        _check_args(args)
        mode, objective = args.mode, OBJECTIVES[args.objective]
        n_trials = args.n_trials or DEFAULT_TRIALS[mode]
        # Trials replay the synthetic book: its overlay first (it is not in a --save-best file, which
        # `flashcrash backtest` layers over it on a synthetic book).
        overlays = replay_overlays(args, synthetic=True)
        cfg = config_mod.load(args.config, overlays)
        beside = Path(args.config).parent / "schema.toml"
        check_space(
            SPACES[mode], config_mod.load_schema(beside if beside.exists() else config_mod.REPO_SCHEMA)
        )
        url = study_mod.storage_url(args.storage)
        train_w, test_w = _windows(args)
    except (UsageError, config_mod.ConfigError, SpaceError, StudyError, WindowError) as e:
        print(e, file=sys.stderr)
        return 2
    try:
        cache = None if args.no_cache else args.cache_dir
        trades, report, cached = load_trades(args.data, cache)
        test_data: Path = args.test_data or args.data
        test_trades, test_report = (
            (trades, report) if args.test_data is None else load_trades(test_data, cache)[:2]
        )
    except (OSError, UnicodeError, ImportError_) as e:
        print(f"data error: {e}", file=sys.stderr)
        return 2
    console.print(config_line(Path(args.config), overlays), markup=False, highlight=False)
    warn_other_symbol(console, args.data, report.symbol, cfg)
    if not _same_file(test_data, args.data):
        warn_other_symbol(console, test_data, test_report.symbol, cfg)
    if any(is_capture(p) for p in {args.data, test_data}):
        console.print(
            "note: trials replay the synthetic book, not the depth a capture recorded; "
            "`flashcrash backtest --book synthetic` reproduces their figures.",
            style="yellow",
            markup=False,
            highlight=False,
        )
    train = train_w.cut(trades)
    test = None if test_w is None else test_w.cut(test_trades)
    if len(train) == 0:
        given = _train_given(args) or "the training window (the whole file)"
        print(
            f"optimize error: {given}: no trades of {args.data.name} there; {_span(trades)}",
            file=sys.stderr,
        )
        return 2
    if test is not None and len(test) == 0:
        given = f"--test {args.test}" if args.test else f"--test-data {test_data} (all of it)"
        print(
            f"optimize error: {given}: no trades of {test_data.name} there; {_span(test_trades)}",
            file=sys.stderr,
        )
        return 2
    held_out = (
        test is not None and not _same_file(test_data, args.data) and walkforward.same_period(train, test)
    )
    if held_out:
        console.print(
            f"note: the test window of {test_data.name} covers hours of the training window: another "
            "market through the same event, not out-of-sample in time (a crash moves every market at "
            f"once); its columns are headed '{walkforward.HELD_OUT}'.",
            style="yellow",
            markup=False,
            highlight=False,
        )
    setup = study_setup(cfg, mode, objective.name, train, args.checkpoints)
    name = args.study_name or f"flashcrash-{cfg.symbol.name}-{mode}-{objective.name}-{_setup_digest(setup)}"
    try:
        out = out_folder(
            "optimize", args.out, cfg.report_dir / f"optimize_{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
        )
    except UsageError as e:
        print(e, file=sys.stderr)
        return 2
    study_mod.quiet(out / "optimize.log", args.log_level)
    job = Job(
        mode=mode,
        objective=objective.name,
        config=Path(args.config),
        overlays=overlays,
        trades=train,
        storage=url,
        study_name=name,
        seed=args.seed,
        checkpoints=args.checkpoints,
        log_file=out / "optimize.log",
        log_level=args.log_level,
    )
    try:
        study = study_mod.open_study(job)
    except StudyError as e:
        print(e, file=sys.stderr)
        return 2
    made_for = study.user_attrs.get("setup")
    if made_for is None and study.trials:
        made_for = {"objective": study.user_attrs.get("objective"), "trades": "not recorded"}
    if made_for is not None and made_for != setup:
        differ = ", ".join(
            f"{k} {made_for.get(k)!r} there, {v!r} here" for k, v in setup.items() if made_for.get(k) != v
        )
        print(
            f"optimize error: study {name!r} was run on another setup ({differ}); its trials are not "
            "comparable with this run's: give another --study-name",
            file=sys.stderr,
        )
        return 2
    # The setup before the first trial: a worker that sees a trial also sees what it was run on.
    study.set_user_attr("setup", setup)
    study.set_user_attr("objective", objective.name)
    study.set_user_attr("mode", mode)
    before = study.get_trials(deepcopy=False)
    if not before:  # a new study tries the shipped configuration first: queued, not yet a trial run
        study.enqueue_trial(SPACES[mode].baseline(cfg), user_attrs={"baseline": True}, skip_if_exists=True)
    so_far = (
        "new study (its first trial: the shipped configuration)"
        if not before
        else trial_counts(before, "so far")
    )
    console.print(
        f"study {name} ({mode}, objective {objective.name}: {objective.description}) in {study_mod.shown(url)}: "
        f"{so_far}; {len(train)} trades of {args.data.name}{' (cache)' if cached else ''}, "
        f"{train_w.describe()}; {n_trials} trials on {args.n_jobs} worker(s)"
    )
    best_value: list[float] = []

    started = time.perf_counter()
    with _progress(console) as bar:
        task = bar.add_task("trials", total=n_trials, status="")

        def on_trial(ev: TrialEvent) -> None:
            if ev.state == "COMPLETE" and ev.value is not None:
                best_value[:] = [max([ev.value, *best_value])]
            status = f"#{ev.number} {ev.state.lower()}" + (f" {ev.value:.4g}" if ev.value is not None else "")
            best = f" | best {best_value[0]:.4g}" if best_value else ""
            bar.update(task, advance=1, status=status + best)

        try:
            study_mod.run_workers(job, n_trials, args.n_jobs, on_trial)
        except StudyError as e:
            print(e, file=sys.stderr)
            return 1
    secs = time.perf_counter() - started

    study = study_mod.open_study(job)
    trials = study.get_trials(deepcopy=False)
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    done = [t for t in trials if t.state is optuna.trial.TrialState.COMPLETE]
    best = study.best_trial if done else None
    best_table = params_table(best.params) if best is not None else None
    best_cfg = trial_config(job.config, overlays, best_table) if best_table is not None else None
    console.print(_study_table(name, trials, n_trials, secs, best))
    if best is not None and best.user_attrs.get("trades") == 0:
        console.print(
            f"note: the best trial ({best.number}) made no trade: on this data no tried configuration "
            "did better than standing aside.",
            style="yellow",
            markup=False,
            highlight=False,
        )
    console.print("evaluating the baseline and the best values ...")
    test = None if test_w is None else walkforward.warm_cut(test_w, test_trades, cfg)
    rep = walkforward.report(cfg, best_cfg, train, test, objective)
    test_label = walkforward.HELD_OUT if held_out else walkforward.OUT_OF_SAMPLE
    warmed = test is not None and bool(test[0]["ts_ns"][0] < test[1])  # trades before the window
    title = walkforward.table_title(train_w, test_w, test_label, warmed=warmed)
    currency = quote_currency(cfg.symbol.name)
    console.print(walkforward.report_table(rep, objective.name, test_label, title=title, currency=currency))

    results = {
        "study": name,
        "storage": study_mod.shown(url),
        "mode": mode,
        "objective": objective.name,
        "space": SPACES[mode].names(),
        "data": str(args.data),
        "train_window": train_w.label(),
        "test_window": None if test_w is None else test_w.label(),
        "test_data": None if test_w is None else str(test_data),
        "test_same_period": held_out,
        "config": str(args.config),
        "overlays": [str(p) for p in overlays],
        "book": "synthetic",
        "n_trials_run": n_trials,
        "n_jobs": args.n_jobs,
        "run_secs": round(secs, 3),
        "trials_per_sec": round(n_trials / secs, 4) if secs > 0 else None,
        "states": counts,
        "best": None if best is None else {"number": best.number, "value": best.value, "params": best.params},
        "in_sample": rep["in_sample"],
        "out_of_sample": rep["out_of_sample"],
        "trials": [_trial_row(t) for t in trials],
    }
    write_text(out / "results.json", json.dumps(results, indent=2, default=str))
    console.print(f"results: {out / 'results.json'}")
    if args.save_best:
        if best is None or best_table is None:
            print("optimize error: --save-best: the study has no finished trial", file=sys.stderr)
            return 1
        header = [
            f"flashcrash optimize: study {name}, trial {best.number}, {objective.name} = {best.value!r}",
            f"data: {args.data} {train_w.label()}",
            *(f"with the study's overlay {p} (its values are in this file)" for p in args.overlay or []),
            *(
                [f"over {overlays[0]} (not in this file: a synthetic book's backtest layers it first)"]
                if args.synthetic_overlay
                else []
            ),
            f"written: {datetime.now(UTC).isoformat(timespec='seconds')}",
            *(
                [
                    f"{walkforward.HELD_OUT if held_out else walkforward.OUT_OF_SAMPLE}:"
                    f" {_backtest_command(test_data, test_w, args, warm_up=True)}"
                ]
                if test_w is not None
                else []
            ),
            f"in-sample: {_backtest_command(args.data, train_w, args, warm_up=False)}",
        ]
        try:
            path = write_overlay(
                args.best_out, _merged_overlays(list(args.overlay or []), best_table), header
            )
        except (OSError, ValueError) as e:
            print(f"optimize error: --save-best {args.best_out}: {e}", file=sys.stderr)
            return 1
        console.print(f"best values: {path}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    op = sub.add_parser("optimize", help="tune the strategy's configuration on a trade file (Optuna)")
    op.add_argument(
        "--mode",
        default="quick",
        help="quick (6 keys, 12 trials, TPE), random (25 keys, RandomSampler) or bayesian (25 keys, TPE + a median pruner of the return)",
    )
    op.add_argument("--objective", default="return", help="return (default), sharpe or calmar")
    op.add_argument(
        "--n-trials", type=int, help="trials this run (default: quick 12, random 50, bayesian 100)"
    )
    op.add_argument("--n-jobs", type=int, default=1, help="worker processes joining the study (default 1)")
    op.add_argument(
        "--data", type=Path, required=True, help="trade file (any format `flashcrash import` reads)"
    )
    op.add_argument("--from", dest="start", help="first event time, ISO UTC (e.g. 2025-10-10T21:05:00Z)")
    op.add_argument("--to", dest="end", help="end event time (excluded), ISO UTC")
    op.add_argument("--train", help="walk-forward training window START/END (instead of --from/--to)")
    op.add_argument(
        "--test",
        help="walk-forward test window START/END: of the same file, after or before --train; of "
        "--test-data when given (default: all of it)",
    )
    op.add_argument(
        "--test-data",
        type=Path,
        help="out-of-sample trade file (another day or market) for the walk-forward test window",
    )
    op.add_argument("--config", type=Path, default=REPO / "config" / "config.toml")
    op.add_argument(
        "--overlay",
        type=Path,
        action="append",
        help="TOML overlay applied after local.toml, before the trial's values (repeatable)",
    )
    config_mod.add_synthetic_overlay_flag(op)
    op.add_argument(
        "--storage",
        default=DEFAULT_STORAGE,
        help=f"study storage, {study_mod.STORAGE_HELP} (default data/optuna_study.db)",
    )
    op.add_argument(
        "--study-name",
        help="default flashcrash-<SYMBOL>-<mode>-<objective>-<setup hash>; an existing study is resumed "
        "when it was run on the same setup (mode, objective, training trades, replayed configuration, "
        "--checkpoints)",
    )
    op.add_argument(
        "--seed",
        type=int,
        help=f"sampler seed, 0 to {study_mod.MAX_SEED} (worker i of a run draws its own from the seed, "
        "i and the trials the study already has)",
    )
    op.add_argument(
        "--checkpoints", type=int, default=10, help="intermediate reports a trial (for the pruner)"
    )
    op.add_argument("--out", type=Path, help="output folder (default: <report_dir>/optimize_<time>)")
    op.add_argument("--save-best", action="store_true", help="write the best values as a config overlay")
    op.add_argument(
        "--best-out",
        type=Path,
        default=DEFAULT_BEST,
        help="where --save-best writes (default config/best_params.toml)",
    )
    op.add_argument(
        "--cache-dir", type=Path, default=DEFAULT_CACHE, help="columnar cache (default data/cache)"
    )
    op.add_argument("--no-cache", action="store_true")
    op.add_argument("--log-level", default="warning", help="level of <out>/optimize.log")
    op.set_defaults(func=cmd_optimize)
