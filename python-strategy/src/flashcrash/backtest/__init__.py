"""Backtests: trade data replayed tick by tick, in event-time order, through the same runner, detector,
strategy, risk checks and order manager as live and paper trading, with a simulated venue in the
engine's place (`venue.py`), a synthetic book where the data has none (`book.py`), the figures and
files of a run (`results.py`, `plots.py`) and the `flashcrash backtest` command (`commands.py`)."""

from flashcrash.backtest.replay import Replay
from flashcrash.backtest.results import BacktestResult
from flashcrash.backtest.venue import FillRule, SimVenue

__all__ = ["BacktestResult", "FillRule", "Replay", "SimVenue"]
