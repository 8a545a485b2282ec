"""The detector's state machine, stepped once a second of event time with that second's readings.

The quorum: at least `core_quorum` of the five core indicators fire, or `core_quorum_velocity` during
a message-velocity spike, and (with `quorum_needs_price`) volatility or acceleration is among them. A
crash is a move of the price: order flow (volume delta, velocity) and the book (spread, imbalance)
confirm one and complete the quorum, but they are not independent evidence of their own. One burst of
one-sided trades raises volume delta and velocity together, and a book derived from the trades (the
backtest's synthetic book) widens its spread with the same burst's price range; on the 10 Oct 2025
files every calm-hour false ACTIVE was spread + volume delta + a velocity spike
(docs/benchmarks/detection.md, "What made the false ACTIVEs"). The alert level: any core indicator
firing.

* SLEEP → ALERT at the alert level (the baselines stop learning: they keep the market before, until
  the detector is back in SLEEP or ALERT or RECOVERY has lasted `baseline_secs`; see
  `Detector._learns`);
* ALERT → ACTIVE when the quorum has held for more than `active_confirm_secs`; ALERT → SLEEP after
  `recovery_confirm_secs` under the alert level;
* ACTIVE → RECOVERY when the quorum has been lost for `active_hold_secs`;
* RECOVERY → ACTIVE when the quorum holds again for more than `active_confirm_secs`; RECOVERY → SLEEP
  after `recovery_confirm_secs` of a stable market (under the alert level, no velocity spike);
* any → SHUTDOWN when the session ends.

An indicator (or the velocity spike) counts for the quorum when it fired at any of the last
`jitter_buffer_ms` of ticks (at least the current one): a rolling window that absorbs feed jitter,
so a burst split unevenly across two seconds does not break the quorum.

Every transition is logged with its reason and kept.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass
from enum import StrEnum

from flashcrash.config import EventDetectionConfig
from flashcrash.event_detector.readings import CORE, PRICE, Indicator, Readings

log = logging.getLogger("flashcrash.event_detector.detector")

NS = 1_000_000_000
VOTERS = (*CORE, Indicator.MESSAGE_VELOCITY)  # what the quorum counts (velocity as the spike)
CORE_SET = frozenset(CORE)


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


def describe(r: Readings, counted: frozenset[Indicator]) -> str:
    """The core indicators counted (with their value now) and the velocity, for a transition's reason."""
    parts = [f"{i.value} {r[i].value:.3g}" for i in CORE if i in counted]
    v = r[Indicator.MESSAGE_VELOCITY]
    spike = f"; velocity spike {v.value:.3g}x" if Indicator.MESSAGE_VELOCITY in counted else ""
    return f"{len(parts)}/5 core fired ({', '.join(parts) or 'none'}){spike}"


class StateMachine:
    def __init__(self, cfg: EventDetectionConfig) -> None:
        self.cfg = cfg
        self.state = State.SLEEP
        self.transitions: list[Transition] = []
        self._quorum_since: int | None = None
        self._lost_since: int | None = None
        self._stable_since: int | None = None
        ticks = max(1, math.ceil(cfg.jitter_buffer_ms / 1000))
        self._recent: deque[frozenset[Indicator]] = deque(maxlen=ticks)
        self.counted: frozenset[Indicator] = frozenset()
        self.since = 0  # event time of the last transition (ns)

    def resume(self) -> None:
        """After a feed outage: each condition must hold again in observed time (its timer and the
        jitter window restart; the state stays)."""
        self._quorum_since = self._lost_since = self._stable_since = None
        self._recent.clear()

    def go(self, ts: int, new: State, reason: str) -> Transition:
        t = Transition(ts, self.state, new, reason)
        log.info("detector %s -> %s: %s", t.previous, t.current, reason)
        self.state = new
        self.since = ts
        self.transitions.append(t)
        return t

    def quorum(self, r: Readings) -> tuple[bool, bool]:
        """(quorum met, alert level met), over the rolling jitter window."""
        by = r.by_indicator
        self._recent.append(frozenset(i for i in VOTERS if by[i].fired))
        self.counted = frozenset().union(*self._recent)
        spike = Indicator.MESSAGE_VELOCITY in self.counted
        n = len(self.counted & CORE_SET)
        need = self.cfg.core_quorum_velocity if spike else self.cfg.core_quorum
        priced = not self.cfg.quorum_needs_price or not self.counted.isdisjoint(PRICE)
        return n >= need and priced, n >= 1

    def _lasting(self, attr: str, condition: bool, ts: int, secs: float) -> bool:
        """Whether `condition` has held for at least `secs` (its start kept in `attr`)."""
        since = getattr(self, attr)
        if not condition:
            setattr(self, attr, None)
            return False
        if since is None:
            setattr(self, attr, ts)
            since = ts
        return ts - since >= secs * NS

    def step(self, r: Readings) -> Transition | None:
        ts = r.ts_ns
        met, alert = self.quorum(r)
        if met:
            self._quorum_since = self._quorum_since if self._quorum_since is not None else ts
        else:
            self._quorum_since = None
        held_s = 0.0 if self._quorum_since is None else (ts - self._quorum_since) / NS
        held = met and held_s > self.cfg.active_confirm_secs
        hold = self.cfg.active_hold_secs
        match self.state:
            case State.SLEEP if held:
                return self.go(ts, State.ACTIVE, f"quorum held {held_s:g}s: {describe(r, self.counted)}")
            case State.SLEEP if alert:
                self._lost_since = None
                return self.go(ts, State.ALERT, f"alert level: {describe(r, self.counted)}")
            case State.ALERT if held:
                self._lost_since = None
                return self.go(ts, State.ACTIVE, f"quorum held {held_s:g}s: {describe(r, self.counted)}")
            case State.ALERT if self._lasting("_lost_since", not alert, ts, self.cfg.recovery_confirm_secs):
                self._lost_since = None
                return self.go(ts, State.SLEEP, f"no core indicator for {self.cfg.recovery_confirm_secs}s")
            case State.ACTIVE if self._lasting("_lost_since", not met, ts, hold):
                self._lost_since = None
                self._stable_since = None
                return self.go(ts, State.RECOVERY, f"quorum lost for {hold}s: {describe(r, self.counted)}")
            case State.RECOVERY if held:
                self._stable_since = None
                return self.go(
                    ts, State.ACTIVE, f"quorum held {held_s:g}s again: {describe(r, self.counted)}"
                )
            case State.RECOVERY if self._lasting(
                "_stable_since", not alert, ts, self.cfg.recovery_confirm_secs
            ):
                self._stable_since = None
                return self.go(
                    ts,
                    State.SLEEP,
                    f"stable for {self.cfg.recovery_confirm_secs}s: {describe(r, self.counted)}",
                )
        return None
