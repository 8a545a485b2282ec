"""`flashcrash demo` and `flashcrash paper`: run the whole system and report on it.

* `demo` replays the bundled real crash through `exchange-sim`, paper-trades it with the engine and the
  strategy, stops everything cleanly, and prints the session summary and where the report is.
* `paper` starts the engine and the strategy against the venue named by the configuration (or, with
  `--sim`, against `exchange-sim` replaying the bundled crash) and runs until Ctrl-C.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shlex
import shutil
import signal
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from flashcrash.atomic_files import write_text
from flashcrash.config import add_synthetic_overlay_flag
from flashcrash.launcher import DEMO_DATA, REPO, ConfigRefused, LaunchError, Session, SimSpec, tail

console = Console()


def _parse_time(text: str | None) -> int | None:
    """ISO-8601 UTC time to microseconds since the epoch."""
    if text is None:
        return None
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1_000_000)


def count_trades(data: Path, start: str | None, end: str | None) -> int:
    """Trades of a Tardis-style CSV inside [start, end): the size of the replay, for the progress bar."""
    lo, hi = _parse_time(start), _parse_time(end)
    opener = gzip.open if data.suffix == ".gz" else open
    n = 0
    with opener(data, "rt") as f:
        next(f, None)
        for line in f:
            parts = line.split(",", 3)
            if len(parts) < 3 or not parts[2].isdigit():
                continue
            ts = int(parts[2])
            if (lo is None or ts >= lo) and (hi is None or ts < hi):
                n += 1
    return n


def is_max(speed: str) -> bool:
    """True for `--speed max` (anything but a factor such as 30 or 12.5)."""
    return not speed.replace(".", "", 1).isdigit()


def speed_text(speed: str) -> str:
    """`30x`, or `max speed` for `--speed max`."""
    return "max speed" if is_max(speed) else f"{speed}x"


def backtest_command(data: Path, start: str | None, end: str | None, config: Path, overlay: bool) -> str:
    """The `flashcrash backtest` of the replayed window with the run's configuration (`overlay`: with
    the synthetic-book overlay, as the backtest layers it by default), its paths quoted for a shell."""
    window = "".join(f" {flag} {shlex.quote(v)}" for flag, v in (("--from", start), ("--to", end)) if v)
    bare = "" if overlay else " --no-synthetic-overlay"
    return f"flashcrash backtest --data {shlex.quote(str(data))}{window} --config {shlex.quote(str(config))}{bare}"


def max_speed_note(data: Path, start: str | None, end: str | None, config: Path, overlay: bool) -> str:
    """What `--speed max` does to the results, said before the replay."""
    return (
        "--speed max: exchange-sim replays as fast as the engine reads (hundreds of times real time). "
        "The engine conflates the book (it publishes the newest one when it gets to it, not each "
        "one the simulator sends) and the strategy falls behind the replay, so its orders are "
        "filled on a later market than the one it decided on, and no two runs are alike: the "
        "results are not those of a backtest of the same window. For those run "
        f"`{backtest_command(data, start, end, config, overlay)}`, or the demo at a speed such as 30."
    )


@dataclass(frozen=True)
class Replay:
    """What the simulator replayed, for the summary: its speed, the trades and depth updates it sent
    (None: unknown), whether the strategy had caught up with them when it was stopped, and how far
    its times were after the market's recorded ones (`time_offset_ms`; None: unknown)."""

    speed: str
    trades: int | None = None
    depth_updates: int | None = None
    caught_up: bool = False
    data: Path = DEMO_DATA
    start: str | None = None
    end: str | None = None
    config: Path = REPO / "config" / "config.toml"
    offset_ms: int | None = None
    # The synthetic-book overlay layered over the config (`Session.book_overlay`); None: none.
    overlay: Path | None = None


def add_arguments(p: argparse.ArgumentParser, *, demo: bool) -> None:
    p.add_argument("--config", type=Path, default=REPO / "config" / "config.toml")
    p.add_argument(
        "--bin-dir",
        type=Path,
        default=REPO / "rust-engine" / "target" / "release",
        help="folder holding the engine and exchange-sim binaries",
    )
    if not demo:
        p.add_argument("--sim", action="store_true", help="also start exchange-sim with the bundled crash")
        p.add_argument(
            "--confirm-real",
            action="store_true",
            help='with [execution] mode = "real": confirm that the engine may send real orders',
        )
    p.add_argument("--data", type=Path, default=DEMO_DATA, help="trade file replayed by exchange-sim")
    p.add_argument("--speed", default="30", help="replay speed: a factor such as 30, or 'max'")
    p.add_argument("--from", dest="start", help="replay start, e.g. 2025-10-10T21:05:00Z")
    p.add_argument("--to", dest="end", help="replay end (exclusive)")
    p.add_argument("--timeout", type=float, default=900.0, help="longest wait for the replay, seconds")
    add_synthetic_overlay_flag(p)


def _sim_spec(args: argparse.Namespace) -> SimSpec:
    return SimSpec(
        data=args.data,
        speed=args.speed,
        start=args.start,
        end=args.end,
        synthetic_overlay=args.synthetic_overlay,
    )


def run_demo(args: argparse.Namespace) -> int:
    spec = _sim_spec(args)
    total = count_trades(spec.data, spec.start, spec.end)
    session = Session(config=args.config, bin_dir=args.bin_dir, sim=spec)
    layered = f" + {session.book_overlay}" if session.book_overlay else ""
    console.print(
        f"[bold]flashcrash demo[/]: replaying {total:,} real trades from [cyan]{spec.data.name}[/] "
        f"at {speed_text(spec.speed)} through exchange-sim, paper trading with {args.config}{layered}"
    )
    if is_max(spec.speed):
        console.print(
            f"[yellow]{max_speed_note(spec.data, spec.start, spec.end, args.config, spec.synthetic_overlay)}[/]"
        )
    try:
        with session:
            with Progress(
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                TextColumn("{task.completed:,}/{task.total:,} trades"),
                TimeElapsedColumn(),
                console=console,
            ) as progress:
                task = progress.add_task("replay", total=total)

                def tick(s: Session) -> None:
                    stats = s.sim_stats()
                    if stats is not None:
                        progress.update(task, completed=int(stats.get("trades_sent", 0)))

                session.wait_replay_end(args.timeout, on_tick=tick)
                stats = session.sim_stats() or {}
                sent = int(stats.get("trades_sent", total))
                progress.update(task, completed=sent, total=sent)
                # The strategy reads what the engine published before it is stopped (at max speed it
                # is seconds behind the replay).
                read = progress.add_task("strategy", total=sent)

                def read_tick(_s: Session, n: int | None) -> None:
                    if n is not None:
                        progress.update(read, completed=n)

                _, caught_up = session.wait_strategy_caught_up(sent, args.timeout, on_tick=read_tick)
            codes = session.stop(why="at the end of the replay")
        replay = Replay(
            spec.speed,
            sent,
            stats.get("depth_updates_sent"),
            caught_up,
            spec.data,
            spec.start,
            spec.end,
            args.config,
            time_offset_ms(stats),
            session.book_overlay,
        )
        return report(session, codes, replay=replay)
    except LaunchError as e:
        console.print(f"[red]demo failed:[/] {escape(str(e))}")
        for name, p in session.procs.items():
            console.print(f"--- {name} ({p.log_path}) ---\n{tail(p.log_path)}", markup=False)
        return 2 if isinstance(e, ConfigRefused) else 1


def run_paper(args: argparse.Namespace) -> int:
    spec = _sim_spec(args) if args.sim else None
    # Against a venue the processes run on the configuration as it is (its ports, database and report
    # folder); with the simulator on a private copy pointing at it, as in the demo.
    session = Session(
        config=args.config,
        bin_dir=args.bin_dir,
        sim=spec,
        as_configured=spec is None,
        confirm_real=args.confirm_real,
    )
    stop = False
    stopped_by = "on Ctrl-C"

    def on_signal(sig: int, _frame: object) -> None:
        nonlocal stop, stopped_by
        if stop:  # asked again while stopping: `Session.stop` kills what is left
            raise KeyboardInterrupt(f"signal {signal.Signals(sig).name}, again")
        stop = True
        stopped_by = "on Ctrl-C" if sig == signal.SIGINT else f"on {signal.Signals(sig).name}"

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    if spec is not None and is_max(spec.speed):
        console.print(
            f"[yellow]{max_speed_note(spec.data, spec.start, spec.end, args.config, spec.synthetic_overlay)}[/]"
        )
    try:
        with session:
            console.print(
                f"engine and strategy running on {session.run_config} (logs in {session.workdir}); Ctrl-C stops them"
            )
            while not stop:
                session.check_alive()
                time.sleep(0.5)
            offset = None if spec is None else time_offset_ms(session.sim_stats() or {})
            codes = session.stop(why=stopped_by)
        replay = (
            None
            if spec is None
            else Replay(
                spec.speed,
                data=spec.data,
                start=spec.start,
                end=spec.end,
                config=args.config,
                offset_ms=offset,
                overlay=session.book_overlay,
            )
        )
        return report(session, codes, "paper", replay)
    except LaunchError as e:
        console.print(f"[red]stopped:[/] {escape(str(e))}")
        return 2 if isinstance(e, ConfigRefused) else 1


def time_offset_ms(stats: dict[str, Any]) -> int | None:
    """How far the replay's times were after the market's recorded ones (`/sim/stats`), once it has
    started; None before, or from a simulator that does not say."""
    offset = stats.get("time_offset_ms")
    return offset if stats.get("replay_started") and isinstance(offset, int) else None


def report(
    session: Session, codes: dict[str, int | None], kind: str = "demo", replay: Replay | None = None
) -> int:
    """Prints the session summary; copies it (written whole or not at all), the logs and the
    session's private reports under the config's `[persistence] report_dir`, in <kind>_<time>, with
    the paths in its JSON files moved there. Non-zero if anything went wrong: a process that exited
    badly, a port still in use, no summary."""
    ok = True
    bad = {k: v for k, v in codes.items() if k != "exchange-sim" and v != 0}
    if bad:
        console.print(f"[red]processes exited badly:[/] {escape(str(bad))}")
        ok = False
    ports_free = session.ports_free()
    if not ports_free:
        console.print("[red]a port is still in use after the stop[/]")
        ok = False
    try:
        summary: dict[str, Any] = json.loads(session.summary_path.read_text())
    except (OSError, ValueError) as e:
        console.print(f"[red]no strategy summary:[/] {escape(str(e))}")
        return 1
    assert session.workdir is not None
    root = session.report_root or REPO / "reports"  # the config's report_dir, read at the start
    dest = root / f"{kind}_{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    dest.mkdir(parents=True, exist_ok=True)
    # The session's files were under its temporary folder, gone after `cleanup`: their paths are
    # those of the copies.
    moved = {str(session.workdir / "reports"): str(dest), str(session.workdir): str(dest)}
    src = session.workdir / "reports"
    if src.exists():  # the session's private reports (a session as configured keeps its own)
        shutil.copytree(src, dest, dirs_exist_ok=True)
        for copied in dest.rglob("*.json"):
            move_paths_in_file(copied, moved)
    summary = move_paths(summary, moved)
    if replay is not None and replay.offset_ms:
        redraw_at_recorded_times(summary, dest, replay.offset_ms)
    stopped_for = getattr(session, "stopped_for", None)
    if stopped_for and summary.get("stop_reason") in ("SIGTERM", "SIGINT"):
        summary["stopped_by"] = f"flashcrash {kind} {stopped_for}"
    notes: list[str] = []
    if replay is not None:
        notes = replay_notes(summary, replay)
    write_text(dest / "summary.json", json.dumps(summary, indent=2))
    for p in session.procs.values():
        shutil.copy(p.log_path, dest / p.log_path.name)
    console.print(summary_table(summary, skip=("report_png", "stopped_by")))
    for note in notes:
        console.print(escape(note), style="yellow")
    if summary.get("report_png"):
        console.print(f"chart: [cyan]{summary['report_png']}[/]", soft_wrap=True)
    console.print(f"report, summary and logs: [cyan]{dest}[/]", soft_wrap=True)
    if (command := report_command(summary, dest, getattr(session, "config", None))) is not None:
        console.print(f"session {summary['session_id']}; to draw its report again: {command}", soft_wrap=True)
    if ok:
        clean = [k for k, v in codes.items() if v == 0]
        others = "".join(f"; {k} exited with code {v}" for k, v in codes.items() if v != 0)
        console.print(f"{_names(clean)} stopped cleanly{others}; every port freed")
    else:
        console.print(f"[red]{kind} failed:[/] exit codes {escape(str(codes))}; ports freed: {ports_free}")
    session.cleanup()
    return 0 if ok else 1


def redraw_at_recorded_times(summary: dict[str, Any], dest: Path, offset_ms: int) -> None:
    """Draws the session's chart again from its database copy under `dest`, over the one the
    strategy drew at the replay's times, at the market's recorded ones (a replay shifted by
    `offset_ms`). Left as it was when there is no copy to read."""
    from flashcrash.persistence import PersistenceError
    from flashcrash.persistence.session_report import session_report

    sid, png, db = summary.get("session_id"), summary.get("report_png"), dest / "flashcrash.db"
    if sid is None or not png or not db.exists():
        return
    try:
        session_report(db, int(sid), Path(png), Console(quiet=True), recorded_shift_ns=offset_ms * 1_000_000)
    except (PersistenceError, OSError) as e:
        console.print(f"[yellow]chart left at the replay's times:[/] {escape(str(e))}")


def _names(names: list[str]) -> str:
    """`a`, `a and b`, `a, b and c`."""
    return " and ".join(filter(None, [", ".join(names[:-1]), names[-1] if names else ""]))


def report_command(summary: dict[str, Any], dest: Path, config: Path | None) -> str | None:
    """The `flashcrash report` command that draws the session's report again from its database (the
    copy under `dest` when the session had its own), or None without a session id."""
    sid = summary.get("session_id")
    if sid is None:
        return None
    db = dest / "flashcrash.db"
    if db.exists():
        where = f" --db {db} --out {dest / f'session_{sid}_report.png'}"
    else:
        where = "" if config is None else f" --config {config}"
    offset = summary.get("replay", {}).get("time_offset_ms")
    return f"flashcrash report{where} --session {sid}" + (f" --replay-offset-ms {offset}" if offset else "")


def replay_notes(summary: dict[str, Any], replay: Replay) -> list[str]:
    """Adds `replay` (what the simulator sent, what the strategy received) to `summary` and says what
    the figures mean: the trades the strategy never received, and what `--speed max` did."""
    messages = summary.get("messages", {})
    received = messages.get("trade")
    missed = messages.get("trades_missed", 0) or 0
    notes: list[str] = []
    facts: dict[str, Any] = {"speed": speed_text(replay.speed)}
    if replay.overlay is not None:
        facts["synthetic_book_overlay"] = str(replay.overlay)
    if replay.trades is not None and received is not None:
        facts["trades_replayed"] = replay.trades
        facts["trades_received"] = received
        unheard = replay.trades - received - missed
        if unheard > 0 and replay.caught_up:
            # Trade ids jump over none after the first one received (else `trades_missed`), and the
            # strategy read until its count stopped: the ones it never got came before its first.
            facts["trades_before_subscribed"] = unheard
            first = "first one" if unheard == 1 else f"first {unheard:,}"
            notes.append(
                f"{received:,} of the {replay.trades:,} trades replayed reached the strategy: the "
                f"{first} went out before its subscription reached the engine (the engine opened "
                "its feed without it: it waits at most [zmq] subscriber_wait_ms for one; see engine.log)"
                + (f", and {missed:,} were lost on the way (gaps in the trade ids)." if missed else ".")
            )
        elif unheard > 0:
            facts["trades_unread_at_stop"] = unheard
            notes.append(
                f"{received:,} of the {replay.trades:,} trades replayed reached the strategy: it had not "
                f"caught up with the replay when it was stopped ({unheard:,} not read)."
            )
    if replay.depth_updates is not None:
        facts["depth_updates_replayed"] = replay.depth_updates
    if replay.offset_ms is not None:
        facts["time_offset_ms"] = replay.offset_ms  # the replay's times after the market's recorded ones
    summary["replay"] = facts
    if is_max(replay.speed):
        dropped = messages.get("dropped_by_guard") or {}
        guard = dropped.get("time_backwards", 0) + dropped.get("time_ahead", 0)
        late = messages.get("late_trades", 0)
        books = messages.get("book")
        figures = [
            f"{books:,} books received for {replay.depth_updates:,} depth updates replayed"
            if books is not None and replay.depth_updates is not None
            else None,
            f"{guard:,} events dropped as out of time" if guard else None,
            f"{late:,} late trades" if late else None,
        ]
        said = "; ".join(f for f in figures if f)
        notes.append(
            f"Replayed at max speed{f' ({said})' if said else ''}: the engine conflated the book and "
            "the strategy fell behind the replay, so these results are not those of a backtest of "
            f"the same window; for those run `{backtest_command(replay.data, replay.start, replay.end, replay.config, replay.overlay is not None)}`."
        )
    return notes


def move_paths(value: Any, moved: dict[str, str]) -> Any:
    """`value` (JSON) with each string that is a path under a key of `moved` under its value instead."""
    if isinstance(value, dict):
        return {k: move_paths(v, moved) for k, v in value.items()}
    if isinstance(value, list):
        return [move_paths(v, moved) for v in value]
    if isinstance(value, str):
        for old, new in moved.items():
            if value == old or value.startswith(old + "/"):
                return new + value[len(old) :]
    return value


def move_paths_in_file(path: Path, moved: dict[str, str]) -> None:
    """Rewrites the JSON file `path` (whole or not at all) with its paths moved; a file that is not
    JSON, or holds none of them, is left as it is."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    new = move_paths(data, moved)
    if new != data:
        write_text(path, json.dumps(new, indent=2))


def summary_table(s: dict[str, Any], skip: tuple[str, ...] = ()) -> Table:
    """The summary as a two-column table (without the top-level keys in `skip`); a long value is
    folded onto more lines, never cut."""
    t = Table(title="session summary", show_header=False)
    t.add_column("what", style="bold", no_wrap=True)
    t.add_column("value", justify="right", overflow="fold")
    shown = {k: v for k, v in s.items() if k not in skip}
    stopped_by = s.get("stopped_by")
    for key, value in flatten(shown):
        text = "-" if value is None else str(value)
        if key == "stop_reason" and stopped_by:
            text = f"{text} from {stopped_by}"
        t.add_row(Text(key), Text(text))  # values are shown as written, never read as markup
    return t


def flatten(s: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Scalar entries of a nested summary, lists shown by their length."""
    rows: list[tuple[str, Any]] = []
    for k, v in s.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            rows.extend(flatten(v, f"{name}."))
        elif isinstance(v, list):
            rows.append((name, len(v)))
        else:
            rows.append((name, v))
    return rows
