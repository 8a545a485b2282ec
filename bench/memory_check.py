"""Memory over a long replay: the whole system (exchange-sim, engine, strategy) replays the bundled
crash hour for `--minutes` of wall clock (default 10) and the resident memory (VmRSS) of each
process is sampled every `--every` seconds. Growth is judged on the second half of the run (after
warm-up): the slope of a least-squares line through those samples, in KiB per minute, and the
difference between the last and the middle sample.

Run by `make bench` (scripts/bench.sh); prints a table and writes JSON to `--out`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from flashcrash.launcher import REPO, Session, SimSpec


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def slope_per_min(samples: list[tuple[float, int]]) -> float:
    n = len(samples)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in samples) / n
    mv = sum(v for _, v in samples) / n
    num = sum((t - mt) * (v - mv) for t, v in samples)
    den = sum((t - mt) ** 2 for t, _ in samples)
    return 60.0 * num / den if den else 0.0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--every", type=float, default=10.0)
    p.add_argument(
        "--bin-dir", type=Path, default=REPO / "rust-engine" / "target" / "release"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=REPO
        / "bench"
        / "results"
        / f"{datetime.now(UTC):%Y-%m-%dT%H%M%SZ}-memory.json",
        help="results file (default bench/results/<time>-memory.json)",
    )
    args = p.parse_args()
    seconds = args.minutes * 60.0
    # The bundled hour spread over the run: 60 minutes of data in `minutes` of wall clock.
    speed = f"{60.0 / args.minutes:g}"
    spec = SimSpec(speed=speed)
    series: dict[str, list[tuple[float, int]]] = {}
    with Session(
        config=REPO / "config" / "config.toml", bin_dir=args.bin_dir, sim=spec
    ) as s:
        t0 = time.monotonic()
        while (elapsed := time.monotonic() - t0) < seconds:
            s.check_alive()
            for name, proc in s.procs.items():
                kib = rss_kib(proc.popen.pid)
                if kib:
                    series.setdefault(name, []).append((elapsed, kib))
            line = "  ".join(f"{n}={v[-1][1] / 1024:.1f}MiB" for n, v in series.items())
            print(f"t={elapsed:6.0f}s  {line}", flush=True)
            time.sleep(args.every)
        stats = s.sim_stats() or {}
    result = {
        "minutes": args.minutes,
        "speed": speed,
        "trades_replayed": stats.get("trades_sent"),
        "processes": {},
    }
    print(
        f"\nmemory over {args.minutes:g} min at {speed}x ({stats.get('trades_sent')} trades replayed)"
    )
    print(
        f"{'process':<14}{'start MiB':>10}{'middle MiB':>11}{'end MiB':>9}{'max MiB':>9}{'2nd-half slope KiB/min':>24}"
    )
    for name, v in series.items():
        half = [x for x in v if x[0] >= seconds / 2]
        mid = half[0][1] if half else v[0][1]
        row = {
            "start_kib": v[0][1],
            "middle_kib": mid,
            "end_kib": v[-1][1],
            "max_kib": max(k for _, k in v),
            "second_half_slope_kib_per_min": round(slope_per_min(half), 1),
            "samples": v,
        }
        result["processes"][name] = row
        print(
            f"{name:<14}{row['start_kib'] / 1024:>10.1f}{mid / 1024:>11.1f}{row['end_kib'] / 1024:>9.1f}"
            f"{row['max_kib'] / 1024:>9.1f}{row['second_half_slope_kib_per_min']:>24.1f}"
        )
    args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
