"""What a symbol's name says: its base and quote assets (the backtest's account, the currency of
the reports' prices and money)."""

from __future__ import annotations

QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "USD", "BTC", "ETH")


def assets(symbol: str) -> tuple[str, str]:
    """The base and quote assets of `symbol` (`POLUSDT` -> POL, USDT; a futures suffix such as
    `_PERP` is dropped; USD when no known quote asset ends the name)."""
    name = symbol.split("_", 1)[0]
    for q in QUOTES:
        if name.endswith(q) and len(name) > len(q):
            return name.removesuffix(q), q
    return name, "USD"


def quote_currency(symbol: str) -> str:
    """The currency `symbol`'s prices and money are in (`POLUSDT` -> USDT, `BCHUSD_PERP` -> USD)."""
    return assets(symbol)[1]
