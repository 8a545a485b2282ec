"""A compact cache of imported trades: one `.npz` per source file and import options, keyed by the
file's path, size and modification time, so a second load skips the parsing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from flashcrash.marketdata.report import ImportReport, RowIssue
from flashcrash.marketdata.trades import TRADE_DTYPE, Market, TradeFormat, read_trades

# Bump when the parsing rules change, so old caches are not reused.
CACHE_VERSION = 3


def cache_path(cache_dir: Path, source: Path, options: dict[str, str | float | None]) -> Path:
    st = source.stat()
    key = json.dumps(
        [CACHE_VERSION, str(source.resolve()), st.st_size, st.st_mtime_ns, options], sort_keys=True
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_dir / f"{source.name}.{digest}.npz"


def load_trades(
    source: Path,
    cache_dir: Path | None,
    fmt: TradeFormat | None = None,
    market: Market | None = None,
    contract_size: float | None = None,
) -> tuple[np.ndarray, ImportReport, bool]:
    """The trades of `source`, from the cache when it holds them (third value True), else parsed
    and cached. The report of a cached load is the one written when it was parsed."""
    options = {"fmt": fmt, "market": market, "contract_size": contract_size}
    cached = cache_path(cache_dir, source, options) if cache_dir is not None else None
    if cached is not None and cached.exists():
        with np.load(cached, allow_pickle=False) as z:
            trades = z["trades"]
            meta = json.loads(str(z["report"]))
        # A cache from before the symbol or the dropped rows' lines were kept lacks them: re-read.
        if trades.dtype == TRADE_DTYPE and "symbol" in meta and "issues" in meta:
            report = ImportReport(meta["source"], meta["rows"], meta["kept"], symbol=meta["symbol"])
            report.by_reason.update(meta["by_reason"])
            report.issues = [RowIssue(line, reason) for line, reason in meta["issues"]]
            return trades, report, True
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
        }
        tmp = cached.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, trades=trades, report=np.array(json.dumps(meta)))
        tmp.replace(cached)
    return trades, report, False
