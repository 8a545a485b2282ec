"""`--objective calmar`: net return over the largest drawdown, both percent (a Calmar-like ratio over
the backtest, not annualised). A drawdown under `FLOOR_PCT` counts as `FLOOR_PCT`, so a run that
barely traded does not divide by nearly nothing."""

from __future__ import annotations

from typing import Any

from flashcrash.backtest.results import BacktestResult
from flashcrash.config import Config
from flashcrash.optimize.objectives.base import Objective

FLOOR_PCT = 0.1


class ReturnOverDrawdown(Objective):
    name = "calmar"
    description = "net return % / max drawdown % (floor 0.1 %)"

    @staticmethod
    def value(*, result: BacktestResult, metrics: dict[str, Any], config: Config, **kwargs: Any) -> float:
        return float(metrics["return_pct"]) / max(float(metrics["max_drawdown_pct"]), FLOOR_PCT)
