"""`--objective calmar`: net return against the largest drawdown, both percent (a Calmar-like ratio
over the backtest, not annualised). A drawdown under `FLOOR_PCT` counts as `FLOOR_PCT`, so a run that
barely traded does not divide by nearly nothing.

    value = return / max(drawdown, FLOOR_PCT)   when return >= 0
    value = return * max(drawdown, FLOOR_PCT)   when return < 0

A gain is divided by the drawdown it took, a loss multiplied by it: the value rises with the return
and falls with the drawdown on both sides of zero (dividing a loss would score -2 % over a 20 %
drawdown, -0.1, above -2 % over 2 %, -1.0), and any gain scores above any loss."""

from __future__ import annotations

from typing import Any

from flashcrash.backtest.results import BacktestResult
from flashcrash.config import Config
from flashcrash.optimize.objectives.base import Objective

FLOOR_PCT = 0.1


def return_over_drawdown(return_pct: float, drawdown_pct: float) -> float:
    """The score of the module's formula: higher return or smaller drawdown, higher score."""
    drawdown = max(drawdown_pct, FLOOR_PCT)
    return return_pct / drawdown if return_pct >= 0 else return_pct * drawdown


class ReturnOverDrawdown(Objective):
    name = "calmar"
    description = "net return % / max drawdown % (floor 0.1 %); a loss x the drawdown"

    @staticmethod
    def value(*, result: BacktestResult, metrics: dict[str, Any], config: Config, **kwargs: Any) -> float:
        return return_over_drawdown(float(metrics["return_pct"]), float(metrics["max_drawdown_pct"]))
