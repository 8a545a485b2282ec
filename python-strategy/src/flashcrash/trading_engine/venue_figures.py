"""The engine's figures for an order, checked against the order before they count. A response no
venue could give for it (another symbol or side, more than was ordered, a fill past the order's
limit price, a fee past any rate `[fees]` allows) is refused by the order manager and counted, so it
never reaches a position or an order: a bought quantity eaten by a fee of 150 %, a sale of more
than was bought, a target priced off an entry at a million."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from flashcrash import wire
from flashcrash.trading_engine.order_state import ESTIMATED_BASE_FEE, ESTIMATED_FEE

# The largest fee rate `[fees]` allows (config/schema.toml), either way: a maker rebate is at most
# 0.01. A fee past it, in the fill's own assets, is no fee any venue charged.
MAX_FEE_RATE = Decimal("0.1")

FeePart = Literal["base", "quote", "other"]


def fee_part(asset: str, symbol: str) -> FeePart:
    """Which asset of `symbol` a fee is in, read off the pair's name without a contract suffix
    (`BCHUSD_PERP`: BCH and USD); the fees estimated on a reconciliation say which themselves. A
    third asset (BNB) is "other"."""
    pair = symbol.split("_", 1)[0]
    if asset == ESTIMATED_BASE_FEE or (asset and pair.startswith(asset) and pair != asset):
        return "base"
    if not asset or pair.endswith(asset) or asset == ESTIMATED_FEE:
        return "quote"
    return "other"


def fill_faults(cmd: wire.PlaceOrder | None, fill: wire.OrderExecution, symbol: str) -> list[str]:
    """What makes `fill` no fill of `cmd` (None: the engine's own flatten of `symbol`, whose order
    the fill itself describes); empty when nothing does."""
    want = cmd.symbol if cmd is not None else symbol
    wrong = [f"symbol {fill.symbol} (order's {want})"] if fill.symbol != want else []
    if cmd is not None and fill.side != cmd.side:
        wrong.append(f"side {fill.side} (order's {cmd.side})")
    ordered = cmd.quantity if cmd is not None else fill.order_quantity
    wrong += [
        f"{name} {got} above the order's quantity {ordered}"
        for name, got in (
            ("cumulative_quantity", fill.cumulative_quantity),
            ("last_quantity", fill.last_quantity),
        )
        if got > ordered
    ]
    if fill.last_quantity > fill.cumulative_quantity:
        wrong.append(
            f"last_quantity {fill.last_quantity} above cumulative_quantity {fill.cumulative_quantity}"
        )
    if cmd is not None and cmd.price is not None:
        past = fill.last_price > cmd.price if cmd.side == "BUY" else fill.last_price < cmd.price
        if past:
            wrong.append(f"last_price {fill.last_price} past the order's limit {cmd.price}")
    part = fee_part(fill.fee_asset, symbol)
    size = {"base": fill.last_quantity, "quote": fill.last_quantity * fill.last_price}.get(part)
    if size is not None and abs(fill.fee) > size * MAX_FEE_RATE:
        wrong.append(f"fee {fill.fee} {fill.fee_asset} over {MAX_FEE_RATE} of the fill's {size}")
    elif size is None and fill.fee < 0:
        wrong.append(f"fee {fill.fee} {fill.fee_asset}: a rebate in a third asset")
    return wrong


def answer_faults(
    cmd: wire.PlaceOrder,
    symbol: str,
    side: str | None = None,
    quantity: Decimal | None = None,
    filled: Decimal | None = None,
) -> list[str]:
    """What makes an acknowledgement or a status (its `symbol`, and the `side`, `quantity` and
    `filled` quantity it gives, when it gives them) no answer about `cmd`; empty when nothing does."""
    wrong = [f"symbol {symbol} (order's {cmd.symbol})"] if symbol != cmd.symbol else []
    if side is not None and side != cmd.side:
        wrong.append(f"side {side} (order's {cmd.side})")
    if quantity is not None and quantity != cmd.quantity:
        wrong.append(f"quantity {quantity} (order's {cmd.quantity})")
    if filled is not None and filled > cmd.quantity:
        wrong.append(f"filled_quantity {filled} above the order's quantity {cmd.quantity}")
    return wrong
