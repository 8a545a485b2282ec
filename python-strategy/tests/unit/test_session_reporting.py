"""What a session leaves for people to read: its summary (this session's own P&L, the fees of what is
still open on their own line), `flashcrash run` ending the session even when the summary cannot be
written, `flashcrash report`'s files written whole or not at all and its labels (wall clock against
venue event time), the chart (write-offs, short sessions' time ticks) and the demo's closing lines."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import itertools
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pytest
from rich.console import Console
from test_persistence_repos import T0, _closed, _session
from test_runner_fake_engine import REPO, FakeEngine
from test_runner_recovery import _bought, _config, _runner, _steps

from flashcrash import cli, wire
from flashcrash.config import Config
from flashcrash.event_detector import Candle, State, Transition
from flashcrash.launcher import free_ports
from flashcrash.persistence.records import SessionRecord, TradeRecord
from flashcrash.persistence.report import legend, replay_note, shade_states, write_equity_curve, write_report
from flashcrash.persistence.service import PersistenceService
from flashcrash.persistence.session_report import (
    TRADE_COLUMNS,
    _session_table,
    _trades_table,
    session_report,
    write_trades_csv,
)
from flashcrash.persistence.sqlite import SqliteDatabase

S = 1_000_000_000


# ------------------------------------------------------------------ the summary's P&L
@contextlib.contextmanager
def _restarted_and_closed(
    cfg: Config, eng: FakeEngine, target: wire.PlaceOrder
) -> Iterator[tuple[dict[str, Any], PersistenceService]]:
    """The session after a crash that held a position: the target left resting fills, the session
    ends (`finish`); its summary, taken before the end, and its database, open until the block ends."""
    runner, client, db = _runner(cfg)
    try:
        _steps(runner, 0.5)  # subscriptions reach the fake engine
        eng.fill(target, "0.966", 2)
        _steps(runner, 0.5)
        assert runner.strategy.position.quantity == 0
        summary = runner.summary()
        runner.stop_reason = "TEST"
        runner.finish()
        db.flush()
        yield summary, db
    finally:
        client.close()
        db.close()


def test_the_summary_counts_this_sessions_trades_and_the_open_fees_apart(tmp_path: Path) -> None:
    """An open position's entry fee is not in the summary's fees nor its net P&L (no trade closed
    yet) but on its own line; the session that closes the trade after a crash counts it, its fees
    and P&L once, as `flashcrash report` (`session_stats`) does, and shows the earlier sessions'
    trades apart."""
    eng = FakeEngine()
    try:
        cfg = _config(tmp_path, eng)
        runner, client, db = _runner(cfg)
        try:
            buy, target = _bought(runner, eng)  # bought at 0.9540 with a 0.05 fee; the target rests
            _steps(runner, 0.2)
            pnl = runner.summary()["pnl"]
            assert (pnl["trades"], pnl["fees"], pnl["net_pnl"], pnl["return_pct"]) == (0, "0", "0", "0.0000")
            assert (pnl["open_fees"], Decimal(pnl["open_quantity"])) == ("0.05", buy.quantity)
            db.flush()
        finally:
            client.close()  # the process dies with the position open
            db.close()
        with _restarted_and_closed(cfg, eng, target) as (summary, db):
            stats = db.session_stats(2)
            pnl = summary["pnl"]
            assert (pnl["trades"], pnl["wins"], pnl["win_rate"]) == (stats.trades, stats.wins, 1.0)
            assert stats.trades == 1
            assert (Decimal(pnl["fees"]), Decimal(pnl["net_pnl"])) == (stats.fees, stats.net_pnl)
            assert (stats.fees, stats.net_pnl) == (Decimal("0.10"), Decimal("5.90"))  # 500 x 0.012 - fees
            assert pnl["open_fees"] == "0" and len(summary["trades"]) == 1
            earlier = summary["pnl_with_earlier_sessions"]
            assert (earlier["recovered_from"], earlier["trades"]) == (1, 1)
            assert Decimal(earlier["net_pnl"]) == stats.net_pnl
            assert db.session_stats(1).trades == 0  # counted once: in the session that closed it
    finally:
        eng.close()


def test_after_a_recovery_every_count_of_the_summary_is_this_sessions(tmp_path: Path) -> None:
    """The crashed session's snapshot holds its counts (orders sent, decisions, the input guard's
    drops) and the recovery reads its detector transitions back: none of them is the recovering
    session's. Its summary counts what it did itself, as its `pnl` and the database do, and says so."""
    eng = FakeEngine()
    try:
        cfg = _config(tmp_path, eng)
        runner, client, db = _runner(cfg)
        try:
            _buy, target = _bought(runner, eng)  # an entry taken, a buy and its target sent
            eng.trade(1000, 1.0, 99)  # a trade older than those seen: the input guard drops it
            _steps(runner, 0.3)
            assert runner.detector.guard.dropped
            runner._save_snapshots("periodic")  # the detector's too, with its guard's counts
            alert = Transition(1031 * S, State.SLEEP, State.ALERT, "test")
            runner.detector.set_history([alert])  # as if the detector had woken: the loop records it
            runner._transitions_seen = 0
            _steps(runner, 0.1)
            first = runner.summary()
            assert (
                first["orders"]["sent"],
                first["decisions"]["taken"],
                first["detector"]["state_changes"],
            ) == (
                2,
                1,
                1,
            )
            db.flush()
        finally:
            client.close()  # the process dies with the position open
            db.close()
        with _restarted_and_closed(cfg, eng, target) as (summary, db):
            placed = [e for e in db.events_of(2, "command") if e.message_type == "PlaceOrder"]
            taken = db.events_of(2, "entry_decision")
            assert (summary["orders"]["sent"], summary["decisions"].get("taken", 0)) == (
                len(placed),
                len(taken),
            )
            assert (len(placed), len(taken)) == (0, 0)
            assert summary["decisions"] == {"exit_target": 1}  # what this session did: closed the trade
            assert (summary["detector"]["state_changes"], summary["detector"]["transitions"]) == (0, [])
            assert summary["messages"]["dropped_by_guard"] == {}
            assert summary["pnl"]["trades"] == 1 and summary["scope"] == "session 2"
            assert summary["pnl_with_earlier_sessions"]["sessions"] == "1, 2"
    finally:
        eng.close()


# ------------------------------------------------------------------ flashcrash run's end
def write_run_overlay(config_dir: Path, report_dir: Path, db_path: Path) -> None:
    """`local.toml` beside the config in `config_dir` for a `flashcrash run` on free loopback ports,
    with its reports and database where given and no metrics server."""
    zmq = "\n".join(
        f'{key} = "tcp://127.0.0.1:{port}"'
        for key, port in zip(
            ("data_endpoint", "command_endpoint", "response_endpoint", "strategy_endpoint"),
            free_ports(4),
            strict=True,
        )
    )
    (config_dir / "local.toml").write_text(
        f'[zmq]\n{zmq}\n[persistence]\nreport_dir = "{report_dir}"\ndb_path = "{db_path}"\n'
        "[monitoring]\nstrategy_metrics_port = 0\n"
    )


def _wait_for_session(db_path: Path, proc: subprocess.Popen[str], timeout: float = 30.0) -> None:
    """Until `flashcrash run` has started its session (its signal handlers are in place by then)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        if db_path.exists():
            conn = sqlite3.connect(db_path)
            try:
                if conn.execute("SELECT count(*) FROM sessions").fetchone()[0]:
                    return
            except sqlite3.OperationalError:
                pass  # the schema is being created
            finally:
                conn.close()
        time.sleep(0.1)
    raise AssertionError(f"no session started (exit {proc.poll()})")


def test_a_summary_that_cannot_be_written_still_ends_the_session(tmp_path: Path) -> None:
    """`report_dir` is a file: the summary cannot be written. `flashcrash run` stopped by SIGTERM says
    so in one line, still ends its session cleanly (the next start recovers nothing) and exits 4."""
    for name in ("config.toml", "schema.toml"):
        (tmp_path / name).write_bytes((REPO / "config" / name).read_bytes())
    report_dir = tmp_path / "reports"
    report_dir.write_text("not a folder")
    db_path = tmp_path / "flashcrash.db"
    write_run_overlay(tmp_path, report_dir, db_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "flashcrash", "run", "--config", str(tmp_path / "config.toml")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_session(db_path, proc)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "Traceback" not in err, err
    (line,) = [x for x in err.splitlines() if "not written" in x]
    assert line.startswith("summary error: ") and str(report_dir) in line, err
    assert proc.returncode == 4, err
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("SELECT status, stop_reason FROM sessions").fetchall() == [("clean", "SIGTERM")]
    finally:
        conn.close()


# ------------------------------------------------------------------ flashcrash report
def _trade_rows(sid: int) -> list[TradeRecord]:
    won = _closed(sid, "won", "0.8", exit_ns=T0 + 50 * S)
    flat = dataclasses.replace(_closed(sid, "flat", "0", exit_ns=T0 + 60 * S), entry_ns=T0 + 20 * S)
    return [won, flat]


def _stored_session(path: Path, trades: list[TradeRecord], candles: list[Candle]) -> int:
    db = SqliteDatabase.open(path)
    w = db.writer()
    try:
        sid = _session(w)
        for t in trades:
            w.trades.add(dataclasses.replace(t, session_id=sid))
        for c in candles:
            w.candles.add(sid, c)
    finally:
        w.close()
        db.close()
    return sid


def _candles(seconds: int, price: float = 0.2) -> list[Candle]:
    return [Candle(T0 + i * S, price, price, price, price, 10.0, 5.0, 1) for i in range(seconds)]


class _Boom:
    def __str__(self) -> str:
        raise OSError("No space left on device")


def test_a_failed_rewrite_of_the_trades_csv_leaves_the_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "s1_trades.csv"
    trades = _trade_rows(1)
    write_trades_csv(path, trades)
    good = path.read_bytes()
    assert good.count(b"\n") == 3
    with pytest.raises(OSError, match="No space"):
        write_trades_csv(path, [trades[0], dataclasses.replace(trades[1], entry_reason=_Boom())])  # type: ignore[arg-type]
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_a_failed_redraw_of_the_chart_leaves_the_previous_png(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matplotlib.figure import Figure

    path = tmp_path / "s1.png"
    candles = _candles(60)
    assert write_report(path, "POLUSDT", candles, [], [], [], []) == path
    good = path.read_bytes()

    def disk_full(self: Figure, target: Any, **kw: Any) -> None:
        if isinstance(target, (str, Path)):
            Path(target).write_bytes(b"half a png")
        else:
            target.write(b"half a png")
        raise OSError("No space left on device")

    monkeypatch.setattr(Figure, "savefig", disk_full)
    with pytest.raises(OSError, match="No space"):
        write_report(path, "POLUSDT", candles, [], [], [], [])
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_a_report_that_cannot_be_written_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db_path = tmp_path / "r.db"
    sid = _stored_session(db_path, _trade_rows(1), [])
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    code = cli.main(["report", "--session", str(sid), "--db", str(db_path), "--out", str(blocker / "r.png")])
    err = capsys.readouterr().err
    assert code == 1
    (line,) = err.strip().splitlines()
    assert line.startswith("report error: cannot write the report") and str(blocker) in line


def test_the_report_labels_venue_times_and_leaves_break_even_plain() -> None:
    """Trades carry the venue's event times (ahead of the wall clock in a fast replay), the
    session's start and end the wall clock: each is labelled so. A P&L of exactly 0 is no loss."""
    won, flat = _trade_rows(1)
    lost = _closed(1, "lost", "-0.3")
    table = _trades_table([won, flat, lost])
    assert "venue event time" in str(table.title)
    assert [c.header for c in table.columns][2:4] == ["entry (venue)", "exit (venue)"]
    assert [r.style for r in table.rows] == ["green", "", "red"]
    assert TRADE_COLUMNS[3:5] == ("entry_venue_time_utc", "exit_venue_time_utc")
    session = SessionRecord(1, T0, "clean", "POLUSDT", "paper", Decimal(1000), ended_ns=T0 + S)
    console = Console(file=io.StringIO(), width=200)
    console.print(_session_table(session, [], Counter()))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "started (UTC, wall clock)" in text and "ended (UTC, wall clock)" in text


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The figures the report draws, kept open for the test (pyplot's close only recorded)."""
    figures: list[Any] = []
    close = plt.close
    monkeypatch.setattr(plt, "close", figures.append)
    yield figures
    for fig in figures:
        close(fig)


def test_a_written_off_trade_is_not_drawn_as_a_sale_at_zero(tmp_path: Path, drawn: list[Any]) -> None:
    """The write-off's exit price of 0 would squash the price axis to 0: it is marked at the last
    close instead, with its own marker and label."""
    written_off = dataclasses.replace(
        _closed(1, "off", "-100", exit_ns=T0 + 40 * S), exit_price=Decimal(0), exit_reason="written_off"
    )
    db_path = tmp_path / "r.db"
    sid = _stored_session(db_path, [*_trade_rows(1), written_off], _candles(90))
    session_report(db_path, sid, tmp_path / "r.png", Console(file=io.StringIO()))
    (fig,) = drawn
    price = fig.axes[0]
    assert price.get_ylim()[0] > 0.1, price.get_ylim()
    labels = price.get_legend_handles_labels()[1]
    assert "written off (at the last close)" in labels and "sell" in labels


def test_a_short_sessions_time_ticks_do_not_repeat(tmp_path: Path, drawn: list[Any]) -> None:
    """90 seconds: every tick names its own time (seconds, the minute where it changes), where
    `%H:%M` printed the same minute under each."""
    write_report(tmp_path / "r.png", "POLUSDT", _candles(90), [], [], [], [])
    (fig,) = drawn
    fig.canvas.draw()
    ticks = [t.get_text() for t in fig.axes[1].get_xticklabels() if t.get_text()]
    assert len(ticks) >= 3 and all(a != b for a, b in itertools.pairwise(ticks)), ticks


def test_a_legend_without_a_price_puts_the_states_in_their_order() -> None:
    """The equity-only chart draws no price: a session starting in RECOVERY does not list RECOVERY
    first (the legend took its first label for the price)."""
    fig, ax = plt.subplots()
    try:
        shade_states(ax, [(T0, "RECOVERY"), (T0 + 10 * S, "ALERT"), (T0 + 20 * S, "ACTIVE")], T0 + 30 * S)
        legend(ax)
        texts = [t.get_text() for t in ax.get_legend().get_texts()]
        assert texts == ["ALERT", "ACTIVE", "RECOVERY", "SLEEP (unshaded)"]
    finally:
        plt.close(fig)


def test_the_chart_names_its_session_span_outcome_and_units(tmp_path: Path, drawn: list[Any]) -> None:
    """`flashcrash report`'s chart: the title names the session, its span (venue time) and its
    outcome; the price and the net P&L are in the quote currency; the legend is outside the price."""
    db_path = tmp_path / "r.db"
    sid = _stored_session(db_path, _trade_rows(1), _candles(90))
    session_report(db_path, sid, tmp_path / "r.png", Console(file=io.StringIO()))
    (fig,) = drawn
    price, eq = fig.axes
    title = price.get_title()
    assert f"session {sid} POLUSDT" in title and "2025-10-10 20:45:00 to 20:46:29 UTC (venue time)" in title
    assert "2 closed trades, net P&L +0.8000 USDT" in title
    assert (price.get_ylabel(), eq.get_ylabel()) == ("price (USDT)", "net P&L (USDT)")
    assert eq.get_xlabel() == "venue event time (UTC), 2025-10-10"
    fig.canvas.draw()
    assert price.get_legend().get_window_extent().x0 >= price.get_window_extent().x1


def test_a_replay_with_a_known_shift_is_drawn_at_the_markets_recorded_times(
    tmp_path: Path, drawn: list[Any]
) -> None:
    """`flashcrash demo` knows how far exchange-sim moved the replay's times (`time_offset_ms`): its
    chart is drawn at the market's recorded times, every series taken back by the shift, and says
    so (the demo's chart read 2026 for a crash of 2025)."""
    db_path = tmp_path / "r.db"
    sid = _stored_session(db_path, _trade_rows(1), _candles(90))
    shift = 10 * 86_400 * S  # the "replay" ran ten days after the recorded times
    session_report(db_path, sid, tmp_path / "r.png", Console(file=io.StringIO()), recorded_shift_ns=shift)
    (fig,) = drawn
    price, eq = fig.axes
    assert "2025-09-30 20:45:00 to 20:46:29 UTC (the market's recorded time)" in price.get_title()
    assert eq.get_xlabel().startswith(
        "the market's recorded time (UTC), 2025-09-30: replayed by exchange-sim"
    )
    lo, _ = (x * 86_400 * S for x in eq.get_xlim())  # matplotlib dates: days since 1970
    assert abs(lo - (T0 - shift)) < S
    (line,) = price.get_lines()
    assert line.get_xdata()[0].timestamp() * S == pytest.approx(T0 - shift)
    marks = [c for c in price.collections if c.get_label() in ("buy", "sell")]
    assert marks and all(
        abs(x * 86_400 * S - (T0 - shift)) < 100 * S for c in marks for x, _ in c.get_offsets()
    )
    # `flashcrash report --replay-offset-ms`, the command the demo prints, draws the same.
    assert cli.main(["report", "--session", str(sid), "--db", str(db_path), "--out", str(tmp_path / "c.png"),
                     "--replay-offset-ms", str(shift // 1_000_000)]) == 0  # fmt: skip
    assert drawn[1].axes[0].get_title() == price.get_title()


def test_a_fast_replays_times_are_said_to_be_neither_the_wall_clock_nor_the_markets() -> None:
    """exchange-sim replays an hour in two minutes, its times rebased to start at the session's start:
    the axis says so (the chart ran an hour past the time it was drawn, unexplained). A live session's
    event times keep pace with the wall clock: nothing added."""
    hour = 3600 * S
    assert replay_note(T0, T0 + hour, (T0, T0 + 120 * S)) == (
        ": a replay at about 30x real time, its times rebased by exchange-sim to start at the session's "
        "start (not the market's recorded times)"
    )
    assert replay_note(T0, T0 + hour, (T0 - 5 * S, T0 + hour + 2 * S)) == ""
    now = time.time_ns()
    assert "about 30x" in replay_note(now - 120 * S, now - 120 * S + hour)  # drawn at the session's end
    assert replay_note(T0, T0 + hour) == ""  # drawn long after: the wall clock is not known


def test_a_chart_without_trades_or_states_says_so(tmp_path: Path, drawn: list[Any]) -> None:
    """No trade, no state but SLEEP: said in the panel and the title (an empty chart looked failed);
    the equity curve alone (no candles stored) too, its P&L in the quote currency."""
    write_report(tmp_path / "r.png", "POLUSDT", _candles(90), [], [], [], [], wall_ns=(T0, T0 + 90 * S))
    write_equity_curve(tmp_path / "e.png", "session 1 POLUSDT (clean): equity", T0, T0 + 90 * S, [],
                       currency="USDT")  # fmt: skip
    (price, _), (eq,) = (fig.axes for fig in drawn)
    for ax in (price, eq):
        assert "no trade; the detector stayed in SLEEP" in [t.get_text() for t in ax.texts]
    assert "no closed trade" in price.get_title() and "no closed trade" in drawn[1].get_suptitle()
    assert eq.get_ylabel() == "net P&L (USDT)"
