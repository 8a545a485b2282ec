"""Studies that stay honest (each test here failed before its rule): a study is resumed only on the
setup it was run on (the training trades, the replayed configuration with the feed depth the
replay reads, and the checkpoint count the pruner compares at), so its best trial is never one
chosen on another window; sampled values that break a rule across keys fail that trial,
not the run; `--save-best` carries the study's overlays; `--test-data` naming the training file
is held to the overlap rule; a storage folder that cannot be made and a bad log level are one line;
a capture is optimised on the synthetic book and the run says so; a best trial that never traded
is pointed out."""

from __future__ import annotations

import json
import tomllib
import warnings
from pathlib import Path

import numpy as np
import optuna
import pytest

from flashcrash import config
from flashcrash.cli import main
from flashcrash.marketdata.trades import TRADE_DTYPE
from flashcrash.optimize import study as study_mod
from flashcrash.optimize.commands import _setup_digest, study_setup

REPO = Path(__file__).resolve().parents[3]
CONFIG = REPO / "config" / "config.toml"
# What a study replays on (the synthetic book) and loads first: the synthetic book's overlay.
SYNTHETIC = config.synthetic_book_overlay(CONFIG)
POL = REPO / "data" / "binance_trades_2025-10-10_POLUSDT_2045-2145.csv.gz"
SHORT = ["--from", "2025-10-10T21:05:00Z", "--to", "2025-10-10T21:07:00Z"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def optimize(tmp: Path, cache: Path, *extra: str, out: str = "out") -> int:
    return main(
        [
            "optimize", "--data", str(POL), "--storage", f"sqlite:///{tmp / 'study.db'}",
            "--cache-dir", str(cache), "--out", str(tmp / out), "--seed", "7", *extra,
        ]
    )  # fmt: skip


def results(tmp: Path, out: str = "out") -> dict:
    return json.loads((tmp / out / "results.json").read_text())


def test_a_study_is_resumed_only_on_its_own_setup(
    tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert optimize(tmp_path, cache, "--n-trials", "1", *SHORT, "--study-name", "s", out="a") == 0
    # Another window under the same name: refused, naming what differs.
    other = ["--from", "2025-10-10T21:07:00Z", "--to", "2025-10-10T21:09:00Z"]
    assert optimize(tmp_path, cache, "--n-trials", "1", *other, "--study-name", "s", out="b") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "study 's' was run on another setup (trades" in err[0]
    # The default names differ by setup: each window gets its own study; the same window resumes.
    assert optimize(tmp_path, cache, "--n-trials", "1", *SHORT, out="c") == 0
    assert optimize(tmp_path, cache, "--n-trials", "1", *other, out="d") == 0
    assert optimize(tmp_path, cache, "--n-trials", "1", *SHORT, out="e") == 0
    c, d, e = (results(tmp_path, x) for x in "cde")
    assert c["study"] != d["study"] and c["study"] == e["study"]
    assert len(d["trials"]) == 1 and len(e["trials"]) == 2


def test_a_study_is_resumed_only_with_its_checkpoint_count(
    tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The pruner compares trials at the same checkpoint number: step 5 of 40 is not step 5 of 10, so
    a study run with one `--checkpoints` is not resumed with another (7 of 8 trials were pruned)."""
    assert optimize(tmp_path, cache, "--n-trials", "1", *SHORT, "--study-name", "s", out="a") == 0
    assert (
        optimize(tmp_path, cache, "--n-trials", "1", *SHORT, "--study-name", "s", "--checkpoints", "40") == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "checkpoints '10' there, '40' here" in err[0]
    trades = np.zeros(3, dtype=TRADE_DTYPE)
    cfg = config.load_synthetic(CONFIG)
    ten, forty = (study_setup(cfg, "quick", "return", trades, n) for n in (10, 40))
    assert _setup_digest(ten) != _setup_digest(forty)  # the default names differ: another study


def test_a_study_setup_holds_the_feed_depth_the_replay_reads(tmp_path: Path) -> None:
    """The replay's synthetic book has `[feed] publish_levels` levels a side: studies replayed with
    other depths are not one study; the rest of `[feed]` (URLs, the engine's timings) is not replayed."""
    trades = np.zeros(3, dtype=TRADE_DTYPE)

    def setup_with(overlay: str) -> dict[str, str]:
        path = tmp_path / "feed.toml"
        path.write_text(overlay)
        return study_setup(config.load_synthetic(CONFIG, [path]), "quick", "return", trades, 10)

    shipped = study_setup(config.load_synthetic(CONFIG), "quick", "return", trades, 10)
    assert setup_with("[feed]\npublish_levels = 25\n")["config"] != shipped["config"]
    assert setup_with('[feed]\nrest_url = "https://example.invalid"\n') == shipped


def test_values_that_break_a_rule_with_the_overlay_fail_their_trial_not_the_run(
    tmp_path: Path, cache: Path
) -> None:
    # With score_excellent at 36, every sampled score_good above it is refused by the loader.
    overlay = tmp_path / "tight.toml"
    overlay.write_text("[strategy]\nscore_excellent = 36.0\nscore_good = 35.0\nscore_exhaustion = 30.0\n")
    assert optimize(tmp_path, cache, "--n-trials", "4", *SHORT, "--overlay", str(overlay)) == 0
    r = results(tmp_path)
    failed = [t for t in r["trials"] if t["state"] == "FAIL"]
    assert failed and all("score_good" in t["metrics"]["invalid"] for t in failed)
    assert r["states"].get("COMPLETE", 0) >= 1  # the baseline at least


def test_save_best_carries_the_studys_overlays(tmp_path: Path, cache: Path) -> None:
    overlay = tmp_path / "gap.toml"
    overlay.write_text("[strategy]\ngap_exit_pct = 1.0\n")
    best = tmp_path / "best.toml"
    args = ["--n-trials", "2", *SHORT, "--overlay", str(overlay), "--save-best", "--best-out", str(best)]
    assert optimize(tmp_path, cache, *args) == 0
    saved = tomllib.loads(best.read_text())
    assert saved["strategy"]["gap_exit_pct"] == 1.0
    # It reproduces without the study's overlay, over the synthetic book's (which it does not copy).
    assert config.load_synthetic(CONFIG, [best]).strategy.gap_exit_pct == 1.0
    assert f"with the study's overlay {overlay}" in best.read_text()
    assert f"over {SYNTHETIC} (not in this file" in best.read_text()
    assert "quorum_needs_price" not in saved.get("event_detection", {})


def test_test_data_naming_the_training_file_keeps_the_overlap_rule(
    tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert optimize(tmp_path, cache, "--n-trials", "1", *SHORT, "--test-data", str(POL)) == 2
    err = capsys.readouterr().err
    assert f"--test-data {POL} (all of it: no --test): overlaps the training window" in err


def test_a_storage_folder_that_cannot_be_made_and_a_bad_log_level_are_one_line(
    tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    code = main(["optimize", "--data", str(POL), "--storage", f"sqlite:///{blocker}/sub/x.db", *SHORT])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "cannot make its folder" in err[0]
    assert optimize(tmp_path, cache, *SHORT, "--log-level", "bogus") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--log-level 'bogus'" in err[0]


def test_a_capture_is_optimised_on_the_synthetic_book_and_says_so(
    tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`backtest` replays a capture's recorded depth by default; a study's trials replay the
    synthetic book: the run says so (and that the file's symbol is not the config's), and
    `results.json` records the book."""
    capture = REPO / "data" / "binance_spot_capture_BTCUSDT_20240808.gz"
    code = main(
        [
            "optimize", "--data", str(capture), "--storage", f"sqlite:///{tmp_path / 'cap.db'}",
            "--cache-dir", str(cache), "--out", str(tmp_path / "cap"), "--n-trials", "1",
        ]
    )  # fmt: skip
    out = " ".join(capsys.readouterr().out.split())
    assert code == 0
    assert "trials replay the synthetic book" in out and "--book synthetic" in out
    assert "holds BTCUSDT trades but [symbol] name is POLUSDT" in out
    assert results(tmp_path, "cap")["book"] == "synthetic"


def test_a_best_trial_that_never_traded_is_pointed_out(
    tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before 21:08 no configuration enters: the best (0 %) is standing aside, and the run says so
    rather than offering it as a tuned strategy without comment."""
    assert optimize(tmp_path, cache, "--n-trials", "1", *SHORT) == 0
    assert results(tmp_path)["best"]["value"] == 0.0
    assert "made no trade" in " ".join(capsys.readouterr().out.split())


def test_a_trial_whose_worker_went_silent_is_failed_by_the_next_run(tmp_path: Path, cache: Path) -> None:
    """A worker killed outright, or on a machine that is gone, fails nothing itself: its trial stays
    RUNNING. Every worker writes a heartbeat; the next trial to start, on any machine, marks a
    RUNNING trial whose heartbeat stopped over `STALE_AFTER_SECS` ago FAIL, and leaves alone one
    whose worker still beats."""
    assert optimize(tmp_path, cache, "--n-trials", "1", *SHORT, "--study-name", "s") == 0
    url = f"sqlite:///{tmp_path / 'study.db'}"
    storage = study_mod.open_storage(url)
    study = optuna.load_study(study_name="s", storage=storage)
    with warnings.catch_warnings():  # optuna warns that heartbeats are for `optimize`: so they are
        warnings.simplefilter("ignore", UserWarning)
        gone, alive = study.ask(), study.ask()
    gone.set_user_attr("worker", "other-host:4242")
    for t in (gone, alive):
        storage.record_heartbeat(t._trial_id)
    old = f"-{study_mod.STALE_AFTER_SECS + 60} seconds"
    with storage.engine.begin() as db:
        db.exec_driver_sql(
            "UPDATE trial_heartbeats SET heartbeat = datetime('now', ?) WHERE trial_id = ?",
            (old, gone._trial_id),
        )
    storage.engine.dispose()
    assert optimize(tmp_path, cache, "--n-trials", "1", *SHORT, "--study-name", "s", out="again") == 0
    state = {t.number: t.state for t in optuna.load_study(study_name="s", storage=url).trials}
    assert state[gone.number] == optuna.trial.TrialState.FAIL
    assert state[alive.number] == optuna.trial.TrialState.RUNNING
    assert (
        f"trial {gone.number} marked FAIL: its worker (other-host:4242) wrote no heartbeat"
        in (tmp_path / "again" / "optimize.log").read_text()
    )
