"""The simulated venue of a backtest: it stands in for the engine's paper executor
(`execution-engine/src/paper.rs`) and answers the OrderManager's commands with the same wire responses.

* A MARKET order, and the marketable part of a LIMIT order (up to its price), walks the book of that
  instant, best level first (taker, at each level's price, worsened by `slippage_bps`); what a MARKET
  order cannot fill expires, the rest of a LIMIT GTC order rests.
* A resting order fills (maker, at its own price) only when a market trade prints through its price
  (a buy below, a sell above; with the "touch" rule at the price too), up to the trade's quantity
  (on the quantity grid), shared among the orders it reaches, oldest first.
* Fees from `[fees]` (maker or taker rate), as the paper executor, exchange-sim and Binance spot charge
  them: a buy's in the base asset, from the coins bought (quantity x rate), a sell's in the quote asset
  (notional x rate), rounded down to 8 decimals (the shared cases of `tests/fee_cases/`).
* The replayed market never sees our orders: the book is not depleted by them.
* Before anything fills, an order passes the engine's own rules (`rules`, crate `order-rules` through
  `flashcrash_native.OrderRules`): the position limits of `[risk]` (`max_positions`,
  `max_position_notional`), then the symbol's filters (`[strategy] price_tick`, `[symbol]
  quantity_step` and `min_notional`) and `max_order_notional` and `max_open_orders`. What the engine
  refuses in paper and live trading is refused here, as the same `VALIDATION` error.

The venue also keeps the account: cash (quote) and position (base), moved by each fill and its fee;
`fees` totals them in the quote asset (a base fee at its fill's price).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum

import flashcrash_native
from flashcrash import wire
from flashcrash.config import Config
from flashcrash.wire import Levels, dec_text

ZERO = Decimal(0)
FEE_QUANTUM = Decimal("0.00000001")
BPS = Decimal(10_000)


class FillRule(StrEnum):
    TRADE_THROUGH = "trade_through"
    TOUCH = "touch"


@dataclass(frozen=True)
class VenueFill:
    """One fill, as the results keep it."""

    ts_ns: int
    client_order_id: str
    side: str
    price: Decimal
    quantity: Decimal
    fee: Decimal
    fee_asset: str
    liquidity: str


@dataclass
class SimOrder:
    cmd: wire.PlaceOrder
    exchange_order_id: str
    created_ns: int
    status: str = "NEW"
    filled: Decimal = ZERO
    quote: Decimal = ZERO
    updated_ns: int = 0

    @property
    def remaining(self) -> Decimal:
        return self.cmd.quantity - self.filled

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")

    def info(self) -> wire.OrderInfo:
        c = self.cmd
        return wire.OrderInfo(
            c.client_order_id, self.exchange_order_id, c.symbol, c.side, c.order_type, c.time_in_force,
            c.quantity, c.price, self.filled, self.quote, self.status, self.created_ns, self.updated_ns,
        )  # fmt: skip


def _dec(x: float) -> Decimal:
    return Decimal(repr(x))


def order_rules(cfg: Config, lot: Decimal | None = None) -> flashcrash_native.OrderRules:
    """The engine's order rules with the symbol and the limits of `cfg`; positions are counted in
    lots of `lot` (the entries' size: `[symbol] order_quantity` unless `position_fraction` sizes them)."""
    s, r = cfg.symbol, cfg.risk
    return flashcrash_native.OrderRules(
        s.name, dec_text(cfg.strategy.price_tick), dec_text(s.quantity_step), dec_text(s.min_notional),
        dec_text(r.max_order_notional), r.max_open_orders, dec_text(r.max_position_notional),
        r.max_positions, dec_text(s.order_quantity if lot is None else lot),
    )  # fmt: skip


@dataclass
class SimVenue:
    """One symbol's venue. `book` returns (bids, asks) at an event time; commands go to `handle`,
    market trades to `on_trade`; both return the responses, in order."""

    symbol: str
    base_asset: str
    quote_asset: str
    book: Callable[[int], tuple[Levels, Levels]]
    maker_rate: Decimal
    taker_rate: Decimal
    fill_rule: FillRule = FillRule.TRADE_THROUGH
    slippage_bps: Decimal = ZERO
    quantity_step: Decimal = ZERO
    # The engine's order rules (`order_rules`); None: none (unit tests of the fill mechanics alone).
    rules: flashcrash_native.OrderRules | None = None
    cash: Decimal = ZERO
    position: Decimal = ZERO
    fees: Decimal = ZERO
    orders: dict[str, SimOrder] = field(default_factory=dict)
    open: list[SimOrder] = field(default_factory=list)
    fills: list[VenueFill] = field(default_factory=list)
    _next_trade_id: int = 1

    # ------------------------------------------------------------- commands
    def handle(self, cmd: object, now: int) -> list[object]:
        match cmd:
            case wire.PlaceOrder():
                return self.place(cmd, now)
            case wire.CancelOrder():
                return [self.cancel(cmd, now)]
            case wire.QueryOrder():
                o = self.orders.get(cmd.client_order_id)
                if o is None:
                    return [self._error(cmd.command_id, now, "UNKNOWN_ORDER", "client_order_id",
                                        f"Unknown order sent: {cmd.client_order_id}")]  # fmt: skip
                return [wire.OrderStatus(cmd.command_id, now, o.info())]
            case wire.QueryOpenOrders():
                return [wire.OpenOrders(cmd.command_id, now, cmd.symbol, tuple(o.info() for o in self.open))]
        command_id = getattr(cmd, "command_id", None)
        return [self._error(command_id, now, "VALIDATION", None, f"{type(cmd).__name__} is not simulated")]

    @staticmethod
    def _error(command_id: str | None, now: int, code: str, fld: str | None, message: str) -> wire.Error:
        return wire.Error(command_id, now, code, fld, message)

    def place(self, cmd: wire.PlaceOrder, now: int) -> list[object]:
        if cmd.client_order_id in self.orders:
            return [self._error(cmd.command_id, now, "DUPLICATE_ORDER", "client_order_id",
                                f"client_order_id {cmd.client_order_id} was already used")]  # fmt: skip
        if cmd.symbol != self.symbol:
            return [self._error(cmd.command_id, now, "VALIDATION", "symbol", f"unknown symbol {cmd.symbol}")]
        if cmd.quantity <= 0 or (cmd.order_type != "MARKET" and (cmd.price is None or cmd.price <= 0)):
            return [
                self._error(cmd.command_id, now, "VALIDATION", "quantity", "quantity or price not positive")
            ]
        bids, asks = self.book(now)
        if not bids or not asks:
            return [self._error(cmd.command_id, now, "NOT_SYNCED", None, "no book yet")]
        buy = cmd.side == "BUY"
        opposite = asks if buy else bids
        best = _dec(opposite[0][0])  # the touch a market order takes from
        if self.rules is not None:
            refusal = self.rules.refusal(
                wire.encode(cmd),
                dec_text(best),
                dec_text(self.position),
                [(o.cmd.side, dec_text(o.remaining)) for o in self.open],
            )
            if refusal is not None:
                return [self._error(cmd.command_id, now, "VALIDATION", *refusal)]
        limit = cmd.price
        crosses = limit is not None and ((buy and best <= limit) or (not buy and best >= limit))
        if cmd.order_type == "LIMIT_MAKER" and crosses:
            return [
                self._error(cmd.command_id, now, "VENUE", "price", "Order would immediately match and take.")
            ]
        o = SimOrder(cmd, f"SIM-{len(self.orders) + 1}", now, updated_ns=now)
        fills: list[object] = []
        if cmd.order_type != "LIMIT_MAKER":
            for price_f, qty_f in opposite:
                if o.remaining <= 0:
                    break
                price = _dec(price_f)
                if limit is not None and (price > limit if buy else price < limit):
                    break
                fills.append(self._fill(o, price, min(o.remaining, _dec(qty_f)), "taker", now))
        if o.remaining <= 0:
            o.status = "FILLED"
        elif cmd.order_type == "MARKET" or cmd.time_in_force in ("IOC", "FOK"):
            o.status = "EXPIRED"
        else:
            o.status = "PARTIALLY_FILLED" if o.filled > 0 else "NEW"
        placed = wire.OrderPlaced(
            cmd.command_id, now, cmd.client_order_id, o.exchange_order_id, cmd.symbol, cmd.side,
            cmd.order_type, cmd.time_in_force, cmd.quantity, cmd.price, o.status,
        )  # fmt: skip
        self.orders[cmd.client_order_id] = o
        if o.is_open:
            self.open.append(o)
        return [placed, *fills]

    def cancel(self, cmd: wire.CancelOrder, now: int) -> object:
        o = self.orders.get(cmd.client_order_id)
        if o is None or not o.is_open:
            why = f"order {cmd.client_order_id} is {o.status}, not open" if o else "Unknown order sent"
            return self._error(cmd.command_id, now, "UNKNOWN_ORDER", "client_order_id", why)
        self.open.remove(o)
        o.status = "CANCELED"
        o.updated_ns = now
        return wire.OrderCanceled(
            cmd.command_id,
            now,
            o.cmd.client_order_id,
            o.exchange_order_id,
            o.cmd.symbol,
            o.filled,
            "CANCELED",
        )

    # ----------------------------------------------------------------- fills
    def _fill(
        self, o: SimOrder, price: Decimal, qty: Decimal, liquidity: str, now: int
    ) -> wire.OrderExecution:
        buy = o.cmd.side == "BUY"
        if liquidity == "taker" and self.slippage_bps:
            price *= 1 + (self.slippage_bps / BPS if buy else -self.slippage_bps / BPS)
            price = price.quantize(FEE_QUANTUM)
        rate = self.maker_rate if liquidity == "maker" else self.taker_rate
        o.filled += qty
        o.quote += price * qty
        o.updated_ns = now
        if buy:
            fee, fee_asset = (qty * rate).quantize(FEE_QUANTUM, ROUND_DOWN), self.base_asset
            self.position += qty - fee
            self.cash -= price * qty
            self.fees += price * fee
        else:
            fee, fee_asset = (price * qty * rate).quantize(FEE_QUANTUM, ROUND_DOWN), self.quote_asset
            self.position -= qty
            self.cash += price * qty - fee
            self.fees += fee
        self.fills.append(
            VenueFill(now, o.cmd.client_order_id, o.cmd.side, price, qty, fee, fee_asset, liquidity)
        )
        trade_id = self._next_trade_id
        self._next_trade_id += 1
        status = "FILLED" if o.remaining <= 0 else "PARTIALLY_FILLED"
        return wire.OrderExecution(
            o.cmd.command_id, now, o.cmd.client_order_id, o.exchange_order_id, o.cmd.symbol, o.cmd.side,
            trade_id, price, qty, o.filled, o.cmd.quantity, status, liquidity, fee, fee_asset,
        )  # fmt: skip

    def on_trade(self, ts_ns: int, price_f: float, qty_f: float) -> list[object]:
        """A market trade: fills the resting orders it prints through, oldest first."""
        if not self.open:
            return []
        price, left = _dec(price_f), _dec(qty_f)
        touch = self.fill_rule is FillRule.TOUCH
        out: list[object] = []
        for o in list(self.open):
            limit = o.cmd.price
            if limit is None or left <= 0:
                continue
            if o.cmd.side == "BUY":
                through = price <= limit if touch else price < limit
            else:
                through = price >= limit if touch else price > limit
            if not through:
                continue
            qty = min(o.remaining, left)
            if self.quantity_step > 0:
                qty = (qty / self.quantity_step).to_integral_value(ROUND_DOWN) * self.quantity_step
            if qty <= 0:
                continue
            left -= qty
            out.append(self._fill(o, limit, qty, "maker", ts_ns))
            o.status = "FILLED" if o.remaining <= 0 else "PARTIALLY_FILLED"
            if o.remaining <= 0:
                self.open.remove(o)
        return out

    def equity(self, mark: float) -> Decimal:
        """Cash plus the position marked at `mark`."""
        return self.cash + self.position * _dec(mark)
