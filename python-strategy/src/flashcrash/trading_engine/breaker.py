"""Circuit breaker on command outcomes (wall clock): CLOSED counts failures in a row (Error
responses, timeouts) and opens at `failures`; OPEN refuses entries for `open_ns`, then turns
HALF_OPEN and lets one entry through, the trial; in HALF_OPEN only the outcome of the trial's command
(by its command id) decides: a success closes it, a failure opens it again. Outcomes are those of our
own commands: the order manager reports none for a message answering no command it awaits."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from enum import StrEnum
from typing import Any

log = logging.getLogger(__name__)


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(self, failures: int, open_ns: int) -> None:
        self.max_failures = failures
        self.open_ns = open_ns
        self._state = BreakerState.CLOSED
        self.failures = 0
        self.opened_ns = 0
        self.trial_taken = False
        self.trial_id: str | None = None  # the trial's command id, once it is sent (`sent`)
        self.stats: Counter[str] = Counter()
        # Called with (previous, current, why) on every change (the runner writes it to the audit log).
        self.on_change: Callable[[str, str, str], None] | None = None

    def snapshot(self) -> dict[str, Any]:
        return {
            "state": str(self._state),
            "failures": self.failures,
            "opened_ns": self.opened_ns,
            "trial_taken": self.trial_taken,
            "stats": dict(self.stats),
        }

    def restore(self, s: dict[str, Any]) -> None:
        self._state = BreakerState(s["state"])
        self.failures = int(s["failures"])
        self.opened_ns = int(s["opened_ns"])
        # A trial out before a restart can no longer be decided (no command of then is awaited now,
        # so its answer counts for nothing): the next entry is the trial, or none would go again.
        self.trial_taken, self.trial_id = False, None
        self.stats = Counter({str(k): int(v) for k, v in s.get("stats", {}).items()})

    def state(self, now_ns: int) -> BreakerState:
        if self._state is BreakerState.OPEN and now_ns - self.opened_ns >= self.open_ns:
            self._go(BreakerState.HALF_OPEN, "open time elapsed")
            self.trial_taken, self.trial_id = False, None
        return self._state

    def _go(self, new: BreakerState, why: str) -> None:
        log.warning("circuit breaker %s -> %s: %s", self._state, new, why)
        self.stats[f"to_{new}"] += 1
        previous, self._state = self._state, new
        if self.on_change is not None:
            self.on_change(str(previous), str(new), why)

    def allows_entry(self, now_ns: int) -> bool:
        """True when an entry may be sent; in HALF_OPEN only the first (the trial)."""
        match self.state(now_ns):
            case BreakerState.CLOSED:
                return True
            case BreakerState.HALF_OPEN if not self.trial_taken:
                self.trial_taken = True
                return True
        return False

    def sent(self, command_id: str) -> None:
        """An order's command leaves: the first after the trial was let through is the trial's."""
        if self._state is BreakerState.HALF_OPEN and self.trial_taken and self.trial_id is None:
            self.trial_id = command_id

    def _trial(self, command_id: str | None) -> bool:
        return command_id is not None and command_id == self.trial_id

    def untried(self, command_id: str | None) -> None:
        """The command was refused untried (a halted engine), neither success nor failure: when it was
        the trial, the next entry is the trial (no other answer would ever come to decide it)."""
        if self._state is BreakerState.HALF_OPEN and self._trial(command_id):
            self.trial_taken, self.trial_id = False, None

    def success(self, command_id: str | None = None) -> None:
        """Our command `command_id` went through."""
        self.stats["successes"] += 1
        if self._state is BreakerState.HALF_OPEN:
            if not self._trial(command_id):
                return  # only the trial's outcome decides
            self._go(BreakerState.CLOSED, "trial succeeded")
        self.failures = 0

    def failure(self, now_ns: int, why: str, command_id: str | None = None) -> None:
        """Our command `command_id` failed (refused, unanswered, or not sent)."""
        self.stats["failures"] += 1
        state = self.state(now_ns)
        if state is BreakerState.HALF_OPEN and not self._trial(command_id):
            return  # only the trial's outcome decides
        self.failures += 1
        if state is BreakerState.HALF_OPEN or (
            state is BreakerState.CLOSED and self.failures >= self.max_failures
        ):
            self._go(BreakerState.OPEN, f"{self.failures} failure(s) in a row, last: {why}")
            self.opened_ns = now_ns
