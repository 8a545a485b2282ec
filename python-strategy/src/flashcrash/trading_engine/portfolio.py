"""Several concurrent positions ("lots"), one per entry order, each with its own `Position` (fees from
its fills, realized P&L, a `ClosedTrade` when it is flat again), and their totals.

A lot goes ENTERING (its limit buy rests) → HOLDING (bought; the target sell rests) → EXITING (a market
sell, after the target order was canceled) → DONE, or ENTERING → DONE when the entry never filled.
Its quantities change only through fills of its own orders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from flashcrash.trading_engine.exits import ExitReason
from flashcrash.trading_engine.money import Price
from flashcrash.trading_engine.percentile import Plan
from flashcrash.trading_engine.position import ClosedTrade, Position

ZERO = Decimal(0)


class Phase(StrEnum):
    ENTERING = "entering"
    HOLDING = "holding"
    EXITING = "exiting"
    DONE = "done"


@dataclass
class Lot:
    entry_coid: str
    plan: Plan
    quantity: Decimal  # ordered
    signal_ns: int  # event time of the entry decision
    score: float
    position: Position
    phase: Phase = Phase.ENTERING
    target_coid: str | None = None
    exit_coid: str | None = None
    exit_reason: ExitReason | None = None
    exit_attempts: int = 0
    peak: float = 0.0
    retry_ns: int = 0  # the exit waits until then (a halted engine, or refusals in a row); not in snapshots

    def order_ids(self) -> list[str]:
        return [c for c in (self.entry_coid, self.target_coid, self.exit_coid) if c is not None]

    def snapshot(self) -> dict[str, Any]:
        return {
            "entry_coid": self.entry_coid,
            "plan": {
                "entry": str(self.plan.entry.value),
                "target": str(self.plan.target.value),
                "low": self.plan.low,
                "high": self.plan.high,
            },
            "quantity": str(self.quantity),
            "signal_ns": self.signal_ns,
            "score": self.score,
            "position": self.position.snapshot(),
            "phase": str(self.phase),
            "target_coid": self.target_coid,
            "exit_coid": self.exit_coid,
            "exit_reason": None if self.exit_reason is None else str(self.exit_reason),
            "exit_attempts": self.exit_attempts,
            "peak": self.peak,
        }

    @staticmethod
    def from_snapshot(s: dict[str, Any]) -> Lot:
        p = s["plan"]
        plan = Plan(Price(Decimal(p["entry"])), Price(Decimal(p["target"])), p["low"], p["high"])
        return Lot(
            str(s["entry_coid"]),
            plan,
            Decimal(s["quantity"]),
            int(s["signal_ns"]),
            float(s["score"]),
            Position.from_snapshot(s["position"]),
            Phase(s["phase"]),
            s.get("target_coid"),
            s.get("exit_coid"),
            None if s.get("exit_reason") is None else ExitReason(s["exit_reason"]),
            int(s.get("exit_attempts", 0)),
            float(s.get("peak", 0.0)),
        )


@dataclass
class Portfolio:
    lots: dict[str, Lot] = field(default_factory=dict)  # live lots by entry client order id
    closed: list[ClosedTrade] = field(default_factory=list)
    _by_order: dict[str, Lot] = field(default_factory=dict)
    _done_realized: Decimal = ZERO
    _done_fees: Decimal = ZERO

    def snapshot(self) -> dict[str, Any]:
        """Live lots and the totals of finished lots (JSON-safe, money as text). The closed trades are
        history, not state: the database's trades table holds them (a recovery reads them back), and
        a snapshot, written after every iteration that traded, stays the same size however long the
        session runs."""
        return {
            "lots": [lot.snapshot() for lot in self.lots.values()],
            "done_realized": str(self._done_realized),
            "done_fees": str(self._done_fees),
        }

    def restore(self, s: dict[str, Any]) -> None:
        self.lots.clear()
        self._by_order.clear()
        for d in s["lots"]:
            lot = Lot.from_snapshot(d)
            self.add(lot)
            for coid in lot.order_ids():
                self.link(lot, coid)
        self._done_realized = Decimal(s["done_realized"])
        self._done_fees = Decimal(s["done_fees"])

    def add(self, lot: Lot) -> None:
        self.lots[lot.entry_coid] = lot
        self._by_order[lot.entry_coid] = lot

    def link(self, lot: Lot, client_order_id: str) -> None:
        """`client_order_id` (a target or exit order) belongs to `lot`."""
        self._by_order[client_order_id] = lot

    def lot_of(self, client_order_id: str) -> Lot | None:
        return self._by_order.get(client_order_id)

    def finish(self, lot: Lot) -> None:
        lot.phase = Phase.DONE
        if self.lots.pop(lot.entry_coid, None) is not None:
            self._done_realized += lot.position.realized
            self._done_fees += lot.position.total_fees

    def in_phase(self, *phases: Phase) -> list[Lot]:
        return [lot for lot in self.lots.values() if lot.phase in phases]

    @property
    def realized(self) -> Decimal:
        """Net realized P&L: closed trades, minus the fees of what is still open."""
        return self._done_realized + sum((lot.position.realized for lot in self.lots.values()), ZERO)

    @property
    def total_fees(self) -> Decimal:
        return self._done_fees + sum((lot.position.total_fees for lot in self.lots.values()), ZERO)

    @property
    def quantity(self) -> Decimal:
        return sum((lot.position.quantity for lot in self.lots.values()), ZERO)

    @property
    def is_open(self) -> bool:
        return self.quantity > 0
