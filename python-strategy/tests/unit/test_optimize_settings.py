"""`flashcrash optimize` settings that a finished study does not show by itself: the search spaces are
the ones their documentation tables promise, a value off a space's grid is not offered as the
baseline, each mode's sampler and pruner (and each worker's seed, never one of an earlier run's
workers) are the ones promised, a trial's values win over the user's overlays, and walk-forward
tunes on the training window only."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest

from flashcrash import config
from flashcrash.cli import main
from flashcrash.marketdata.trades import TRADE_DTYPE
from flashcrash.optimize import space as space_mod
from flashcrash.optimize import study as study_mod
from flashcrash.optimize.overlay import trial_config, write_overlay
from flashcrash.optimize.space import FULL, QUICK, Param, Space

REPO = Path(__file__).resolve().parents[3]
CONFIG = REPO / "config" / "config.toml"
# What a study replays on (the synthetic book) and loads first: the synthetic book's overlay.
SYNTHETIC = config.synthetic_book_overlay(CONFIG)
POL = REPO / "data" / "binance_trades_2025-10-10_POLUSDT_2045-2145.csv.gz"

optuna.logging.set_verbosity(optuna.logging.WARNING)


# ------------------------------------------------------------------ spaces
def documented(name: str) -> dict[str, tuple[float, float, float | None] | str]:
    """The table in the string that follows `name = Space(...)` in space.py: `section.key` ->
    (low, high, step or None), or "bool" for `false, true`."""
    tree = ast.parse(Path(space_mod.__file__).read_text())
    body = tree.body
    i = next(
        i
        for i, node in enumerate(body)
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets)
    )
    doc = body[i + 1]
    assert isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant)
    out: dict[str, tuple[float, float, float | None] | str] = {}
    for line in str(doc.value.value).splitlines():
        m = re.fullmatch(r"\| \[(\w+)\] (\w+) \| (.+) \|", line)
        if m is None:
            continue
        section, key, cell = m.groups()
        if cell == "false, true":
            out[f"{section}.{key}"] = "bool"
            continue
        r = re.fullmatch(r"([\d.]+) - ([\d.]+)(?: \(([\d.]+)\))?", cell)
        assert r is not None, line
        out[f"{section}.{key}"] = (float(r[1]), float(r[2]), None if r[3] is None else float(r[3]))
    return out


def actual(params: tuple[Param, ...]) -> dict[str, tuple[float, float, float | None] | str]:
    return {
        p.name: "bool"
        if p.kind == "bool"
        else (
            float(p.low),
            float(p.high),
            None if p.step is None or (p.kind == "int" and p.step == 1) else float(p.step),
        )
        for p in params
    }


def test_the_spaces_are_their_documented_tables() -> None:
    """`--mode quick` tunes exactly the six keys of its table over the ranges and steps written there;
    the full space is the quick keys plus exactly those of its own table."""
    assert documented("QUICK") == actual(QUICK.params)
    extra = tuple(p for p in FULL.params if p not in QUICK.params)
    assert documented("FULL") == actual(extra)
    assert len(documented("QUICK")) == 6 and len(documented("FULL")) == 19


def test_a_value_off_the_grid_is_not_the_baseline() -> None:
    """`Param.contains`: inside the bounds and on the step grid only. A configuration whose value is
    off the grid (entry_fraction 0.12 on a 0.05 grid) or out of bounds leaves that key out of the
    baseline trial (the sampler draws it) and keeps the others."""
    p = Param("strategy", "entry_fraction", "float", 0.05, 0.45, 0.05)
    assert p.contains(0.05) and p.contains(0.35) and p.contains(0.45)
    assert not p.contains(0.12) and not p.contains(0.5) and not p.contains(0.0) and not p.contains(True)
    hold = Param("strategy", "max_hold_secs", "int", 5, 60, 5)
    assert hold.contains(45) and not hold.contains(47) and not hold.contains(65)
    assert Param("strategy", "trailing_stop", "bool").contains(False)
    off = trial_config(CONFIG, [SYNTHETIC], {"strategy": {"entry_fraction": 0.12, "max_hold_secs": 45}})
    base = QUICK.baseline(off)
    assert "strategy.entry_fraction" not in base and base["strategy.max_hold_secs"] == 45
    assert set(base) == set(QUICK.names()) - {"strategy.entry_fraction"}


# ---------------------------------------------------------- samplers, pruners
def draws(sampler: optuna.samplers.BaseSampler, space: Space, n: int) -> list[dict[str, Any]]:
    """The parameters `sampler` gives `n` trials of a toy objective (the sum of the numbers)."""
    study = optuna.create_study(sampler=sampler, direction="maximize")
    study.optimize(lambda t: float(sum(v for s in space.sample(t).values() for v in s.values())), n_trials=n)
    return [t.params for t in study.trials]


def test_each_mode_has_its_sampler() -> None:
    """quick: TPE after 4 random trials; bayesian: TPE after 10; random: random draws throughout.
    Same seed, same draws as the promised sampler (and not as the other settings)."""
    quick = draws(study_mod.sampler_for("quick", 3), QUICK, 7)
    assert quick == draws(optuna.samplers.TPESampler(seed=3, n_startup_trials=4), QUICK, 7)
    assert quick != draws(optuna.samplers.TPESampler(seed=3, n_startup_trials=10), QUICK, 7)
    bayes = draws(study_mod.sampler_for("bayesian", 3), QUICK, 12)
    assert bayes == draws(optuna.samplers.TPESampler(seed=3, n_startup_trials=10), QUICK, 12)
    assert bayes[:7] != quick
    assert isinstance(study_mod.sampler_for("random", 3), optuna.samplers.RandomSampler)
    rand = draws(study_mod.sampler_for("random", 3), FULL, 12)
    assert rand == draws(optuna.samplers.RandomSampler(seed=3), FULL, 12)
    assert rand != draws(optuna.samplers.TPESampler(seed=3), FULL, 12)


def job(tmp: Path, mode: str, name: str, seed: int | None = 7) -> study_mod.Job:
    return study_mod.Job(
        mode=mode,
        objective="return",
        config=CONFIG,
        overlays=[SYNTHETIC],
        trades=np.zeros(0, dtype=TRADE_DTYPE),
        storage=study_mod.storage_url(f"sqlite:///{tmp / 'studies.db'}"),
        study_name=name,
        seed=seed,
    )


def test_each_worker_draws_with_its_own_seed(tmp_path: Path) -> None:
    """Worker i of a run that began with n trials samples with `worker_seed(--seed, n, i)`: workers 0
    and 1 of a random study draw what `RandomSampler` draws with those seeds, not the same values
    twice; the seeds are the same for the same run again, and inside numpy's range for any --seed."""
    got = []
    for index in (0, 1):
        trial = study_mod.open_study(job(tmp_path, "random", f"w{index}"), index).ask()
        ref = optuna.create_study(
            sampler=optuna.samplers.RandomSampler(seed=study_mod.worker_seed(7, 0, index))
        )
        values = FULL.sample(trial)
        assert values == FULL.sample(ref.ask()), index
        got.append(values)
    assert got[0] != got[1]
    assert study_mod.worker_seed(7, 3, 1) == study_mod.worker_seed(7, 3, 1)
    assert 0 <= study_mod.worker_seed(study_mod.MAX_SEED, 10**6, 7) <= study_mod.MAX_SEED


def test_workers_of_resumed_runs_never_draw_alike(tmp_path: Path) -> None:
    """Three runs of one seeded study (the shipped config enqueued first, as a new study does): no
    worker of a later run repeats a draw of an earlier one. With seed + index + trials, the second
    run's worker 0 (7 + 0 + 2) drew exactly what the first run's worker 1 (7 + 1 + 1) had drawn."""
    j = job(tmp_path, "random", "runs")
    study_mod.open_study(j).enqueue_trial(FULL.baseline(config.load_synthetic(CONFIG)))
    drawn: list[dict[str, Any]] = []
    for workers in (2, 1, 2):
        studies = [study_mod.open_study(j, index) for index in range(workers)]  # each run's workers
        for study in studies:  # each takes one trial: the first run's worker 0 the enqueued one
            trial = study.ask()
            drawn.append(FULL.sample(trial))
            study.tell(trial, 0.0)
    assert all(a != b for i, a in enumerate(drawn) for b in drawn[i + 1 :])


@pytest.mark.parametrize("mode", ["quick", "random", "bayesian"])
def test_only_bayesian_studies_prune_and_only_after_the_warm_up(tmp_path: Path, mode: str) -> None:
    """The study's pruner: in bayesian mode a trial below the median of 5 finished trials is stopped
    at its step 2, not at step 0 or 1 (warm-up), and not while fewer than 5 trials have finished;
    quick and random studies never prune."""
    study = study_mod.open_study(job(tmp_path, mode, f"prune-{mode}"))

    def finished() -> None:
        study.add_trial(
            optuna.trial.create_trial(value=50.0, intermediate_values=dict.fromkeys(range(11), 50.0))
        )

    for _ in range(4):
        finished()
    early = study.ask()
    early.report(0.0, 5)
    assert not early.should_prune()  # 4 finished trials: too few to compare with
    study.tell(early, state=optuna.trial.TrialState.FAIL)
    finished()
    low = study.ask()
    for step in (0, 1):
        low.report(0.0, step)
        assert not low.should_prune(), step
    low.report(0.0, 2)
    assert bool(low.should_prune()) is (mode == "bayesian")


def test_the_pruner_judges_the_return_now_after_the_trials_own_warm_up(tmp_path: Path) -> None:
    """A trial first reports at its first filled entry, late in the replay: its warm-up is its own
    first two reports, not the replay's first checkpoints; and it is judged by its return at the
    checkpoint, so an early gain does not shield it once it has fallen below the median (optuna's
    MedianPruner did both: it stopped the late entrant at once and kept the fallen one)."""
    study = study_mod.open_study(job(tmp_path, "bayesian", "now"))
    for _ in range(5):
        study.add_trial(
            optuna.trial.create_trial(value=1.0, intermediate_values=dict.fromkeys(range(11), 1.0))
        )
    late = study.ask()
    late.report(0.5, 6)  # its first report, below the median of 1.0
    assert not late.should_prune()
    fallen = study.ask()
    for step, value in ((1, 3.0), (2, 2.0), (3, -1.0)):  # far above the median, then below it
        fallen.report(value, step)
    assert fallen.should_prune()
    # Finished trials that had not entered yet at a checkpoint stood at 0 there.
    quiet = study_mod.open_study(job(tmp_path, "bayesian", "quiet"))
    for _ in range(5):
        quiet.add_trial(optuna.trial.create_trial(value=0.0, intermediate_values={9: 0.5}))
    t = quiet.ask()
    for step, value in ((1, 0.1), (2, 0.1), (3, -0.1)):
        t.report(value, step)
    assert t.should_prune()  # -0.1 below the others' 0 at checkpoint 3


def test_sharpe_and_calmar_studies_are_not_pruned_on_the_return(tmp_path: Path) -> None:
    for objective in ("sharpe", "calmar"):
        j = job(tmp_path, "bayesian", f"obj-{objective}")
        j.objective = objective
        assert isinstance(study_mod.open_study(j).pruner, optuna.pruners.NopPruner)
    assert isinstance(
        study_mod.open_study(job(tmp_path, "bayesian", "obj-ret")).pruner, study_mod.CurrentMedianPruner
    )


def test_a_resumed_seeded_study_draws_new_values(tmp_path: Path) -> None:
    """With the same --seed, a second run of a study does not draw the first run's values again."""
    first = study_mod.open_study(job(tmp_path, "random", "resume"))
    drawn = []
    for _ in range(2):
        t = first.ask()
        drawn.append(FULL.sample(t))
        first.tell(t, 0.0)
    again = study_mod.open_study(job(tmp_path, "random", "resume"))
    assert FULL.sample(again.ask()) not in drawn


# ---------------------------------------------------------------- overlays
def test_a_trials_values_win_over_the_users_overlays(tmp_path: Path) -> None:
    """`trial_config`: the user's `--overlay` files apply first and the trial's values on top; a key
    the trial does not tune keeps the overlay's value."""
    user = write_overlay(tmp_path / "mine.toml", {"strategy": {"entry_fraction": 0.2, "max_hold_secs": 45}})
    cfg = trial_config(CONFIG, [SYNTHETIC, user], {"strategy": {"entry_fraction": 0.35}})
    assert cfg.strategy.entry_fraction == 0.35
    assert cfg.strategy.max_hold_secs == 45 != config.load_synthetic(CONFIG).strategy.max_hold_secs


# ------------------------------------------------------------ walk-forward
def test_walk_forward_tunes_on_the_training_window_only(tmp_path: Path) -> None:
    """With --train and --test, the study's trials replay the training window: the first trial (the
    shipped configuration) scores exactly what the in-sample baseline scores, and not what the test
    window gives."""
    code = main(["optimize", "--data", str(POL), "--storage", f"sqlite:///{tmp_path / 's.db'}",
                 "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out"), "--seed", "7",
                 "--n-trials", "1", "--train", "2025-10-10T21:08Z/2025-10-10T21:14Z",
                 "--test", "2025-10-10T21:14Z/2025-10-10T21:18Z"])  # fmt: skip
    assert code == 0
    r = json.loads((tmp_path / "out" / "results.json").read_text())
    (first,) = r["trials"]
    inside, outside = r["in_sample"]["baseline"], r["out_of_sample"]["baseline"]
    assert first["metrics"]["baseline"] and first["metrics"]["trades"] > 0
    assert (first["value"], first["metrics"]["trades"]) == (inside["value"], inside["trades"])
    assert first["metrics"]["net_pnl"] == inside["net_pnl"]
    assert (inside["value"], inside["trades"], inside["net_pnl"]) != (
        outside["value"],
        outside["trades"],
        outside["net_pnl"],
    )


def test_the_report_replays_the_best_values_not_the_baseline(tmp_path: Path) -> None:
    """`walkforward.report`: the "best" column is a replay under the best values, the "baseline"
    column one under the shipped configuration; on the crash minutes they trade differently."""
    from flashcrash.backtest.commands import parse_utc, window
    from flashcrash.marketdata import load_trades
    from flashcrash.optimize import walkforward
    from flashcrash.optimize.objectives import OBJECTIVES

    trades, _, _ = load_trades(POL, tmp_path / "cache")
    crash = window(trades, parse_utc("2025-10-10T21:08:00Z"), parse_utc("2025-10-10T21:14:00Z"))
    base = config.load_synthetic(CONFIG)
    best = trial_config(CONFIG, [SYNTHETIC], {"strategy": {"entry_fraction": 0.05, "exit_fraction": 0.55}})
    rep = walkforward.report(base, best, crash, None, OBJECTIVES["return"])
    assert rep["out_of_sample"] is None
    want = walkforward.evaluate(best, crash, OBJECTIVES["return"])
    assert rep["in_sample"]["best"] == want
    assert rep["in_sample"]["baseline"] == walkforward.evaluate(base, crash, OBJECTIVES["return"]) != want
