"""`flashcrash backtest --data FILE [--from --to] [--config] [--out DIR]`: a replay of a trade file
with a progress bar, its figures printed, and its files written."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from flashcrash import config as config_mod
from flashcrash.backtest.plots import write_all
from flashcrash.backtest.replay import Replay
from flashcrash.backtest.results import BacktestResult, shown
from flashcrash.marketdata import load_trades
from flashcrash.marketdata.depth import capture_books, is_capture
from flashcrash.marketdata.trades import ImportError_
from flashcrash.paths import REPO

DEFAULT_CACHE = REPO / "data" / "cache"


class UsageError(Exception):
    """A bad flag value; the message is one line naming it."""


def check_log_level(command: str, level: str) -> None:
    """`UsageError` unless `level` (`--log-level`) names a logging level."""
    if not isinstance(logging.getLevelName(str(level).upper()), int):
        raise UsageError(f"{command} error: --log-level {level!r}: expected debug, info, warning or error")


def out_folder(command: str, given: Path | None, default: Path) -> Path:
    """The output folder, `--out` (`given`) or else `default`, made if missing; `UsageError` naming
    it when it is a file or cannot be made."""
    out = given or default
    name = f"--out {out}" if given else f"output folder {out}"
    if out.exists() and not out.is_dir():
        raise UsageError(f"{command} error: {name}: is a file, expected a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"{command} error: {name}: cannot make it: {e.strerror or e}") from None
    return out


def parse_utc(text: str) -> int:
    """An ISO time (`2025-10-10T21:05:00Z`; no zone = UTC) in epoch nanoseconds."""
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return int(t.timestamp() * 1_000_000) * 1000


def window(trades: np.ndarray, start_ns: int | None, end_ns: int | None) -> np.ndarray:
    """The trades in `[start_ns, end_ns)`."""
    ts = trades["ts_ns"]
    lo = 0 if start_ns is None else int(np.searchsorted(ts, start_ns, side="left"))
    hi = len(ts) if end_ns is None else int(np.searchsorted(ts, end_ns, side="left"))
    return trades[lo:hi]


def run_with_progress(
    cfg: config_mod.Config, trades: np.ndarray, console: Console, books: list | None = None
) -> BacktestResult:
    columns = (
        TextColumn("[bold]backtest"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("trades"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("replay", total=len(trades))
        return Replay(cfg, trades, books).run(
            lambda done, total: bar.update(task, completed=done, total=total)
        )


def summary_table(result: BacktestResult) -> Table:
    m = result.metrics()
    win_rate = m["win_rate"]
    t = Table(title=f"{m['symbol']} backtest {m['start_utc']} → {m['end_utc']}", show_header=False)
    rows = [
        ("initial capital", m["initial_capital"]),
        ("final equity", m["final_equity"]),
        ("return %", m["return_pct"]),
        ("net P&L", m["net_pnl"]),
        ("fees", m["fees"]),
        ("trades (wins)", f"{m['trades']} ({m['wins']})"),
        ("win rate", None if win_rate is None else f"{win_rate:.1%}"),
        ("average win / loss", f"{shown(m['avg_win'])} / {shown(m['avg_loss'])}"),
        ("max drawdown", f"{m['max_drawdown']:.4f} ({m['max_drawdown_pct']} %)"),
        ("Sharpe per trade", m["sharpe_per_trade"]),
        ("hold secs mean / median / max", " / ".join(shown(v) for v in m["hold_secs"].values())),
        ("detector states", ", ".join(f"{k} {v:.1%}" for k, v in m["state_share"].items())),
        ("entries taken", m["entries_taken"]),
        ("entry rejections", ", ".join(f"{k} {v}" for k, v in m["entry_rejections"].items())),
        ("events", f"{m['events']['trades']} trades, {m['events']['books']} books"),
        ("run time", f"{m['run_secs']} s"),
    ]
    if m["orders"].get("errors"):
        rows.insert(-2, ("orders refused by the venue", m["orders"]["errors"]))
    if m["data_gaps"]:
        gaps = ", ".join(f"{g['from_utc']} ({g['secs']:.0f} s)" for g in m["data_gaps"])
        rows.insert(-2, ("recording gaps (feed outages)", gaps))
    for k, v in rows:
        t.add_row(k, shown(v))
    return t


def cmd_backtest(args: argparse.Namespace) -> int:
    console = Console()
    try:
        check_log_level("backtest", args.log_level)
        cfg = config_mod.load(args.config, args.overlay)
        out = out_folder(
            "backtest", args.out, cfg.report_dir / f"backtest_{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
        )
    except (UsageError, config_mod.ConfigError) as e:
        print(e, file=sys.stderr)
        return 2
    # The strategy logs every decision; a backtest keeps its warnings in a file, not on the screen.
    handler = logging.FileHandler(out / "backtest.log")
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(args.log_level.upper())
    try:
        trades, report, cached = load_trades(args.data, None if args.no_cache else args.cache_dir)
    except (OSError, ImportError_, UnicodeError) as e:
        print(f"data error: {e}", file=sys.stderr)
        return 2
    try:
        start = parse_utc(args.start) if args.start else None
        end = parse_utc(args.end) if args.end else None
    except ValueError as e:
        print(f"bad time: {e}", file=sys.stderr)
        return 2
    trades = window(trades, start, end)
    if len(trades) == 0:
        print("no trades in the window", file=sys.stderr)
        return 2
    console.print(
        f"{args.data.name}: {len(trades)} trades{' (cache)' if cached else ''}, "
        f"{report.dropped} bad rows dropped"
    )
    warn_other_symbol(console, args.data, report.symbol, cfg)
    books = None
    recorded = args.book != "synthetic" and is_capture(args.data)
    if args.book == "recorded" and not recorded:
        print(f"--book recorded: {args.data} holds no recorded depth (only captures do)", file=sys.stderr)
        return 2
    if recorded:
        try:
            # The book of the trades' symbol, in their units (a COIN-M capture's contracts converted
            # with the contract size its trades were).
            books, depth = capture_books(
                args.data,
                symbol=report.symbol,
                levels=int(cfg.raw["feed"]["publish_levels"]),
                market=report.market,
                contract_size=report.contract_size,
            )
        except (OSError, ImportError_, UnicodeError) as e:
            print(f"data error: {e}", file=sys.stderr)
            return 2
        books = [
            b
            for b in books
            if (start is None or b.exchange_ts_ns >= start) and (end is None or b.exchange_ts_ns < end)
        ]
        console.print(f"recorded book: {depth.summary()}; {len(books)} books in the window")
    result = run_with_progress(cfg, trades, console, books)
    files = write_all(result, out)
    console.print(summary_table(result))
    for name, path in files.items():
        console.print(f"{name}: {path}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    bt = sub.add_parser("backtest", help="replay a trade file through the strategy against a simulated venue")
    bt.add_argument(
        "--data", type=Path, required=True, help="trade file (any format `flashcrash import` reads)"
    )
    bt.add_argument("--from", dest="start", help="first event time, ISO UTC (e.g. 2025-10-10T21:05:00Z)")
    bt.add_argument("--to", dest="end", help="end event time (excluded), ISO UTC")
    bt.add_argument("--config", type=Path, default=REPO / "config" / "config.toml")
    bt.add_argument(
        "--overlay",
        type=Path,
        action="append",
        help="TOML overlay applied after local.toml, e.g. config/best_params.toml (repeatable)",
    )
    bt.add_argument("--out", type=Path, help="output folder (default: <report_dir>/backtest_<time>)")
    bt.add_argument(
        "--cache-dir", type=Path, default=DEFAULT_CACHE, help="columnar cache (default data/cache)"
    )
    bt.add_argument("--no-cache", action="store_true")
    bt.add_argument(
        "--book",
        choices=("auto", "recorded", "synthetic"),
        default="auto",
        help="the book the strategy and the simulated venue see: the depth recorded in a capture "
        "(auto: when the file is one) or the synthetic model of docs/EXCHANGE_SIM.md",
    )
    bt.add_argument("--log-level", default="warning", help="level of <out>/backtest.log")
    bt.set_defaults(func=cmd_backtest)


def warn_other_symbol(console: Console, data: Path, symbol: str | None, cfg: config_mod.Config) -> None:
    """A yellow line when the file's trades are of another symbol than `[symbol] name`."""
    if symbol and symbol != cfg.symbol.name:
        console.print(
            f"warning: {data.name} holds {symbol} trades but [symbol] name is "
            f"{cfg.symbol.name}: the price tick, quantity step and order size are {cfg.symbol.name}'s. "
            f"Set [symbol] name, order_quantity and quantity_step and [strategy] price_tick "
            f"for {symbol} in an --overlay.",
            style="yellow",
            markup=False,
            highlight=False,
        )
