"""The detector's state as plain JSON values, and back (`Detector.snapshot` / `Detector.restore`).

Each component's attributes are encoded by type: deques keep their `maxlen`, tuples, frozensets,
counters, enums, the detector's dataclasses and non-finite floats are tagged so they come back as
they were. Configuration (`cfg`) is not part of a snapshot: the restoring detector has its own.
Nor is the state machine's list of past `transitions`: history, not state (the audit log has every
one, and a recovery reads them back with `Detector.set_history`), so a snapshot stays the same size
however long the detector has run.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter, deque
from enum import Enum
from typing import Any

SKIP = frozenset({"cfg", "transitions"})


def _registry() -> dict[str, type]:
    # Imported here: the modules below import nothing from this one, but the detector does.
    from flashcrash.event_detector.candles import Candle
    from flashcrash.event_detector.detector import BookEvent, TradeEvent
    from flashcrash.event_detector.indicators.depth import DepthView
    from flashcrash.event_detector.machine import State, Transition
    from flashcrash.event_detector.readings import Indicator, Pattern, Reading, Readings

    classes: list[type] = [
        Candle,
        BookEvent,
        TradeEvent,
        DepthView,
        State,
        Transition,
        Indicator,
        Pattern,
        Reading,
        Readings,
    ]
    return {c.__name__: c for c in classes}


def encode(v: Any) -> Any:
    if isinstance(v, Enum):
        return {"$enum": type(v).__name__, "v": v.value}
    if isinstance(v, bool) or v is None or isinstance(v, (int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else {"$float": repr(v)}
    if isinstance(v, deque):
        return {"$deque": [encode(x) for x in v], "maxlen": v.maxlen}
    if isinstance(v, Counter):
        return {"$counter": {str(k): n for k, n in v.items()}}
    if isinstance(v, tuple):
        return {"$tuple": [encode(x) for x in v]}
    if isinstance(v, frozenset):
        return {"$fset": [encode(x) for x in sorted(v, key=str)]}
    if isinstance(v, list):
        return [encode(x) for x in v]
    if isinstance(v, dict):
        return {"$dict": [[encode(k), encode(x)] for k, x in v.items()]}
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        fields = {f.name: encode(getattr(v, f.name)) for f in dataclasses.fields(v)}
        return {"$dc": type(v).__name__, "f": fields}
    raise TypeError(f"cannot snapshot a {type(v).__name__}")


def decode(v: Any, classes: dict[str, type]) -> Any:
    if isinstance(v, list):
        return [decode(x, classes) for x in v]
    if not isinstance(v, dict):
        return v
    if "$enum" in v:
        return classes[v["$enum"]](v["v"])
    if "$float" in v:
        return float(v["$float"])
    if "$deque" in v:
        return deque((decode(x, classes) for x in v["$deque"]), maxlen=v["maxlen"])
    if "$counter" in v:
        return Counter(v["$counter"])
    if "$tuple" in v:
        return tuple(decode(x, classes) for x in v["$tuple"])
    if "$fset" in v:
        return frozenset(decode(x, classes) for x in v["$fset"])
    if "$dict" in v:
        return {decode(k, classes): decode(x, classes) for k, x in v["$dict"]}
    if "$dc" in v:
        return classes[v["$dc"]](**{k: decode(x, classes) for k, x in v["f"].items()})
    raise ValueError(f"unknown snapshot value {v!r}")


def encode_object(obj: object) -> dict[str, Any]:
    """An object's attributes; nested objects of the detector's own classes are encoded the same way."""
    out: dict[str, Any] = {}
    for k, v in vars(obj).items():
        if k in SKIP:
            continue
        # A Counter has a `__dict__` too (a dict subclass written in Python): it is a value (`encode`),
        # not an object whose attributes are the state (its counts would be lost).
        if hasattr(v, "__dict__") and not dataclasses.is_dataclass(v) and not isinstance(v, (Enum, Counter)):
            out[k] = {"$obj": encode_object(v)}
        else:
            out[k] = encode(v)
    return out


def restore_object(obj: object, state: dict[str, Any], classes: dict[str, type] | None = None) -> None:
    classes = classes if classes is not None else _registry()
    for k, v in state.items():
        if isinstance(v, dict) and "$obj" in v:
            restore_object(getattr(obj, k), v["$obj"], classes)
        else:
            setattr(obj, k, decode(v, classes))
