"""The interface every objective implements (one objective a file, as freqtrade's
`IHyperOptLoss`): keyword-only arguments, so an objective takes what it needs and ignores the rest."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from flashcrash.backtest.results import BacktestResult
from flashcrash.config import Config


class Objective(ABC):
    """What a study maximises. `value` scores a finished backtest; `intermediate` scores the replay
    so far at a checkpoint, for the pruner (a trial is compared with the others at the same
    checkpoint, so it only has to rank trials the same way as the final value tends to)."""

    name: ClassVar[str]
    description: ClassVar[str]

    @staticmethod
    @abstractmethod
    def value(*, result: BacktestResult, metrics: dict[str, Any], config: Config, **kwargs: Any) -> float:
        """The trial's value; higher is better."""

    @staticmethod
    def intermediate(*, equity: float, initial_capital: float, config: Config, **kwargs: Any) -> float:
        """Return so far, percent of the initial capital (the default for every objective)."""
        return (equity / initial_capital - 1.0) * 100.0 if initial_capital > 0 else 0.0
