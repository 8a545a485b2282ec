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
import shutil
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from flashcrash.atomic_files import write_text
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
    p.add_argument("--data", type=Path, default=DEMO_DATA, help="trade file replayed by exchange-sim")
    p.add_argument("--speed", default="30", help="replay speed: a factor such as 30, or 'max'")
    p.add_argument("--from", dest="start", help="replay start, e.g. 2025-10-10T21:05:00Z")
    p.add_argument("--to", dest="end", help="replay end (exclusive)")
    p.add_argument("--timeout", type=float, default=900.0, help="longest wait for the replay, seconds")


def _sim_spec(args: argparse.Namespace) -> SimSpec:
    return SimSpec(data=args.data, speed=args.speed, start=args.start, end=args.end)


def run_demo(args: argparse.Namespace) -> int:
    spec = _sim_spec(args)
    total = count_trades(spec.data, spec.start, spec.end)
    console.print(
        f"[bold]flashcrash demo[/]: replaying {total:,} real trades from [cyan]{spec.data.name}[/] "
        f"at {spec.speed}x through exchange-sim, paper trading with {args.config}"
    )
    session = Session(config=args.config, bin_dir=args.bin_dir, sim=spec)
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
                progress.update(task, completed=total)
            codes = session.stop()
        return report(session, codes)
    except LaunchError as e:
        console.print(f"[red]demo failed:[/] {e}")
        for name, p in session.procs.items():
            console.print(f"--- {name} ({p.log_path}) ---\n{tail(p.log_path)}")
        return 2 if isinstance(e, ConfigRefused) else 1


def run_paper(args: argparse.Namespace) -> int:
    spec = _sim_spec(args) if args.sim else None
    # Against a venue the processes run on the configuration as it is (its ports, database and report
    # folder); with the simulator on a private copy pointing at it, as in the demo.
    session = Session(config=args.config, bin_dir=args.bin_dir, sim=spec, as_configured=spec is None)
    stop = False

    def on_signal(sig: int, _frame: object) -> None:
        nonlocal stop
        if stop:  # asked again while stopping: `Session.stop` kills what is left
            raise KeyboardInterrupt(f"signal {signal.Signals(sig).name}, again")
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        with session:
            console.print(
                f"engine and strategy running on {session.run_config} (logs in {session.workdir}); Ctrl-C stops them"
            )
            while not stop:
                session.check_alive()
                time.sleep(0.5)
            codes = session.stop()
        return report(session, codes, "paper")
    except LaunchError as e:
        console.print(f"[red]stopped:[/] {e}")
        return 2 if isinstance(e, ConfigRefused) else 1


def report(session: Session, codes: dict[str, int | None], kind: str = "demo") -> int:
    """Prints the session summary; copies it (written whole or not at all), the logs and the
    session's private reports under ./reports/<kind>_<time>. Non-zero if anything went wrong: a
    process that exited badly, a port still in use, no summary."""
    ok = True
    bad = {k: v for k, v in codes.items() if k != "exchange-sim" and v != 0}
    if bad:
        console.print(f"[red]processes exited badly:[/] {bad}")
        ok = False
    if not session.ports_free():
        console.print("[red]a port is still in use after the stop[/]")
        ok = False
    try:
        summary: dict[str, Any] = json.loads(session.summary_path.read_text())
    except (OSError, ValueError) as e:
        console.print(f"[red]no strategy summary:[/] {e}")
        return 1
    assert session.workdir is not None
    dest = REPO / "reports" / f"{kind}_{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    dest.mkdir(parents=True, exist_ok=True)
    src = session.workdir / "reports"
    if src.exists():  # the session's private reports (a session as configured keeps its own)
        shutil.copytree(src, dest, dirs_exist_ok=True)
        if summary.get("report_png"):
            summary["report_png"] = str(dest / Path(summary["report_png"]).name)
    write_text(dest / "summary.json", json.dumps(summary, indent=2))
    for p in session.procs.values():
        shutil.copy(p.log_path, dest / p.log_path.name)
    console.print(summary_table(summary))
    console.print(f"report, summary and logs: [cyan]{dest}[/]")
    if ok:
        console.print(f"processes stopped cleanly: {codes}; ports freed")
    else:
        console.print(f"[red]{kind} failed:[/] exit codes {codes}; ports freed: {session.ports_free()}")
    session.cleanup()
    return 0 if ok else 1


def summary_table(s: dict[str, Any]) -> Table:
    """The summary as a two-column table."""
    t = Table(title="session summary", show_header=False)
    t.add_column("what", style="bold")
    t.add_column("value", justify="right")
    for key, value in flatten(s):
        t.add_row(key, "-" if value is None else str(value))
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
