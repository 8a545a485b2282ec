"""Volume validation of a signal candle: its volume over `multiple` times the average volume per
second of the previous `window_secs` seconds, and its notional (volume x close) at least `min_quote`.

A second without trades counts as zero volume, but the seconds of a feed outage do not count at all
(`on_feed_lost`: nothing after the last candle was observed until the next one, as the detector takes
it; a restart too, `restore`): the average is over the other seconds of the window. Counted as quiet
seconds, a 50-s outage would cut the average of a 60-s window to a sixth and make any candle a spike.
With the whole window in an outage there is no average to beat, and no candle passes. The seconds
before the first candle count as quiet: the detector's warm-up keeps the strategy from deciding then.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

from flashcrash.event_detector import Candle

NS = 1_000_000_000


@dataclass(frozen=True)
class VolumeCheck:
    ok: bool
    volume: float
    average: float  # nan: no second of the window observed
    quote: float

    def describe(self) -> str:
        average = f"average {self.average:g}/s" if math.isfinite(self.average) else "no second observed"
        return f"volume {self.volume:g} vs {average}, notional {self.quote:g}"


class VolumeGate:
    def __init__(self, window_secs: int, multiple: float, min_quote: float) -> None:
        self.window_ns = window_secs * NS
        self.multiple = multiple
        self.min_quote = min_quote
        self._candles: deque[tuple[int, float]] = deque()
        self._sum = 0.0
        self._last_end: int | None = None  # the end of the last candle observed
        self._gaps: deque[tuple[int, int]] = deque()  # spans of feed outages, [from, to)
        self._lost = False  # the feed was lost after the last candle: the span up to the next is a gap

    def snapshot(self) -> dict[str, Any]:
        return {
            "candles": [list(c) for c in self._candles],
            "last_end": self._last_end,
            "gaps": [list(g) for g in self._gaps],
        }

    def restore(self, s: dict[str, Any]) -> None:
        """A snapshot's state (of an older version too: candles only); what came after the snapshot
        was not observed (the process was down)."""
        self._candles = deque((int(t), float(v)) for t, v in s["candles"])
        self._sum = sum(v for _, v in self._candles)
        self._last_end = s.get("last_end", self._candles[-1][0] + NS if self._candles else None)
        self._gaps = deque((int(a), int(b)) for a, b in s.get("gaps", []))
        self._lost = True

    def on_feed_lost(self) -> None:
        """The feed stopped: nothing after the last candle was observed until the next one."""
        self._lost = True

    def observe(self, c: Candle) -> None:
        """Every candle goes through here once, after it was checked (if it was: what `check` expires
        first is expired here in the same order when it was not, so the window's sum is the same)."""
        self._expire(c.start_ns)
        gap = self._pending_gap(c.start_ns)
        if gap is not None:
            self._gaps.append(gap)
        self._lost = False
        self._candles.append((c.start_ns, c.volume))
        self._sum += c.volume
        self._last_end = c.start_ns + NS
        self._expire(c.start_ns + NS)

    def _pending_gap(self, until_ns: int) -> tuple[int, int] | None:
        """The span from the last candle to `until_ns` when the feed was lost in it."""
        if self._lost and self._last_end is not None and until_ns > self._last_end:
            return self._last_end, until_ns
        return None

    def _expire(self, now_ns: int) -> None:
        start = now_ns - self.window_ns
        while self._candles and self._candles[0][0] < start:
            self._sum -= self._candles.popleft()[1]
        while self._gaps and self._gaps[0][1] <= start:
            self._gaps.popleft()

    def _observed_secs(self, end_ns: int) -> float:
        """The seconds of the window ending at `end_ns` outside the feed's outages."""
        start = end_ns - self.window_ns
        pending = self._pending_gap(end_ns)
        gaps = (*self._gaps, pending) if pending is not None else self._gaps
        unobserved = sum(max(0, min(b, end_ns) - max(a, start)) for a, b in gaps)
        return (self.window_ns - unobserved) / NS

    def check(self, c: Candle) -> VolumeCheck:
        """Against the candles before `c` (call before `observe(c)`)."""
        self._expire(c.start_ns)
        seconds = self._observed_secs(c.start_ns)
        average = max(self._sum, 0.0) / seconds if seconds > 0 else math.nan
        quote = c.volume * c.close
        ok = seconds > 0 and c.volume > self.multiple * average and quote >= self.min_quote
        return VolumeCheck(ok, c.volume, average, quote)
