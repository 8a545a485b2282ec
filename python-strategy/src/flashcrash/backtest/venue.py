"""The simulated venue of a backtest: the engine's paper executor (crate `paper-executor`, through
`flashcrash_native.PaperVenue`) behind the engine core's position limits, on the backtest's book, so a
backtest's orders are refused, placed and filled by the code that does it in paper trading, and
answered with the same wire responses (`execution-engine`'s paper mode runs the same executor on the
engine's live book).

* A MARKET order, and the marketable part of a LIMIT order (up to its price), walks the book of that
  instant, best level first (taker, at each level's price, worsened by `slippage_bps`); what a MARKET
  or IOC order cannot fill expires, a FOK order expires whole unless the book fills all of it, the
  rest of a LIMIT GTC order rests.
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

The executor also keeps the account: cash (quote) and position (base), moved by each fill and its fee;
`fees` totals them in the quote asset (a base fee at its fill's price).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

import flashcrash_native
from flashcrash import wire
from flashcrash.config import Config
from flashcrash.wire import Levels, dec_text

ZERO = Decimal(0)
UNLIMITED = "1000000000000000"
TINY = "0.00000001"


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


def order_rules(cfg: Config, lot: Decimal | None = None) -> flashcrash_native.OrderRules:
    """The engine's order rules with the symbol and the limits of `cfg`; positions are counted in
    lots of `lot` (the entries' size: `[symbol] order_quantity` unless `position_fraction` sizes them)."""
    s, r = cfg.symbol, cfg.risk
    return flashcrash_native.OrderRules(
        s.name, dec_text(cfg.strategy.price_tick), dec_text(s.quantity_step), dec_text(s.min_notional),
        dec_text(r.max_order_notional), r.max_open_orders, dec_text(r.max_position_notional),
        r.max_positions, dec_text(s.order_quantity if lot is None else lot),
    )  # fmt: skip


def unlimited_rules(symbol: str, quantity_step: Decimal) -> flashcrash_native.OrderRules:
    """Rules that refuse nothing a positive price and quantity on the `quantity_step` grid (tests of
    the fill mechanics alone)."""
    step = dec_text(quantity_step) if quantity_step > 0 else TINY
    return flashcrash_native.OrderRules(
        symbol, TINY, step, "0", UNLIMITED, 1_000_000, UNLIMITED, 1_000_000, step
    )


class SimVenue:
    """One symbol's venue. `book` returns (bids, asks) at an event time; commands go to `handle`,
    market trades to `on_trade`; both return the responses, in order. `rules`: the engine's order
    rules (`order_rules`); None: none but the quantity grid (`unlimited_rules`). The account starts
    with `cash` of the quote asset and `base` of the base asset (spot: no sell of more than is held);
    with `check_funds` a buy the free cash cannot pay for is refused as a spot venue refuses it
    (`Error` `VENUE`, Binance's `-2010` message), as the replay's venue does."""

    def __init__(
        self,
        symbol: str,
        base_asset: str,
        quote_asset: str,
        book: Callable[[int], tuple[Levels, Levels]],
        maker_rate: Decimal,
        taker_rate: Decimal,
        fill_rule: FillRule = FillRule.TRADE_THROUGH,
        slippage_bps: Decimal = ZERO,
        quantity_step: Decimal = ZERO,
        rules: flashcrash_native.OrderRules | None = None,
        cash: Decimal = ZERO,
        base: Decimal = ZERO,
        check_funds: bool = False,
    ) -> None:
        self.symbol = symbol
        self.book = book
        self._quote = quote_asset
        self.rules = rules if rules is not None else unlimited_rules(symbol, quantity_step)
        self._native = flashcrash_native.PaperVenue(
            self.rules,
            base_asset, quote_asset, dec_text(maker_rate), dec_text(taker_rate),
            fill_rule is FillRule.TOUCH, dec_text(slippage_bps), dec_text(cash), dec_text(base),
            check_funds,
        )  # fmt: skip
        self.open_count = 0  # orders resting at the venue
        self.cash = cash
        self.position = base
        self.fees = ZERO  # in the quote asset
        self.fills: list[VenueFill] = []

    def set_rules(self, rules: flashcrash_native.OrderRules) -> None:
        """New order rules (the lot of the position limits, when entries are sized from equity)."""
        self.rules = rules
        self._native.set_rules(rules)

    # ------------------------------------------------------------- commands
    def handle(self, cmd: object, now: int) -> list[object]:
        if isinstance(cmd, wire.PlaceOrder):
            return self.place(cmd, now)
        out = self._native.command(wire.encode(cmd), now) if isinstance(cmd, _ORDER_COMMANDS) else None
        if out is None:
            command_id = getattr(cmd, "command_id", None)
            return [wire.Error(command_id, now, "VALIDATION", None, f"{type(cmd).__name__} is not simulated")]
        return self._answers(out)

    def place(self, cmd: wire.PlaceOrder, now: int) -> list[object]:
        bids, asks = self.book(now)
        return self._answers(self._native.place(wire.encode(cmd), bids, asks, now))

    def on_trade(self, ts_ns: int, price_f: float, qty_f: float) -> list[object]:
        """A market trade: fills the resting orders it prints through, oldest first."""
        if not self.open_count:
            return []
        return self._answers(self._native.on_trade(ts_ns, price_f, qty_f))

    def _answers(self, encoded: list[bytes]) -> list[object]:
        """The executor's responses, decoded; its fills kept and the account read back."""
        out = [wire.decode(b) for b in encoded]
        filled = False
        for m in out:
            if isinstance(m, wire.OrderExecution):
                filled = True
                self.fills.append(VenueFill(
                    m.ts_ns, m.client_order_id, m.side, m.last_price, m.last_quantity, m.fee,
                    m.fee_asset, m.liquidity,
                ))  # fmt: skip
                self.fees += m.fee * m.last_price if m.fee_asset != self._quote else m.fee
        if filled:
            position, cash = self._native.account
            self.position, self.cash = Decimal(position), Decimal(cash)
        self.open_count = self._native.open_count
        return out

    def equity(self, mark: float) -> Decimal:
        """Cash plus the position marked at `mark`."""
        return self.cash + self.position * Decimal(repr(mark))


_ORDER_COMMANDS = (wire.CancelOrder, wire.QueryOrder, wire.QueryOpenOrders, wire.QueryBalances)
