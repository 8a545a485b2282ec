"""Market data files for backtests: Binance public data (aggTrades/trades CSV, spot and futures,
zipped or not, klines, bookDepth), Tardis-style trade CSVs and raw recorded Binance WebSocket
captures, read into columnar NumPy arrays with every bad row reported by line number and dropped;
a compact cache so a second load is fast; 1-second bars; the download path from Binance's public
data site."""

from flashcrash.marketdata.bars import SECOND_BAR_DTYPE, second_bars
from flashcrash.marketdata.cache import load_trades
from flashcrash.marketdata.report import ImportReport, RowIssue
from flashcrash.marketdata.trades import TRADE_DTYPE, Market, TradeFormat, read_trades

__all__ = [
    "SECOND_BAR_DTYPE",
    "TRADE_DTYPE",
    "ImportReport",
    "Market",
    "RowIssue",
    "TradeFormat",
    "load_trades",
    "read_trades",
    "second_bars",
]
