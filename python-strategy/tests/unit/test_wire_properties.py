"""Property tests of the wire codec: bad input only ever raises WireError; valid messages round-trip."""

from __future__ import annotations

import contextlib
import math
from decimal import Decimal

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flashcrash import wire

u64 = st.integers(min_value=0, max_value=2**64 - 1)
prices = st.floats(min_value=1e-8, max_value=1e9, allow_nan=False, allow_infinity=False)
qtys = st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False)
decimals = st.decimals(min_value=Decimal("0"), max_value=Decimal("1e9"), places=8).map(
    lambda d: Decimal(str(d))
)
texts = st.text(max_size=40)


@given(st.binary(max_size=300))
def test_random_bytes_raise_only_wire_error(b: bytes) -> None:
    with contextlib.suppress(wire.WireError):
        wire.decode(b)


values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(st.sampled_from(sorted(wire.BY_TYPE)), st.dictionaries(st.text(max_size=12), values, max_size=8))
def test_random_maps_raise_only_wire_error(type_name: str, body: dict) -> None:
    with contextlib.suppress(wire.WireError):
        wire.decode(msgpack.packb({"type": type_name, **body}, use_bin_type=True))


@given(st.text(max_size=12), u64, u64, u64, prices, qtys, st.sampled_from(["buy", "sell"]))
def test_trade_round_trips(sym, ts, local, tid, price, qty, side) -> None:
    t = wire.Trade(sym, ts, local, tid, price, qty, side)
    assert wire.decode(wire.encode(t)) == t


@given(texts, u64, st.from_regex(r"[a-zA-Z0-9_-]{1,36}", fullmatch=True), decimals, st.none() | decimals)
def test_place_order_round_trips(cid, ts, coid, qty, price) -> None:
    p = wire.PlaceOrder(cid, ts, coid, "POLUSDT", "BUY", "LIMIT", "GTC", qty, price)
    out = wire.decode(wire.encode(p))
    assert out == p and format(out.quantity, "f") == format(qty, "f")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0, 0.0])
def test_bad_trade_prices_are_rejected(bad: float) -> None:
    m = wire.Trade("POLUSDT", 1, 1, 1, 0.1, 1.0, "buy").to_map()
    m["price"] = bad
    with pytest.raises(wire.WireError):
        wire.decode(msgpack.packb(m))


@pytest.mark.parametrize("bad", ["1e3", "1_000", ".5", "NaN", "", "5."])
def test_bad_decimal_strings_are_rejected(bad: str) -> None:
    m = wire.PlaceOrder("c", 1, "x", "POLUSDT", "BUY", "MARKET", None, Decimal("1"), None).to_map()
    m["quantity"] = bad
    with pytest.raises(wire.WireError):
        wire.decode(msgpack.packb(m))
