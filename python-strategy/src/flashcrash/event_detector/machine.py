"""The detector's state machine, stepped once a second of event time with that second's readings.

The quorum: at least `core_quorum` of the five core indicators fire, or `core_quorum_velocity` during
a message-velocity spike, and (with `quorum_needs_price`) volatility or acceleration is among them. A
crash is a move of the price: order flow (volume delta, velocity) and the book (spread, imbalance)
confirm one and complete the quorum, but they are not independent evidence of their own. One burst of
one-sided trades raises volume delta and velocity together, and a book derived from the trades (the
backtest's synthetic book) widens its spread with the same burst's price range; on the 10 Oct 2025
files every calm-hour false ACTIVE was spread + volume delta + a velocity spike
(docs/benchmarks/detection.md, "What made the false ACTIVEs").

The alert level is what could start a quorum: a price indicator firing (with `quorum_needs_price`;
without it, any core indicator). Volume delta or spread alone does not wake the detector: on the 10
Oct 2025 files they fired in 3-23 % of the calm seconds (thin markets, quiet baselines), and as the
alert level they held the detector in ALERT for 37-72 % of the calm hours. Once awake, it stays alert
while any core indicator fires (a hysteresis: woken by the price, kept awake by the flow and the book).

The baselines learn apart from the published state: they pause through a *stir*, from the first core
indicator of any kind (in SLEEP or ALERT) to `recovery_confirm_secs` without one, and through ACTIVE
and RECOVERY. A stir or a RECOVERY lasting `baseline_secs` is a new regime, not a crash building: the
baselines learn it then (`learns`). The first sign of a crash is often order flow alone (BCHUSD_PERP
10 Oct 2025: volume delta and spread two minutes before any price indicator), and a baseline that
learnt those minutes would no longer see the crash (first ACTIVE +29 s → +97 s).

* SLEEP → ALERT at the alert level;
* ALERT → ACTIVE when the quorum has held for more than `active_confirm_secs`; ALERT → SLEEP when its
  stir ends (`recovery_confirm_secs` without any core indicator);
* ACTIVE → RECOVERY when the quorum has been lost for `active_hold_secs`;
* RECOVERY → ACTIVE when the quorum holds again for more than `active_confirm_secs`; RECOVERY → SLEEP
  after `recovery_confirm_secs` without any core indicator;
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
        # A stir: from the first core indicator in SLEEP or ALERT to `recovery_confirm_secs` without one.
        self._stir_since: int | None = None
        self._unstirred_since: int | None = None
        ticks = max(1, math.ceil(cfg.jitter_buffer_ms / 1000))
        self._recent: deque[frozenset[Indicator]] = deque(maxlen=ticks)
        self.counted: frozenset[Indicator] = frozenset()
        self.since = 0  # event time of the last transition (ns)

    def resume(self) -> None:
        """After a feed outage: each condition must hold again in observed time (its timer and the
        jitter window restart; the state stays)."""
        self._quorum_since = self._lost_since = self._stable_since = self._unstirred_since = None
        self._recent.clear()

    def go(self, ts: int, new: State, reason: str) -> Transition:
        t = Transition(ts, self.state, new, reason)
        log.info("detector %s -> %s: %s", t.previous, t.current, reason)
        self.state = new
        self.since = ts
        self.transitions.append(t)
        return t

    def quorum(self, r: Readings) -> tuple[bool, bool, bool]:
        """(quorum met, alert level met, any core indicator fired), over the rolling jitter window."""
        by = r.by_indicator
        self._recent.append(frozenset(i for i in VOTERS if by[i].fired))
        self.counted = frozenset().union(*self._recent)
        spike = Indicator.MESSAGE_VELOCITY in self.counted
        n = len(self.counted & CORE_SET)
        need = self.cfg.core_quorum_velocity if spike else self.cfg.core_quorum
        if self.cfg.quorum_needs_price:
            priced = not self.counted.isdisjoint(PRICE)
            return n >= need and priced, priced, n >= 1
        return n >= need, n >= 1, n >= 1

    def learns(self, now: int) -> bool:
        """Whether the baselines learn the second that ended at `now` (see the module docstring)."""
        base = self.cfg.baseline_secs * NS
        match self.state:
            case State.SLEEP | State.ALERT:
                return self._stir_since is None or now - self._stir_since >= base
            case State.RECOVERY:
                return now - self.since >= base
        return False

    def _stir(self, ts: int, stirring: bool) -> bool:
        """Follows the stir in SLEEP and ALERT: over once no core indicator fired for
        `recovery_confirm_secs` (ACTIVE and RECOVERY have their own rule in `learns`). True when it
        ended at `ts`, which ends an ALERT too."""
        if self.state not in (State.SLEEP, State.ALERT):
            self._stir_since = self._unstirred_since = None
        elif stirring:
            self._unstirred_since = None
            if self._stir_since is None:
                self._stir_since = ts
        elif self._stir_since is not None and self._lasting(
            "_unstirred_since", True, ts, self.cfg.recovery_confirm_secs
        ):
            self._stir_since = self._unstirred_since = None
            return True
        return False

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
        met, alert, stirring = self.quorum(r)
        calmed = self._stir(ts, stirring)
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
                return self.go(ts, State.ALERT, f"alert level: {describe(r, self.counted)}")
            case State.ALERT if held:
                return self.go(ts, State.ACTIVE, f"quorum held {held_s:g}s: {describe(r, self.counted)}")
            case State.ALERT if calmed:
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
                "_stable_since", not stirring, ts, self.cfg.recovery_confirm_secs
            ):
                self._stable_since = None
                return self.go(
                    ts,
                    State.SLEEP,
                    f"stable for {self.cfg.recovery_confirm_secs}s: {describe(r, self.counted)}",
                )
        return None
