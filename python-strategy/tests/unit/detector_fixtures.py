"""What the detector tests need of the input guard's hold: a fresh detector holds its first event (it
has no newest time to judge it by) until the next one, which releases it; so does any detector with
an event whose time jumps over `jitter_buffer_ms` + 2 s ahead of the newest
(`rust-engine/crates/detector/src/guard.rs`)."""

from __future__ import annotations

from flashcrash.config import EventDetectionConfig
from flashcrash.event_detector import Detector


def taken(d: Detector, got: bool) -> bool:
    """`got`, what `d.on_trade` or `d.on_book` returned: the event was taken, or it is a fresh
    detector's first, held for the next."""
    return got or (d.held == 1 and d.guard.newest_ns == 0)


def started(cfg: EventDetectionConfig | None = None, at: int = 1_000_000_000) -> Detector:
    """A detector that took two trades just before `at` (ns): its guard has a newest time to judge
    the next event's by, and holds nothing."""
    d = Detector(cfg or EventDetectionConfig())
    d.on_trade(at - 2, 1.0, 1.0, True)
    assert d.on_trade(at - 1, 1.0, 1.0, True) and d.held == 0
    return d
