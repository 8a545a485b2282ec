"""The objectives a study can maximise, one a file behind `base.Objective`."""

from flashcrash.optimize.objectives.base import Objective
from flashcrash.optimize.objectives.net_return import NetReturn
from flashcrash.optimize.objectives.return_over_drawdown import ReturnOverDrawdown
from flashcrash.optimize.objectives.sharpe import TradeSharpe

OBJECTIVES: dict[str, type[Objective]] = {o.name: o for o in (NetReturn, TradeSharpe, ReturnOverDrawdown)}

__all__ = ["OBJECTIVES", "NetReturn", "Objective", "ReturnOverDrawdown", "TradeSharpe"]
