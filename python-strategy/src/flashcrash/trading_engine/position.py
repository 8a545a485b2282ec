"""Position and P&L, changed only by fills. Money in `Decimal`."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from flashcrash.wire import dec_text

ZERO = Decimal(0)


@dataclass(frozen=True)
class ClosedTrade:
    entry_ns: int
    exit_ns: int
    quantity: Decimal
    entry_price: Decimal
    exit_price: Decimal
    fees: Decimal
    pnl: Decimal
    exit_reason: str
    entry_reason: str = ""
    entry_score: float | None = None

    @property
    def hold_secs(self) -> float:
        return round((self.exit_ns - self.entry_ns) / 1e9, 3)

    def to_json(self) -> dict[str, object]:
        return {
            "entry_ns": self.entry_ns,
            "exit_ns": self.exit_ns,
            "quantity": dec_text(self.quantity),
            "entry_price": dec_text(self.entry_price),
            "exit_price": dec_text(self.exit_price),
            "fees": dec_text(self.fees),
            "pnl": dec_text(self.pnl),
            "hold_secs": self.hold_secs,
            "exit_reason": self.exit_reason,
            "entry_reason": self.entry_reason,
            "entry_score": self.entry_score,
        }

    @staticmethod
    def from_json(d: dict[str, Any]) -> ClosedTrade:
        return ClosedTrade(
            int(d["entry_ns"]),
            int(d["exit_ns"]),
            Decimal(d["quantity"]),
            Decimal(d["entry_price"]),
            Decimal(d["exit_price"]),
            Decimal(d["fees"]),
            Decimal(d["pnl"]),
            str(d["exit_reason"]),
            str(d.get("entry_reason", "")),
            d.get("entry_score"),
        )


@dataclass
class Position:
    """A long-only position: buys add, sells reduce; a trade closes when the quantity returns to zero.
    `entry_reason` and `entry_score` are copied into the trades it closes."""

    entry_reason: str = ""
    entry_score: float | None = None
    quantity: Decimal = ZERO
    cost: Decimal = ZERO
    entry_ns: int = 0
    fees: Decimal = ZERO
    sell_value: Decimal = ZERO
    sold: Decimal = ZERO
    realized: Decimal = ZERO
    total_fees: Decimal = ZERO
    closed: list[ClosedTrade] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.quantity > 0

    def write_off(self, ts_ns: int, reason: str) -> ClosedTrade:
        """Ends the trade, writing off what is held at its cost: coins no venue would buy (under
        one step, or worth less than the minimum notional). They count as sold for nothing, so the
        exit price averages what the sells got over every coin, and the P&L loses their cost."""
        avg, lost = self.avg_entry, self.cost
        self.realized -= lost
        quantity = self.sold + self.quantity
        trade = ClosedTrade(
            self.entry_ns,
            max(ts_ns, self.entry_ns),
            quantity,
            avg,
            self.sell_value / quantity,
            self.fees,
            self.sell_value - quantity * avg - self.fees,
            reason,
            self.entry_reason,
            self.entry_score,
        )
        self.closed.append(trade)
        self.quantity = self.cost = self.fees = self.sold = self.sell_value = ZERO
        return trade

    _DECIMALS = ("quantity", "cost", "fees", "sell_value", "sold", "realized", "total_fees")
    _NOT_NEGATIVE = ("quantity", "cost", "sell_value", "sold")  # fees may be rebates, P&L a loss

    def snapshot(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: str(getattr(self, k)) for k in self._DECIMALS}
        out.update(
            entry_reason=self.entry_reason,
            entry_score=self.entry_score,
            entry_ns=self.entry_ns,
            closed=[t.to_json() for t in self.closed],
        )
        return out

    @staticmethod
    def from_snapshot(s: dict[str, Any]) -> Position:
        p = Position(str(s["entry_reason"]), s.get("entry_score"), entry_ns=int(s["entry_ns"]))
        for k in Position._DECIMALS:
            v = Decimal(s[k])
            if not v.is_finite() or (v < 0 and k in Position._NOT_NEGATIVE):
                raise ValueError(f"position {k} {v}: not a finite amount of 0 or more")
            setattr(p, k, v)
        p.closed = [ClosedTrade.from_json(t) for t in s.get("closed", [])]
        return p

    @property
    def avg_entry(self) -> Decimal:
        return self.cost / self.quantity if self.quantity else ZERO

    def on_fill(
        self,
        side: str,
        price: Decimal,
        qty: Decimal,
        fee: Decimal,
        ts_ns: int,
        reason: str,
        base_fee: Decimal = ZERO,
        dust: Decimal = ZERO,
    ) -> ClosedTrade | None:
        """`fee` in the quote asset; `base_fee`, a fee the venue took from the base asset instead
        (Binance takes a buy's commission from what it bought): the position holds that much less,
        and its cost (the buy's price, the position's average for a sell) counts as a fee. A sell
        that leaves less than `dust` (the venue's quantity step: nothing smaller can be sold) closes
        the trade, the rest written off at its cost."""
        avg = self.avg_entry
        if base_fee:
            fee += (price if side == "BUY" else avg) * base_fee
        self.fees += fee
        self.total_fees += fee
        self.realized -= fee
        if side == "BUY":
            if not self.is_open:
                self.entry_ns = ts_ns
                self.sold = self.sell_value = ZERO
            held = qty - base_fee
            self.quantity += held
            self.cost += price * held
            return None
        if not self.is_open:
            raise ValueError(f"sell fill of {qty} with no open position")
        qty = min(qty, self.quantity)
        out = min(qty + base_fee, self.quantity)
        self.cost -= avg * out
        self.quantity -= out
        self.sold += qty
        self.sell_value += price * qty
        self.realized += (price - avg) * qty
        if self.quantity >= dust and self.quantity > 0:
            return None
        written_off = self.cost if self.quantity > 0 else ZERO  # dust: unsellable
        self.realized -= written_off
        self.quantity = self.cost = ZERO
        # Selling does not change the average entry price, so `avg` is the entry of the whole trade.
        exit_price = self.sell_value / self.sold
        pnl = self.sell_value - self.sold * avg - self.fees - written_off
        trade = ClosedTrade(
            self.entry_ns,
            ts_ns,
            self.sold,
            avg,
            exit_price,
            self.fees,
            pnl,
            reason,
            self.entry_reason,
            self.entry_score,
        )
        self.closed.append(trade)
        self.cost = self.fees = self.sold = self.sell_value = ZERO
        return trade
