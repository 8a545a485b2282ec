"""Golden MessagePack vectors shared with the Rust tests: decode, compare with the JSON, re-encode
byte for byte; one vector per message type of docs/PROTOCOL.md."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import msgpack
import pytest

from flashcrash import wire

REPO = Path(__file__).resolve().parents[3]
GOLDEN = REPO / "tests" / "golden"
NAMES = sorted(p.stem for p in GOLDEN.glob("*.json"))


def _plain(v):
    """Typed values back to their JSON form."""
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    if isinstance(v, wire.OrderInfo | wire.AssetBalance):
        return {k: _plain(x) for k, x in v.to_map().items()}
    return v


@pytest.mark.parametrize("name", NAMES)
def test_vector_decodes_matches_json_and_reencodes_exactly(name: str) -> None:
    raw = (GOLDEN / f"{name}.msgpack").read_bytes()
    expected = json.loads((GOLDEN / f"{name}.json").read_text())
    msg = wire.decode(raw)
    assert type(msg).__name__ == name
    for key, value in expected.items():
        if key == "type":
            continue
        assert _plain(getattr(msg, key)) == value, key
    assert wire.encode(msg) == raw


def test_one_vector_per_message_type_of_the_protocol() -> None:
    documented = set(re.findall(r"^### `(\w+)`", (REPO / "docs" / "PROTOCOL.md").read_text(), re.M))
    documented |= set(re.findall(r"^\| `(\w+)` \|", (REPO / "docs" / "PROTOCOL.md").read_text(), re.M))
    documented = {d for d in documented if d[0].isupper()}  # message types, not the tables' field rows
    assert documented == set(wire.BY_TYPE) == set(NAMES)


def test_a_changed_field_changes_the_bytes() -> None:
    raw = (GOLDEN / "PlaceOrder.msgpack").read_bytes()
    msg = wire.decode(raw)
    changed = wire.PlaceOrder(**{**msg.__dict__, "quantity": Decimal("200.00")})
    assert wire.encode(changed) != raw


def test_the_error_codes_are_the_engines() -> None:
    """`Error.code` takes exactly the engine's codes (`tests/golden/enums/ErrorCode.json`, which the
    Rust tests hold equal to the engine's enum)."""
    codes = json.loads((GOLDEN / "enums" / "ErrorCode.json").read_text())
    error = json.loads((GOLDEN / "Error.json").read_text())
    for code in codes:
        msg = wire.decode(msgpack.packb({**error, "code": code}, use_bin_type=True))
        assert isinstance(msg, wire.Error) and msg.code == code
    with pytest.raises(wire.WireError, match="not one of"):
        wire.decode(msgpack.packb({**error, "code": "NOT_A_CODE"}, use_bin_type=True))
