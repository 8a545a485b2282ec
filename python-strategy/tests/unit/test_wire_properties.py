"""Property tests of the wire codec: bad input only ever raises WireError; valid messages round-trip."""

from __future__ import annotations

import contextlib
import math
from decimal import Decimal
from pathlib import Path

import msgpack
import pytest
from hypothesis import given, settings
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


GOLDEN = Path(__file__).resolve().parents[3] / "tests" / "golden"
VECTORS = {p.stem: p.read_bytes() for p in sorted(GOLDEN.glob("*.msgpack"))}


@st.composite
def damaged_vectors(draw: st.DrawFn) -> bytes:
    """A golden vector (the bytes Rust sends and reads) cut short, with bytes changed, inserted or
    removed: what a broken peer or a corrupted frame could deliver."""
    b = bytearray(VECTORS[draw(st.sampled_from(sorted(VECTORS)))])
    for _ in range(draw(st.integers(1, 3))):
        if not b:
            break
        i = draw(st.integers(0, len(b) - 1))
        match draw(st.sampled_from(["cut", "set", "insert", "remove"])):
            case "cut":
                del b[i:]
            case "set":
                b[i] = draw(st.integers(0, 255))
            case "insert":
                b.insert(i, draw(st.integers(0, 255)))
            case "remove":
                del b[i]
    return bytes(b)


@settings(max_examples=1000)
@given(damaged_vectors())
def test_damaged_golden_vectors_decode_to_a_valid_message_or_raise_only_wire_error(b: bytes) -> None:
    try:
        msg = wire.decode(b)
    except wire.WireError:
        return
    assert wire.decode(wire.encode(msg)) == msg


def test_every_golden_vector_is_among_the_damaged_ones() -> None:
    assert len(VECTORS) == len(wire.BY_TYPE) and set(VECTORS) == set(wire.BY_TYPE)


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
