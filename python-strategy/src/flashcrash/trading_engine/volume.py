"""Volume validation of a signal candle: its volume over `multiple` times the average volume per
second of the previous `window_secs` seconds (seconds without trades count as zero), and its notional
(volume x close) at least `min_quote`."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from flashcrash.event_detector import Candle

NS = 1_000_000_000


@dataclass(frozen=True)
class VolumeCheck:
    ok: bool
    volume: float
    average: float
    quote: float

    def describe(self) -> str:
        return f"volume {self.volume:g} vs average {self.average:g}/s, notional {self.quote:g}"


class VolumeGate:
    def __init__(self, window_secs: int, multiple: float, min_quote: float) -> None:
        self.window_ns = window_secs * NS
        self.window_secs = window_secs
        self.multiple = multiple
        self.min_quote = min_quote
        self._candles: deque[tuple[int, float]] = deque()
        self._sum = 0.0

    def snapshot(self) -> dict[str, Any]:
        return {"candles": [list(c) for c in self._candles]}

    def restore(self, s: dict[str, Any]) -> None:
        self._candles = deque((int(t), float(v)) for t, v in s["candles"])
        self._sum = sum(v for _, v in self._candles)

    def observe(self, c: Candle) -> None:
        """Every candle goes through here once, after it was checked."""
        self._candles.append((c.start_ns, c.volume))
        self._sum += c.volume
        self._expire(c.start_ns + NS)

    def _expire(self, now_ns: int) -> None:
        while self._candles and self._candles[0][0] < now_ns - self.window_ns:
            self._sum -= self._candles.popleft()[1]

    def check(self, c: Candle) -> VolumeCheck:
        """Against the candles before `c` (call before `observe(c)`)."""
        self._expire(c.start_ns)
        average = max(self._sum, 0.0) / self.window_secs
        quote = c.volume * c.close
        ok = c.volume > self.multiple * average and quote >= self.min_quote
        return VolumeCheck(ok, c.volume, average, quote)
