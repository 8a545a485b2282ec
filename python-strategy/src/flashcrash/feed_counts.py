"""The feed's counts over one session, for its summary (`feed` in `session_summary`).

The engine reports its feed's counters (resyncs, gaps, reconnects, trade ids missed) in every
`HealthMetrics` as its own totals since it started. A session adds them up across the engines it
hears: an engine restarted during the session starts its counts from zero, and the old engine's
last report is kept. They are counted from the start of the first engine heard (`since_ns`): a
strategy started against an engine that was running already counts what that engine counted
before the session too. What an engine counted after its last report heard (at most one health
interval, 1 s by default) is not known."""

from __future__ import annotations

from flashcrash.wire import HealthMetrics

COUNTERS = ("resync_count", "gap_count", "reconnect_count", "trades_missed_count")


class FeedCounts:
    def __init__(self) -> None:
        self.since_ns: int | None = None  # the first engine's start
        self.engine_started_ns: int | None = None  # the engine whose reports are counted now
        self.engines = 0  # engines heard in the session
        self._earlier = dict.fromkeys(COUNTERS, 0)  # what the engines before this one counted
        self._last = dict.fromkeys(COUNTERS, 0)  # this engine's latest report

    def on_health(self, h: HealthMetrics) -> None:
        if h.started_ts_ns != self.engine_started_ns:
            for k in COUNTERS:
                self._earlier[k] += self._last[k]
            if self.since_ns is None:
                self.since_ns = h.started_ts_ns
            self.engine_started_ns = h.started_ts_ns
            self.engines += 1
        self._last = {k: getattr(h, k) for k in COUNTERS}

    def totals(self) -> dict[str, int]:
        """The session's counts of each counter (`COUNTERS`)."""
        return {k: self._earlier[k] + self._last[k] for k in COUNTERS}
