"""The capital a live session measures its equity, return and drawdown against: the account's own
equity at its start, not `[backtest] initial_capital` (what only a new paper account holds; a real
account, or a paper account restored from its file, holds what it holds).

The runner of a session (`flashcrash run`) asks the engine for the balances when it first sees the
engine, and again after a refusal (a venue's 429 at the start), the wait doubling from the order
timeout, at most `MAX_ASKS` times (each a `QueryBalances`: a real engine answers from its cache or `GET /api/v3/account`, a
paper engine from its account), and values them at the first trade price: the quote asset's free and
locked plus the base asset's free and locked times that price (the account's other assets are left
out). That value is the session's capital: its row's `initial_capital` (what `flashcrash report`'s
return is on), the summary's `return_pct` and the metrics' equity, drawdown and drawdown alert are
on it. The strategy's P&L at that instant (realized, and its open lots marked at that price: a
recovered position's coins are in the account already) is the base the equity's changes are counted
from. Until then, and for good when the balances are refused every time or never answer (logged
once the order timeout has passed; a late answer is still taken), it is `initial_capital`; `source` (the summary's
`capital_source`) says which. A runner without a session (the backtest's, whose account starts with
`initial_capital`) never asks."""

from __future__ import annotations

import math
import uuid
from decimal import Decimal

from flashcrash import wire
from flashcrash.trading_engine.portfolio import Portfolio


def unrealized(portfolio: Portfolio, price: float) -> float:
    """The open lots marked at `price` (0 without a price)."""
    if not math.isfinite(price):
        return 0.0
    return sum(
        float(p.quantity) * (price - float(p.avg_entry))
        for lot in portfolio.lots.values()
        if (p := lot.position).is_open
    )


MAX_ASKS = 5  # QueryBalances sent for the capital at most (the first and four after refusals)


class SessionCapital:
    def __init__(self, initial: Decimal, symbol: str, timeout_ns: int) -> None:
        self.value = initial
        self.symbol = symbol
        self.timeout_ns = timeout_ns
        self.source = "initial_capital: no session, the balances are not asked"
        self.from_account = False
        # The strategy's realized + unrealized P&L when the capital was measured.
        self.pnl_base = 0.0
        self.query_id: str | None = None  # the QueryBalances sent, until answered
        self.asked_ns: int | None = None
        self.overdue = False  # the answer is past the timeout (said once)
        self.balances: wire.Balances | None = None  # answered, its coins waiting for a price
        self.asks = 0  # QueryBalances sent
        self.refused = False  # the last one was answered with an Error (asked again, `ask`)

    def ask(self, now_ns: int) -> wire.QueryBalances | None:
        """The QueryBalances to send (`asked` once it left): the first one; after a refusal (a venue's
        429 at the start, say) another, the wait doubling from the order timeout, at most
        `MAX_ASKS` in all."""
        if self.asked_ns is not None:
            if not self.refused or self.asks >= MAX_ASKS:
                return None
            if now_ns - self.asked_ns < self.timeout_ns * 2**self.asks:
                return None
        return wire.QueryBalances(str(uuid.uuid4()), now_ns)

    def asked(self, q: wire.QueryBalances, now_ns: int) -> None:
        self.query_id, self.asked_ns = q.command_id, now_ns
        self.asks += 1
        self.refused = False
        self.source = "initial_capital: the balances asked, no answer yet"

    def answers(self, msg: wire.Balances | wire.Error) -> bool:
        """True for the answer to our QueryBalances."""
        return self.query_id is not None and msg.command_id == self.query_id

    def overdue_now(self, now_ns: int) -> bool:
        """True once, when the answer has not come within the timeout."""
        if (
            self.query_id is None
            or self.overdue
            or self.asked_ns is None
            or now_ns - self.asked_ns < self.timeout_ns
        ):
            return False
        self.overdue = True
        self.source = f"initial_capital: the balances never answered ({self._asked_text()})"
        return True

    def _asked_text(self) -> str:
        return "asked once" if self.asks == 1 else f"asked {self.asks} times"

    def on_answer(self, msg: wire.Balances | wire.Error) -> str | None:
        """Takes the answer; returns why it cannot be used (None: it waits for `measure`)."""
        self.query_id = None
        if isinstance(msg, wire.Error):
            self.refused = True
            again = "asked again" if self.asks < MAX_ASKS else self._asked_text()
            self.source = f"initial_capital: the balances were refused ({msg.code}: {msg.message}; {again})"
            return self.source
        assets = [b.asset for b in msg.balances[:2]]
        if len(assets) < 2 or assets[0] + assets[1] != self.symbol:
            self.source = f"initial_capital: the balances name {assets}, not {self.symbol}'s base and quote"
            return self.source
        self.balances = msg
        base = msg.balances[0]
        self.source = f"initial_capital: no trade price yet to value {wire.dec_text(base.free + base.locked)} {base.asset}"
        return None

    def measure(self, price: float, portfolio: Portfolio) -> bool:
        """Values the answer at `price` (NaN: no trade yet) when it can be; True when done: the
        capital is the account's (`from_account`), or the account is worth nothing (`source` says)."""
        b = self.balances
        if b is None:
            return False
        base, quote = b.balances[0], b.balances[1]
        coins = base.free + base.locked
        if coins and not math.isfinite(price):
            return False
        self.balances = None
        cash = quote.free + quote.locked
        px = Decimal(repr(price)) if coins else Decimal(0)
        capital = cash + coins * px
        what = f"{wire.dec_text(cash)} {quote.asset}"
        if coins:
            what += f" + {wire.dec_text(coins)} {base.asset} at {wire.dec_text(px)}"
        if capital <= 0:
            self.source = f"initial_capital: the account is worth {wire.dec_text(capital)} ({what})"
            return True
        self.value, self.from_account = capital, True
        self.pnl_base = float(portfolio.realized) + unrealized(portfolio, price)
        self.source = f"account: {what}"
        return True
