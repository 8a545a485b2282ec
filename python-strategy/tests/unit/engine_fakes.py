"""A stand-in for `EngineClient` in tests that drive a `Runner` by hand: it accepts every command,
never has a message, and exposes the counters the runner and the metrics read (set them freely)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator


class SilentEngine:
    def __init__(self, received: Counter[str] | None = None) -> None:
        self.received: Counter[str] = received if received is not None else Counter()
        self.malformed: Counter[str] = Counter()
        self.conflated = 0

    def send(self, msg: object) -> bool:
        return True

    def poll(self, timeout_ms: int) -> Iterator[object]:
        return iter(())
