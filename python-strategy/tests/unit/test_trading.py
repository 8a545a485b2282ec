"""Order manager (correlation, timeouts that query and never re-send, fills applied once), position
accounting, and the strategy's entries, exits and cooldown."""

from __future__ import annotations

import re
from decimal import Decimal

from flashcrash import wire
from flashcrash.config import StrategyConfig
from flashcrash.event_detector import Candle, State
from flashcrash.trading_engine import OrderManager, Position, ReboundStrategy

S = 1_000_000_000
D = Decimal


class Outbox:
    def __init__(self) -> None:
        self.sent: list[object] = []

    def __call__(self, msg: object) -> bool:
        self.sent.append(msg)
        return True


def fill(
    cmd: wire.PlaceOrder, price: str, qty: str, trade_id: int, status: str = "FILLED", fee: str = "0.01"
):
    return wire.OrderExecution(
        cmd.command_id, 1, cmd.client_order_id, "PAPER-1", cmd.symbol, cmd.side, trade_id,
        D(price), D(qty), D(qty), cmd.quantity, status, "taker", D(fee), "USDT",
    )  # fmt: skip


def test_client_order_id_format_and_correlation() -> None:
    out = Outbox()
    om = OrderManager("POLUSDT", out)
    coid = om.place_market("BUY", D("100"), 0, "entry")
    assert coid is not None and re.fullmatch(r"[a-zA-Z0-9_-]{1,36}", coid)
    cmd = out.sent[0]
    assert isinstance(cmd, wire.PlaceOrder) and cmd.client_order_id == coid and cmd.price is None
    assert om.has_open_order()
    f = fill(cmd, "0.2", "100", 1)
    assert om.on_response(f) == f
    assert om.on_response(f) is None  # the same fill twice is applied once
    assert om.stats["duplicate_fills"] == 1
    assert not om.has_open_order()


def test_timeout_queries_and_never_resends_the_order() -> None:
    out = Outbox()
    om = OrderManager("POLUSDT", out, timeout_ns=S)
    coid = om.place_market("BUY", D("100"), 0, "entry")
    om.check_timeouts(S // 2)
    assert len(out.sent) == 1
    for k in range(1, 4):
        om.check_timeouts(k * S + 1)
    kinds = [type(m).__name__ for m in out.sent]
    assert kinds.count("PlaceOrder") == 1
    assert kinds.count("QueryOrder") == 3
    assert all(m.client_order_id == coid for m in out.sent)
    # The engine never saw it: the query answers UNKNOWN_ORDER, the order is given up (no new order).
    q = out.sent[-1]
    om.on_response(wire.Error(q.command_id, 1, "UNKNOWN_ORDER", "client_order_id", "Order does not exist"))
    assert not om.has_open_order()
    assert [type(m).__name__ for m in out.sent].count("PlaceOrder") == 1


def test_rejected_order_is_not_open() -> None:
    out = Outbox()
    om = OrderManager("POLUSDT", out)
    om.place_market("BUY", D("100"), 0, "entry")
    cmd = out.sent[0]
    om.on_response(wire.Error(cmd.command_id, 1, "VALIDATION", "quantity", "too small"))
    assert not om.has_open_order() and om.stats["errors"] == 1


def test_position_pnl_by_hand() -> None:
    p = Position()
    p.on_fill("BUY", D("0.20"), D("100"), D("0.02"), 1 * S, "")
    p.on_fill("BUY", D("0.22"), D("100"), D("0.022"), 2 * S, "")
    assert p.avg_entry == D("0.21")
    assert p.on_fill("SELL", D("0.25"), D("50"), D("0.0125"), 3 * S, "take_profit") is None
    t = p.on_fill("SELL", D("0.23"), D("150"), D("0.0345"), 4 * S, "take_profit")
    assert t is not None and not p.is_open
    # gross: 50*(0.25-0.21) + 150*(0.23-0.21) = 2 + 3 = 5; fees 0.089
    assert t.pnl == D("4.911")
    assert t.entry_price == D("0.21") and t.exit_price == D("0.235")
    assert p.realized == D("5") - D("0.089")  # every fee, buys included
    assert p.total_fees == D("0.089")


def candle(sec: int, o: float, c: float) -> Candle:
    return Candle(sec * S, o, max(o, c), min(o, c), c, 1.0, 0.5, 1)


def make(cooldown: int = 5) -> tuple[ReboundStrategy, OrderManager, Outbox]:
    out = Outbox()
    om = OrderManager("POLUSDT", out)
    cfg = StrategyConfig(take_profit_pct=1.0, stop_loss_pct=1.5, max_hold_secs=20, cooldown_secs=cooldown)
    return ReboundStrategy(cfg, D("100"), om), om, out


def test_entry_only_on_bullish_candle_while_active() -> None:
    st, _, out = make()
    st.on_candle(candle(1, 1.0, 1.1), State.SLEEP, 0)
    st.on_candle(candle(2, 1.1, 1.0), State.ACTIVE, 0)
    assert out.sent == [] and st.decisions["rejected_not_bullish"] == 1
    st.on_candle(candle(3, 1.0, 1.1), State.ACTIVE, 0)
    assert len(out.sent) == 1 and out.sent[0].side == "BUY" and st.decisions["taken"] == 1
    st.on_candle(candle(4, 1.0, 1.1), State.ACTIVE, 0)
    assert st.decisions["rejected_order_pending"] == 1 and len(out.sent) == 1


def test_exits_and_cooldown() -> None:
    st, om, out = make(cooldown=5)
    st.on_candle(candle(1, 1.0, 1.1), State.ACTIVE, 0)
    st.on_fill(om.on_response(fill(out.sent[0], "1.00", "100", 1)), 2 * S)
    st.on_price(3 * S, 1.005, 0)
    assert len(out.sent) == 1  # inside the band: hold
    st.on_price(4 * S, 1.011, 0)
    sell = out.sent[-1]
    assert sell.side == "SELL" and sell.quantity == D("100") and st.exit_reason == "take_profit"
    trade = st.on_fill(om.on_response(fill(sell, "1.01", "100", 2)), 5 * S)
    assert trade is not None and trade.exit_reason == "take_profit"
    st.on_candle(candle(7, 1.0, 1.1), State.ACTIVE, 0)
    assert st.decisions["rejected_cooldown"] == 1
    st.on_candle(candle(10, 1.0, 1.1), State.ACTIVE, 0)
    assert st.decisions["taken"] == 2


def test_stop_loss_and_max_hold() -> None:
    st, om, out = make()
    st.on_candle(candle(1, 1.0, 1.1), State.ACTIVE, 0)
    st.on_fill(om.on_response(fill(out.sent[0], "1.00", "100", 1)), 2 * S)
    st.on_price(3 * S, 0.984, 0)
    assert st.exit_reason == "stop_loss"
    st2, om2, out2 = make()
    st2.on_candle(candle(1, 1.0, 1.1), State.ACTIVE, 0)
    st2.on_fill(om2.on_response(fill(out2.sent[0], "1.00", "100", 1)), 2 * S)
    st2.on_price(21 * S, 1.0, 0)
    assert len(out2.sent) == 1
    st2.on_price(22 * S, 1.0, 0)
    assert st2.exit_reason == "max_hold" and out2.sent[-1].side == "SELL"


def test_order_stays_open_until_its_executions_arrive() -> None:
    """The acceptance (FILLED) can arrive before the fills: no exit may be decided in between."""
    st, om, out = make()
    st.on_candle(candle(1, 1.0, 1.1), State.ACTIVE, 0)
    buy = out.sent[0]
    placed = wire.OrderPlaced(
        buy.command_id,
        1,
        buy.client_order_id,
        "P-1",
        "POLUSDT",
        "BUY",
        "MARKET",
        None,
        D("100"),
        None,
        "FILLED",
    )
    om.on_response(placed)
    st.on_fill(om.on_response(fill(buy, "1.00", "40", 1, status="PARTIALLY_FILLED")), 2 * S)
    assert om.has_open_order()
    st.on_price(3 * S, 0.5, 0)  # far below the stop: still no exit while fills are pending
    assert len(out.sent) == 1
    st.on_fill(om.on_response(fill(buy, "1.00", "60", 2)), 2 * S)
    assert not om.has_open_order() and st.position.quantity == D("100")
    st.on_price(4 * S, 0.5, 0)
    assert out.sent[-1].side == "SELL" and out.sent[-1].quantity == D("100")


def test_sell_fill_without_position_is_refused() -> None:
    p = Position()
    try:
        p.on_fill("SELL", D("1"), D("1"), D("0"), S, "x")
    except ValueError:
        pass
    else:
        raise AssertionError("a sell without a position must not become a trade")
    assert p.closed == []
