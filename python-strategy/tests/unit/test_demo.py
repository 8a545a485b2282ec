"""`flashcrash demo`'s words around the replay: its banner and its warning at `--speed max`, and the
closing summary: paths of the copied files, why the strategy stopped, a table that cuts nothing,
one plain closing line, the session id with the command that draws its report again, and the trades
replayed against those the strategy received."""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from engine_fakes import SilentEngine
from rich.console import Console
from test_runner_fake_engine import REPO

from flashcrash import config, demo
from flashcrash.launcher import LaunchError
from flashcrash.persistence.records import SessionRecord
from flashcrash.runner import Runner
from flashcrash.session_summary import session_summary

LONG = "/work/main/reports/demo_20261206T122415Z/session_20261206T122415Z.png"


def _console(monkeypatch: pytest.MonkeyPatch, width: int = 80) -> io.StringIO:
    out = io.StringIO()
    monkeypatch.setattr(demo, "console", Console(file=out, width=width))
    return out


class _Stopped:
    """What `demo.report` reads of a stopped `launcher.Session` whose strategy wrote `summary`, its
    session file and chart (paths under the session's temporary folder) and its database."""

    def __init__(self, workdir: Path, summary: dict[str, Any], stopped_for: str | None = None) -> None:
        self.workdir = workdir
        self.config = REPO / "config" / "config.toml"
        self.report_root = workdir.parent / "reports"  # the config's report_dir, read at the start
        self.stopped_for = stopped_for
        reports = workdir / "reports"
        reports.mkdir(parents=True)
        png = reports / "session_20261206T122415Z.png"
        png.write_bytes(b"png")
        (reports / "flashcrash.db").write_bytes(b"db")
        summary = {**summary, "report_png": str(png)}
        (reports / "session_20261206T122415Z.json").write_text(json.dumps(summary, indent=2))
        self.summary_path = workdir / "summary.json"
        self.summary_path.write_text(json.dumps(summary))
        log = workdir / "strategy.log"
        log.write_text("log\n")
        self.procs = {"strategy": type("Proc", (), {"log_path": log})()}

    def ports_free(self) -> bool:
        return True

    def cleanup(self) -> None:
        pass


def _report(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    summary: dict[str, Any],
    *,
    stopped_for: str | None = None,
    replay: demo.Replay | None = None,
) -> tuple[str, Path]:
    """Runs `demo.report` on a stopped session; what it printed (80 columns, as piped) and its folder."""
    out = _console(monkeypatch)
    session = _Stopped(tmp_path / "work", summary, stopped_for)
    codes = {"strategy": 0, "engine": 0, "exchange-sim": 0}
    extra = {} if replay is None else {"replay": replay}
    assert demo.report(session, codes, **extra) == 0  # type: ignore[arg-type]
    (dest,) = (tmp_path / "reports").glob("demo_*")
    return out.getvalue(), dest


def _refused_start(
    monkeypatch: pytest.MonkeyPatch, refusal: str = "stopped before the start"
) -> list[dict[str, object]]:
    """`demo.Session` made to refuse its start with `refusal` (a `LaunchError`); the keyword
    arguments of each session made."""
    made: list[dict[str, object]] = []

    class Refused:
        def __init__(self, **kwargs: object) -> None:
            made.append(kwargs)
            self.procs: dict[str, Any] = {}
            self.book_overlay = None

        def __enter__(self) -> None:
            raise LaunchError(refusal)

        def __exit__(self, *_: object) -> None:
            pass

    monkeypatch.setattr(demo, "Session", Refused)
    return made


# ------------------------------------------------------------------------ banner
def test_the_banner_names_max_speed_and_says_it_is_not_a_backtest(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--speed max` was announced as `at maxx`; it is now `at max speed`, followed by what it does to
    the results (and `30x` stays `30x`)."""
    out = _console(monkeypatch, width=200)

    _refused_start(monkeypatch)
    p = argparse.ArgumentParser()
    demo.add_arguments(p, demo=True)
    args = p.parse_args(
        [
            "--speed",
            "max",
            "--from",
            "2025-10-10T21:05:00Z",
            "--to",
            "2025-10-10T21:06:00Z",
            "--config",
            "my cfg.toml",
        ]
    )
    assert demo.run_demo(args) == 1
    text = " ".join(out.getvalue().split())  # as read, whatever the console's wrapping
    assert "at max speed through exchange-sim" in text and "maxx" not in text
    assert "the engine conflates the book" in text.lower() and "falls behind" in text
    assert "not those of a backtest of the same window" in text
    assert (
        "flashcrash backtest --data" in text
        and "--from 2025-10-10T21:05:00Z --to 2025-10-10T21:06:00Z --config 'my cfg.toml'" in text
    )
    assert demo.speed_text("30") == "30x" and demo.speed_text("12.5") == "12.5x"


@pytest.mark.parametrize(("sig", "said"), [(signal.SIGTERM, "on SIGTERM"), (signal.SIGINT, "on Ctrl-C")])
def test_paper_says_which_signal_stopped_it(
    monkeypatch: pytest.MonkeyPatch, sig: signal.Signals, said: str
) -> None:
    """`flashcrash paper` stopped by SIGTERM (a service manager, `timeout`) said "on Ctrl-C"; the stop,
    and so the summary's `stopped_by`, now names the signal."""
    _console(monkeypatch)
    stops: list[str | None] = []

    class Running:
        def __init__(self, **_: object) -> None:
            self.sent = False

        def __enter__(self) -> Running:
            return self

        def __exit__(self, *_: object) -> None:
            pass

        run_config = REPO / "config" / "config.toml"
        workdir = REPO

        def check_alive(self) -> None:
            if not self.sent:  # the signal arrives while the processes run
                self.sent = True
                os.kill(os.getpid(), sig)

        def stop(self, why: str | None = None) -> dict[str, int | None]:
            stops.append(why)
            return {"strategy": 0, "engine": 0}

    monkeypatch.setattr(demo, "Session", Running)
    monkeypatch.setattr(demo, "report", lambda session, codes, kind, replay: 0)
    monkeypatch.setattr(demo.time, "sleep", lambda _: None)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        p = argparse.ArgumentParser()
        demo.add_arguments(p, demo=False)
        assert demo.run_paper(p.parse_args([])) == 0
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
    assert stops == [said]


@pytest.mark.parametrize("argv", [[], ["--confirm-real"]])
def test_paper_passes_the_real_mode_confirmation_to_the_engine(
    monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    """The engine refusing a real-mode config said `pass --confirm-real`, which only the engine took:
    `flashcrash paper --confirm-real` was an unrecognized argument."""
    _console(monkeypatch)
    made = _refused_start(monkeypatch)
    p = argparse.ArgumentParser()
    demo.add_arguments(p, demo=False)
    assert demo.run_paper(p.parse_args(argv)) == 1
    assert made[0]["confirm_real"] is bool(argv)


def test_errors_and_values_keep_their_brackets(monkeypatch: pytest.MonkeyPatch) -> None:
    """The terminal library read `[risk]` or `[zmq]` in an error, a note or a summary value as a style
    tag and dropped it: `config error:  order_quantity = ...`."""
    out = _console(monkeypatch, width=200)
    refusal = 'config error: [symbol] order_quantity = "-500": expected a decimal'

    _refused_start(monkeypatch, refusal)
    p = argparse.ArgumentParser()
    demo.add_arguments(p, demo=False)
    assert demo.run_paper(p.parse_args([])) == 1
    demo.console.print(demo.summary_table({"feed": {"reason": "[zmq] subscriber_wait_ms"}}))
    text = out.getvalue()
    assert refusal in text and "[zmq] subscriber_wait_ms" in text, text


# ---------------------------------------------------------------- copied files
def test_every_copied_json_file_points_at_the_copies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The session's own JSON (`session_<time>.json`) named its chart in the temporary folder deleted
    after the demo; like `summary.json`, it now names the copy."""
    _, dest = _report(tmp_path, monkeypatch, {"stop_reason": "SIGTERM"})
    for name in ("summary.json", "session_20261206T122415Z.json"):
        png = json.loads((dest / name).read_text())["report_png"]
        assert png == str(dest / "session_20261206T122415Z.png"), (name, png)
        assert Path(png).exists()
    assert str(tmp_path / "work") not in (dest / "session_20261206T122415Z.json").read_text()


def test_paths_are_moved_only_under_the_old_folder() -> None:
    moved = {"/tmp/fc-1/reports": "/r/demo_1", "/tmp/fc-1": "/r/demo_1"}
    value = {
        "a": "/tmp/fc-1/reports/x.png",
        "b": ["/tmp/fc-1/engine.log", "/tmp/fc-10/x", "text /tmp/fc-1/reports"],
        "c": 3,
    }
    assert demo.move_paths(value, moved) == {
        "a": "/r/demo_1/x.png",
        "b": ["/r/demo_1/engine.log", "/tmp/fc-10/x", "text /tmp/fc-1/reports"],
        "c": 3,
    }


# --------------------------------------------------------------- printed summary
def test_a_stop_at_the_end_of_the_replay_is_said_to_be_the_demos(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text, dest = _report(
        tmp_path, monkeypatch, {"stop_reason": "SIGTERM"}, stopped_for="at the end of the replay"
    )
    assert "SIGTERM from flashcrash demo at the end of the replay" in " ".join(
        line.strip("│ ") for line in text.splitlines()
    )
    written = json.loads((dest / "summary.json").read_text())
    assert written["stop_reason"] == "SIGTERM"
    assert written["stopped_by"] == "flashcrash demo at the end of the replay"


def test_the_table_cuts_nothing_and_the_closing_lines_are_plain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 80 columns (piped) the table cut `report_png` and long keys with `…`; the last line was a
    dict repr broken after a dangling `; `. The session id and the command that draws its report again
    were never printed."""
    summary = {
        "symbol": "POLUSDT",
        "session_id": 3,
        "stop_reason": "SIGTERM",
        "messages": {"dropped_by_guard": {"time_backwards": 436}},
    }
    text, dest = _report(tmp_path, monkeypatch, summary)
    assert "…" not in text
    assert "messages.dropped_by_guard.time_backwards" in text
    lines = text.splitlines()
    assert f"chart: {dest / 'session_20261206T122415Z.png'}" in lines
    command = (
        f"flashcrash report --db {dest / 'flashcrash.db'} --out {dest / 'session_3_report.png'} --session 3"
    )
    assert any(line.startswith("session 3") and line.endswith(command) for line in lines), text
    assert lines[-1] == "strategy, engine and exchange-sim stopped cleanly; every port freed"
    assert not any(line.rstrip().endswith(";") for line in lines)


def test_a_replays_chart_is_drawn_again_at_the_markets_recorded_times(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """exchange-sim moved the replay's times by `time_offset_ms`: the chart the strategy drew at them
    is drawn again from the database copy at the market's recorded ones, the shift is in the summary
    and in the command that draws the report again."""
    from flashcrash.persistence import session_report as sr

    calls: list[tuple[Path, int, Path, int | None]] = []
    monkeypatch.setattr(
        sr, "session_report", lambda db, sid, out, _console, recorded_shift_ns: calls.append((db, sid, out, recorded_shift_ns))
    )  # fmt: skip
    replay = demo.Replay("30", 96_855, caught_up=True, offset_ms=36_777_000_000)
    text, dest = _report(
        tmp_path, monkeypatch, {"session_id": 3, "messages": {"trade": 96_855}}, replay=replay
    )
    assert calls == [
        (dest / "flashcrash.db", 3, dest / "session_20261206T122415Z.png", 36_777_000_000_000_000)
    ]
    assert json.loads((dest / "summary.json").read_text())["replay"]["time_offset_ms"] == 36_777_000_000
    assert " --session 3 --replay-offset-ms 36777000000" in " ".join(text.split())
    assert demo.time_offset_ms({"replay_started": True, "time_offset_ms": 36_777_000_000}) == 36_777_000_000
    assert demo.time_offset_ms({"replay_started": False, "time_offset_ms": 0}) is None


def test_a_long_value_is_folded_not_cut() -> None:
    out = io.StringIO()
    Console(file=out, width=80).print(demo.summary_table({"report_png": LONG}))
    folded = "".join(line.strip("│ ") for line in out.getvalue().splitlines() if "│" in line)
    assert "report_png" in folded and LONG in folded.replace("report_png", "", 1)


def test_the_summary_holds_its_session_id_and_the_books_conflated() -> None:
    cfg = config.load(REPO / "config" / "config.toml")
    client = SilentEngine(Counter({"Trade": 5}))
    client.conflated = 4
    runner = Runner(cfg, client)  # type: ignore[arg-type]
    assert session_summary(runner)["session_id"] is None
    runner.session = SessionRecord(7, 1, "running", "POLUSDT", "paper", Decimal(1000))
    s = session_summary(runner)
    assert s["session_id"] == 7 and s["messages"]["books_conflated"] == 4 and s["messages"]["trade"] == 5


# ------------------------------------------------------- trades replayed vs received
def test_trades_the_strategy_never_received_are_accounted_for() -> None:
    """30x: 96,855 trades replayed, 96,847 received, no id missed: the strategy read until its count
    stopped, so the 8 went out before its subscription reached the engine (the replay's first)."""
    summary: dict[str, Any] = {"messages": {"trade": 96_847, "trades_missed": 0}}
    (note,) = demo.replay_notes(summary, demo.Replay("30", 96_855, 36_000, caught_up=True))
    assert (
        "96,847 of the 96,855 trades replayed" in note
        and "the first 8 went out before its subscription" in note
    )
    assert summary["replay"] == {
        "speed": "30x",
        "trades_replayed": 96_855,
        "trades_received": 96_847,
        "trades_before_subscribed": 8,
        "depth_updates_replayed": 36_000,
    }
    # Stopped before it had read them all.
    summary = {"messages": {"trade": 90_000, "trades_missed": 0}}
    (note,) = demo.replay_notes(summary, demo.Replay("30", 96_855, caught_up=False))
    assert "not caught up" in note and summary["replay"]["trades_unread_at_stop"] == 6_855
    # All of them.
    summary = {"messages": {"trade": 96_855, "trades_missed": 0}}
    assert demo.replay_notes(summary, demo.Replay("30", 96_855, caught_up=True)) == []


def test_the_final_summary_of_a_max_speed_replay_says_it_is_not_a_backtest() -> None:
    summary: dict[str, Any] = {
        "messages": {
            "trade": 44_228,
            "book": 204,
            "dropped_by_guard": {"time_backwards": 400, "time_ahead": 36, "bad_price": 2},
            "late_trades": 58,
        }
    }
    replay = demo.Replay(
        "max",
        44_228,
        11_992,
        True,
        Path("d.csv.gz"),
        "2025-10-10T21:05:00Z",
        "2025-10-10T21:25:00Z",
        Path("c.toml"),
    )
    (note,) = demo.replay_notes(summary, replay)
    assert "max speed" in note and "204 books received for 11,992 depth updates" in note
    assert "436 events dropped as out of time" in note and "58 late trades" in note
    assert "not those of a backtest" in note
    assert (
        "flashcrash backtest --data d.csv.gz --from 2025-10-10T21:05:00Z --to 2025-10-10T21:25:00Z --config c.toml"
        in note
    )


@pytest.mark.parametrize(
    ("codes", "ok"),
    [
        ({"engine": 0, "strategy": 0}, True),
        ({"engine": 0, "strategy": 3}, False),
        ({"strategy": 0, "engine": 0, "exchange-sim": -9}, True),
    ],
)
def test_the_demo_says_stopped_cleanly_only_when_it_did(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, codes: dict[str, int], ok: bool
) -> None:
    out = io.StringIO()
    monkeypatch.setattr(demo, "console", Console(file=out, width=200))
    stopped = _Stopped(tmp_path / "work", {"pnl": {"trades": 0}})
    assert demo.report(stopped, codes) == (0 if ok else 1)  # type: ignore[arg-type]
    text = out.getvalue()
    assert ("stopped cleanly" in text) is ok
    assert ("demo failed: exit codes {'engine': 0, 'strategy': 3}" in text) is not ok
    if "exchange-sim" in codes:  # its code fails no demo, but it is not called clean
        assert (
            "strategy and engine stopped cleanly; exchange-sim exited with code -9; every port freed" in text
        )
    (written,) = (tmp_path / "reports").glob("demo_*/summary.json")
    assert json.loads(written.read_text())["pnl"] == {"trades": 0}
