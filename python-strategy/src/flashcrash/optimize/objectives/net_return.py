"""`--objective return`: the backtest's net return, percent of the initial capital (fees and the
closing of open positions at the end of the data included)."""

from __future__ import annotations

from typing import Any

from flashcrash.backtest.results import BacktestResult
from flashcrash.config import Config
from flashcrash.optimize.objectives.base import Objective


class NetReturn(Objective):
    name = "return"
    description = "net return, % of the initial capital"

    @staticmethod
    def value(*, result: BacktestResult, metrics: dict[str, Any], config: Config, **kwargs: Any) -> float:
        return float(metrics["return_pct"])
