"""`flashcrash optimize`: the search spaces stay inside the schema (every value of every grid), trial
values reach the strategy through the config loader, a quick study on SQLite runs and resumes, worker
processes join one study (logging at the run's level), the best values round-trip through a config
overlay, walk-forward reports in- and out-of-sample figures (a test file of another symbol warned
about), the pruner stops a trial mid-replay, calmar scores a worse run lower on both sides of zero,
and bad flags give one line."""

from __future__ import annotations

import json
import tomllib
from decimal import Decimal
from pathlib import Path

import optuna
import pytest

from flashcrash import config
from flashcrash.backtest.commands import parse_utc, window
from flashcrash.backtest.replay import Replay
from flashcrash.cli import main
from flashcrash.marketdata import load_trades
from flashcrash.optimize import study as study_mod
from flashcrash.optimize import walkforward
from flashcrash.optimize.objectives import OBJECTIVES
from flashcrash.optimize.overlay import params_table, to_toml, trial_config, write_overlay
from flashcrash.optimize.space import FULL, QUICK, SPACES, Param, Space, SpaceError, check_space
from flashcrash.optimize.walkforward import Window, WindowError

REPO = Path(__file__).resolve().parents[3]
CONFIG = REPO / "config" / "config.toml"
# What a study replays on (the synthetic book) and loads first: the synthetic book's overlay.
SYNTHETIC = config.synthetic_book_overlay(CONFIG)
POL = REPO / "data" / "binance_trades_2025-10-10_POLUSDT_2045-2145.csv.gz"
SHORT = ["--from", "2025-10-10T21:05:00Z", "--to", "2025-10-10T21:08:00Z"]


@pytest.fixture(scope="module")
def schema() -> config.Schema:
    return config.load_schema(REPO / "config" / "schema.toml")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def optimize(tmp: Path, cache: Path, *extra: str, storage: str | None = None, out: str = "out") -> int:
    return main(
        [
            "optimize",
            "--data",
            str(POL),
            "--storage",
            storage or f"sqlite:///{tmp / 'study.db'}",
            "--cache-dir",
            str(cache),
            "--out",
            str(tmp / out),
            "--seed",
            "7",
            *extra,
        ]
    )


def results(tmp: Path, out: str = "out") -> dict:
    return json.loads((tmp / out / "results.json").read_text())


# ------------------------------------------------------------------ spaces
def grid(p: Param) -> list:
    """Every value the trial can be given for `p`."""
    d = p.distribution()
    if isinstance(d, optuna.distributions.CategoricalDistribution):
        return list(d.choices)
    if isinstance(d, optuna.distributions.IntDistribution):
        return list(range(d.low, d.high + 1, d.step))
    assert d.step is not None, f"{p.name}: a float key without a grid"
    n = round((d.high - d.low) / d.step)
    assert abs(d.low + n * d.step - d.high) < 1e-9, f"{p.name}: the grid misses its upper bound"
    return [round(d.low + i * d.step, 10) for i in range(n + 1)]


@pytest.mark.parametrize("space", [QUICK, FULL], ids=lambda s: s.name)
def test_every_value_of_every_space_is_inside_the_schema(space: Space, schema: config.Schema) -> None:
    check_space(space, schema)
    for p in space.params:
        rule = schema[p.section][p.key]
        for v in grid(p):
            assert rule.accepts(v), f"{p.name} = {v!r}: {rule.allowed()}"
    assert len({p.name for p in space.params}) == len(space.params)
    # The shipped config, with the synthetic book's overlay as a study loads it, is a point of the
    # space (a new study starts from it).
    assert set(space.baseline(config.load_synthetic(CONFIG))) == set(space.names())


def test_a_space_outside_the_schema_is_refused_by_name(schema: config.Schema) -> None:
    bad = Space("bad", (Param("strategy", "entry_fraction", "float", 0.1, 1.5, 0.1),))
    with pytest.raises(SpaceError, match=r"\[strategy\] entry_fraction .* from 0.0 to 1.0"):
        check_space(bad, schema)
    with pytest.raises(SpaceError, match="not_a_key"):
        check_space(Space("bad", (Param("risk", "not_a_key", "int", 1, 2),)), schema)


def test_paired_keys_cannot_cross() -> None:
    ranges = {p.name: (p.low, p.high) for p in FULL.params}
    assert ranges["strategy.entry_fraction"][1] < ranges["strategy.exit_fraction"][0]
    assert ranges["strategy.score_exhaustion"][1] <= ranges["strategy.score_good"][0]
    assert SPACES["random"] is SPACES["bayesian"] is FULL
    assert {p.name for p in QUICK.params} < {p.name for p in FULL.params}


@pytest.mark.parametrize("end", ["low", "high"])
def test_trial_values_reach_the_config_through_the_loader(end: str) -> None:
    params = {}
    for p in FULL.params:
        params[p.name] = (end == "high") if p.kind == "bool" else (p.low if end == "low" else p.high)
    table = FULL.sample(optuna.trial.FixedTrial(params))
    cfg = trial_config(CONFIG, [SYNTHETIC], table)
    for p in FULL.params:
        got = getattr(getattr(cfg, p.section), p.key)
        want = params[p.name]
        assert got == (Decimal(str(want)) if isinstance(got, Decimal) else want), p.name


def test_a_trial_value_the_schema_refuses_names_the_key() -> None:
    with pytest.raises(config.ConfigError, match=r"\[strategy\] stop_loss_pct = 0.0: expected a number"):
        trial_config(CONFIG, [SYNTHETIC], {"strategy": {"stop_loss_pct": 0.0}})


# ---------------------------------------------------------------- overlays
def test_best_values_overlay_loads_and_changes_the_config(tmp_path: Path) -> None:
    base = config.load_synthetic(CONFIG)
    table = params_table(
        {"strategy.entry_fraction": 0.35, "strategy.max_hold_secs": 45, "event_detection.core_quorum": 2}
    )
    path = write_overlay(tmp_path / "best_params.toml", table, ["study s, trial 3, return = 1.5"])
    text = path.read_text()
    assert text.startswith("# study s, trial 3, return = 1.5\n")
    assert tomllib.loads(text) == {
        "strategy": {"entry_fraction": 0.35, "max_hold_secs": 45},
        "event_detection": {"core_quorum": 2},
    }
    cfg = config.load_synthetic(CONFIG, [path])
    assert (cfg.strategy.entry_fraction, cfg.strategy.max_hold_secs) == (0.35, 45)
    assert cfg.event_detection.core_quorum == 2
    assert (base.strategy.entry_fraction, base.strategy.max_hold_secs, base.event_detection.core_quorum) != (
        0.35,
        45,
        2,
    )
    assert cfg.strategy.exit_fraction == base.strategy.exit_fraction  # untouched keys stay


def test_a_bad_overlay_key_is_one_line_naming_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[strategy]\nentry_fractoin = 0.3\n")
    with pytest.raises(config.ConfigError, match=rf"{bad}: unknown key \[strategy\] entry_fractoin"):
        config.load_synthetic(CONFIG, [bad])
    assert main(["backtest", "--data", str(POL), "--overlay", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0] and "entry_fractoin" in err[0]


def test_toml_values() -> None:
    assert to_toml({"s": {"a": True, "b": 3, "c": 0.25, "d": "0.001"}}) == (
        '[s]\na = true\nb = 3\nc = 0.25\nd = "0.001"\n'
    )
    with pytest.raises(ValueError, match="nan"):
        to_toml({"s": {"a": float("nan")}})


# ------------------------------------------------------------------ studies
def test_quick_study_runs_resumes_and_saves_the_best(tmp_path: Path, cache: Path) -> None:
    best = tmp_path / "best_params.toml"
    assert optimize(tmp_path, cache, "--n-trials", "2", *SHORT, out="one") == 0
    first = results(tmp_path, "one")
    assert first["study"].startswith("flashcrash-POLUSDT-quick-return-")  # + the setup's hash
    assert [t["number"] for t in first["trials"]] == [0, 1]
    # A new study tries the shipped config first: its run is the in-sample baseline.
    base = config.load_synthetic(CONFIG)
    assert first["trials"][0]["params"] == QUICK.baseline(base) and first["trials"][0]["metrics"]["baseline"]
    assert first["in_sample"]["baseline"]["value"] == pytest.approx(first["trials"][0]["value"])
    assert (
        optimize(
            tmp_path, cache, "--n-trials", "2", *SHORT, "--save-best", "--best-out", str(best), out="two"
        )
        == 0
    )
    second = results(tmp_path, "two")
    assert [t["number"] for t in second["trials"]] == [0, 1, 2, 3]  # the same study, resumed
    assert second["states"] == {"COMPLETE": 4}
    for t in second["trials"]:
        assert set(t["params"]) == set(QUICK.names()) and t["worker"]
        assert t["intermediate"] == {}  # no trial enters before 21:08: nothing to report
    values = [t["value"] for t in second["trials"]]
    assert second["best"]["value"] == max(values)
    stored = optuna.load_study(study_name=second["study"], storage=f"sqlite:///{tmp_path / 'study.db'}")
    assert len(stored.trials) == 4 and stored.best_value == max(values)
    # --save-best: the best trial's values, loadable as an overlay.
    text = best.read_text()
    assert f"study {second['study']}, trial {second['best']['number']}" in text and str(POL) in text
    # Its header gives the backtest that replays the training window as the study did (no test window:
    # no out-of-sample line).
    assert (
        f"# in-sample: flashcrash backtest --data {POL} --from 2025-10-10T21:05:00.000+00:00"
        f" --to 2025-10-10T21:08:00.000+00:00 --book synthetic --config {CONFIG} --overlay {best}\n"
    ) in text
    assert "out-of-sample" not in text
    cfg = config.load_synthetic(CONFIG, [best])
    for name, v in second["best"]["params"].items():
        section, key = name.split(".")
        assert getattr(getattr(cfg, section), key) == pytest.approx(v), name
    assert set(tomllib.loads(text)) == {"strategy", "event_detection"}
    # The in-sample best figures are the best trial's own run.
    assert second["in_sample"]["best"]["value"] == pytest.approx(second["best"]["value"])


def test_worker_processes_join_one_study(tmp_path: Path, cache: Path) -> None:
    """Two worker processes share the trials of one study, each logging at the run's --log-level."""
    assert optimize(tmp_path, cache, "--n-trials", "3", "--n-jobs", "2", *SHORT, "--log-level", "info") == 0
    r = results(tmp_path)
    assert len(r["trials"]) == 3 and r["states"] == {"COMPLETE": 3}
    workers = {t["worker"] for t in r["trials"]}
    assert len(workers) == 2, workers  # two processes, neither of them this one
    assert not any(w.endswith(f":{__import__('os').getpid()}") for w in workers)
    for log in ("worker_0.log", "worker_1.log"):
        assert " INFO flashcrash." in (tmp_path / "out" / log).read_text(), log


def test_walk_forward_reports_in_and_out_of_sample(
    tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = optimize(
        tmp_path,
        cache,
        "--n-trials",
        "2",
        "--objective",
        "calmar",
        "--train",
        "2025-10-10T21:05Z/2025-10-10T21:08Z",
        "--test",
        "2025-10-10T21:08Z/2025-10-10T21:10Z",
        "--save-best",
        "--best-out",
        str(tmp_path / "best.toml"),
    )
    assert code == 0
    # The saved values' header replays the test window as the study did: warmed up, synthetic book.
    assert (
        f"# out-of-sample: flashcrash backtest --data {POL} --from 2025-10-10T21:08:00.000+00:00"
        f" --to 2025-10-10T21:10:00.000+00:00 --warm-up --book synthetic --config {CONFIG}"
        f" --overlay {tmp_path / 'best.toml'}\n"
    ) in (tmp_path / "best.toml").read_text()
    r = results(tmp_path)
    assert r["train_window"].startswith("2025-10-10T21:05:00") and r["test_window"].startswith(
        "2025-10-10T21:08"
    )
    for sample in ("in_sample", "out_of_sample"):
        for which in ("baseline", "best"):
            run = r[sample][which]
            assert {"value", "return_pct", "trades", "max_drawdown_pct"} <= set(run), (sample, which)
    assert r["in_sample"]["best"]["start_utc"] < r["out_of_sample"]["best"]["start_utc"]
    assert r["in_sample"]["baseline"]["events"] != r["out_of_sample"]["baseline"]["events"]
    out = capsys.readouterr().out
    assert "walk-forward" in out and "out-of-sample" in out


def test_walk_forward_tests_on_another_file(
    tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--test-data: the out-of-sample window comes from another market (the ATOM perp of the same
    night); the same clock times as the training window are then allowed. Its symbol not being the
    config's is pointed out, as for the training file."""
    atom = POL.parent / "binance-delivery_trades_2025-10-10_ATOMUSD_PERP_1700-2130.csv.gz"
    span = ("2025-10-10T21:05Z/2025-10-10T21:08Z",)
    best = tmp_path / "my best.toml"  # a path a shell would split: quoted in the header's commands
    code = optimize(
        tmp_path, cache, "--n-trials", "1", "--train", *span, "--test-data", str(atom), "--test", *span,
        "--save-best", "--best-out", str(best),
    )  # fmt: skip
    assert code == 0
    header = best.read_text()
    assert f"# held-out market, same period: flashcrash backtest --data {atom} --from" in header
    assert "out-of-sample" not in header and f"--overlay '{best}'" in header
    r = results(tmp_path)
    assert r["test_data"] == str(atom) and r["data"] == str(POL)
    assert r["test_window"] == r["train_window"]
    atom_trades, _, _ = load_trades(atom, cache)
    inside = window(atom_trades, parse_utc("2025-10-10T21:05:00Z"), parse_utc("2025-10-10T21:08:00Z"))
    oos = r["out_of_sample"]["baseline"]
    assert oos["events"] == len(inside) != r["in_sample"]["baseline"]["events"]
    assert oos["warmup_events"] > 0  # ATOM's own minutes before the window warm its detector
    out = " ".join(capsys.readouterr().out.split())
    assert f"warning: {atom.name} holds ATOMUSD_PERP trades but [symbol] name is POLUSDT" in out
    # The same hours of another market are no out-of-sample test: said, headed and flagged so.
    assert r["test_same_period"] is True
    assert "not out-of-sample in time" in out
    headers = [str(c.header) for c in walkforward.report_table(r, "return", walkforward.HELD_OUT).columns]
    assert headers[3:] == [f"{walkforward.HELD_OUT}\nbaseline", f"{walkforward.HELD_OUT}\nbest"]


def test_another_file_after_the_training_hours_is_out_of_sample(
    tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--test-data over hours after the training window's: out-of-sample, headed so."""
    atom = POL.parent / "binance-delivery_trades_2025-10-10_ATOMUSD_PERP_1700-2130.csv.gz"
    code = optimize(
        tmp_path, cache, "--n-trials", "1", "--train", "2025-10-10T21:05Z/2025-10-10T21:08Z",
        "--test-data", str(atom), "--test", "2025-10-10T21:10Z/2025-10-10T21:13Z",
    )  # fmt: skip
    assert code == 0
    assert results(tmp_path)["test_same_period"] is False
    assert "not out-of-sample in time" not in " ".join(capsys.readouterr().out.split())


def test_the_pruner_stops_a_trial_mid_replay(tmp_path: Path, cache: Path) -> None:
    trades, _, _ = load_trades(POL, cache)
    crash = window(trades, parse_utc("2025-10-10T21:05:00Z"), parse_utc("2025-10-10T21:15:00Z"))
    cfg = config.load_synthetic(CONFIG)
    job = study_mod.Job(
        mode="bayesian",
        objective="return",
        config=CONFIG,
        overlays=[SYNTHETIC],
        trades=crash,
        storage=study_mod.storage_url(f"sqlite:///{tmp_path / 's.db'}"),
        study_name="prune",
        seed=1,
    )
    study = study_mod.open_study(job)
    # Five finished trials 50 % up at every checkpoint (no replay of this window gets there), then
    # the shipped config, which enters during the crash.
    for _ in range(5):
        study.add_trial(
            optuna.trial.create_trial(value=50.0, intermediate_values=dict.fromkeys(range(1, 11), 50.0))
        )
    study.enqueue_trial(FULL.baseline(cfg))
    events: list[study_mod.TrialEvent] = []
    study_mod.run_trials(job, 1, events.append)
    pruned = optuna.load_study(study_name="prune", storage=job.storage).trials[-1]
    assert [e.state for e in events] == ["PRUNED"] and pruned.state is optuna.trial.TrialState.PRUNED
    # Stopped at its third report (two of warm-up, counted from its own first report) ...
    first, *_, step = sorted(pruned.intermediate_values)
    assert len(pruned.intermediate_values) == 3 and step == first + 2
    assert step < 10  # ... before the end of the replay
    assert pruned.user_attrs["pruned_at"].startswith(f"checkpoint {step} of 10")
    # Without a pruner the same trial reports at every checkpoint from its first entry and completes.
    job.mode, job.study_name = "quick", "no-prune"
    study = study_mod.open_study(job)
    study.enqueue_trial(QUICK.baseline(cfg))
    study_mod.run_trials(job, 1, events.append)
    done = optuna.load_study(study_name="no-prune", storage=job.storage).trials[-1]
    assert done.state is optuna.trial.TrialState.COMPLETE
    steps = sorted(done.intermediate_values)
    assert steps == list(range(first, steps[-1] + 1)) and steps[-1] >= 9
    assert done.intermediate_values[step] == pruned.intermediate_values[step]
    assert done.value == pytest.approx(float(Replay(cfg, crash).run().metrics()["return_pct"]))


def test_objectives_score_a_run() -> None:
    m = {"return_pct": 2.0, "max_drawdown_pct": 0.5, "sharpe_per_trade": 0.5, "trades": 4}
    cfg = config.load_synthetic(CONFIG)
    assert OBJECTIVES["return"].value(result=None, metrics=m, config=cfg) == 2.0  # type: ignore[arg-type]
    assert OBJECTIVES["calmar"].value(result=None, metrics=m, config=cfg) == 4.0  # type: ignore[arg-type]
    assert OBJECTIVES["sharpe"].value(result=None, metrics=m, config=cfg) == 1.0  # type: ignore[arg-type]
    m.update(sharpe_per_trade=None, max_drawdown_pct=0.0)
    assert OBJECTIVES["sharpe"].value(result=None, metrics=m, config=cfg) == -1.0  # type: ignore[arg-type]
    assert OBJECTIVES["calmar"].value(result=None, metrics=m, config=cfg) == 20.0  # type: ignore[arg-type]
    assert OBJECTIVES["return"].intermediate(
        equity=1010.0, initial_capital=1000.0, config=cfg
    ) == pytest.approx(1.0)


def calmar(return_pct: float, drawdown_pct: float) -> float:
    metrics = {"return_pct": return_pct, "max_drawdown_pct": drawdown_pct}
    return OBJECTIVES["calmar"].value(result=None, metrics=metrics, config=None)  # type: ignore[arg-type]


def test_calmar_scores_a_worse_run_lower() -> None:
    """A lower return or a deeper drawdown never scores higher, on either side of zero: divided by
    its drawdown, a 2 % loss over a 20 % drawdown scored -0.1, above the same loss over 2 % (-1.0)."""
    assert calmar(-2.0, 20.0) < calmar(-2.0, 2.0) < calmar(0.0, 20.0) < calmar(0.5, 20.0)
    assert calmar(-2.0, 2.0) == -4.0 and calmar(-2.0, 0.0) == pytest.approx(-0.2)  # the 0.1 % floor
    returns = [-5.0, -2.0, -0.5, 0.0, 0.5, 2.0, 5.0]
    drawdowns = [0.0, 0.05, 0.1, 1.0, 2.0, 20.0]
    for r in returns:
        by_drawdown = [calmar(r, d) for d in drawdowns]
        assert by_drawdown == sorted(by_drawdown, reverse=True), r
    for d in drawdowns:
        by_return = [calmar(r, d) for r in returns]
        assert by_return == sorted(by_return) and len(set(by_return)) == len(returns), d


def test_shares_split_the_trials() -> None:
    assert study_mod.shares(10, 3) == [4, 3, 3]
    assert study_mod.shares(2, 4) == [1, 1]
    assert study_mod.shares(5, 1) == [5]


# ------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--mode", "fast"], "--mode 'fast': expected one of quick, random, bayesian"),
        (["--objective", "profit"], "--objective 'profit'"),
        (["--storage", "nosuch://x/y"], "--storage 'nosuch://x/y': driver 'nosuch' is not supported"),
        (["--storage", "not a url"], "--storage 'not a url': expected sqlite:///PATH"),
        (
            ["--storage", "postgresql+psycopg://u@127.0.0.1:1/db"],
            "storage postgresql+psycopg://u@127.0.0.1:1/db: cannot open",
        ),
        (["--n-trials", "0"], "--n-trials 0"),
        (["--seed", "-5"], "--seed -5: expected an integer from 0 to 4294967295"),
        (["--seed", "4294967296"], "--seed 4294967296: expected an integer from 0 to 4294967295"),
        (["--train", "2025-10-10T21:05Z"], "--train '2025-10-10T21:05Z': expected START/END"),
        (
            [
                "--train",
                "2025-10-10T21:05Z/2025-10-10T21:15Z",
                "--test",
                "2025-10-10T21:10Z/2025-10-10T21:20Z",
            ],
            "overlaps the training window",
        ),
        (["--from", "2025-10-11T00:00Z", "--to", "2025-10-11T01:00Z"], "no trades of"),
    ],
)
def test_bad_flags_are_one_line_exit_2(
    tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture[str], flags: list[str], words: str
) -> None:
    assert optimize(tmp_path, cache, *flags) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert words in err[0] and "Traceback" not in err[0]


def test_window_parsing() -> None:
    w = Window.parse("2025-10-10T20:45Z/2025-10-10T21:15Z", "--train")
    assert (w.start_ns, w.end_ns) == (parse_utc("2025-10-10T20:45:00Z"), parse_utc("2025-10-10T21:15:00Z"))
    assert not w.overlaps(Window.parse("2025-10-10T21:15Z/2025-10-10T21:45Z", "--test"))
    assert w.overlaps(Window(None, None))
    with pytest.raises(WindowError, match="END must be after START"):
        Window.parse("2025-10-10T21:15Z/2025-10-10T20:45Z", "--test")


def test_the_walk_forward_table_names_its_windows_and_units() -> None:
    """The title says which window each pair of columns replayed; the rows say their units: the
    return and drawdown in %, the win rate in % (0.3333 read as a third of a percent), the net P&L in
    the quote currency. `results.json` keeps the keys and the 0-to-1 win rate."""
    run = {"value": 0.07, "return_pct": 0.07, "trades": 3, "win_rate": 0.3333, "max_drawdown_pct": 0.4,
           "net_pnl": "0.7", "sharpe_per_trade": None}  # fmt: skip
    rep = {"in_sample": {"baseline": run, "best": run}, "out_of_sample": {"baseline": run, "best": None}}
    train = Window.parse("2025-10-10T20:45Z/2025-10-10T21:15Z", "--train")
    test = Window.parse("2025-10-10T21:15Z/2025-10-10T21:45Z", "--test")
    title = walkforward.table_title(train, test)
    assert title == (
        "walk-forward: in-sample 2025-10-10T20:45:00.000+00:00 to 2025-10-10T21:15:00.000+00:00; "
        "out-of-sample 2025-10-10T21:15:00.000+00:00 to 2025-10-10T21:45:00.000+00:00 (after a warm-up)"
    )
    assert walkforward.table_title(train, None).startswith("in-sample 2025-10-10T20:45")
    # A test window with no trade before it in its data (a whole --test-data file): no warm-up said.
    assert walkforward.table_title(train, test, warmed=False) == title.removesuffix(" (after a warm-up)")
    t = walkforward.report_table(rep, "return", title=title, currency="USDT")
    assert t.title == title
    labels, *cols = (list(c._cells) for c in t.columns)
    assert labels == ["return (objective)", "return, %", "trades", "win rate, %", "max drawdown, %",
                      "net P&L, USDT", "Sharpe per trade"]  # fmt: skip
    assert cols[0][3] == "33.33" and cols[0][5] == "0.7" and cols[0][6] == "-" and cols[3][0] == "-"
