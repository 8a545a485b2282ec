"""`flashcrash backtest --data FILE [--from --to] [--warm-up] [--config] [--overlay F]
[--no-synthetic-overlay] [--out DIR]`: a replay of a trade file with a progress bar, what produced it
(file, config, overlays: on a synthetic book `config/synthetic_book.toml` first) and its figures
printed, and its files written. Flags are checked before the file is read, and a refused run leaves
no output folder."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from flashcrash import config as config_mod
from flashcrash.backtest.plots import write_all
from flashcrash.backtest.replay import Replay
from flashcrash.backtest.results import BacktestResult, shown, utc
from flashcrash.marketdata import load_trades
from flashcrash.marketdata.cache import file_sha256
from flashcrash.marketdata.commands import contract_size_line
from flashcrash.marketdata.depth import capture_books, is_capture
from flashcrash.marketdata.trades import ImportError_, TradeReport
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


def run_with_progress(replay: Replay, console: Console) -> BacktestResult:
    columns = (
        TextColumn("[bold]backtest"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("trades"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("replay", total=len(replay.trades))
        return replay.run(lambda done, total: bar.update(task, completed=done, total=total))


def summary_table(result: BacktestResult) -> Table:
    m = result.metrics()
    win_rate = m["win_rate"]
    # The data's symbol; the config's too when it is another (its tick, step and order size were used).
    label = (
        m["symbol"] if m["config_symbol"] == m["symbol"] else f"{m['symbol']} (config {m['config_symbol']})"
    )
    t = Table(title=f"{label} backtest {m['start_utc']} → {m['end_utc']}", show_header=False)
    rows = [
        ("initial capital", m["initial_capital"]),
        ("final equity", m["final_equity"]),
        ("return %", m["return_pct"]),
        ("net P&L", m["net_pnl"]),
        ("fees", m["fees"]),
        ("trades (wins)", f"{m['trades']} ({m['wins']})"),
        ("win rate", None if win_rate is None else f"{win_rate:.1%}"),
        ("average win / loss", f"{shown(m['avg_win'])} / {shown(m['avg_loss'])}"),
        # Deeper than states.csv's worst row, which marks the equity once a second.
        ("max drawdown (tick by tick)", f"{m['max_drawdown']:.4f} ({m['max_drawdown_pct']} %)"),
        ("Sharpe per trade", m["sharpe_per_trade"]),
        ("hold secs mean / median / max", " / ".join(shown(v) for v in m["hold_secs"].values())),
        ("detector states", ", ".join(f"{k} {v:.1%}" for k, v in m["state_share"].items())),
        ("entries taken", m["entries_taken"]),
        ("entry rejections", ", ".join(f"{k} {v}" for k, v in m["entry_rejections"].items())),
        ("events", f"{m['events']['trades']} trades, {m['events']['books']} books"),
        ("run time", f"{m['run_secs']} s"),
    ]
    if result.trade_from_ns is not None:
        rows.insert(0, ("trading from (after the warm-up)", utc(result.trade_from_ns)))
    if m["orders"].get("errors"):
        rows.insert(-2, ("orders refused by the venue", m["orders"]["errors"]))
    if m["data_gaps"]:
        gaps = ", ".join(f"{g['from_utc']} ({g['secs']:.0f} s)" for g in m["data_gaps"])
        rows.insert(-2, ("recording gaps (feed outages)", gaps))
    for k, v in rows:
        t.add_row(k, shown(v))
    return t


WINDOW_EXAMPLE = "2025-10-10T21:00:00Z"


def time_flag(flag: str, text: str | None) -> int | None:
    """`--from`/`--to` in epoch nanoseconds (None when not given); `UsageError` naming the flag,
    with an example, when it is no ISO time."""
    if not text:
        return None
    try:
        return parse_utc(text)
    except (ValueError, OverflowError):
        raise UsageError(
            f"backtest error: {flag} {text!r}: not an ISO UTC time; expected e.g. {WINDOW_EXAMPLE} "
            "(no zone = UTC)"
        ) from None


def check_flags(args: argparse.Namespace) -> tuple[int | None, int | None]:
    """The flags that need no file, checked before any is read: the log level, the contract size and
    the window (`--from` before `--to`). Returns the window in epoch nanoseconds."""
    check_log_level("backtest", args.log_level)
    if args.contract_size is not None and not args.contract_size > 0:
        raise UsageError(
            f"backtest error: --contract-size {args.contract_size:g}: expected a positive number"
        )
    start, end = time_flag("--from", args.start), time_flag("--to", args.end)
    if start is not None and end is not None and start >= end:
        how = "after" if start > end else "the same time as"
        raise UsageError(
            f"backtest error: --from {args.start} is {how} --to {args.end}: the window is reversed "
            "(--from is its first event time, --to its end, excluded)"
        )
    return start, end


def check_out(given: Path | None, default: Path) -> Path:
    """The output folder, `--out` or else `default`, not made yet (`out_folder` makes it once the run
    is sure to start: a refused run leaves none); `UsageError` when it is a file."""
    out = given or default
    if out.exists() and not out.is_dir():
        name = f"--out {out}" if given else f"output folder {out}"
        raise UsageError(f"backtest error: {name}: is a file, expected a folder")
    return out


def trades_span(trades: np.ndarray) -> str | None:
    """The times of the first and last trade, `A to B` (None when there is none)."""
    if len(trades) == 0:
        return None
    ts = trades["ts_ns"]
    return f"{utc(int(ts[0]))} to {utc(int(ts[-1]))}"


def no_trades_error(data: Path, trades: np.ndarray, start: int | None, end: int | None) -> str:
    """Why the window holds no trade: the file's span, to choose another."""
    span = trades_span(trades)
    if span is None:
        return f"backtest error: {data.name} holds no trade"
    shown_window = f"{'start' if start is None else utc(start)} to {'end' if end is None else utc(end)}"
    return f"backtest error: no trades of {data.name} in the window {shown_window}: the file's trades span {span}"


def inputs_record(
    args: argparse.Namespace,
    report: TradeReport,
    window_ns: tuple[int | None, int | None],
    overlays: list[Path],
    book: str,
    warm_up: dict[str, object] | None,
) -> dict[str, object]:
    """What produced a run, for `summary.json`: the data file (its path, SHA-256, size and mtime, the
    symbol and COIN-M contract size its load found), the window, the config (and the `local.toml`
    beside it, when there is one), the overlays in the order applied, the book and the warm-up."""
    data, config = Path(args.data), Path(args.config)
    stat = data.stat()
    local = config.parent / "local.toml"
    start, end = window_ns
    return {
        "data": str(data.resolve()),
        "data_sha256": file_sha256(data),
        "data_bytes": stat.st_size,
        "data_mtime_utc": utc(stat.st_mtime_ns),
        "data_symbol": report.symbol,
        "contract_size": report.contract_size,
        "from_utc": None if start is None else utc(start),
        "to_utc": None if end is None else utc(end),
        "config": str(config.resolve()),
        "local_config": str(local.resolve()) if local.exists() else None,
        "overlays": [str(Path(p).resolve()) for p in overlays],
        "book": book,
        "warm_up": warm_up,
    }


def replay_overlays(args: argparse.Namespace, synthetic: bool) -> list[Path]:
    """The overlays a replay layers over the config and its `local.toml`, in order: with a synthetic
    book, the values calibrated for it (`config.synthetic_book_overlay`, unless
    `--no-synthetic-overlay`), then each `--overlay`."""
    first = [config_mod.synthetic_book_overlay(args.config)] if synthetic and args.synthetic_overlay else []
    return [*first, *(Path(p) for p in args.overlay or [])]


def config_line(config: Path, overlays: list[Path]) -> str:
    """The configuration a run loads, for its header: the config file, its `local.toml`, the overlays
    in the order applied (each layered over the one before)."""
    local = " + local.toml" if (config.parent / "local.toml").exists() else ""
    applied = f"overlays applied, in order: {', '.join(map(str, overlays))}" if overlays else "no overlay"
    return f"config: {config}{local}; {applied}"


class EventTimeFilter(logging.Filter):
    """Stamps each record of backtest.log with the replay's event time (`%(event_time)s`, UTC ISO to
    the millisecond, as trades.csv's times), so a warning lines up with the chart and the trades;
    `-` outside the replay."""

    def __init__(self) -> None:
        super().__init__()
        self.clock: Callable[[], int] | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        record.event_time = "-" if self.clock is None else utc(self.clock())
        return True


LOG_FORMAT = "%(event_time)s %(levelname)s %(name)s: %(message)s"


class _Held(logging.Handler):
    """Log records kept until the output folder exists (it is made only once the run starts)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def cmd_backtest(args: argparse.Namespace) -> int:
    console = Console()
    try:
        start, end = check_flags(args)
    except UsageError as e:
        print(e, file=sys.stderr)
        return 2
    try:
        recorded = args.book != "synthetic" and is_capture(args.data)
    except (OSError, UnicodeError) as e:
        print(f"data error: {e}", file=sys.stderr)
        return 2
    if args.book == "recorded" and not recorded:
        print(f"--book recorded: {args.data} holds no recorded depth (only captures do)", file=sys.stderr)
        return 2
    overlays = replay_overlays(args, synthetic=not recorded)
    try:
        cfg = config_mod.load(args.config, overlays)
        default = cfg.report_dir / f"backtest_{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
        check_out(args.out, default)
    except (UsageError, config_mod.ConfigError) as e:
        print(e, file=sys.stderr)
        return 2
    # The strategy logs every decision; a backtest keeps its warnings in a file, not on the screen.
    # Until the run starts (and its folder is made) they are held.
    root = logging.getLogger()
    before, held = root.handlers[:], _Held()
    root.handlers[:] = [held]
    root.setLevel(args.log_level.upper())

    def refused(message: str) -> int:
        root.handlers[:] = before
        print(message, file=sys.stderr)
        return 2

    cache = None if args.no_cache else args.cache_dir
    try:
        trades, report, cached = load_trades(args.data, cache, contract_size=args.contract_size)
    except (OSError, ImportError_, UnicodeError) as e:
        return refused(f"data error: {e}")
    inside = window(trades, start, end)
    if len(inside) == 0:
        return refused(no_trades_error(args.data, trades, start, end))
    warm_up: dict[str, object] | None = None
    trade_from: int | None = None
    run_trades = inside
    if args.warm_up:
        # Exactly what `flashcrash optimize` replays for its test window (imported here: walkforward
        # imports this module).
        from flashcrash.optimize.walkforward import Window, warm_cut

        run_trades, trade_from = warm_cut(Window(start, end), trades, cfg)
        ed = cfg.event_detection
        warm_up = {
            "secs": ed.baseline_secs + ed.warmup_secs,
            "from_utc": utc(int(run_trades["ts_ns"][0])),
            "trading_from_utc": utc(trade_from),
            "trades": len(run_trades) - len(inside),
        }
    books = None
    depth = None
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
            return refused(f"data error: {e}")
        book_from = int(run_trades["ts_ns"][0]) if args.warm_up else start
        books = [
            b
            for b in books
            if (book_from is None or b.exchange_ts_ns >= book_from)
            and (end is None or b.exchange_ts_ns < end)
        ]
    try:
        out = out_folder("backtest", args.out, default)
    except UsageError as e:
        return refused(str(e))
    handler = logging.FileHandler(out / "backtest.log")
    stamp = EventTimeFilter()
    handler.addFilter(stamp)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root.handlers[:] = [handler]
    for record in held.records:
        handler.handle(record)
    console.print(
        f"{args.data.name}: {len(inside)} trades{' (cache)' if cached else ''}, "
        f"{report.dropped} bad rows dropped"
    )
    converted = contract_size_line(args.data, report.contract_size)
    if converted:
        console.print(converted, markup=False, highlight=False)
    console.print(config_line(Path(args.config), overlays), markup=False, highlight=False)
    warn_other_symbol(console, args.data, report.symbol, cfg)
    if warm_up is not None and trade_from is not None:
        secs = float(warm_up["secs"])  # type: ignore[arg-type]
        short = int(trades["ts_ns"][0]) > trade_from - int(secs * 1e9)  # the file starts inside it
        console.print(
            f"warm-up: {warm_up['trades']} trades from {warm_up['from_utc']} (baseline_secs + warmup_secs "
            f"= {secs:g} s before the window{'; the file starts later' if short else ''}), entries paused "
            f"until {warm_up['trading_from_utc']}"
            if warm_up["trades"]
            else "warm-up: none: the file has no trade before the window",
            markup=False,
            highlight=False,
        )
    if depth is not None and books is not None:
        console.print(f"recorded book: {depth.summary()}; {len(books)} books in the window")
    replay = Replay(cfg, run_trades, books, trade_from_ns=trade_from)
    stamp.clock = lambda: replay.now
    try:
        result = run_with_progress(replay, console)
    finally:
        stamp.clock = None
    result.symbol = report.symbol or cfg.symbol.name
    result.inputs = inputs_record(
        args, report, (start, end), overlays, "recorded" if recorded else "synthetic", warm_up
    )
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
    bt.add_argument(
        "--warm-up",
        action="store_true",
        help="replay the [event_detection] baseline_secs + warmup_secs before --from first, entries "
        "paused, so the window starts with its detector warm (what `flashcrash optimize` does for its "
        "test window; off: the window starts cold)",
    )
    bt.add_argument("--config", type=Path, default=REPO / "config" / "config.toml")
    bt.add_argument(
        "--overlay",
        type=Path,
        action="append",
        help="TOML overlay applied after local.toml, e.g. config/best_params.toml (repeatable)",
    )
    config_mod.add_synthetic_overlay_flag(bt)
    bt.add_argument("--out", type=Path, help="output folder (default: <report_dir>/backtest_<time>)")
    bt.add_argument(
        "--cache-dir", type=Path, default=DEFAULT_CACHE, help="columnar cache (default data/cache)"
    )
    bt.add_argument("--no-cache", action="store_true")
    bt.add_argument(
        "--contract-size",
        type=float,
        help="COIN-M contract size in USD (default: by the symbol of the rows or the file name, 100 BTC, "
        "10 others), as `flashcrash import --contract-size`",
    )
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
