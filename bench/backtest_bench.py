"""Backtest throughput (issue 7): a full real day of trades (Binance spot POLUSDT, 10 Oct 2025, about
300,000 trades) loaded, replayed and reported by the real code, each step timed; the day repeated 10x
(each copy one day later, ids offset) as a 3M-event stress case; and the same events replayed by
`hftbacktest` 2.4.4 with a do-nothing strategy as the reference (`bench/hbt_reference.py`, in its
own venv): the trades with the synthetic books the replay publishes (a book every 100 ms of event
time, each as the depth changes a venue sends: `bench/book_events.py`), which the replay's detector
takes as it takes the trades, and the trades alone beside it.

* load cold: `flashcrash.marketdata.load_trades` with no cache (parse the .csv.gz), and the peak resident
  memory it reached;
* load + cache write: the same into an empty temporary cache dir (parse, then write the .npz);
* load warm: from that .npz;
* replay: `flashcrash.backtest.replay.Replay(cfg, trades).run()` (the runner, detector, strategy,
  risk checks and order manager of live trading, a synthetic book every `[backtest] book_interval_ms`
  of event time, the simulated venue), config from `config/config.toml`;
* report: `flashcrash.backtest.plots.write_all` (summary JSON, CSVs, PNG, HTML) into a temp dir.

Throughput is trades per second of replay wall time (the synthetic books the replay publishes are
counted beside it), with the process's CPU time of the replay beside the wall time. One core; the
figures are noisy on a shared machine: the load average is printed at the start and the end.

    .venv/bin/python bench/backtest_bench.py [DATA] [--copies 10] [--out FILE]

Exit 2 when DATA (default: the POLUSDT day under /work/shared/data/oct10_2025/) is missing.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from book_events import depth_events
from flashcrash import config
from flashcrash.backtest.plots import write_all
from flashcrash.backtest.replay import Replay
from flashcrash.marketdata import load_trades

REPO = Path(__file__).resolve().parents[1]
DATA = Path("/work/shared/data/oct10_2025/binance_trades_2025-10-10_POLUSDT.csv.gz")
HBT_PYTHON = REPO / ".venv" / "hbt" / "bin" / "python"
DAY_NS = 86_400 * 1_000_000_000
TARGET_S = 30.0
TARGET_RATIO = 3.0


class Out:
    """Prints and keeps the lines for the results file."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str = "") -> None:
        print(line, flush=True)
        self.lines.append(line)


def header() -> list[str]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    u = platform.uname()
    return [
        f"# flashcrash backtest benchmark, {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}",
        f"# machine: {u.system} {u.release} {u.machine}, {os.cpu_count()} cores, {mem:.0f} GiB",
        f"# cpu: {cpu}",
        f"# python: {sys.version.split()[0]}, numpy {np.__version__}",
        f"# load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
    ]


def repeat(trades: np.ndarray, copies: int) -> np.ndarray:
    """`trades` repeated `copies` times, each copy one day later, ids offset so they keep rising."""
    out = np.concatenate([trades] * copies)
    k = np.repeat(np.arange(copies, dtype=np.int64), len(trades))
    out["ts_ns"] += k * DAY_NS
    out["id"] += k * (int(trades["id"][-1]) - int(trades["id"][0]) + 1)
    return out


def timed(fn: Any, *args: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    value = fn(*args)
    return value, time.perf_counter() - t0


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def replay(cfg: config.Config, trades: np.ndarray) -> tuple[Any, float, float]:
    """The replay's result, wall time and CPU time of this process (on a shared machine the CPU
    time shows how much of the wall time was spent waiting for a core)."""
    cpu = time.process_time()
    result, wall = timed(lambda: Replay(cfg, trades).run())
    return result, wall, time.process_time() - cpu


def reference(
    cfg: config.Config, trades: np.ndarray, copies: int, hbt_python: Path, out: Out
) -> dict[str, Any] | None:
    """hftbacktest's replays of the trades alone, and of the trades with the synthetic books the
    replay published (`book_events.depth_events`: the day's, and the stress case's when `copies`)."""
    if not hbt_python.exists():
        out(
            f"hftbacktest: {hbt_python} not found (make bench creates it): reference skipped"
        )
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trades.npy"
        np.save(path, trades)
        cmd = [
            str(hbt_python),
            str(REPO / "bench" / "hbt_reference.py"),
            str(path),
            "--copies",
            str(copies),
        ]
        for name, n in (("books", 1), ("stress-books", copies)):
            if n <= 0:
                continue
            started = time.perf_counter()
            events, books = depth_events(repeat(trades, n), cfg)
            np.save(Path(tmp) / f"{name}.npy", events)
            out(f"depth changes of {books:,} synthetic books: {len(events):,} "
                f"({len(events) / books:.1f} a book; built in {time.perf_counter() - started:.1f} s)")  # fmt: skip
            del events
            cmd += [f"--{name}", str(Path(tmp) / f"{name}.npy")]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        out(
            f"hftbacktest reference failed ({done.returncode}): {done.stderr.strip()[-500:]}"
        )
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "data", type=Path, nargs="?", default=DATA, help=f"trade file (default {DATA})"
    )
    p.add_argument("--config", type=Path, default=REPO / "config" / "config.toml")
    p.add_argument(
        "--copies",
        type=int,
        default=10,
        help="stress case: the day repeated (0 = skip)",
    )
    p.add_argument(
        "--hbt-python",
        type=Path,
        default=HBT_PYTHON,
        help="python of the hftbacktest venv",
    )
    p.add_argument(
        "--out",
        type=Path,
        help="results file (default bench/results/<time>-<host>-backtest.txt)",
    )
    args = p.parse_args()
    if not args.data.exists():
        print(
            f"{args.data}: not found (the shared data is not in the repository)",
            file=sys.stderr,
        )
        return 2
    # As `flashcrash backtest`: the strategy's per-decision log stays off the screen.
    root = logging.getLogger()
    root.handlers[:] = [logging.NullHandler()]
    root.setLevel(logging.WARNING)
    overlay = config.synthetic_book_overlay(
        args.config
    )  # the replay's book is synthetic
    cfg = config.load(args.config, [overlay])
    out = Out()
    for line in header():
        out(line)
    out(
        f"# data: {args.data} ({args.data.stat().st_size:,} bytes); config: {args.config} + {overlay.name}"
    )
    out(f"# [backtest] book_interval_ms = {cfg.backtest.book_interval_ms}, order_latency_ms = "
        f"{cfg.backtest.order_latency_ms}")  # fmt: skip
    out()
    out("## load, replay, report of one day (one core)")
    before_load = rss_mib()
    (trades, report, _), cold = timed(load_trades, args.data, None)
    load_peak = rss_mib()  # the first large allocation of the run: the parse's own peak
    with tempfile.TemporaryDirectory() as cache:
        (_, _, hit), write = timed(load_trades, args.data, Path(cache))
        (warm_trades, _, warm_hit), warm = timed(load_trades, args.data, Path(cache))
        assert not hit and warm_hit and np.array_equal(warm_trades, trades)
    n = len(trades)
    out(f"trades: {n:,} kept of {report.rows:,} rows ({report.dropped} dropped)")
    out(
        f"load cold (parse .csv.gz, no cache)   {cold:8.2f} s  ({n / cold:,.0f} trades/s)"
    )
    out(
        f"load cold peak RSS                    {load_peak:8.0f} MiB  "
        f"({(load_peak - before_load) * 2**20 / n:,.0f} bytes a trade over the {before_load:.0f} MiB before)"
    )
    out(f"load + cache write (empty cache dir)  {write:8.2f} s")
    out(
        f"load warm (.npz cache)                {warm:8.3f} s  ({n / warm:,.0f} trades/s)"
    )
    result, day_s, day_cpu = replay(cfg, trades)
    books = result.events["books"]
    out(f"replay                                {day_s:8.2f} s  ({n / day_s:,.0f} trades/s; "
        f"{books:,} synthetic books published, {(n + books) / day_s:,.0f} trades+books/s; "
        f"CPU {day_cpu:.2f} s)")  # fmt: skip
    m = result.metrics()
    out(f"  outcome: {m['trades']} round trips, return {m['return_pct']} %, "
        f"{m['state_changes']} detector state changes, states {m['state_share']}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        files, report_s = timed(write_all, result, Path(tmp))
    out(f"report (write_all: {', '.join(files)})  {report_s:8.2f} s")
    total = cold + day_s + report_s
    out(f"total cold load + replay + report      {total:8.2f} s")
    out(f"peak RSS so far                        {rss_mib():8.0f} MiB")
    out()
    stress_s = None
    if args.copies > 0:
        out(
            f"## stress: the day repeated {args.copies}x (each copy one day later), one replay"
        )
        big = repeat(trades, args.copies)
        res, stress_s, stress_cpu = replay(cfg, big)
        out(f"replay of {len(big):,} trades          {stress_s:8.1f} s  ({len(big) / stress_s:,.0f} trades/s; "
            f"{res.events['books']:,} synthetic books; CPU {stress_cpu:.1f} s)")  # fmt: skip
        sm = res.metrics()
        out(f"  outcome: {sm['trades']} round trips, return {sm['return_pct']} %, "
            f"{sm['state_changes']} detector state changes")  # fmt: skip
        out(f"peak RSS                               {rss_mib():8.0f} MiB")
        out()
    out(
        "## reference: hftbacktest, do-nothing strategy, the same trades and books (bench/hbt_reference.py)"
    )
    ref = reference(cfg, trades, args.copies, args.hbt_python, out)
    if ref is not None:
        out(
            f"hftbacktest {ref['hftbacktest']}: {ref['events']:,} trade events, conversion {ref['convert_s']:.3f} s"
        )
        for what, key, events in (
            ("trades alone", "", "events"),
            ("trades and books", "books_", "books_events"),
        ):
            out(f"  {what}:")
            for name in ("per_event", "elapse_100ms"):
                d = ref[f"day_{key}{name}"]
                out(f"  {name:13s} day replay {d['replay_s']:.3f} s ({ref[events]:,} events, "
                    f"{ref[events] / d['replay_s']:,.0f} events/s, {d['wakes']:,} wake-ups; "
                    f"JIT compile {ref[f'{name}_jit_s']:.2f} s)")  # fmt: skip
                if f"stress_{key}{name}" in ref:
                    s = ref[f"stress_{key}{name}"]
                    out(f"  {'':13s} stress replay {s['replay_s']:.3f} s ({ref[f'stress_{events}']:,} events, "
                        f"{s['wakes']:,} wake-ups)")  # fmt: skip
    out()
    out("## against the targets")
    if stress_s is not None:
        verdict = "MET" if stress_s < TARGET_S else "NOT MET"
        out(f"3M-event replay under {TARGET_S:.0f} s: {stress_s:.1f} s: {verdict}")
    # hftbacktest replays the same events: the trades and the books the replay published (the
    # replay's detector takes both); its replay of the trades alone is given beside it.
    for what, key in (
        ("the same trades and books", "books_"),
        ("the trades alone", ""),
    ):
        if ref is None:
            break
        if stress_s is not None and f"stress_{key}per_event" in ref:
            hbt_s = ref[f"stress_{key}per_event"]["replay_s"]
            ratio = stress_s / hbt_s
            verdict = "MET" if ratio <= TARGET_RATIO else "NOT MET"
            out(f"within {TARGET_RATIO:.0f}x of hftbacktest replaying {what} (per-event, {hbt_s:.3f} s): "
                f"{ratio:,.1f}x: {verdict}")  # fmt: skip
        day_ref = ref[f"day_{key}per_event"]["replay_s"]
        out(f"one day: {day_s:.2f} s against hftbacktest replaying {what}: {day_ref:.3f} s "
            f"({day_s / day_ref:,.1f}x)")  # fmt: skip
    out(f"# load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    path = args.out or REPO / "bench" / "results" / (
        f"{datetime.now(UTC):%Y-%m-%dT%H%M%SZ}-{socket.gethostname().split('.')[0]}-backtest.txt"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out.lines) + "\n")
    print(f"results written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
