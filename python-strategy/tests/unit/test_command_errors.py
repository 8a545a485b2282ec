"""`flashcrash backtest` and `optimize` given a bad flag: one line naming the flag and the value given,
exit 2, no traceback (a bad --log-level, an --out that is a file); the largest --seed runs; an
interrupted command says by what."""

from __future__ import annotations

from pathlib import Path

import pytest

from flashcrash.backtest import commands as backtest_commands
from flashcrash.cli import main

REPO = Path(__file__).resolve().parents[3]
POL = REPO / "data" / "binance_trades_2025-10-10_POLUSDT_2045-2145.csv.gz"
SHORT = ["--from", "2025-10-10T21:05:00Z", "--to", "2025-10-10T21:07:00Z"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def run(command: str, tmp: Path, cache: Path, *extra: str) -> int:
    """`flashcrash <command>` on two minutes of the bundled hour, its files under `tmp`."""
    study = ["--storage", f"sqlite:///{tmp / 'study.db'}"] if command == "optimize" else []
    return main([command, "--data", str(POL), *SHORT, "--cache-dir", str(cache), "--out", str(tmp / "out"),
                 *study, *extra])  # fmt: skip


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def test_a_bad_log_level_of_backtest_is_one_line(
    tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("backtest", tmp_path, cache, "--log-level", "bogus") == 2
    assert "backtest error: --log-level 'bogus': expected debug, info, warning or error" in one_line(capsys)
    assert not (tmp_path / "out").exists()  # refused before anything was written


@pytest.mark.parametrize("command", ["backtest", "optimize"])
def test_an_out_that_is_a_file_is_one_line(
    tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    file = tmp_path / "results.txt"
    file.write_text("mine\n")
    assert run(command, tmp_path, cache, "--out", str(file)) == 2
    assert f"{command} error: --out {file}: is a file, expected a folder" in one_line(capsys)
    assert file.read_text() == "mine\n"


def test_the_largest_seed_runs_a_study(tmp_path: Path, cache: Path) -> None:
    """--seed 4294967295 (2**32 - 1) is a seed: the workers' seeds derived from it stay in numpy's
    range (a sum of seed, worker and trials did not)."""
    assert run("optimize", tmp_path, cache, "--seed", "4294967295", "--n-trials", "2") == 0


@pytest.mark.parametrize(
    ("raised", "shown"),
    [(KeyboardInterrupt(), "Ctrl-C"), (KeyboardInterrupt("signal SIGTERM"), "signal SIGTERM")],
)
def test_an_interruption_says_by_what(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    raised: KeyboardInterrupt,
    shown: str,
) -> None:
    def interrupted(_args: object) -> int:
        raise raised

    monkeypatch.setattr(backtest_commands, "cmd_backtest", interrupted)
    assert main(["backtest", "--data", str(POL)]) == 130
    assert one_line(capsys) == f"flashcrash backtest: interrupted ({shown})"
