"""The backtest's simulated venue, by hand: resting limits fill only on a trade through the price (or
at it with the touch rule), market orders walk the book level by level with taker fees and optional
slippage, and the venue answers with the engine's wire responses."""

from __future__ import annotations

from decimal import Decimal

from flashcrash import wire
from flashcrash.backtest.venue import FillRule, SimVenue

D = Decimal
BIDS = ((0.99, 4.0), (0.98, 4.0))
ASKS = ((1.01, 2.0), (1.02, 2.0), (1.03, 10.0))


def venue(rule: FillRule = FillRule.TRADE_THROUGH, slippage: str = "0") -> SimVenue:
    return SimVenue(
        "POLUSDT", "USDT", lambda _now: (BIDS, ASKS), D("0.001"), D("0.002"), rule, D(slippage),
        D("0.1"), cash=D("100"),
    )  # fmt: skip


def order(coid: str, side: str, qty: str, price: str | None) -> wire.PlaceOrder:
    return wire.PlaceOrder(
        f"cmd-{coid}", 1, coid, "POLUSDT", side, "MARKET" if price is None else "LIMIT",
        None if price is None else "GTC", D(qty), None if price is None else D(price),
    )  # fmt: skip


def test_limit_buy_fills_only_when_a_trade_prints_through_its_price() -> None:
    v = venue()
    placed = v.handle(order("a", "BUY", "3", "1.00"), 10)
    assert [type(m) for m in placed] == [wire.OrderPlaced]
    assert placed[0].status == "NEW"
    assert v.on_trade(11, 1.00, 50.0) == []  # at the price: queue position unknown, no fill
    assert v.on_trade(12, 1.005, 50.0) == []
    out = v.on_trade(13, 0.995, 2.0)  # through, 2 of 3
    assert len(out) == 1 and out[0].last_quantity == D("2") and out[0].last_price == D("1.00")
    assert out[0].liquidity == "maker" and out[0].status == "PARTIALLY_FILLED"
    assert out[0].fee == D("0.00200000")  # 1.00 x 2 x 0.001
    out = v.on_trade(14, 0.99, 5.0)
    assert (
        out[0].last_quantity == D("1") and out[0].status == "FILLED" and out[0].cumulative_quantity == D("3")
    )
    assert not v.open
    assert v.cash == D("100") - D("3.00") - D("0.003")
    assert v.position == D("3")


def test_limit_sell_fills_only_when_a_trade_prints_above_its_price() -> None:
    """The sell side of the trade-through rule: a trade at the resting sell's price (or below) does
    not fill it, one above fills it at its own price, as maker, up to the trade's size."""
    v = venue()
    placed = v.handle(order("s", "SELL", "3", "1.05"), 10)
    assert [(type(m), m.status) for m in placed] == [(wire.OrderPlaced, "NEW")]  # the bids are at 0.99
    assert v.on_trade(11, 1.05, 50.0) == []  # at the price: no fill
    assert v.on_trade(12, 1.045, 50.0) == []
    out = v.on_trade(13, 1.055, 2.0)  # through, 2 of 3
    assert len(out) == 1 and out[0].last_quantity == D("2") and out[0].last_price == D("1.05")
    assert out[0].side == "SELL" and out[0].liquidity == "maker" and out[0].status == "PARTIALLY_FILLED"
    assert v.on_trade(14, 1.05, 50.0) == []  # the rest still waits at the price
    out = v.on_trade(15, 1.06, 5.0)
    assert (
        out[0].last_quantity == D("1") and out[0].status == "FILLED" and out[0].cumulative_quantity == D("3")
    )
    assert not v.open
    assert v.position == D("-3") and v.cash == D("100") + D("3.15") - D("0.00315")


def test_touch_rule_fills_at_the_price() -> None:
    v = venue(FillRule.TOUCH)
    v.handle(order("a", "BUY", "3", "1.00"), 10)
    out = v.on_trade(11, 1.00, 50.0)
    assert out[0].last_quantity == D("3") and out[0].status == "FILLED"
    v.handle(order("s", "SELL", "3", "1.05"), 12)
    assert v.on_trade(13, 1.049, 9.0) == []
    assert v.on_trade(14, 1.05, 9.0)[0].last_price == D("1.05")


def test_market_buy_walks_the_book_and_pays_taker_fees() -> None:
    v = venue()
    out = v.handle(order("m", "BUY", "5", None), 10)
    placed, fills = out[0], out[1:]
    assert placed.status == "FILLED"
    assert [(f.last_price, f.last_quantity) for f in fills] == [
        (D("1.01"), D("2")),
        (D("1.02"), D("2")),
        (D("1.03"), D("1")),
    ]
    assert all(f.liquidity == "taker" for f in fills)
    notional = D("1.01") * 2 + D("1.02") * 2 + D("1.03")  # 5.09: average 1.018 against a 1.01 touch
    fee = sum((f.fee for f in fills), D(0))
    assert fee == notional * D("0.002")
    assert v.cash == D("100") - notional - fee
    assert v.equity(1.0) == v.cash + D("5")


def test_market_sell_with_slippage_and_an_exhausted_book_expires() -> None:
    v = venue(slippage="10")  # 10 bps worse on every taker fill
    v.handle(order("b", "BUY", "20", "2.00"), 9)  # marketable limit: takes all 14 of the asks
    assert v.position == D("14")
    out = v.handle(order("s", "SELL", "10", None), 10)
    assert out[0].status == "EXPIRED"  # the book holds 8 on the bid side
    fills = out[1:]
    assert [f.last_price for f in fills] == [D("0.98901000"), D("0.97902000")]  # 0.99 and 0.98 less 0.1 %
    assert sum((f.last_quantity for f in fills), D(0)) == D("8")


def test_cancel_query_duplicate_and_open_orders() -> None:
    v = venue()
    v.handle(order("a", "BUY", "1", "0.90"), 1)
    dup = v.handle(order("a", "BUY", "1", "0.90"), 2)
    assert isinstance(dup[0], wire.Error) and dup[0].code == "DUPLICATE_ORDER"
    (listed,) = v.handle(wire.QueryOpenOrders("q", 3, "POLUSDT"), 3)
    assert [o.client_order_id for o in listed.orders] == ["a"]
    (canceled,) = v.handle(wire.CancelOrder("c", 4, "POLUSDT", "a"), 4)
    assert isinstance(canceled, wire.OrderCanceled) and canceled.command_id == "c"
    (again,) = v.handle(wire.CancelOrder("c2", 5, "POLUSDT", "a"), 5)
    assert isinstance(again, wire.Error) and again.code == "UNKNOWN_ORDER"
    (status,) = v.handle(wire.QueryOrder("q2", 6, "POLUSDT", "a"), 6)
    assert status.order.status == "CANCELED"
    (unknown,) = v.handle(wire.QueryOrder("q3", 7, "POLUSDT", "zz"), 7)
    assert unknown.code == "UNKNOWN_ORDER"
    # Every answer survives the wire codec, as the engine's would.
    for m in (dup[0], listed, canceled, status, unknown):
        assert wire.decode(wire.encode(m)) == m
