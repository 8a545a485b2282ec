"""Writes tests/golden/<Message>.msgpack from <Message>.json (key order and float-ness kept).

Run after an intended change of the wire format: `make golden`.
"""

import json
from pathlib import Path

import msgpack

HERE = Path(__file__).resolve().parent

for src in sorted(HERE.glob("*.json")):
    obj = json.loads(src.read_text())
    src.with_suffix(".msgpack").write_bytes(msgpack.packb(obj, use_bin_type=True))
    print(f"wrote {src.with_suffix('.msgpack').name}")
