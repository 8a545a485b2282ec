"""Trading: the order manager (commands and their responses), position accounting, the strategy."""

from flashcrash.trading_engine.orders import OrderManager
from flashcrash.trading_engine.position import ClosedTrade, Position
from flashcrash.trading_engine.strategy import ReboundStrategy

__all__ = ["ClosedTrade", "OrderManager", "Position", "ReboundStrategy"]
