"""What `flashcrash optimize` tells a new user (each test here failed before its fix): a new study
says so instead of counting its queued baseline as a trial, a resumed one counts its finished trials
by state as its end does; window flags are checked before the data file is read, a mistake named
by its flag (a test window without a training window, a reversed window, a time that does not
parse, with an example), and a window outside the data names the file's time span."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from flashcrash.cli import main

REPO = Path(__file__).resolve().parents[3]
POL = REPO / "data" / "binance_trades_2025-10-10_POLUSDT_2045-2145.csv.gz"
SHORT = ["--from", "2025-10-10T21:05:00Z", "--to", "2025-10-10T21:07:00Z"]
SPAN = "the file spans 2025-10-10T20:45:00.101+00:00 to 2025-10-10T21:44:59.976+00:00"

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def optimize(tmp: Path, cache: Path, *extra: str, data: Path = POL, out: str = "out") -> int:
    return main(
        [
            "optimize", "--data", str(data), "--storage", f"sqlite:///{tmp / 'study.db'}",
            "--cache-dir", str(cache), "--out", str(tmp / out), "--seed", "7", *extra,
        ]
    )  # fmt: skip


def test_a_new_study_says_so_and_a_resumed_one_counts_its_finished_trials(
    tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The baseline a new study queues is no trial yet ("1 trials so far" was printed on a new
    study); a resumed study counts its finished trials by state at the start, and its end counts the
    same way (the start used to count every trial, the end only states)."""
    monkeypatch.setenv("COLUMNS", "400")  # rich's captured width: no line wrapped
    assert optimize(tmp_path, cache, "--n-trials", "2", *SHORT, out="a") == 0
    out = capsys.readouterr().out
    assert ": new study (its first trial: the shipped configuration);" in out
    assert "trials so far" not in out
    assert "2 finished trials (2 complete, 0 pruned, 0 failed)" in out
    assert optimize(tmp_path, cache, "--n-trials", "1", *SHORT, out="b") == 0
    out = capsys.readouterr().out
    assert ": 2 finished trials so far (2 complete, 0 pruned, 0 failed);" in out
    assert "3 finished trials (3 complete, 0 pruned, 0 failed)" in out


def test_trial_counts_say_what_they_count() -> None:
    """Finished trials by state; running and queued ones apart, never counted as finished."""
    from flashcrash.optimize.commands import trial_counts

    study = optuna.create_study(direction="maximize")
    for state, value in ((optuna.trial.TrialState.COMPLETE, 1.0), (optuna.trial.TrialState.PRUNED, None)):
        study.add_trial(optuna.trial.create_trial(state=state, value=value))
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.COMPLETE, value=2.0))
    study.ask()  # running
    study.enqueue_trial({})
    got = trial_counts(study.get_trials(deepcopy=False), "so far")
    assert got == "4 finished trials so far (2 complete, 1 pruned, 1 failed), 1 running, 1 queued"
    assert trial_counts([]) == "0 finished trials (0 complete, 0 pruned, 0 failed)"


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (
            ["--test", "2025-10-10T21:10Z/2025-10-10T21:20Z"],
            "--test 2025-10-10T21:10Z/2025-10-10T21:20Z needs --train START/END (or --from/--to)",
        ),
        (
            ["--train", "2025-10-10T21:20Z/2025-10-10T21:10Z"],
            "--train '2025-10-10T21:20Z/2025-10-10T21:10Z': the window is reversed or empty",
        ),
        (
            ["--from", "2025-10-10T21:20Z", "--to", "2025-10-10T21:10Z"],
            "--from 2025-10-10T21:20Z is not before --to 2025-10-10T21:10Z: the window is reversed",
        ),
        (
            ["--from", "yesterday"],
            "--from 'yesterday': not a time; expected ISO UTC, e.g. 2025-10-10T21:00:00Z",
        ),
        (["--to", "21:10"], "--to '21:10': not a time; expected ISO UTC, e.g. 2025-10-10T21:00:00Z"),
        (
            ["--train", "2025-10-10T21:00Z/noon"],
            "--train '2025-10-10T21:00Z/noon': 'noon' is not a time; expected ISO UTC, e.g. 2025-10-10T21:00:00Z",
        ),
        (
            ["--from", "2025-10-10T21:10Z", "--test", "2025-10-10T21:20Z/2025-10-10T21:30Z"],
            "overlaps the training window (--from 2025-10-10T21:10Z: 2025-10-10T21:10:00.000+00:00 to "
            "the end of the file)",
        ),
    ],
)
def test_window_flags_are_checked_before_the_data_and_named(
    tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture[str], flags: list[str], words: str
) -> None:
    """A data file that does not exist: the flag's mistake is what is reported, one line, exit 2."""
    assert optimize(tmp_path, cache, *flags, data=tmp_path / "missing.csv") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0], err
    assert "start/end" not in err[0] and "data error" not in err[0]


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--train", "2025-10-12T21:10Z/2025-10-12T21:20Z"], "--train 2025-10-12T21:10Z/2025-10-12T21:20Z: "),
        (["--from", "2025-10-12T21:00Z"], "--from 2025-10-12T21:00Z: "),
        (
            [
                "--train",
                "2025-10-10T21:00Z/2025-10-10T21:10Z",
                "--test",
                "2025-10-12T21:10Z/2025-10-12T21:20Z",
            ],
            "--test 2025-10-12T21:10Z/2025-10-12T21:20Z: ",
        ),
    ],
)
def test_a_window_outside_the_data_names_the_flag_and_the_files_span(
    tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture[str], flags: list[str], words: str
) -> None:
    assert optimize(tmp_path, cache, *flags) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"optimize error: {words}no trades of {POL.name} there; {SPAN}"), err
