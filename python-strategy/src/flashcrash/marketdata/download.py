"""The download path from Binance's public data site (https://data.binance.vision): one daily zip
per symbol, kind and date, checked against its published `.CHECKSUM` (SHA-256) before it is kept.
For machines with internet; tests use the bundled real files and check the URLs and checksums."""

from __future__ import annotations

import hashlib
import urllib.request
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

from flashcrash.marketdata.trades import Market

BASE_URL = "https://data.binance.vision/data"
KINDS = ("aggTrades", "trades", "klines", "bookDepth")


class DownloadError(RuntimeError):
    """A file that could not be fetched or whose checksum does not match."""


def daily_url(market: Market, kind: str, symbol: str, day: date, interval: str = "1m") -> str:
    """The URL of one daily file, e.g. `.../spot/daily/aggTrades/POLUSDT/POLUSDT-aggTrades-2025-10-10.zip`."""
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r}: one of {', '.join(KINDS)}")
    if kind == "bookDepth" and market is Market.SPOT:
        raise ValueError("bookDepth exists for futures only (market um or cm)")
    prefix = "spot" if market is Market.SPOT else f"futures/{market.value}"
    sym = symbol.upper()
    if kind == "klines":
        return f"{BASE_URL}/{prefix}/daily/klines/{sym}/{interval}/{sym}-{interval}-{day.isoformat()}.zip"
    return f"{BASE_URL}/{prefix}/daily/{kind}/{sym}/{sym}-{kind}-{day.isoformat()}.zip"


def days(first: date, last: date) -> Iterator[date]:
    if last < first:
        raise ValueError(f"date range ends ({last}) before it starts ({first})")
    d = first
    while d <= last:
        yield d
        d += timedelta(days=1)


def expected_sha256(checksum_text: str, name: str) -> str:
    """The digest of `name` in a `.CHECKSUM` file (`<sha256>  <file name>`)."""
    for line in checksum_text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("*") == name and len(parts[0]) == 64:
            return parts[0].lower()
    raise DownloadError(f"no checksum for {name} in {checksum_text[:200]!r}")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fetch(url: str, timeout: float) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def download(
    url: str,
    out_dir: Path,
    fetch: Callable[[str, float], bytes] = _fetch,
    timeout: float = 60.0,
) -> Path:
    """Fetches `url` and its `.CHECKSUM` into `out_dir`; keeps the file only when the digest
    matches. An existing file with the right digest is not fetched again."""
    name = url.rsplit("/", 1)[1]
    target = out_dir / name
    try:
        want = expected_sha256(fetch(url + ".CHECKSUM", timeout).decode(), name)
    except OSError as e:
        raise DownloadError(f"{url}.CHECKSUM: {e}") from e
    if target.exists() and sha256_of(target) == want:
        return target
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    try:
        tmp.write_bytes(fetch(url, timeout))
    except OSError as e:
        raise DownloadError(f"{url}: {e}") from e
    got = sha256_of(tmp)
    if got != want:
        tmp.unlink()
        raise DownloadError(f"{url}: SHA-256 {got} does not match the published {want}")
    tmp.replace(target)
    return target
