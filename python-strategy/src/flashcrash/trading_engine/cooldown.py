"""Cooldowns in event time: `entry_secs` from one entry to the next, `loss_secs` after a losing trade."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

NS = 1_000_000_000


class Cooldown:
    def __init__(self, entry_secs: int, loss_secs: int) -> None:
        self.entry_ns = entry_secs * NS
        self.loss_ns = loss_secs * NS
        self.until_ns = 0
        self.why = ""

    def snapshot(self) -> dict[str, Any]:
        return {"until_ns": self.until_ns, "why": self.why}

    def restore(self, s: dict[str, Any]) -> None:
        self.until_ns, self.why = int(s["until_ns"]), str(s["why"])

    def _extend(self, until_ns: int, why: str) -> None:
        if until_ns > self.until_ns:
            self.until_ns, self.why = until_ns, why

    def on_entry(self, ts_ns: int) -> None:
        self._extend(ts_ns + self.entry_ns, "entry")

    def on_trade_closed(self, ts_ns: int, pnl: Decimal) -> None:
        if pnl < 0:
            self._extend(ts_ns + self.loss_ns, "loss")

    def blocks(self, ts_ns: int) -> bool:
        return ts_ns < self.until_ns
