"""The backtest's simulated venue, by hand: resting limits fill only on a trade through the price (or
at it with the touch rule), market orders walk the book level by level with taker fees and optional
slippage, and the venue answers with the engine's wire responses."""

from __future__ import annotations

import json
from decimal import Decimal

from flashcrash import wire
from flashcrash.backtest.venue import FillRule, SimVenue
from flashcrash.launcher import REPO

D = Decimal
BIDS = ((0.99, 4.0), (0.98, 4.0))
ASKS = ((1.01, 2.0), (1.02, 2.0), (1.03, 10.0))


def venue(rule: FillRule = FillRule.TRADE_THROUGH, slippage: str = "0", base: str = "0") -> SimVenue:
    return SimVenue(
        "POLUSDT", "POL", "USDT", lambda _now: (BIDS, ASKS), D("0.001"), D("0.002"), rule, D(slippage),
        D("0.1"), cash=D("100"), base=D(base),
    )  # fmt: skip


def resting(v: SimVenue) -> list[tuple[str, Decimal]]:
    """The venue's open orders as it lists them: (client order id, quantity left)."""
    (listed,) = v.handle(wire.QueryOpenOrders("q-open", 0, "POLUSDT"), 0)
    assert len(listed.orders) == v.open_count
    return [(o.client_order_id, o.quantity - o.filled_quantity) for o in listed.orders]


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
    assert (out[0].fee, out[0].fee_asset) == (D("0.00200000"), "POL")  # a buy's fee: 2 x 0.001 POL
    out = v.on_trade(14, 0.99, 5.0)
    assert (
        out[0].last_quantity == D("1") and out[0].status == "FILLED" and out[0].cumulative_quantity == D("3")
    )
    assert not resting(v)
    assert v.cash == D("100") - D("3.00")
    assert v.position == D("3") - D("0.003")  # the venue took the fee from the coins bought
    assert v.fees == D("0.003")  # valued at the fill's price, 1.00


def test_limit_sell_fills_only_when_a_trade_prints_above_its_price() -> None:
    """The sell side of the trade-through rule: a trade at the resting sell's price (or below) does
    not fill it, one above fills it at its own price, as maker, up to the trade's size."""
    v = venue(base="3")
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
    assert not resting(v)
    assert v.position == D("0") and v.cash == D("100") + D("3.15") - D("0.00315")
    assert out[0].fee_asset == "USDT"  # a sell's fee: in the quote asset


def test_touch_rule_fills_at_the_price() -> None:
    v = venue(FillRule.TOUCH, base="1")
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
    assert fee == D("5") * D("0.002") and {f.fee_asset for f in fills} == {"POL"}
    assert v.cash == D("100") - notional
    assert v.position == D("5") - fee
    assert v.equity(1.0) == v.cash + D("5") - fee


def test_market_sell_with_slippage_and_an_exhausted_book_expires() -> None:
    v = venue(slippage="10")  # 10 bps worse on every taker fill
    v.handle(order("b", "BUY", "20", "2.00"), 9)  # marketable limit: takes all 14 of the asks
    assert v.position == D("14") - D("0.028")  # less the taker fee, 14 x 0.002
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


# ------------------------------------------------------------ added checks
def typed(coid: str, side: str, qty: str, price: str, order_type: str, tif: str | None) -> wire.PlaceOrder:
    return wire.PlaceOrder(f"cmd-{coid}", 1, coid, "POLUSDT", side, order_type, tif, D(qty), D(price))


def test_slippage_worsens_a_market_buy_and_never_a_maker_fill() -> None:
    """`slippage_bps` makes every taker fill worse for us: a buy pays more than each level's price
    (10 bp: 1.01 -> 1.01101, 1.02 -> 1.02102); the taker fee is in the coins bought, valued at that
    worse price in `fees`. A resting order filled by a trade (maker) fills at its own price, slippage or not."""
    v = venue(slippage="10")
    out = v.handle(order("m", "BUY", "3", None), 10)
    assert out[0].status == "FILLED"
    assert [(f.last_price, f.last_quantity, f.fee) for f in out[1:]] == [
        (D("1.01101"), D("2"), D("0.004")),  # 2 x 0.002 POL
        (D("1.02102"), D("1"), D("0.002")),
    ]
    assert v.cash == D("100") - D("2.02202") - D("1.02102")
    assert v.fees == D("1.01101") * D("0.004") + D("1.02102") * D("0.002")
    v.handle(order("r", "BUY", "3", "1.00"), 11)
    (fill,) = v.on_trade(12, 0.99, 5.0)
    assert (fill.liquidity, fill.last_price, fill.fee) == ("maker", D("1.00"), D("0.003"))
    assert v.fills[-1].price == D("1.00")


def test_a_marketable_limit_takes_the_levels_up_to_its_price_and_rests_the_rest() -> None:
    """A LIMIT GTC order crossing the book takes every level at or better than its price (its own
    price included), as taker; what is left rests and later fills as maker at the limit. Sell side:
    the bids at or above the limit."""
    v = venue(base="2")
    out = v.handle(order("b", "BUY", "5", "1.02"), 10)
    assert out[0].status == "PARTIALLY_FILLED"
    assert [(f.last_price, f.last_quantity, f.liquidity) for f in out[1:]] == [
        (D("1.01"), D("2"), "taker"),
        (D("1.02"), D("2"), "taker"),
    ]
    assert resting(v) == [("b", D("1"))]
    (rest,) = v.on_trade(11, 1.015, 3.0)
    assert (rest.last_price, rest.last_quantity, rest.liquidity, rest.status) == (
        D("1.02"),
        D("1"),
        "maker",
        "FILLED",
    )
    out = v.handle(order("s", "SELL", "6", "0.99"), 12)
    assert [(f.last_price, f.last_quantity) for f in out[1:]] == [(D("0.99"), D("4"))]  # not the 0.98 level
    assert out[0].status == "PARTIALLY_FILLED" and resting(v) == [("s", D("2"))]


def test_an_ioc_limit_expires_what_it_cannot_take_at_once() -> None:
    """Time in force IOC: the marketable part fills against the book, the rest expires instead of
    resting (nothing is left open, a later trade through the price fills nothing)."""
    v = venue()
    out = v.handle(typed("i", "BUY", "5", "1.02", "LIMIT", "IOC"), 10)
    assert out[0].status == "EXPIRED"
    assert sum((f.last_quantity for f in out[1:]), D(0)) == D("4")
    assert resting(v) == [] and v.on_trade(11, 1.00, 9.0) == []
    assert v.position == D("4") - D("0.008")


def test_a_fok_limit_the_book_cannot_fill_whole_expires_without_a_fill() -> None:
    """Time in force FOK: all or nothing. A buy of 5 up to 1.02 meets 4 on the book and expires
    with nothing filled (the engine's paper executor, as Binance); one of 4 fills whole."""
    v = venue()
    out = v.handle(typed("f", "BUY", "5", "1.02", "LIMIT", "FOK"), 10)
    assert [(type(m), getattr(m, "status", None)) for m in out] == [(wire.OrderPlaced, "EXPIRED")]
    assert v.position == 0 and v.cash == D("100") and not v.fills
    out = v.handle(typed("g", "BUY", "4", "1.02", "LIMIT", "FOK"), 11)
    assert out[0].status == "FILLED" and sum((f.last_quantity for f in out[1:]), D(0)) == D("4")


def test_one_trade_fills_resting_orders_oldest_first_up_to_its_size() -> None:
    """A market trade through several resting orders is shared among them, oldest first, and never
    fills more in all than its own quantity: 4 through two buys of 3 fills the first whole and the
    second for 1; the next trade then fills the rest of the second and the third order."""
    v = venue()
    v.handle(order("a", "BUY", "3", "1.00"), 10)
    v.handle(order("b", "BUY", "3", "1.00"), 11)
    v.handle(order("c", "BUY", "2", "0.995"), 12)
    out = v.on_trade(13, 0.99, 4.0)
    assert [(f.client_order_id, f.last_quantity, f.status) for f in out] == [
        ("a", D("3"), "FILLED"),
        ("b", D("1"), "PARTIALLY_FILLED"),
    ]
    out = v.on_trade(14, 0.99, 10.0)
    assert [(f.client_order_id, f.last_quantity) for f in out] == [("b", D("2")), ("c", D("2"))]
    assert v.position == D("8") - D("0.008") and resting(v) == []


def test_maker_fills_are_rounded_down_to_the_quantity_grid() -> None:
    """A trade of 2.37 through a resting buy fills 2.3 on the 0.1 grid (never 2.4, more than the
    trade); a trade smaller than one step fills nothing."""
    v = venue()
    v.handle(order("a", "BUY", "3", "1.00"), 10)
    (fill,) = v.on_trade(11, 0.99, 2.37)
    assert fill.last_quantity == D("2.3")
    assert v.on_trade(12, 0.99, 0.05) == []
    assert resting(v) == [("a", D("0.7"))]


def test_a_limit_maker_that_would_take_is_refused() -> None:
    """LIMIT_MAKER: a buy at or above the best ask (a sell at or below the best bid) would take, and
    is refused with a VENUE error; one inside the spread rests without filling."""
    v = venue(base="1")
    for coid, side, price in (("x", "BUY", "1.01"), ("y", "SELL", "0.99")):
        (err,) = v.handle(typed(coid, side, "1", price, "LIMIT_MAKER", "GTC"), 10)
        assert isinstance(err, wire.Error) and err.code == "VENUE", (side, price)
    out = v.handle(typed("z", "BUY", "1", "1.005", "LIMIT_MAKER", "GTC"), 11)
    assert [(type(m), m.status) for m in out] == [(wire.OrderPlaced, "NEW")]
    assert [coid for coid, _ in resting(v)] == ["z"] and v.position == D("1")


def test_fees_follow_the_shared_cases_of_the_paper_engine_and_exchange_sim() -> None:
    """`tests/fee_cases/cases.json`, also checked by the paper executor and exchange-sim's matching:
    a buy's fee in the coins bought, a sell's in the quote asset, rounded down to 8 decimals, and
    the account moved by exactly that."""
    doc = json.loads((REPO / "tests" / "fee_cases" / "cases.json").read_text())
    assert len(doc["cases"]) >= 4
    book = ((float(doc["bid"]), 1000.0),), ((float(doc["ask"]), 1000.0),)
    for case in doc["cases"]:
        held = D(case["qty"]) if case["side"] == "SELL" else D(0)  # spot sells only what is held
        v = SimVenue(
            doc["symbol"], doc["base_asset"], doc["quote_asset"], lambda _now: book,
            D(doc["maker_rate"]), D(doc["taker_rate"]), cash=D("1000"), base=held,
        )  # fmt: skip
        placed, fill = v.handle(order("f", case["side"], case["qty"], None), 1)
        assert placed.status == "FILLED", case
        assert (fill.fee, fill.fee_asset) == (D(case["fee"]), case["fee_asset"]), case["name"]
        assert v.position - held == D(case["base_change"]), case["name"]
        assert v.cash - D("1000") == D(case["quote_change"]), case["name"]


# --------------------------------------------------------------- the engine's order rules
def ruled(max_positions: int = 3, max_position_notional: str = "3000", max_open_orders: int = 5) -> SimVenue:
    """A venue applying the engine's rules: POLUSDT's grid (tick 0.0001, step 0.1, minimum notional
    5), lots of 100, max order notional 1000."""
    import flashcrash_native

    rules = flashcrash_native.OrderRules(
        "POLUSDT", "0.0001", "0.1", "5", "1000", max_open_orders, max_position_notional, max_positions, "100"
    )
    return SimVenue(
        "POLUSDT", "POL", "USDT", lambda _now: (BIDS, ASKS), D("0.001"), D("0.002"), quantity_step=D("0.1"),
        rules=rules, cash=D("1000"),
    )  # fmt: skip


def refused(out: list[object]) -> tuple[str, str | None, str]:
    assert len(out) == 1 and isinstance(out[0], wire.Error), out
    return out[0].code, out[0].field, out[0].message


def test_the_venue_refuses_what_the_engine_refuses_with_its_words() -> None:
    """The engine's validation (crate `order-rules`): the symbol's filters and `[risk]`
    max_order_notional, each refusal a VALIDATION error naming the field, with the engine's message;
    nothing is kept of a refused order (its client order id can be used again)."""
    v = ruled()
    for side, qty, price, refusal in (
        ("BUY", "4", "1.00", ("quantity", "notional 4 below the minimum 5 (NOTIONAL)")),
        (
            "BUY",
            "10.05",
            "1.00",
            ("quantity", "quantity 10.05 is not a multiple of step size 0.1 (LOT_SIZE)"),
        ),
        ("BUY", "10", "1.00005", ("price", "price 1.00005 is not a multiple of tick size 0.0001")),
        ("BUY", "1001", "1.00", ("quantity", "notional 1001 above [risk] max_order_notional 1000")),
    ):
        assert refused(v.handle(order("a", side, qty, price), 1)) == ("VALIDATION", *refusal)
    # A market order's notional is valued at the touch it takes from: 4.9 x 1.01 is under 5.
    assert (
        refused(v.handle(order("a", "BUY", "4.9", None), 1))[2]
        == "notional 4.949 below the minimum 5 (NOTIONAL)"
    )
    assert not resting(v) and not v.fills and v.cash == D("1000")
    placed = v.handle(order("a", "BUY", "5", None), 1)  # 5.05 at the ask
    assert placed[0].status == "FILLED"


def test_the_venue_applies_the_engines_position_limits_first() -> None:
    """`[risk] max_positions` counts open buys plus lots held; `max_position_notional` values the
    worst case of every open order filling; a sell that lowers it always goes. The position checks
    come before the validation, as in the engine (its core, then its executor), and the message is
    the engine's core's ("field: rule")."""
    v = ruled(max_positions=2, max_position_notional="250")
    for coid in ("a", "b"):
        assert v.handle(order(coid, "BUY", "100", "0.90"), 1)[0].status == "NEW"
    code, fld, message = refused(v.handle(order("c", "BUY", "100", "0.90"), 1))
    assert (code, fld) == ("VALIDATION", "side")
    assert (
        message
        == "side: 2 positions already (net long 0 in lots of 100, 2 open buys) at [risk] max_positions 2"
    )
    # Off the tick as well: the position limit is named, as the engine's core answers first.
    assert refused(v.handle(order("c", "BUY", "100", "0.90005"), 1))[1] == "side"
    assert isinstance(v.handle(wire.CancelOrder("x", 1, "POLUSDT", "b"), 2)[0], wire.OrderCanceled)
    # 100 open at 0.90 plus 200 more at 1.00 would be worth 300 at 1.00: over 250.
    code, fld, message = refused(v.handle(order("d", "BUY", "200", "1.00"), 3))
    assert fld == "quantity" and message.startswith("quantity: exposure 300.00 (position 0, open buys 100")
    assert message.endswith("above [risk] max_position_notional 250")
    # The first buy fills (a trade through 0.90): a sell of the long lowers the worst case.
    v.on_trade(4, 0.89, 1000.0)
    assert v.position == D("99.9")  # the fee in POL
    assert v.handle(order("e", "SELL", "99.9", "1.00"), 5)[0].status == "NEW"


def test_the_venue_applies_max_open_orders() -> None:
    v = ruled(max_open_orders=2)
    for coid in ("a", "b"):
        assert v.handle(order(coid, "BUY", "10", "0.90"), 1)[0].status == "NEW"
    assert refused(v.handle(order("c", "BUY", "10", "0.90"), 1)) == (
        "VALIDATION", "client_order_id", "2 open orders already ([risk] max_open_orders = 2)",
    )  # fmt: skip


def test_bad_market_data_never_fills() -> None:
    """A trade at a price of zero or less, or not a number, fills no resting order (the paper
    executor drops it); a book level of no quantity is skipped by a market order."""
    v = venue()
    v.handle(order("a", "BUY", "3", "0.90"), 1)
    for price in (0.0, -1.0, float("nan"), float("-inf")):
        assert v.on_trade(2, price, 5.0) == [], price
    assert resting(v) == [("a", D("3"))] and v.position == 0
    empty_first = SimVenue(
        "POLUSDT", "POL", "USDT", lambda _now: (BIDS, ((1.01, 0.0), (1.02, 5.0))), D("0.001"), D("0.002"),
        quantity_step=D("0.1"), cash=D("100"),
    )  # fmt: skip
    out = empty_first.handle(order("m", "BUY", "1", None), 1)
    assert [(f.last_price, f.last_quantity) for f in out[1:]] == [(D("1.02"), D("1"))]


def test_a_sell_of_more_than_is_held_is_refused() -> None:
    """Spot is long only: a sell that, with the open sells, would sell more than the account holds is
    refused with the engine's words (crate `order-rules`), from flat as from a smaller position."""
    v = ruled()
    code, fld, message = refused(v.handle(order("s", "SELL", "10", "1.00"), 1))
    assert (code, fld) == (
        "VALIDATION",
        "quantity",
    ) and "would sell more than the net position held 0" in message
    assert v.handle(order("b", "BUY", "10", None), 2)[0].status == "FILLED"  # 9.99 held, the fee in POL
    assert v.handle(order("t", "SELL", "9.9", "1.20"), 3)[0].status == "NEW"
    assert refused(v.handle(order("u", "SELL", "5", "1.20"), 4))[0] == "VALIDATION"  # 9.9 already for sale


def test_with_its_funds_checked_a_buy_the_free_cash_cannot_pay_for_is_refused() -> None:
    """The replay's venue checks funds as a spot venue does: a limit buy needs its price x quantity
    of the cash the open buys leave free, else `Error` `VENUE` with Binance's `-2010` message, and
    nothing rests. Without the check (the default here) the cash would go negative."""
    v = SimVenue(
        "POLUSDT", "POL", "USDT", lambda _now: (BIDS, ASKS), D("0.001"), D("0.002"),
        quantity_step=D("0.1"), cash=D("100"), check_funds=True,
    )  # fmt: skip
    assert isinstance(v.handle(order("a", "BUY", "60", "0.95"), 1)[0], wire.OrderPlaced)  # holds 57
    (refused,) = v.handle(order("b", "BUY", "50", "0.95"), 2)  # 47.5 > 43 free
    assert isinstance(refused, wire.Error) and refused.code == "VENUE"
    assert refused.message == "Account has insufficient balance for requested action."
    assert resting(v) == [("a", D("60"))]
    assert isinstance(v.handle(order("c", "BUY", "45", "0.95"), 3)[0], wire.OrderPlaced)  # 42.75
    unchecked = venue()
    for coid in "ab":
        assert isinstance(unchecked.handle(order(coid, "BUY", "60", "0.95"), 1)[0], wire.OrderPlaced)
