"""The detector's state machine, driven by 1-second candles, with its first rule:

* SLEEP → ALERT when the last close is at least half of `drop_pct` below the highest close of the last
  `drop_window_secs`; ALERT → SLEEP when that drop falls under a quarter of `drop_pct`;
* SLEEP/ALERT → ACTIVE when the drop reaches `drop_pct`;
* ACTIVE → RECOVERY after `recovery_secs` without a new low;
* RECOVERY → ACTIVE on a new low with the drop still over `drop_pct`; RECOVERY → SLEEP after
  `recovery_secs` more;
* any → SHUTDOWN when the session ends.

The rolling maximum is a monotonic deque: O(1) amortised per candle.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from enum import StrEnum

from flashcrash.config import EventDetectionConfig
from flashcrash.event_detector.candles import NS, Candle

log = logging.getLogger(__name__)


class State(StrEnum):
    SLEEP = "SLEEP"
    ALERT = "ALERT"
    ACTIVE = "ACTIVE"
    RECOVERY = "RECOVERY"
    SHUTDOWN = "SHUTDOWN"


@dataclass(frozen=True)
class Transition:
    ts_ns: int
    previous: State
    current: State
    reason: str


class Detector:
    def __init__(self, cfg: EventDetectionConfig) -> None:
        self.cfg = cfg
        self.state = State.SLEEP
        self.transitions: list[Transition] = []
        self._maxes: deque[tuple[int, float]] = deque()
        self._low = float("inf")
        self._low_ts = 0
        self._since = 0
        self.last_drop_pct = 0.0

    def _go(self, ts: int, new: State, reason: str) -> Transition:
        t = Transition(ts, self.state, new, reason)
        log.info("detector %s -> %s: %s", t.previous, t.current, reason)
        self.state = new
        self._since = ts
        self.transitions.append(t)
        return t

    def on_candle(self, c: Candle) -> Transition | None:
        ts = c.start_ns
        window = self.cfg.drop_window_secs * NS
        while self._maxes and self._maxes[-1][1] <= c.close:
            self._maxes.pop()
        self._maxes.append((ts, c.close))
        while self._maxes[0][0] <= ts - window:
            self._maxes.popleft()
        peak = self._maxes[0][1]
        drop = (peak - c.close) / peak * 100.0
        self.last_drop_pct = drop
        threshold = self.cfg.drop_pct
        recovery = self.cfg.recovery_secs * NS
        new_low = c.low < self._low
        if new_low:
            self._low, self._low_ts = c.low, ts
        why = f"close {c.close:g} is {drop:.2f}% below the {self.cfg.drop_window_secs}s high {peak:g}"
        match self.state:
            case State.SLEEP | State.ALERT if drop >= threshold:
                self._low, self._low_ts = c.low, ts
                return self._go(ts, State.ACTIVE, why)
            case State.SLEEP if drop >= threshold / 2:
                return self._go(ts, State.ALERT, why)
            case State.ALERT if drop < threshold / 4:
                return self._go(ts, State.SLEEP, why)
            case State.ACTIVE if ts - self._low_ts >= recovery:
                return self._go(ts, State.RECOVERY, f"no new low for {self.cfg.recovery_secs}s")
            case State.RECOVERY if new_low and drop >= threshold:
                return self._go(ts, State.ACTIVE, f"new low {c.low:g}; " + why)
            case State.RECOVERY if ts - self._since >= recovery:
                self._low = float("inf")
                return self._go(ts, State.SLEEP, f"calm for {self.cfg.recovery_secs}s after recovery")
        return None

    def shutdown(self, ts_ns: int, reason: str) -> Transition:
        return self._go(ts_ns, State.SHUTDOWN, reason)
