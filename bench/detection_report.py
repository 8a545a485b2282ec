"""Detection on the 10 Oct 2025 crash files (issue 7): every trade file of a folder (default
/work/shared/data/oct10_2025/) replayed, whole day, through the backtest replay (`Replay(cfg,
trades).run()`: the runner, detector and strategy of live trading, a synthetic book every
`[backtest] book_interval_ms`), and the detector's ACTIVE episodes set against the crash.

Definitions (objective, from the trades alone):

* 1-second price: the last trade price of each second, carried forward over seconds without trades;
* the crash leg: the largest fall of the 1-second price from a high to a later low at most 10 minutes
  after it, both between 20:30 and 22:00 UTC, among the legs that reach the cascade's bottom (a low
  within 2 % of the lowest price of 20:30-22:00; on Gemini ETHUSD the largest 10-minute fall is a
  later leg at 21:38, 3 % above the day's low of 21:14);
* crash onset: the first second after the leg's high at which the price is `--drop` % (default 2)
  below that high;
* crash window: from 5 minutes before the onset to 60 minutes after it (the cascade and its rebound
  legs);
* an ACTIVE episode: from a transition into ACTIVE to the next transition out of it; "first ACTIVE"
  is the first episode starting in the crash window, given as seconds after the onset (negative =
  before), with how far into the leg the 1-second price was then: % below the leg's high, and the
  share of the leg's fall (high to trough) still ahead (0 once the trough has printed);
* the episodes starting before the window are sorted into three kinds: **calm** (before the sell-off
  and not in a real move), **dip** (before the sell-off, in a real move: the 1-second price's range,
  max/min - 1, over the 5 minutes before the episode's start and the minute after it reaches
  `--dip` %, default 1) and **sell-off** (from `SELLOFF`, 20:50 UTC, the tariff news: every file's
  price falls 1.5-7.5 % between 20:50 and 21:01, to the window). The goal is no calm episode at all.
  For every episode outside the window the core indicators that made its quorum are listed (as the
  transition into ACTIVE names them; "+vel" when the message-velocity spike lowered the quorum,
  "+move" when the price's move stood for volatility and acceleration).

A silence of a file's trades longer than `[backtest] data_gap_secs` is a recording gap, replayed as
a feed outage from the moment the silence has lasted `data_gap_secs` (before it, as any silence:
`flashcrash.backtest.replay`); the report lists them per file, from their last trade (Gemini BTCUSD
has two in the cascade: 819 s from 20:54 UTC and 409 s from 21:13 UTC).

The config is `config/config.toml` with `config/synthetic_book.toml` over it (the replay's book is
the synthetic one; tuned on POLUSDT) and three per-file changes so the synthetic
book fits the market: `[symbol] name` = the file's symbol, `[strategy] price_tick` = the smallest gap
between distinct prices of the day rounded to a power of ten, and `[symbol] quantity_step` =
min(the config's, a tenth of the power of ten at or below the median trade quantity). COIN-M
quantities are contracts: `flashcrash.marketdata` converts them to the base asset (contracts x 10 USD
/ price for these alt perps). Files `flashcrash.marketdata` cannot read as trades are listed with the
reason.

    .venv/bin/python bench/detection_report.py [FOLDER] [--out FILE] [--set KEY=VALUE ...] [--no-book]
        [--only TEXT] [--drop PCT] [--dip PCT]

`--set` overrides an `[event_detection]` key for the run (`--set quorum_needs_price=false --set
velocity_touch_only=false`: the detector before issue 5's fix); `--no-book` runs the detector alone on
the trades (no book: the book indicators stay not ready); `--only` keeps the files whose name contains
the text.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import re
import socket
import sys
import time
import tomllib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from flashcrash import config
from flashcrash.backtest.replay import Replay
from flashcrash.event_detector import Detector, State
from flashcrash.marketdata import load_trades
from flashcrash.marketdata.trades import ImportError_
from flashcrash.optimize.overlay import trial_config

REPO = Path(__file__).resolve().parents[1]
DATA = Path("/work/shared/data/oct10_2025")
NS = 1_000_000_000
DAY = 1760054400  # 2025-10-10 00:00 UTC
SEARCH = (
    DAY + 20 * 3600 + 30 * 60,
    DAY + 22 * 3600,
)  # the crash leg is searched in 20:30-22:00 UTC
LEG_S = 600
BOTTOM_PCT = 2.0  # the crash leg ends within this % of the lowest price of SEARCH
BEFORE_S, AFTER_S = 300, 3600
SELLOFF = (
    DAY + 20 * 3600 + 50 * 60
)  # 20:50 UTC: the tariff news; every file falls from here
DIP_BEFORE_S, DIP_AFTER_S = (
    300,
    60,
)  # a real move: the price range over [start - 5 min, start + 1 min]


def hms(sec: float) -> str:
    return datetime.fromtimestamp(sec, tz=UTC).strftime("%H:%M:%S")


def second_prices(trades: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(seconds, last price of each second carried forward) from the first to the last trade."""
    sec = trades["ts_ns"] // NS
    first, last = int(sec[0]), int(sec[-1])
    secs = np.arange(first, last + 1)
    idx = np.searchsorted(sec, secs, side="right") - 1
    return secs, trades["price"][idx]


def onset(secs: np.ndarray, px: np.ndarray, drop_pct: float) -> dict[str, Any] | None:
    """From the 1-second prices (`second_prices`): the crash leg (the largest fall from a high to a
    later low within `LEG_S`, both in `SEARCH`, among the legs whose low is within `BOTTOM_PCT` % of
    the lowest price of `SEARCH`) and its onset (the first second after the leg's high at which the
    price is `drop_pct` % below it); None when the leg falls less than that."""
    lo, hi = (
        int(np.searchsorted(secs, SEARCH[0])),
        int(np.searchsorted(secs, SEARCH[1])),
    )
    s, p = secs[lo:hi], px[lo:hi]
    if len(p) <= LEG_S:
        return None
    # For each second j, the high of the LEG_S seconds before it (j included).
    highs = np.lib.stride_tricks.sliding_window_view(
        np.concatenate([np.full(LEG_S, p[0]), p]), LEG_S + 1
    )
    fall = 1.0 - p / highs.max(axis=1)
    fall[
        p > p.min() * (1 + BOTTOM_PCT / 100)
    ] = -1.0  # a leg that does not reach the cascade's bottom
    j = int(np.argmax(fall))
    i = j - LEG_S + int(np.argmax(highs[j]))  # index of the leg's high in `p`
    i = max(i, 0)
    below = np.nonzero(p[i : j + 1] <= p[i] * (1 - drop_pct / 100))[0]
    if len(below) == 0:
        return None
    k = i + int(below[0])
    return {
        "onset": int(s[k]),
        "high": float(p[i]),
        "high_at": int(s[i]),
        "trough": float(p[j]),
        "trough_at": int(s[j]),
        "leg_fall_pct": round(float(fall[j]) * 100, 1),
    }


def move_pct(secs: np.ndarray, px: np.ndarray, t: float) -> float:
    """The range (max/min - 1, %) of the 1-second price over [t - DIP_BEFORE_S, t + DIP_AFTER_S]."""
    a = int(np.searchsorted(secs, t - DIP_BEFORE_S))
    b = int(np.searchsorted(secs, t + DIP_AFTER_S, side="right"))
    w = px[a:b]
    return float(w.max() / w.min() - 1.0) * 100 if len(w) else 0.0


def fall_at(
    secs: np.ndarray, px: np.ndarray, crash: dict[str, Any], t: float
) -> dict[str, float]:
    """How far into the crash leg the 1-second price was at `t`: % below the leg's high, and the share
    of the leg's fall (high to trough) still ahead, % (0 once the trough has printed)."""
    p = float(px[min(int(np.searchsorted(secs, t, side="right")) - 1, len(px) - 1)])
    high, trough = crash["high"], crash["trough"]
    ahead = (
        0.0
        if t >= crash["trough_at"]
        else max(0.0, (p - trough) / (high - trough) * 100)
    )
    return {
        "price": p,
        "below_high_pct": round((1 - p / high) * 100, 2),
        "leg_ahead_pct": round(ahead, 1),
    }


_COUNTED = re.compile(r"core fired \((.*?)\)")


def counted(reason: str) -> str:
    """The core indicators a transition's reason names (`machine.describe`), "+vel" for a spike,
    "+move" when the price's move stood for volatility and acceleration."""
    m = _COUNTED.search(reason)
    names = (
        [x.split()[0] for x in m.group(1).split(", ") if x and x != "none"] if m else []
    )
    spike = " +vel" if "velocity spike" in reason else ""
    return "+".join(names) + spike + (" +move" if "price moved" in reason else "")


def tick_of(trades: np.ndarray) -> Decimal:
    u = np.unique(trades["price"])
    gap = float(np.diff(u)[np.diff(u) > 0].min()) if len(u) > 1 else 0.01
    return Decimal(1).scaleb(round(math.log10(gap)))


def step_of(trades: np.ndarray, cfg_step: Decimal) -> Decimal:
    median = float(np.median(trades["qty"]))
    return min(cfg_step, Decimal(1).scaleb(math.floor(math.log10(median)) - 1))


def episodes(transitions: list[Any], end_ns: int) -> list[tuple[int, int, str]]:
    """(start, end) ns of each ACTIVE episode, with the core indicators of its quorum."""
    out: list[tuple[int, int, str]] = []
    start = None
    why = ""
    for t in transitions:
        if t.current is State.ACTIVE and start is None:
            start, why = t.ts_ns, counted(t.reason)
        elif t.current is not State.ACTIVE and start is not None:
            out.append((start, t.ts_ns, why))
            start = None
    if start is not None:
        out.append((start, end_ns, why))
    return out


def state_time(
    transitions: list[Any], start_ns: int, end_ns: int
) -> tuple[dict[str, float], float]:
    """The share (%) of the day in each detector state, and the longest ALERT (s)."""
    spent: dict[str, int] = {}
    longest = 0
    state, since = State.SLEEP, start_ns
    for t in [*transitions, None]:
        at = end_ns if t is None else t.ts_ns
        spent[state.value] = spent.get(state.value, 0) + at - since
        if state is State.ALERT:
            longest = max(longest, at - since)
        if t is not None:
            state, since = t.current, at
    total = max(1, end_ns - start_ns)
    return {k: round(v / total * 100, 1) for k, v in spent.items()}, longest / NS


def detector_only(cfg: config.Config, trades: np.ndarray) -> list[Any]:
    """The detector alone on the trades (no book: the book indicators stay not ready)."""
    d = Detector(cfg.event_detection)
    for ts, px, q, buy in zip(
        trades["ts_ns"].tolist(),
        trades["price"].tolist(),
        trades["qty"].tolist(),
        trades["buy"].tolist(),
        strict=True,
    ):
        d.on_trade(ts, px, q, buy)
    d.flush()
    return d.transitions


def kind(
    secs: np.ndarray, px: np.ndarray, start_s: float, window_from: float, dip_pct: float
) -> str:
    """An episode starting before the crash window: "calm", "dip" or "sell-off" (module docstring)."""
    if start_s >= min(SELLOFF, window_from):
        return "sell-off"
    return "dip" if move_pct(secs, px, start_s) >= dip_pct else "calm"


def run_file(
    base: config.Config, path: Path, drop_pct: float, dip_pct: float, book: bool = True
) -> dict[str, Any]:
    try:
        trades, report, _ = load_trades(path, None)
    except (ImportError_, OSError, ValueError) as e:
        return {"file": path.name, "error": f"not read by flashcrash.marketdata: {e}"}
    if len(trades) == 0:
        return {"file": path.name, "error": "no trades"}
    parts = path.name.split("_", 3)  # <exchange>_trades_<date>_<SYMBOL>.csv.gz
    symbol = (parts[3] if len(parts) == 4 else path.name).split(".")[0]
    tick, step = tick_of(trades), step_of(trades, base.symbol.quantity_step)
    cfg = dataclasses.replace(
        base,
        symbol=dataclasses.replace(base.symbol, name=symbol, quantity_step=step),
        strategy=dataclasses.replace(base.strategy, price_tick=tick),
    )
    secs, px = second_prices(trades)
    crash = onset(secs, px, drop_pct)
    t0 = time.perf_counter()
    gaps: list[tuple[int, int]] = []
    if book:
        result = Replay(cfg, trades).run()
        transitions, gaps = result.transitions, result.data_gaps
    else:
        transitions = detector_only(cfg, trades)
    run_s = time.perf_counter() - t0
    eps = episodes(transitions, int(trades["ts_ns"][-1]))
    day = [t for t in transitions if t.current is not State.SHUTDOWN]
    first_ns, last_ns = int(trades["ts_ns"][0]), int(trades["ts_ns"][-1])
    shares, longest_alert = state_time(day, first_ns, last_ns)
    calm_end = min(last_ns, int(SELLOFF * NS))
    calm_shares, _ = state_time(
        [t for t in day if t.ts_ns < calm_end], first_ns, calm_end
    )
    row: dict[str, Any] = {
        "file": path.name,
        "symbol": symbol,
        "trades": len(trades),
        "dropped": report.dropped,
        "tick": str(tick),
        "quantity_step": str(step),
        "replay_s": round(run_s, 1),
        "active_episodes": [(s / NS, e / NS, why) for s, e, why in eps],
        "data_gaps": [(a / NS, (b - a) / NS) for a, b in gaps],
        "state_share_pct": shares,
        "calm_state_share_pct": calm_shares,  # before the sell-off (SELLOFF)
        "longest_alert_s": longest_alert,
        "crash": crash,
    }
    if crash is not None:
        a, b = crash["onset"] - BEFORE_S, crash["onset"] + AFTER_S
        inside = [(s, e) for s, e, _ in eps if a <= s / NS < b]
        row["first_active_vs_onset_s"] = (
            round(inside[0][0] / NS - crash["onset"], 1) if inside else None
        )
        row["first_active_fall"] = (
            fall_at(secs, px, crash, inside[0][0] / NS) if inside else None
        )
        row["active_in_window"] = len(inside)
        row["active_in_window_s"] = round(sum(e - s for s, e in inside) / NS, 1)
        before: dict[str, list[tuple[float, float, str, float]]] = {
            "calm": [],
            "dip": [],
            "sell-off": [],
        }
        for s, e, why in eps:
            if s / NS < a:
                k = kind(secs, px, s / NS, a, dip_pct)
                before[k].append(
                    (s / NS, e / NS, why, round(move_pct(secs, px, s / NS), 2))
                )
        row["active_before"] = before
        row["active_after"] = [
            (s / NS, e / NS, why) for s, e, why in eps if s / NS >= b
        ]
    return row


def fmt_eps(eps: list[Any], limit: int = 8, why: bool = False) -> str:
    if not eps:
        return "none"
    shown = ", ".join(
        f"{hms(ep[0])} ({ep[1] - ep[0]:.0f} s{'; ' + ep[2] if why else ''})"
        for ep in eps[:limit]
    )
    return shown + (f", ... ({len(eps) - limit} more)" if len(eps) > limit else "")


def overrides(path: Path, sets: list[str]) -> config.Config:
    """The config at `path` with the synthetic-book overlay (the replay's book) and `[event_detection]`
    keys set from KEY=VALUE strings (TOML values), through the loader's schema checks
    (`flashcrash.optimize.overlay.trial_config`)."""
    overlays = [config.synthetic_book_overlay(path)]
    table: dict[str, Any] = {}
    for item in sets:
        key, _, value = item.partition("=")
        try:
            table[key] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            raise SystemExit(
                f"--set {item}: expected KEY=VALUE, the value in TOML"
            ) from None
    try:
        return (
            trial_config(path, overlays, {"event_detection": table})
            if table
            else config.load(path, overlays)
        )
    except config.ConfigError as e:
        raise SystemExit(f"--set: {e}") from None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", type=Path, nargs="?", default=DATA)
    p.add_argument("--config", type=Path, default=REPO / "config" / "config.toml")
    p.add_argument(
        "--drop", type=float, default=2.0, help="onset: %% below the crash leg's high"
    )
    p.add_argument(
        "--dip",
        type=float,
        default=1.0,
        help="a real move: %% range over the 5 min before and 1 min after",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="[event_detection] override",
    )
    p.add_argument(
        "--no-book",
        action="store_true",
        help="the detector alone on the trades, no (synthetic) book",
    )
    p.add_argument("--only", default="", help="only the files whose name contains this")
    p.add_argument(
        "--out",
        type=Path,
        help="results file (default bench/results/<time>-<host>-detection.txt)",
    )
    args = p.parse_args()
    if not args.folder.is_dir():
        print(
            f"{args.folder}: not found (the shared data is not in the repository)",
            file=sys.stderr,
        )
        return 2
    root = logging.getLogger()
    root.handlers[:] = [logging.NullHandler()]
    root.setLevel(logging.WARNING)
    base = overrides(args.config, args.set)
    mode = (
        "detector alone on the trades (no book)"
        if args.no_book
        else "backtest replay, synthetic book"
    )
    lines = [
        f"# detection on the 10 Oct 2025 crash files, {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}",
        (
            f"# data: {args.folder}; config: {args.config} + {config.synthetic_book_overlay(args.config).name}{''.join(' --set ' + x for x in args.set)}; "
            f"{mode}; crash leg: largest 10-min high-to-low fall in 20:30-22:00 UTC reaching within 2 % of its low; "
            f"onset: first second {args.drop:g} % below the leg's high; crash window: onset -5 min to "
            f"+60 min; before the window: calm / dip (a {args.dip:g} % range over [start - 5 min, "
            "start + 1 min]) / sell-off (from 20:50 UTC)"
        ),
        f"# load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
    ]
    for line in lines:
        print(line, flush=True)
    rows = []
    for path in sorted(args.folder.iterdir()):
        if not path.is_file() or args.only not in path.name:
            continue
        row = run_file(base, path, args.drop, args.dip, book=not args.no_book)
        rows.append(row)
        print(json.dumps(row), flush=True)
    table = [
        (
            "| file | trades | tick / step | crash leg: high → low (fall) | onset | first ACTIVE vs onset "
            "| price then: below the high, leg still ahead "
            "| ACTIVE in window (episodes, s) | before the window: calm / dip / sell-off | after | replay |"
        ),
        "|---|---:|---|---|---|---|---|---|---|---:|---:|",
    ]
    notes = []
    details = []
    for r in rows:
        if "error" in r:
            notes.append(f"- `{r['file']}`: {r['error']}")
            continue
        c = r["crash"]
        if c is None:
            table.append(f"| `{r['file']}` | {r['trades']:,} | {r['tick']} / {r['quantity_step']} | no onset found "
                         f"| | | | | {len(r['active_episodes'])} in all | | {r['replay_s']} s |")  # fmt: skip
            continue
        first = r["first_active_vs_onset_s"]
        first_s = "never" if first is None else f"{first:+.0f} s"
        fa = r["first_active_fall"]
        fall_s = (
            ""
            if fa is None
            else f"{fa['below_high_pct']:.1f} %, {fa['leg_ahead_pct']:.0f} % ahead"
        )
        bf = r["active_before"]
        details.append(
            f"- `{r['symbol']}` day: "
            + ", ".join(f"{k} {v:g} %" for k, v in r["state_share_pct"].items())
            + f"; longest ALERT {r['longest_alert_s']:.0f} s; before 20:50 UTC: "
            + ", ".join(f"{k} {v:g} %" for k, v in r["calm_state_share_pct"].items())
        )
        if r["data_gaps"]:
            gaps = ", ".join(f"{hms(a)} ({secs:.0f} s)" for a, secs in r["data_gaps"])
            details.append(
                f"- `{r['symbol']}` recording gaps, replayed as feed outages: {gaps}"
            )
        table.append(
            f"| `{r['file']}` | {r['trades']:,} | {r['tick']} / {r['quantity_step']} "
            f"| {c['high']:g} {hms(c['high_at'])} → {c['trough']:g} {hms(c['trough_at'])} "
            f"(−{c['leg_fall_pct']:g} %) | {hms(c['onset'])} | {first_s} | {fall_s} "
            f"| {r['active_in_window']}, {r['active_in_window_s']:.0f} s "
            f"| {len(bf['calm'])} / {len(bf['dip'])} / {len(bf['sell-off'])} | {len(r['active_after'])} "
            f"| {r['replay_s']} s |"
        )
        for k in ("calm", "dip", "sell-off"):
            if bf[k]:
                eps = [(s, e, f"{why}; range {m:g} %") for s, e, why, m in bf[k]]
                details.append(
                    f"- `{r['symbol']}` {k}: {fmt_eps(eps, limit=40, why=True)}"
                )
    text = "\n".join(lines + ["", *table, "", *details, "", *notes]) + "\n"
    print()
    print("\n".join(table + [""] + details + [""] + notes))
    path = args.out or REPO / "bench" / "results" / (
        f"{datetime.now(UTC):%Y-%m-%dT%H%M%SZ}-{socket.gethostname().split('.')[0]}-detection.txt"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.with_suffix(".json").write_text(json.dumps(rows, indent=1))
    print(f"results written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
