"""A compact cache of imported trades: one `.npz` per source file and import options, keyed by the
file's path and a SHA-256 of its content (milliseconds against the seconds of parsing), so a second
load skips the parsing and an edited file is never served from an old cache. A cache file that does
not load (cut short, damaged) is ignored and written again."""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
import zlib
from pathlib import Path

import numpy as np

from flashcrash.marketdata.report import RowIssue
from flashcrash.marketdata.trades import TRADE_DTYPE, Market, TradeFormat, TradeReport, read_trades

log = logging.getLogger(__name__)

# The parsing rules are the code of `trades.py` and `report.py` (and this file's layout): a cache
# written by any other version of them is never reused, so no change of the rules can leave a
# cache serving what they no longer read (a number to bump by hand once was forgotten).
PARSER_DIGEST = hashlib.sha256(
    b"".join(Path(__file__).with_name(name).read_bytes() for name in ("trades.py", "report.py", "cache.py"))
).hexdigest()


def file_sha256(path: Path) -> str:
    """The SHA-256 of the file's bytes: what a cache is keyed by, and what a backtest records of its
    data."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def cache_path(cache_dir: Path, source: Path, options: dict[str, str | float | None]) -> Path:
    content = file_sha256(source)
    key = json.dumps([PARSER_DIGEST, str(source.resolve()), content, options], sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_dir / f"{source.name}.{digest}.npz"


def _cached(path: Path) -> tuple[np.ndarray, TradeReport] | None:
    """What `path` holds, or None when it cannot be read or is of an older layout."""
    try:
        with np.load(path, allow_pickle=False) as z:
            trades = z["trades"]
            meta = json.loads(str(z["report"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        log.warning("cache %s unreadable (%s): reading the source again", path, e)
        return None
    # A cache from before the symbol, the dropped rows' lines or the market and contract size were
    # kept lacks them: re-read (a backtest reads its capture's book with the trades' contract size).
    if trades.dtype != TRADE_DTYPE or not {"symbol", "issues", "market", "contract_size"} <= meta.keys():
        return None
    report = TradeReport(meta["source"], meta["rows"], meta["kept"], symbol=meta["symbol"])
    report.market = Market(meta["market"]) if meta["market"] else None
    report.contract_size = meta["contract_size"]
    report.by_reason.update(meta["by_reason"])
    report.issues = [RowIssue(line, reason) for line, reason in meta["issues"]]
    return trades, report


def load_trades(
    source: Path,
    cache_dir: Path | None,
    fmt: TradeFormat | None = None,
    market: Market | None = None,
    contract_size: float | None = None,
) -> tuple[np.ndarray, TradeReport, bool]:
    """The trades of `source`, from the cache when it holds them (third value True), else parsed
    and cached. The report of a cached load is the one written when it was parsed."""
    options = {"fmt": fmt, "market": market, "contract_size": contract_size}
    cached = cache_path(cache_dir, source, options) if cache_dir is not None else None
    if cached is not None and cached.exists():
        hit = _cached(cached)
        if hit is not None:
            return *hit, True
    trades, report = read_trades(source, fmt, market, contract_size)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "source": report.source,
            "rows": report.rows,
            "kept": report.kept,
            "by_reason": report.by_reason,
            "symbol": report.symbol,
            "issues": [[i.line, i.reason] for i in report.issues],
            "market": report.market,
            "contract_size": report.contract_size,
        }
        tmp = cached.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, trades=trades, report=np.array(json.dumps(meta)))
        tmp.replace(cached)
    return trades, report, False
