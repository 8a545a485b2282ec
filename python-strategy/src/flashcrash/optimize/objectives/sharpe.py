"""`--objective sharpe`: the per-trade Sharpe ratio (mean over standard deviation of the trades' net
returns, not annualised) times the square root of the number of trades, so that one lucky pair of
trades does not beat a steady dozen. Under 2 trades, or with no dispersion, there is no ratio: the
value is then `NO_RATIO` (-1), below any run whose trades are not mostly losers."""

from __future__ import annotations

import math
from typing import Any

from flashcrash.backtest.results import BacktestResult
from flashcrash.config import Config
from flashcrash.optimize.objectives.base import Objective

NO_RATIO = -1.0


class TradeSharpe(Objective):
    name = "sharpe"
    description = "per-trade Sharpe x sqrt(trades)"

    @staticmethod
    def value(*, result: BacktestResult, metrics: dict[str, Any], config: Config, **kwargs: Any) -> float:
        ratio = metrics["sharpe_per_trade"]
        if ratio is None:
            return NO_RATIO
        return float(ratio) * math.sqrt(metrics["trades"])
