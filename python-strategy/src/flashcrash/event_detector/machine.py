"""The detector's states and transitions, as the strategy, the persistence and the reports see them.
The state machine itself is compiled (`rust-engine/crates/detector/src/machine.rs`: the quorum, the
alert level, the stir and every rule of SLEEP → ALERT → ACTIVE → RECOVERY)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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
