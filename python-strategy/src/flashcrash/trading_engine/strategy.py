"""The first strategy: buy the first bullish 1-second candle while the detector is ACTIVE, sell on take
profit, stop loss or maximum hold (event time), then wait `cooldown_secs`. Every entry decision, taken
or rejected, is counted with its reason."""

from __future__ import annotations

import logging
from collections import Counter
from decimal import Decimal

from flashcrash.config import StrategyConfig
from flashcrash.event_detector import Candle, State
from flashcrash.trading_engine.orders import OrderManager
from flashcrash.trading_engine.position import ClosedTrade, Position
from flashcrash.wire import OrderExecution

log = logging.getLogger(__name__)
NS = 1_000_000_000


class ReboundStrategy:
    def __init__(self, cfg: StrategyConfig, quantity: Decimal, orders: OrderManager) -> None:
        self.cfg = cfg
        self.quantity = quantity
        self.orders = orders
        self.position = Position()
        self.decisions: Counter[str] = Counter()
        self.cooldown_until_ns = 0
        self.exit_reason = ""
        self.entries: list[tuple[int, float]] = []
        self.exits: list[tuple[int, float]] = []

    def _reject(self, reason: str) -> None:
        self.decisions[f"rejected_{reason}"] += 1

    def on_candle(self, c: Candle, state: State, now_wall_ns: int) -> None:
        """Entry decision at the close of each candle."""
        if state is not State.ACTIVE:
            return  # asleep: not a decision
        if not c.bullish:
            self._reject("not_bullish")
        elif self.position.is_open:
            self._reject("position_open")
        elif self.orders.has_open_order():
            self._reject("order_pending")
        elif c.start_ns < self.cooldown_until_ns:
            self._reject("cooldown")
        elif self.orders.place_market("BUY", self.quantity, now_wall_ns, "entry") is None:
            self._reject("send_failed")
        else:
            self.decisions["taken"] += 1
            log.info("entry: bullish candle %.6f -> %.6f while ACTIVE", c.open, c.close)

    def on_price(self, ts_ns: int, price: float, now_wall_ns: int) -> None:
        """Exit checks on every trade price."""
        if not self.position.is_open or self.orders.has_open_order():
            return
        entry = float(self.position.avg_entry)
        held = (ts_ns - self.position.entry_ns) / NS
        if price >= entry * (1 + self.cfg.take_profit_pct / 100):
            reason = "take_profit"
        elif price <= entry * (1 - self.cfg.stop_loss_pct / 100):
            reason = "stop_loss"
        elif held >= self.cfg.max_hold_secs:
            reason = "max_hold"
        else:
            return
        self.exit(reason, now_wall_ns)

    def exit(self, reason: str, now_wall_ns: int) -> bool:
        """Sells the whole position at market. False when there is nothing to sell or it failed."""
        if not self.position.is_open or self.orders.has_open_order():
            return False
        self.exit_reason = reason
        return self.orders.place_market("SELL", self.position.quantity, now_wall_ns, reason) is not None

    def on_fill(self, fill: OrderExecution, event_ns: int) -> ClosedTrade | None:
        """Position changes only here, from `OrderExecution`."""
        if fill.side == "SELL" and not self.position.is_open:
            self.decisions["error_sell_without_position"] += 1
            log.error(
                "sell fill %s of %s with no open position: ignored", fill.trade_id, fill.client_order_id
            )
            return None
        price = float(fill.last_price)
        (self.entries if fill.side == "BUY" else self.exits).append((event_ns, price))
        trade = self.position.on_fill(
            fill.side, fill.last_price, fill.last_quantity, fill.fee, event_ns, self.exit_reason
        )
        if trade is not None:
            self.cooldown_until_ns = event_ns + self.cfg.cooldown_secs * NS
            log.info("trade closed: %s pnl %s (%s)", trade.quantity, trade.pnl, trade.exit_reason)
        return trade
