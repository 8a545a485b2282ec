"""A recording gap in the replayed data across the real processes: once its silence has lasted
`data_gap_secs`, exchange-sim goes silent as a venue whose feed is down, the engine's heartbeat times
out and it reconnects until the data resumes, and the strategy hears the feed leave live (where its
detector stops learning) and come back."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import pytest

from flashcrash.launcher import DEMO_DATA, REPO, Session, SimSpec

pytestmark = pytest.mark.integration

CONFIG = REPO / "config" / "config.toml"


def gapped(path: Path) -> Path:
    """The bundled POLUSDT trades of 21:00-21:01 and 21:04-21:05 UTC: a 3-minute gap between."""
    keep = ((1760130000, 1760130060), (1760130240, 1760130300))
    with gzip.open(DEMO_DATA, "rt") as src, gzip.open(path, "wt") as dst:
        dst.write(src.readline())
        for line in src:
            secs = int(line.split(",", 3)[2]) // 1_000_000
            if any(a <= secs < b for a, b in keep):
                dst.write(line)
    return path


def _live_again(strategy_log: str) -> bool:
    """The strategy heard the feed go live again after it was first lost."""
    lost = strategy_log.find("feed: live -> reconnecting")
    return lost >= 0 and "feed: syncing -> live" in strategy_log[lost:]


def test_a_recording_gap_is_a_feed_outage_end_to_end(bin_dir: Path, tmp_path: Path) -> None:
    sim = SimSpec(data=gapped(tmp_path / "gapped.csv.gz"), speed="30")
    session = Session(config=CONFIG, bin_dir=bin_dir, sim=sim, overrides={"backtest": {"data_gap_secs": 60}})
    with session:
        session.wait_replay_end(timeout=120)
        # The summary's feed counters come from the engine's HealthMetrics, one a second: after the
        # feed is live again, wait for the next one before stopping (a live reached in the replay's
        # last second was once missing from them).
        deadline = time.monotonic() + 20
        while not _live_again(session.procs["strategy"].log_path.read_text()):
            assert time.monotonic() < deadline, "the feed was not live again after the gap"
            time.sleep(0.1)
        time.sleep(1.5)
        codes = session.stop()
    assert codes == {"strategy": 0, "engine": 0, "exchange-sim": 0}, codes
    assert session.ports_free()
    sim_log = session.procs["exchange-sim"].log_path.read_text()
    engine_log = session.procs["engine"].log_path.read_text()
    strategy_log = session.procs["strategy"].log_path.read_text()
    assert sim_log.count("recording gap in the trades") == 1, sim_log[-2000:]
    assert "no message for 1000 ms" in engine_log, engine_log[-2000:]
    lost = strategy_log.find("feed: live -> reconnecting")
    assert lost >= 0, strategy_log[-2000:]
    # Entries paused while the feed was down; the data after the gap came through the feed, live again.
    assert "emergency stop feed" in strategy_log[lost:], strategy_log[-2000:]
    assert _live_again(strategy_log), strategy_log[-2000:]
    summary = json.loads(session.summary_path.read_text())
    assert summary["feed"]["reconnect_count"] >= 1 and summary["feed"]["resync_count"] >= 2, summary["feed"]
