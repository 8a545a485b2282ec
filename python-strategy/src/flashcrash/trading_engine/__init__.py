"""Trading: the percentile strategy, its checks (score, volume, cooldown, emergency stops, circuit
breaker), the order manager, and position accounting."""

from flashcrash.trading_engine.orders import OrderManager
from flashcrash.trading_engine.portfolio import Portfolio
from flashcrash.trading_engine.position import ClosedTrade, Position
from flashcrash.trading_engine.strategy import PercentileStrategy

__all__ = ["ClosedTrade", "OrderManager", "PercentileStrategy", "Portfolio", "Position"]
