"""Strict decoding of every message of docs/PROTOCOL.md: starting from each golden vector, every field
(nested order and balance maps included) replaced by a value its kind forbids (NaN, Inf, a zero or
negative price, a negative quantity, a negative or boolean integer, a lower-case enumeration, an
exponent decimal, a wrong MessagePack type), a key added or removed, or an unknown type must raise
`WireError` (what the client counts and drops), so none of it reaches an indicator or an order. The
Trade and OrderBookSnapshot fast paths are covered too: `decode` tries them first."""

from __future__ import annotations

import math
from dataclasses import fields
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flashcrash import wire

REPO = Path(__file__).resolve().parents[3]
GOLDEN = REPO / "tests" / "golden"
NAN, INF = math.nan, math.inf

BAD_UINT = [-1, -(2**63), True, False, 1.0, "1", b"1", [1]]
BAD_PRICE = [NAN, INF, -INF, 0.0, -0.0, -1e-9, -1.0, 1, True, "0.1", b"\x00"]
BAD_QTY = [NAN, INF, -INF, -1e-9, -0.5, -1.0, 1, True, "1.0"]
BAD_STR = [1, True, 1.5, b"POLUSDT", ["a"], {"a": 1}]
BAD_BOOL = [1, 0, "true", 1.0]
BAD_DEC = [
    "1e3",
    "1E3",
    "1_000",
    ".5",
    "5.",
    "",
    "NaN",
    "Infinity",
    " 1",
    "1 ",
    "1\n",
    "+1",
    "0x10",
    "\u0661",
    1.5,
    1,
    # Past the bounds (`test_a_decimal_past_its_bounds_is_refused_naming_the_field` below): too long,
    # too many digits, too large.
    "0" * 64 + "1",
    "1234567890123456789.0123456789",  # 29 significant digits
    "0." + "0" * 28 + "1",  # 29 digits after the point
    "100000000000000000000",  # 1e20
    "-100000000000000000000.5",
]
BAD_LEVELS = (
    [[[p, 1.0]] for p in BAD_PRICE]
    + [[[0.1, q]] for q in BAD_QTY]
    + [[[0.1]], [[0.1, 1.0, 1.0]], [0.1, 1.0], "x", 1, [None]]
)
BAD_LIST = ["x", 1, [1], [None], [[]]]


def _bad_values(kind: str) -> list[Any]:
    """Values a field of `kind` must refuse (nil too unless the kind is optional)."""
    optional = kind.endswith("?")
    base = kind.rstrip("?")
    nil = [] if optional else [None]
    if base.startswith("enum:"):
        allowed = base[5:].split("|")
        # Other spellings of an allowed value (BUY vs buy), and other types.
        return [a.swapcase() for a in allowed] + [a + " " for a in allowed] + ["", 1, True] + nil
    return {
        "uint": BAD_UINT,
        "price": BAD_PRICE,
        "qty": BAD_QTY,
        "str": BAD_STR,
        "bool": BAD_BOOL,
        "dec": BAD_DEC,
        "pdec": [*BAD_DEC, "0", "0.00000000", "-0.1", "-1"],
        "udec": [*BAD_DEC, "-0.00000001", "-1"],
        "levels": BAD_LEVELS,
        "order": BAD_STR,  # not a map
        "orders": BAD_LIST,
        "balances": BAD_LIST,
    }[base] + nil


def _nested_class(kind: str) -> type | None:
    return {"order": wire.OrderInfo, "orders": wire.OrderInfo, "balances": wire.AssetBalance}.get(kind)


def _variants(cls: type, m: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(what was broken, the map with it broken) for every field of `cls` in `m`, recursively."""
    out: list[tuple[str, dict[str, Any]]] = []
    for f in fields(cls):
        kind = f.metadata["kind"]
        for bad in _bad_values(kind):
            out.append((f"{f.name}={bad!r}", {**m, f.name: bad}))
        nested = _nested_class(kind)
        if nested is not None:
            inner = m[f.name]
            if kind == "order":
                out += [(f"{f.name}.{w}", {**m, f.name: v}) for w, v in _variants(nested, inner)]
            else:
                out += [
                    (f"{f.name}[0].{w}", {**m, f.name: [v, *inner[1:]]})
                    for w, v in _variants(nested, inner[0])
                ]
                out.append((f"{f.name}[0] extra key", {**m, f.name: [{**inner[0], "x": 1}, *inner[1:]]}))
                short = dict(inner[0])
                short.popitem()
                out.append((f"{f.name}[0] missing key", {**m, f.name: [short, *inner[1:]]}))
    return out


def _golden_map(name: str) -> dict[str, Any]:
    return msgpack.unpackb((GOLDEN / f"{name}.msgpack").read_bytes(), raw=False)


def _accepted(m: Any) -> bool:
    try:
        wire.decode(msgpack.packb(m, use_bin_type=True))
    except wire.WireError:
        return False
    return True


@pytest.mark.parametrize("name", sorted(wire.BY_TYPE))
def test_every_forbidden_field_value_is_refused(name: str) -> None:
    """Each field of each message (and of its nested order / balance maps) with a value its kind
    forbids raises WireError; the untouched golden map decodes."""
    m = _golden_map(name)
    assert _accepted(m)
    accepted = [what for what, bad in _variants(wire.BY_TYPE[name], m) if _accepted(bad)]
    assert accepted == [], f"{name} accepted {accepted}"


@pytest.mark.parametrize("name", sorted(wire.BY_TYPE))
def test_an_extra_or_missing_key_is_refused(name: str) -> None:
    """Keys are exactly the documented ones: one more (even nil) or one fewer is an error."""
    m = _golden_map(name)
    for extra in ({"extra": 1}, {"extra": None}, {"Symbol": "POLUSDT"}):
        assert not _accepted({**m, **extra}), extra
    for key in m:
        if key != "type":
            assert not _accepted({k: v for k, v in m.items() if k != key}), key


class _Pairs(list[tuple[str, Any]]):
    """The entries of a map, in order, a key possibly repeated (a dict cannot hold that)."""


def _packed(v: Any) -> bytes:
    """`v` packed, each `_Pairs` in it (at any depth) as a map of its entries."""
    if isinstance(v, _Pairs):
        out = msgpack.Packer().pack_map_header(len(v))
        return out + b"".join(_packed(k) + _packed(x) for k, x in v)
    if isinstance(v, list):
        return msgpack.Packer().pack_array_header(len(v)) + b"".join(_packed(x) for x in v)
    return msgpack.packb(v)


@pytest.mark.parametrize("name", sorted(wire.BY_TYPE))
def test_a_repeated_key_is_refused(name: str) -> None:
    """A map that repeats a key, even with the same value, is malformed (MessagePack would keep
    the last): refused, as the engine refuses it; the same entries without the repeat decode."""
    pairs = _Pairs(_golden_map(name).items())
    assert wire.decode(_packed(pairs)) == wire.decode((GOLDEN / f"{name}.msgpack").read_bytes())
    for k, v in pairs:
        with pytest.raises(wire.WireError, match="repeated"):
            wire.decode(_packed(_Pairs([*pairs, (k, v)])))


@pytest.mark.parametrize(("name", "nested"), [("OpenOrders", "orders"), ("Balances", "balances")])
def test_a_key_repeated_in_a_nested_map_is_refused(name: str, nested: str) -> None:
    """The same inside an order or balance map of an answer."""
    m = _golden_map(name)
    inner = [_Pairs(x.items()) for x in m[nested]]
    assert inner, f"the golden {name} has no {nested}"
    with_inner = lambda: _Pairs((k, inner if k == nested else v) for k, v in m.items())  # noqa: E731
    assert isinstance(wire.decode(_packed(with_inner())), wire.BY_TYPE[name])
    inner[0] = _Pairs([*inner[0], inner[0][-1]])
    with pytest.raises(wire.WireError, match="repeated"):
        wire.decode(_packed(with_inner()))


@pytest.mark.parametrize(
    "payload",
    [
        msgpack.packb({"type": "Nope", "ts_ns": 1}),
        msgpack.packb({"type": "trade", **{k: v for k, v in _golden_map("Trade").items() if k != "type"}}),
        msgpack.packb({k: v for k, v in _golden_map("Trade").items() if k != "type"}),  # no type
        msgpack.packb({"type": 1}),
        msgpack.packb({"type": None}),
        msgpack.packb({"type": b"Trade"}, use_bin_type=True),
        msgpack.packb([1, 2]),
        msgpack.packb(None),
        msgpack.packb(1),
        (GOLDEN / "Trade.msgpack").read_bytes() + b"\x00",  # trailing bytes
        (GOLDEN / "Trade.msgpack").read_bytes()[:-3],  # truncated
        b"\xc1",  # a byte MessagePack never uses
        b"",
    ],
)
def test_unknown_types_and_malformed_payloads_are_refused(payload: bytes) -> None:
    """Not a map, no / unknown / mistyped `type`, or not MessagePack: WireError, never another
    exception and never a value."""
    with pytest.raises(wire.WireError):
        wire.decode(payload)


def _trade_map(**over: Any) -> dict[str, Any]:
    return {**wire.Trade("POLUSDT", 1, 2, 3, 0.5, 1.0, "buy").to_map(), **over}


NEGATIVE = st.floats(max_value=-5e-324).filter(lambda v: v < 0)  # down to the smallest subnormal


@given(NEGATIVE)
def test_no_negative_trade_quantity_is_ever_decoded(q: float) -> None:
    """A trade whose quantity is below zero, however slightly, is refused."""
    assert not _accepted(_trade_map(quantity=q))


@given(
    st.sampled_from(["exchange_ts_ns", "local_ts_ns", "trade_id"]),
    st.integers(min_value=-(2**63), max_value=-1),
)
def test_no_negative_trade_integer_is_ever_decoded(key: str, v: int) -> None:
    """Timestamps and trade ids are unsigned: any negative one is refused."""
    assert not _accepted(_trade_map(**{key: v}))


@given(
    st.sampled_from([f.name for f in fields(wire.HealthMetrics) if f.metadata["kind"] == "qty"]),
    st.sampled_from([NAN, INF, -INF]) | NEGATIVE,
)
def test_health_figures_are_finite_and_not_negative(key: str, v: float) -> None:
    """HealthMetrics rates and latencies: NaN, Inf or negative is refused."""
    m = {**_golden_map("HealthMetrics"), key: v}
    assert not _accepted(m)


@given(
    st.sampled_from(["bids", "asks"]),
    st.sampled_from(["price", "qty"]),
    st.sampled_from([NAN, INF, -INF]) | NEGATIVE,
)
def test_no_book_level_with_a_bad_number_is_decoded(side: str, which: str, v: float) -> None:
    """A book level whose price or quantity is NaN, Inf or negative is refused (either side, any
    level)."""
    m = _golden_map("OrderBookSnapshot")
    levels = [list(lv) for lv in m[side]]
    levels[-1][0 if which == "price" else 1] = v
    assert not _accepted({**m, side: levels})


HUGE = "1" + "0" * 1_000_000  # the demonstrated one: decoded, it overflowed in the order manager


def _set(m: dict[str, Any], path: str, v: Any) -> dict[str, Any]:
    """`m` with the field at `path` (`key`, `key.key` or `key[0].key`) set to `v`."""
    head, _, rest = path.partition(".")
    if not rest:
        return {**m, head: v}
    if head.endswith("[0]"):
        head = head[:-3]
        return {**m, head: [_set(m[head][0], rest, v), *m[head][1:]]}
    return {**m, head: _set(m[head], rest, v)}


DECIMAL_FIELDS = [
    ("OrderExecution", "last_price"),
    ("OrderExecution", "last_quantity"),
    ("OrderExecution", "fee"),
    ("OrderStatus", "order.filled_quantity"),
    ("OrderStatus", "order.quote_filled"),
    ("OpenOrders", "net_position"),
    ("Balances", "balances[0].free"),
    ("Balances", "balances[0].locked"),
    ("PlaceOrder", "quantity"),
]


@pytest.mark.parametrize(("name", "path"), DECIMAL_FIELDS)
@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (HUGE, "1000001 characters"),
        ("0" * 65, "65 characters"),
        ("1234567890123456789.0123456789", "more than 28 significant digits"),
        ("0." + "0" * 28 + "1", "more than 28 digits after the point"),
        ("100000000000000000000", "not under 1e20"),
        ("100000000000000000000.5", "not under 1e20"),
    ],
)
def test_a_decimal_past_its_bounds_is_refused_naming_the_field(
    name: str, path: str, bad: str, why: str
) -> None:
    """A decimal string of a million digits (which decoded, then overflowed the order manager's
    arithmetic), of more than 28 significant digits or 28 after the point (more than the engine's
    rust_decimal holds), or of a magnitude of 1e20 or more: `WireError` naming the field, in a
    short message (never the string whole)."""
    with pytest.raises(wire.WireError) as e:
        wire.decode(msgpack.packb(_set(_golden_map(name), path, bad), use_bin_type=True))
    assert str(e.value).startswith(path.rpartition(".")[2] + ":") and why in str(e.value)
    assert len(str(e.value)) < 200


@pytest.mark.parametrize(
    "good",
    [
        "99999999999999999999.99999999",  # under 1e20, 28 digits
        "1234567890.123456789012345678",  # 28 significant digits
        "0.0000000000000000000000000001",  # 28 digits after the point
        "0.1000000000000000000000000000",
        "000000000000000000000000000000000000000000000000000000000000.5",  # 64 characters
        "-99999999999999999999",
    ],
)
def test_decimals_within_the_bounds_decode(good: str) -> None:
    """The largest decimals within the bounds decode to their exact value (a negative one where the
    field is signed: a fee)."""
    m = _set(_golden_map("OrderExecution"), "fee", good)
    assert wire.decode(msgpack.packb(m, use_bin_type=True)).fee == Decimal(good)  # type: ignore[attr-defined]
