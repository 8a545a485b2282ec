"""Messages of the three ZeroMQ channels (`docs/PROTOCOL.md`) as frozen dataclasses.

Field order is the documented key order, so `encode(decode(b)) == b` for every golden vector. Decoding
is strict: an unknown type, a missing, extra or mistyped key, a NaN/Inf/non-positive price, a negative
quantity, or a malformed or out-of-bounds decimal string (see `_DECIMAL_MAX_CHARS`) raises `WireError`,
which the caller counts and logs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any, ClassVar

import msgpack

from flashcrash import engine_decimal

# The bounds of a decimal string: what the engine's `rust_decimal` holds (`engine_decimal`: at most 28
# digits after the point), 28 significant digits (the precision of Python's default decimal context), and
# far above any price, quantity, fee or balance (under 1e20). A string past them is refused before it
# can reach an order or an account, where its arithmetic would overflow (`decimal.Overflow`).
_DECIMAL_MAX_CHARS = 64  # checked first: a longer string is neither matched nor converted
_DECIMAL_MAX_DIGITS = 28
_DECIMAL_LIMIT = Decimal("1e20")
_MAX_U64 = 2**64 - 1


class WireError(ValueError):
    """A payload that is not a valid message."""


def _k(kind: str) -> Any:
    """A dataclass field whose wire kind is `kind`."""
    return field(metadata={"kind": kind})


# ------------------------------------------------------------------ value kinds
def _check(kind: str, name: str, v: Any) -> Any:
    """Validates one decoded value and converts it (decimal strings → Decimal, order maps → OrderInfo)."""
    optional = kind.endswith("?")
    base = kind.rstrip("?")
    if v is None:
        if optional:
            return None
        raise WireError(f"{name}: nil is not allowed")
    match base:
        case "str":
            if not isinstance(v, str):
                raise WireError(f"{name}: expected a string")
            return v
        case "uint":
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= _MAX_U64:
                raise WireError(f"{name}: expected an unsigned integer")
            return v
        case "bool":
            if not isinstance(v, bool):
                raise WireError(f"{name}: expected a boolean")
            return v
        case "price" | "qty" | "f64":
            if not isinstance(v, float):
                raise WireError(f"{name}: expected a float64")
            if not math.isfinite(v) or (base == "price" and v <= 0) or (base == "qty" and v < 0):
                raise WireError(f"{name}: invalid value {v!r}")
            return v
        case "dec" | "pdec" | "udec":
            d = _decimal(name, v)
            if base == "pdec" and d <= 0:
                raise WireError(f"{name}: {v} must be more than zero")
            if base == "udec" and d < 0:
                raise WireError(f"{name}: {v} must not be negative")
            return d
        case "levels":
            if not isinstance(v, (list, tuple)):
                raise WireError(f"{name}: expected an array of [price, qty]")
            out = []
            for lv in v:
                if not isinstance(lv, (list, tuple)) or len(lv) != 2:
                    raise WireError(f"{name}: expected [price, qty] pairs")
                out.append((_check("price", name, lv[0]), _check("qty", name, lv[1])))
            return tuple(out)
        case "order":
            return _from_map(OrderInfo, v, "order")
        case "orders":
            if not isinstance(v, (list, tuple)):
                raise WireError(f"{name}: expected an array of orders")
            return tuple(_from_map(OrderInfo, o, "orders") for o in v)
        case "balances":
            if not isinstance(v, (list, tuple)):
                raise WireError(f"{name}: expected an array of balances")
            return tuple(_from_map(AssetBalance, b, "balances") for b in v)
    if base.startswith("enum:"):
        allowed = base[5:].split("|")
        if v not in allowed:
            raise WireError(f"{name}: {v!r} is not one of {', '.join(allowed)}")
        return v
    raise WireError(f"unknown kind {kind}")


def _decimal(name: str, v: Any) -> Decimal:
    """`v`, a plain decimal string within the bounds above, as a Decimal; else `WireError` naming the
    field (a long string is never quoted whole)."""
    if not isinstance(v, str):
        raise WireError(f"{name}: {v!r} is not a plain decimal string")
    if len(v) > _DECIMAL_MAX_CHARS:
        raise WireError(f"{name}: a decimal string of {len(v)} characters (at most {_DECIMAL_MAX_CHARS})")
    if not engine_decimal.PLAIN.fullmatch(v):
        raise WireError(f"{name}: {v!r} is not a plain decimal string")
    if len(v.partition(".")[2]) > engine_decimal.MAX_SCALE:
        raise WireError(f"{name}: {v} has more than {engine_decimal.MAX_SCALE} digits after the point")
    d = Decimal(v)
    if len(d.as_tuple().digits) > _DECIMAL_MAX_DIGITS:  # leading zeros are not counted
        raise WireError(f"{name}: {v} has more than {_DECIMAL_MAX_DIGITS} significant digits")
    if abs(d) >= _DECIMAL_LIMIT:
        raise WireError(f"{name}: {v} is not under 1e20 in magnitude")
    return d


def dec_text(d: Decimal) -> str:
    """Exact decimal text, never exponent form (`Decimal("0E-8")` -> `"0.00000000"`, `Decimal("1.2E-7")`
    -> `"0.00000012"`): how money, prices and quantities are written everywhere, on the wire, in the
    database, in summaries and CSV files."""
    if not isinstance(d, Decimal) or not d.is_finite():
        raise ValueError(f"not a finite Decimal: {d!r}")
    return format(d, "f")


def _encode_value(kind: str, v: Any) -> Any:
    if v is None:
        return None
    base = kind.rstrip("?")
    if base in ("dec", "pdec", "udec"):
        return format(v, "f")  # never exponent form, as `dec_text` (which also refuses NaN and Inf)
    if base in ("price", "qty", "f64"):
        return float(v)
    if base == "levels":
        return [[float(p), float(q)] for p, q in v]
    if base == "order":
        return v.to_map()
    if base in ("orders", "balances"):
        return [o.to_map() for o in v]
    return v


class _Message:
    """Base of every message: map conversion driven by the fields' kinds."""

    TYPE: ClassVar[str | None] = None

    def to_map(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.TYPE is not None:
            out["type"] = self.TYPE
        for f in fields(self):  # type: ignore[arg-type]
            out[f.name] = _encode_value(f.metadata["kind"], getattr(self, f.name))
        return out


def _from_map(cls: type, m: Any, where: str) -> Any:
    if not isinstance(m, dict):
        raise WireError(f"{where}: expected a map")
    expected = {f.name for f in fields(cls)}
    keys = set(m) - {"type"}
    if keys != expected:
        missing, extra = sorted(expected - keys), sorted(str(k) for k in keys - expected)
        raise WireError(f"{cls.__name__}: missing {missing} extra {extra}")
    return cls(**{f.name: _check(f.metadata["kind"], f.name, m[f.name]) for f in fields(cls)})


# The client order id prefix of the engine's own market order closing its net position (an
# `EmergencyHalt` with `flatten`, or its halt or stop with `[execution] flatten_on_halt`).
ENGINE_FLATTEN_PREFIX = "flatten-"

SIDE = "enum:BUY|SELL"
ORDER_TYPE = "enum:LIMIT|MARKET|LIMIT_MAKER"
TIF = "enum:GTC|IOC|FOK?"
STATUS = "enum:NEW|PARTIALLY_FILLED|FILLED|CANCELED|REJECTED|EXPIRED"


# ------------------------------------------------------------------ data channel
@dataclass(frozen=True)
class OrderBookSnapshot(_Message):
    TYPE: ClassVar[str | None] = "OrderBookSnapshot"
    symbol: str = _k("str")
    exchange_ts_ns: int = _k("uint")
    local_ts_ns: int = _k("uint")
    update_id: int = _k("uint")
    bids: tuple[tuple[float, float], ...] = _k("levels")
    asks: tuple[tuple[float, float], ...] = _k("levels")


@dataclass(frozen=True)
class Trade(_Message):
    TYPE: ClassVar[str | None] = "Trade"
    symbol: str = _k("str")
    exchange_ts_ns: int = _k("uint")
    local_ts_ns: int = _k("uint")
    trade_id: int = _k("uint")
    price: float = _k("price")
    quantity: float = _k("qty")
    aggressor: str = _k("enum:buy|sell")


@dataclass(frozen=True)
class HealthMetrics(_Message):
    TYPE: ClassVar[str | None] = "HealthMetrics"
    ts_ns: int = _k("uint")
    symbol: str = _k("str")
    feed_state: str = _k("str")
    msgs_per_sec: float = _k("qty")
    latency_mean_us: float = _k("qty")
    latency_p50_us: float = _k("qty")
    latency_p99_us: float = _k("qty")
    gap_count: int = _k("uint")
    resync_count: int = _k("uint")
    reconnect_count: int = _k("uint")
    bid_levels: int = _k("uint")
    ask_levels: int = _k("uint")
    snapshot_age_ms: int = _k("uint")
    malformed_count: int = _k("uint")
    rejected_count: int = _k("uint")
    out_of_order_count: int = _k("uint")
    duplicate_count: int = _k("uint")
    trades_missed_count: int = _k("uint")  # jumps in the feed's aggregate trade ids
    snapshot_mismatch_count: int = _k("uint")
    started_ts_ns: int = _k("uint")  # the engine's start: a new value means it restarted


@dataclass(frozen=True)
class StateChange(_Message):
    TYPE: ClassVar[str | None] = "StateChange"
    ts_ns: int = _k("uint")
    component: str = _k("str")
    previous: str = _k("str")
    current: str = _k("str")
    reason: str = _k("str")


# ------------------------------------------------------------------ commands
@dataclass(frozen=True)
class PlaceOrder(_Message):
    TYPE: ClassVar[str | None] = "PlaceOrder"
    command_id: str = _k("str")
    ts_ns: int = _k("uint")
    client_order_id: str = _k("str")
    symbol: str = _k("str")
    side: str = _k(SIDE)
    order_type: str = _k(ORDER_TYPE)
    time_in_force: str | None = _k(TIF)
    quantity: Decimal = _k("dec")
    price: Decimal | None = _k("dec?")


@dataclass(frozen=True)
class CancelOrder(_Message):
    TYPE: ClassVar[str | None] = "CancelOrder"
    command_id: str = _k("str")
    ts_ns: int = _k("uint")
    symbol: str = _k("str")
    client_order_id: str = _k("str")


@dataclass(frozen=True)
class QueryOrder(_Message):
    TYPE: ClassVar[str | None] = "QueryOrder"
    command_id: str = _k("str")
    ts_ns: int = _k("uint")
    symbol: str = _k("str")
    client_order_id: str = _k("str")


@dataclass(frozen=True)
class QueryOpenOrders(_Message):
    TYPE: ClassVar[str | None] = "QueryOpenOrders"
    command_id: str = _k("str")
    ts_ns: int = _k("uint")
    symbol: str | None = _k("str?")


@dataclass(frozen=True)
class QueryBalances(_Message):
    TYPE: ClassVar[str | None] = "QueryBalances"
    command_id: str = _k("str")
    ts_ns: int = _k("uint")


@dataclass(frozen=True)
class RequestSnapshot(_Message):
    TYPE: ClassVar[str | None] = "RequestSnapshot"
    command_id: str = _k("str")
    ts_ns: int = _k("uint")
    symbol: str = _k("str")


@dataclass(frozen=True)
class Shutdown(_Message):
    TYPE: ClassVar[str | None] = "Shutdown"
    command_id: str = _k("str")
    ts_ns: int = _k("uint")
    reason: str = _k("str")


@dataclass(frozen=True)
class EmergencyHalt(_Message):
    TYPE: ClassVar[str | None] = "EmergencyHalt"
    command_id: str = _k("str")
    ts_ns: int = _k("uint")
    reason: str = _k("str")
    flatten: bool = _k("bool")


@dataclass(frozen=True)
class Resume(_Message):
    TYPE: ClassVar[str | None] = "Resume"
    command_id: str = _k("str")
    ts_ns: int = _k("uint")
    reason: str = _k("str")


@dataclass(frozen=True)
class ReloadConfig(_Message):
    """Re-read the engine's thresholds and limits from its config file (docs/PROTOCOL.md)."""

    TYPE: ClassVar[str | None] = "ReloadConfig"
    command_id: str = _k("str")
    ts_ns: int = _k("uint")


# ------------------------------------------------------------------ responses
@dataclass(frozen=True)
class OrderInfo(_Message):
    """The *order map* of the protocol (no `type` key)."""

    client_order_id: str = _k("str")
    exchange_order_id: str = _k("str")
    symbol: str = _k("str")
    side: str = _k(SIDE)
    order_type: str = _k(ORDER_TYPE)
    time_in_force: str | None = _k(TIF)
    quantity: Decimal = _k("pdec")
    price: Decimal | None = _k("pdec?")
    filled_quantity: Decimal = _k("udec")
    quote_filled: Decimal = _k("udec")
    status: str = _k(STATUS)
    created_ts_ns: int = _k("uint")
    updated_ts_ns: int = _k("uint")


@dataclass(frozen=True)
class OrderPlaced(_Message):
    TYPE: ClassVar[str | None] = "OrderPlaced"
    command_id: str | None = _k("str?")
    ts_ns: int = _k("uint")
    client_order_id: str = _k("str")
    exchange_order_id: str = _k("str")
    symbol: str = _k("str")
    side: str = _k(SIDE)
    order_type: str = _k(ORDER_TYPE)
    time_in_force: str | None = _k(TIF)
    quantity: Decimal = _k("pdec")
    price: Decimal | None = _k("pdec?")
    status: str = _k(STATUS)


@dataclass(frozen=True)
class OrderCanceled(_Message):
    TYPE: ClassVar[str | None] = "OrderCanceled"
    command_id: str | None = _k("str?")
    ts_ns: int = _k("uint")
    client_order_id: str = _k("str")
    exchange_order_id: str = _k("str")
    symbol: str = _k("str")
    filled_quantity: Decimal = _k("udec")
    status: str = _k(STATUS)


@dataclass(frozen=True)
class OrderStatus(_Message):
    TYPE: ClassVar[str | None] = "OrderStatus"
    command_id: str | None = _k("str?")
    ts_ns: int = _k("uint")
    order: OrderInfo = _k("order")


@dataclass(frozen=True)
class OpenOrders(_Message):
    TYPE: ClassVar[str | None] = "OpenOrders"
    command_id: str | None = _k("str?")
    ts_ns: int = _k("uint")
    symbol: str | None = _k("str?")
    orders: tuple[OrderInfo, ...] = _k("orders")
    # The engine's net position in its symbol's base asset, every fill published before this answer
    # counted; nil from a venue without the engine's core (the backtest's). Always on the wire.
    net_position: Decimal | None = field(default=None, metadata={"kind": "dec?"})


@dataclass(frozen=True)
class AssetBalance(_Message):
    """One asset of a `Balances` answer (no `type` key)."""

    asset: str = _k("str")
    free: Decimal = _k("dec")  # signed: a paper executor without its funds checked can go negative
    locked: Decimal = _k("udec")


@dataclass(frozen=True)
class Balances(_Message):
    TYPE: ClassVar[str | None] = "Balances"
    command_id: str | None = _k("str?")
    ts_ns: int = _k("uint")
    balances: tuple[AssetBalance, ...] = _k("balances")


@dataclass(frozen=True)
class OrderExecution(_Message):
    TYPE: ClassVar[str | None] = "OrderExecution"
    command_id: str | None = _k("str?")
    ts_ns: int = _k("uint")
    client_order_id: str = _k("str")
    exchange_order_id: str = _k("str")
    symbol: str = _k("str")
    side: str = _k(SIDE)
    trade_id: int = _k("uint")
    last_price: Decimal = _k("pdec")
    last_quantity: Decimal = _k("pdec")
    cumulative_quantity: Decimal = _k("pdec")
    order_quantity: Decimal = _k("pdec")
    status: str = _k(STATUS)
    liquidity: str = _k("enum:maker|taker")
    fee: Decimal = _k("dec")
    fee_asset: str = _k("str")


@dataclass(frozen=True)
class Error(_Message):
    TYPE: ClassVar[str | None] = "Error"
    command_id: str | None = _k("str?")
    ts_ns: int = _k("uint")
    code: str = _k(
        "enum:MALFORMED|VALIDATION|UNKNOWN_ORDER|DUPLICATE_ORDER|NOT_SYNCED|HALTED|VENUE|UNKNOWN_OUTCOME"
    )
    field: str | None = _k("str?")
    message: str = _k("str")


@dataclass(frozen=True)
class Success(_Message):
    TYPE: ClassVar[str | None] = "Success"
    command_id: str | None = _k("str?")
    ts_ns: int = _k("uint")
    message: str = _k("str")


DATA_TYPES = (OrderBookSnapshot, Trade, HealthMetrics, StateChange)
COMMAND_TYPES = (
    PlaceOrder,
    CancelOrder,
    QueryOrder,
    QueryOpenOrders,
    QueryBalances,
    RequestSnapshot,
    Shutdown,
    EmergencyHalt,
    Resume,
    ReloadConfig,
)
RESPONSE_TYPES = (
    OrderPlaced,
    OrderCanceled,
    OrderStatus,
    OpenOrders,
    Balances,
    OrderExecution,
    Error,
    Success,
)
BY_TYPE: dict[str, type] = {c.TYPE: c for c in DATA_TYPES + COMMAND_TYPES + RESPONSE_TYPES}  # type: ignore[misc]
# The messages that hold maps (orders, balances) inside theirs.
_NESTED_MAPS = frozenset(
    c
    for c in BY_TYPE.values()
    if any(f.metadata.get("kind") in ("order", "orders", "balances") for f in fields(c))
)

Message = Any


def encode(msg: _Message) -> bytes:
    """MessagePack map in the documented key order."""
    return msgpack.packb(msg.to_map(), use_bin_type=True)


# ------------------------------------------------------------------ fast paths
# The two market data messages are decoded without the generic kind-driven code: the same checks
# (strict keys, exact types, finite positive prices, finite non-negative quantities), done in bulk;
# a book's fast path also wants both sides, sorted and uncrossed (`book_levels_ok`, the guard's check),
# and marks the snapshot as proven (`levels_proven`) so the guard does not walk its levels again.
# When any check fails the generic path runs instead, so errors and their messages are unchanged.
# MessagePack arrays are unpacked as tuples (`use_list=False`), so book levels need no conversion.
_INF = math.inf
_new = object.__new__
_set = object.__setattr__
_TRADE_KEYS = frozenset(f.name for f in fields(Trade)) | {"type"}
_BOOK_KEYS = frozenset(f.name for f in fields(OrderBookSnapshot)) | {"type"}
_AGGRESSORS = frozenset(("buy", "sell"))


Levels = tuple[tuple[float, float], ...]
_PROVEN = "_levels_proven"  # instance attribute (not a field): the levels passed `book_levels_ok`


def levels_proven(book: OrderBookSnapshot) -> bool:
    """Whether `book`'s levels were proved to pass `book_levels_ok` where the snapshot was made (the
    decoder's fast path, `book_snapshot`), so the detector's guard need not walk them again. A snapshot
    is frozen and its levels are tuples of floats, so what was proved stays true; any other snapshot
    is not proven and is checked level by level."""
    return book.__dict__.get(_PROVEN, False)  # type: ignore[no-any-return]


def book_snapshot(
    symbol: str,
    exchange_ts_ns: int,
    local_ts_ns: int,
    update_id: int,
    bids: Levels,
    asks: Levels,
    proven: bool,
) -> OrderBookSnapshot:
    """An `OrderBookSnapshot` (made without the dataclass's field-by-field `__init__`); `proven`: the
    caller has proved its levels pass `book_levels_ok` (the replay checks its synthetic books a few
    thousand at a time in numpy, `SyntheticBook.proven`), and the snapshot is marked so."""
    b = _new(OrderBookSnapshot)
    d = {"symbol": symbol, "exchange_ts_ns": exchange_ts_ns, "local_ts_ns": local_ts_ns,
         "update_id": update_id, "bids": bids, "asks": asks}  # fmt: skip
    if proven:
        d[_PROVEN] = True
    _set(b, "__dict__", d)
    return b  # type: ignore[no-any-return]


def book_levels_ok(bids: Any, asks: Any) -> bool:
    """Whether a book's levels pass every level and order check, in one pass over them: every level a
    pair (tuple) of floats, every quantity finite and >= 0, and the prices, bids from the best down
    then asks from the best up, a chain that is every price finite and positive (NaN compares false),
    bids strictly descending, asks strictly ascending and the best bid under the best ask; both sides
    present. False when in doubt: the caller then takes its slow path (the generic decoder here, the
    level-by-level reasons in `InputGuard.book_ok`), so False never changes a result.

    A plain loop with the checks inline: about 3 us a 40-level book less than unzipping the levels and
    checking them with builtins (zip, map, set, sum, min, all) did."""
    prev = _INF
    for level in bids:
        if type(level) is not tuple or len(level) != 2:
            return False
        p, q = level
        if type(p) is not float or type(q) is not float or not (0.0 < p < prev and 0.0 <= q < _INF):
            return False
        prev = p
    if prev == _INF:  # no bid
        return False
    best_bid = bids[0][0]
    prev = best_bid
    for level in asks:
        if type(level) is not tuple or len(level) != 2:
            return False
        p, q = level
        if type(p) is not float or type(q) is not float or not (prev < p < _INF and 0.0 <= q < _INF):
            return False
        prev = p
    return prev != best_bid  # at least one ask


def _fast_trade(m: dict[str, Any]) -> Trade | None:
    if m.keys() != _TRADE_KEYS:
        return None
    e, lo, i, p, q, a = (
        m["exchange_ts_ns"],
        m["local_ts_ns"],
        m["trade_id"],
        m["price"],
        m["quantity"],
        m["aggressor"],
    )
    if not (
        type(m["symbol"]) is str
        and type(e) is int
        and 0 <= e <= _MAX_U64
        and type(lo) is int
        and 0 <= lo <= _MAX_U64
        and type(i) is int
        and 0 <= i <= _MAX_U64
        and type(p) is float
        and 0.0 < p < _INF
        and type(q) is float
        and 0.0 <= q < _INF
        and type(a) is str
        and a in _AGGRESSORS
    ):
        return None
    del m["type"]  # the rest of the map is the instance's fields, in wire order
    t = _new(Trade)
    _set(t, "__dict__", m)  # what the frozen dataclass's __init__ sets, without its per-field calls
    return t  # type: ignore[no-any-return]


def _fast_book(m: dict[str, Any]) -> OrderBookSnapshot | None:
    if m.keys() != _BOOK_KEYS:
        return None
    e, lo, u = m["exchange_ts_ns"], m["local_ts_ns"], m["update_id"]
    if not (
        type(m["symbol"]) is str
        and type(e) is int
        and 0 <= e <= _MAX_U64
        and type(lo) is int
        and 0 <= lo <= _MAX_U64
        and type(u) is int
        and 0 <= u <= _MAX_U64
        and type(m["bids"]) is tuple  # out of MessagePack an array is a tuple, anything else is wrong
        and type(m["asks"]) is tuple
        and book_levels_ok(m["bids"], m["asks"])
    ):
        return None
    del m["type"]
    m[_PROVEN] = True
    b = _new(OrderBookSnapshot)
    _set(b, "__dict__", m)
    return b  # type: ignore[no-any-return]


_unpackb = msgpack.unpackb


def _entries(payload: bytes) -> int:
    """The entry count in the header of the map `payload` starts with (decoded: it is one)."""
    head = payload[0]
    if head < 0x90:  # fixmap
        return head & 0x0F
    return int.from_bytes(payload[1:3] if head == 0xDE else payload[1:5], "big")


def _unique_pairs(pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
    m = dict(pairs)
    if len(m) != len(pairs):
        raise WireError("a key repeated in a nested map")
    return m


def decode_published(frames: list[bytes]) -> Message | None:
    """A published `[topic, payload]` message decoded; None when it has another shape or does not
    decode (a reader that only watches, like `flashcrash monitor` or a command-line tool, skips it)."""
    if len(frames) != 2:
        return None
    try:
        return decode(frames[1])
    except WireError:
        return None


def decode(payload: bytes) -> Message:
    """Strict decoding of any message; raises `WireError`. A key repeated in a map is refused
    (MessagePack would keep its last value), as the engine's decoding refuses it."""
    try:
        m = _unpackb(payload, raw=False, strict_map_key=True, use_list=False)
    except Exception as e:  # msgpack raises several types for bad input
        raise WireError(f"not MessagePack: {e}") from None
    if not isinstance(m, dict):
        raise WireError("payload is not a map")
    if len(m) != _entries(payload):
        raise WireError("a key repeated in the map")
    t = m.get("type")
    if t == "Trade":
        fast = _fast_trade(m)
        if fast is not None:
            return fast
    elif t == "OrderBookSnapshot":
        fast = _fast_book(m)
        if fast is not None:
            return fast
    cls = BY_TYPE.get(t) if isinstance(t, str) else None
    if cls is None:
        raise WireError(f"unknown type {m.get('type')!r}")
    if cls in _NESTED_MAPS:  # rare messages: decoded once more, each nested map checked
        m = _unpackb(payload, raw=False, strict_map_key=True, use_list=False, object_pairs_hook=_unique_pairs)
    return _from_map(cls, m, cls.__name__)
