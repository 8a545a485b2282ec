"""`flashcrash import` and `flashcrash download`."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from flashcrash.marketdata.bars import second_bars
from flashcrash.marketdata.cache import load_trades
from flashcrash.marketdata.download import KINDS, DownloadError, daily_url, days, download
from flashcrash.marketdata.report import ImportReport
from flashcrash.marketdata.tables import read_book_depth, read_klines
from flashcrash.marketdata.trades import ImportError_, Market, TradeFormat, TradeReport
from flashcrash.paths import REPO

DEFAULT_CACHE = REPO / "data" / "cache"


def contract_size_line(data: Path, contract_size: float | None) -> str | None:
    """The COIN-M conversion a load of `data` applied, as `flashcrash import` and `backtest` say it (None:
    none applied)."""
    if contract_size is None:
        return None
    return (
        f"{data.name}: COIN-M quantities converted from contracts of {contract_size:g} USD "
        "(--contract-size to change)"
    )


def add_parsers(sub: argparse._SubParsersAction) -> None:
    imp = sub.add_parser(
        "import",
        help="read market data files (Binance aggTrades/trades/klines/bookDepth, Tardis CSV, captures)",
    )
    imp.add_argument("files", type=Path, nargs="+")
    imp.add_argument(
        "--kind",
        choices=["auto", "klines", "bookDepth"],
        default="auto",
        help="trades (auto-detected format) unless klines or bookDepth",
    )
    imp.add_argument(
        "--format", choices=[f.value for f in TradeFormat], help="trade file format (default: detected)"
    )
    imp.add_argument(
        "--market", choices=[m.value for m in Market], help="spot, um or cm (default: detected, else spot)"
    )
    imp.add_argument(
        "--contract-size",
        type=float,
        help="COIN-M contract size in USD (default: by the symbol of the rows or the file name, 100 BTC, "
        "10 others; needed when neither names it)",
    )
    imp.add_argument(
        "--cache-dir", type=Path, default=DEFAULT_CACHE, help="columnar cache (default data/cache)"
    )
    imp.add_argument("--no-cache", action="store_true")
    imp.add_argument(
        "--bars", type=Path, help="also write 1-second OHLCV bars of the trades to this CSV (one input file)"
    )
    imp.add_argument("--show-dropped", type=int, default=10, help="dropped rows listed per file")
    imp.set_defaults(func=cmd_import)

    dl = sub.add_parser("download", help="fetch daily files from Binance's public data site (needs internet)")
    dl.add_argument("--symbol", required=True)
    dl.add_argument("--market", choices=[m.value for m in Market], default="spot")
    dl.add_argument("--kind", choices=KINDS, default="aggTrades")
    dl.add_argument("--from", dest="first", type=date.fromisoformat, required=True, help="YYYY-MM-DD")
    dl.add_argument("--to", dest="last", type=date.fromisoformat, help="YYYY-MM-DD (default: --from)")
    dl.add_argument("--interval", default="1m", help="klines interval")
    dl.add_argument("--out", type=Path, default=REPO / "data" / "raw")
    dl.set_defaults(func=cmd_download)


def _show(console: Console, report: ImportReport, limit: int) -> None:
    console.print(report.summary())
    for issue in report.issues[:limit]:
        console.print(f"  line {issue.line}: {issue.reason}", style="yellow", markup=False)
    if report.dropped > limit:
        console.print(f"  ... {report.dropped - limit} more dropped rows", style="yellow")


# Output that is not a terminal (a pipe, a file, a test's capture) is this wide, so that the table's
# file names and times are never cut to an 80-column default ("binance-d…"); a row is as wide as
# its content, not this.
CAPTURED_WIDTH = 1000


def _console() -> Console:
    console = Console()
    return console if console.is_terminal else Console(width=CAPTURED_WIDTH)


def _market(report: ImportReport, given: str | None) -> str:
    """The market a trade file was read as (detected, or `given` by `--market`), with a COIN-M
    contract size. Detection tells COIN-M only: a file read as spot may as well be USD-M (both in
    the base asset, read alike), and says so."""
    market = getattr(report, "market", None)
    if market is None:
        return "-"
    size = getattr(report, "contract_size", None)
    if size is not None:
        return f"{market.value} ({size:g} USD contracts)"
    return "spot or um" if market is Market.SPOT and given is None else str(market.value)


def cmd_import(args: argparse.Namespace) -> int:
    console = _console()
    missing = [f for f in args.files if not f.is_file()]
    if missing:
        print(f"import: no such file: {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    if args.bars is not None and (len(args.files) > 1 or args.kind != "auto"):
        print("import: --bars writes the bars of one trade file: give one file, no --kind", file=sys.stderr)
        return 2
    status = 0
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), console=console, transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task("importing", total=len(args.files))
        results = []
        for path in args.files:
            progress.update(task, description=f"importing {path.name}")
            try:
                results.append((path, *_import_one(path, args)))
            except (ImportError_, OSError, UnicodeDecodeError) as e:
                results.append((path, None, str(e), False, None))
                status = 1
            progress.advance(task)
    table = Table(title="imported")
    for col in ("file", "symbol", "market", "rows", "kept", "dropped", "first", "last", "from cache"):
        table.add_column(col, overflow="fold")
    for path, report, span, cached, _ in results:
        if report is None:
            table.add_row(path.name, "-", "-", "-", "-", "-", "not imported (below)", "", "")
            continue
        first, last = span
        table.add_row(
            path.name,
            report.symbol or "-",
            _market(report, args.market),
            str(report.rows),
            str(report.kept),
            str(report.dropped),
            first,
            last,
            str(cached),
        )
    console.print(table)
    for path, report, span, _, wrote in results:
        if report is None:
            console.print(f"{path.name}: not imported: {span}", style="bold red", markup=False)
        if isinstance(report, TradeReport) and (converted := contract_size_line(path, report.contract_size)):
            console.print(converted)
        if report is not None and report.dropped:
            _show(console, report, args.show_dropped)
        if report is not None and report.kept == 0:
            console.print(f"{report.source}: no row kept, nothing to use", style="bold red", markup=False)
            status = 1
        if wrote is not None:
            console.print(wrote, markup=False, highlight=False)
    return status


def _iso(ns: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat(timespec="seconds")


def _import_one(
    path: Path, args: argparse.Namespace
) -> tuple[ImportReport, tuple[str, str], bool, str | None]:
    """The file's report, its first and last times, whether it came from the cache, and what
    `--bars` wrote (None: nothing)."""
    wrote = None
    if args.kind == "klines":
        arr, report = read_klines(path)
        key, cached = "open_ns", False
    elif args.kind == "bookDepth":
        arr, report = read_book_depth(path)
        key, cached = "ts_ns", False
    else:
        fmt = TradeFormat(args.format) if args.format else None
        market = Market(args.market) if args.market else None
        cache = None if args.no_cache else args.cache_dir
        arr, report, cached = load_trades(path, cache, fmt, market, args.contract_size)
        key = "ts_ns"
        if args.bars is not None:
            bars = second_bars(arr)
            _write_bars(args.bars, bars)
            rows = f"{len(bars)} row{'' if len(bars) == 1 else 's'}"
            wrote = f"--bars: {rows} of 1-second bars of {path.name} written to {args.bars}"
    span = (_iso(int(arr[key][0])), _iso(int(arr[key][-1]))) if len(arr) else ("", "")
    return report, span, cached, wrote


def _write_bars(out: Path, bars) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w") as f:
        f.write(",".join(bars.dtype.names) + "\n")
        for b in bars:
            f.write(",".join(str(x) for x in b.tolist()) + "\n")


def cmd_download(args: argparse.Namespace) -> int:
    market = Market(args.market)
    last = args.last or args.first
    try:
        urls = [daily_url(market, args.kind, args.symbol, d, args.interval) for d in days(args.first, last)]
    except ValueError as e:
        print(f"download: {e}", file=sys.stderr)
        return 2
    failed = 0
    for url in urls:
        try:
            path = download(url, args.out)
            print(f"ok {path}")
        except DownloadError as e:
            failed += 1
            print(f"failed {e}", file=sys.stderr)
    return 1 if failed else 0
