"""Hand-made inputs shared by the trading engine tests: candles, readings, an outbox for commands and
the engine's answers to them."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from flashcrash import wire
from flashcrash.backtest.venue import SimVenue
from flashcrash.config import RiskConfig, StrategyConfig
from flashcrash.event_detector import Candle, State
from flashcrash.event_detector.readings import Indicator, Pattern, Reading, Readings
from flashcrash.trading_engine import OrderManager, PercentileStrategy
from flashcrash.trading_engine.breaker import CircuitBreaker

S = 1_000_000_000
D = Decimal


class Outbox:
    """The command channel: records what the strategy sends."""

    def __init__(self) -> None:
        self.sent: list[object] = []
        self.accept = True

    def __call__(self, msg: object) -> bool:
        if self.accept:
            self.sent.append(msg)
        return self.accept

    def of(self, kind: type) -> list:
        return [m for m in self.sent if isinstance(m, kind)]

    @property
    def orders(self) -> list[wire.PlaceOrder]:
        return self.of(wire.PlaceOrder)


def candle(sec: int, o: float, h: float, lo: float, c: float, volume: float = 1000.0) -> Candle:
    return Candle(sec * S, o, h, lo, c, volume, volume / 2, 10)


def readings(
    strength: float = 1.0,
    pattern: Pattern = Pattern.NONE,
    spread_ratio: float = 1.0,
    liquidity_usd: float = 1e6,
    strengths: dict[Indicator, float] | None = None,
) -> Readings:
    by = {i: Reading(i, 1.0, 1.0, True, (strengths or {}).get(i, strength), True) for i in Indicator}
    return Readings(0, by, pattern, spread_ratio, liquidity_usd)


def placed(cmd: wire.PlaceOrder, status: str = "NEW") -> wire.OrderPlaced:
    return wire.OrderPlaced(
        cmd.command_id, 1, cmd.client_order_id, "X-" + cmd.client_order_id[:8], cmd.symbol, cmd.side,
        cmd.order_type, cmd.time_in_force, cmd.quantity, cmd.price, status,
    )  # fmt: skip


def execution(
    cmd: wire.PlaceOrder,
    price: str,
    qty: str,
    trade_id: int,
    status: str = "FILLED",
    fee: str = "0.01",
    cumulative: str | None = None,
) -> wire.OrderExecution:
    return wire.OrderExecution(
        cmd.command_id, 1, cmd.client_order_id, "X-1", cmd.symbol, cmd.side, trade_id,
        D(price), D(qty), D(cumulative or qty), cmd.quantity, status, "taker", D(fee), "USDT",
    )  # fmt: skip


def canceled(cmd: wire.CancelOrder, filled: str = "0") -> wire.OrderCanceled:
    return wire.OrderCanceled(
        cmd.command_id, 1, cmd.client_order_id, "X-1", cmd.symbol, D(filled), "CANCELED"
    )


def balances(cmd: wire.QueryBalances, quote_free: Decimal | str, base: str = "0") -> wire.Balances:
    """The engine's answer to `cmd`: `base` POL and `quote_free` USDT free, nothing locked."""
    return wire.Balances(
        cmd.command_id, 1,
        (wire.AssetBalance("POL", D(base), D(0)), wire.AssetBalance("USDT", D(quote_free), D(0))),
    )  # fmt: skip


def error(cmd: object, code: str, message: str = "refused") -> wire.Error:
    return wire.Error(getattr(cmd, "command_id"), 1, code, None, message)  # noqa: B009


GOOD = readings(1.0)
ACTIVE = State.ACTIVE


def manager() -> tuple[OrderManager, Outbox]:
    """An order manager on an outbox, its clock stopped at 0, its breaker opening at 3 failures."""
    out = Outbox()
    return OrderManager("POLUSDT", out, breaker=CircuitBreaker(3, 30 * S), clock=lambda: 0), out


def make(risk: RiskConfig | None = None, **strategy: object) -> tuple[PercentileStrategy, Outbox]:
    om, out = manager()
    cfg = replace(StrategyConfig(), **strategy)
    return PercentileStrategy(cfg, risk or RiskConfig(), D("100"), om), out


def setup_window(st: PercentileStrategy, sec: int = 1) -> None:
    """A new low at 0.2000, then a bullish candle up to 0.2050: entry 0.2010, target 0.2040."""
    st.on_candle(candle(sec, 0.2010, 0.2010, 0.2000, 0.2005), ACTIVE, GOOD, 0)
    st.on_candle(candle(sec + 1, 0.2005, 0.2050, 0.2004, 0.2050, 5000), ACTIVE, GOOD, 0)


def stop_loss_into_a_thin_bid(bid: float) -> tuple[PercentileStrategy, SimVenue]:
    """An entry buys 100 at 0.2010 (99.9 held, the fee in POL) at a simulated venue whose bid holds
    only `bid` at 0.1960; the price falls there (the stop-loss) and every command is answered until
    none is left, each a nanosecond after the one before (the venue's book is its own again at each:
    takers on one instant's book meet what those before them left). Returns the strategy and the
    venue (its fills)."""
    book = (((0.1960, bid),), ((0.2010, 1000.0),))
    venue = SimVenue(
        "POLUSDT", "POL", "USDT", lambda _now: book, D("0.001"), D("0.001"),
        quantity_step=D("0.1"), cash=D("1000"),
    )  # fmt: skip
    st, out = make()
    st.quantity_step = D("0.1")
    now = [5 * S]
    setup_window(st)
    pump(st, out, venue, now)
    st.on_price(4 * S, 0.2010, 5 * S)
    st.on_price(int(4.1 * S), 0.1960, 5 * S)
    pump(st, out, venue, now)
    return st, venue


def pump(st: PercentileStrategy, out: Outbox, venue: SimVenue, now: list[int]) -> list[object]:
    """Every command sent is answered by `venue`, each a nanosecond after the one before from `now[0]`
    (moved on in place), until none is left; returns the answers."""
    answers: list[object] = []
    while out.sent:
        now[0] += 1
        for answer in venue.handle(out.sent.pop(0), now[0]):
            answers.append(answer)
            st.on_response(answer, now[0], now[0])
    return answers


def respond(st: PercentileStrategy, msg: object, event_ns: int = 0) -> None:
    st.on_response(msg, event_ns, 0)


def enter(st: PercentileStrategy, out: Outbox, fill_ns: int = int(3.5 * S)) -> wire.PlaceOrder:
    """Sets up the window, fills the entry; returns the resting target order."""
    setup_window(st)
    buy = out.orders[-1]
    respond(st, placed(buy))
    respond(st, execution(buy, "0.2010", "100", 1, fee="0.0201"), fill_ns)
    return out.orders[-1]


def health(latency_ms: float = 1.0, state: str = "live") -> wire.HealthMetrics:
    us = latency_ms * 1000
    return wire.HealthMetrics(1, "POLUSDT", state, 10.0, us, us, us, 0, 1, 0, 20, 20, 0, 0, 0, 0, 0, 0, 0, 1)
