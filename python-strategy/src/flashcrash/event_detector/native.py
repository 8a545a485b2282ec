"""The compiled detector (`flashcrash_native`, the Rust crate `detector`) behind the Python API of
`Detector`: the same inputs, readings, transitions, snapshots and drop counts, result for result (the
Rust port does every float operation in the Python order; `tests/unit/test_native_detector.py` holds
the two equal on a real crash day).

What crosses the boundary is plain: events in, and per closed second one tuple of readings out,
turned into `Readings` only when asked for (once per new second at most)."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections import Counter
from typing import Any

import flashcrash_native
from flashcrash import wire
from flashcrash.config import EventDetectionConfig
from flashcrash.event_detector.candles import Candle
from flashcrash.event_detector.machine import State, Transition
from flashcrash.event_detector.readings import Indicator, Pattern, Reading, Readings

log = logging.getLogger("flashcrash.event_detector.detector")

SNAPSHOT_VERSION = 2
_INDICATORS = tuple(Indicator)


class GuardView:
    """The compiled guard's counts as the Python `InputGuard` showed them."""

    def __init__(self, native: Any) -> None:
        self._n = native

    @property
    def dropped(self) -> Counter[str]:
        return Counter(self._n.dropped())

    @property
    def newest_ns(self) -> int:
        return int(self._n.newest_ns)


def _transition(t: tuple[int, str, str, str]) -> Transition:
    return Transition(t[0], State(t[1]), State(t[2]), t[3])


def _readings(t: tuple[Any, ...]) -> Readings:
    ts, by, pattern, spread_ratio, liquidity, imbalance, extreme, bid_walls, ask_walls = t
    return Readings(
        ts,
        {ind: Reading(ind, *r) for ind, r in zip(_INDICATORS, by, strict=True)},
        Pattern(pattern),
        spread_ratio,
        liquidity,
        imbalance,
        extreme,
        tuple(bid_walls),
        tuple(ask_walls),
    )


def config_json(cfg: EventDetectionConfig) -> str:
    return json.dumps(dataclasses.asdict(cfg))


class NativeDetector:
    def __init__(self, cfg: EventDetectionConfig) -> None:
        self.cfg = cfg
        self._n = flashcrash_native.Detector(config_json(cfg))
        self.guard = GuardView(self._n)
        self._transitions: list[Transition] = []
        self._readings: Readings | None = None
        self._readings_at = -1

    # ----------------------------------------------------------------- state
    @property
    def state(self) -> State:
        return State(self._n.state)

    @property
    def transitions(self) -> list[Transition]:
        n = self._n.transition_count
        if n != len(self._transitions):
            if n < len(self._transitions):
                self._transitions = []
            for t in self._n.transitions(len(self._transitions)):
                tr = _transition(t)
                log.info("detector %s -> %s: %s", tr.previous, tr.current, tr.reason)
                self._transitions.append(tr)
        return self._transitions

    @property
    def applied(self) -> int:
        return int(self._n.applied)

    def readings(self) -> Readings:
        """The readings at the end of the last closed second (all not ready before the first)."""
        closes = self._n.closes
        if closes != self._readings_at or self._readings is None:
            self._readings = _readings(self._n.readings())
            self._readings_at = closes
        return self._readings

    # ---------------------------------------------------------------- inputs
    def on_trade(self, ts_ns: int, price: float, qty: float, is_buy: bool) -> bool:
        """Validates and buffers a trade; False (and counted in `guard.dropped`) when rejected."""
        return bool(self._n.on_trade(ts_ns, price, qty, is_buy))

    def on_book(self, snapshot: wire.OrderBookSnapshot) -> bool:
        """Validates and buffers a book; False (and counted in `guard.dropped`) when rejected."""
        return bool(
            self._n.on_book(
                snapshot.exchange_ts_ns, snapshot.bids, snapshot.asks, wire.levels_proven(snapshot)
            )
        )

    def on_feed_lost(self) -> None:
        self._n.on_feed_lost()

    def on_candle(self, candle: Candle) -> Transition | None:
        """The runner's candle clock: returns the newest transition since the previous call, if any."""
        t = self._n.take_transition()
        if t is None:
            return None
        return _transition(t)

    def flush(self) -> None:
        self._n.flush()

    def snapshot(self) -> dict[str, Any]:
        return {"version": SNAPSHOT_VERSION, "detector": json.loads(self._n.snapshot())}

    def restore(self, state: dict[str, Any]) -> None:
        version = state.get("version")
        if version != SNAPSHOT_VERSION:
            raise ValueError(f"unknown detector snapshot version {version!r}")
        self._n.restore(json.dumps(state["detector"]))
        self._readings_at = -1

    def set_history(self, transitions: list[Transition]) -> None:
        self._n.set_history([(t.ts_ns, t.previous.value, t.current.value, t.reason) for t in transitions])
        self._transitions = list(transitions)  # history: not logged again

    def shutdown(self, ts_ns: int, reason: str) -> Transition:
        tr = _transition(self._n.shutdown(ts_ns, reason))
        _ = self.transitions  # logs it
        return tr
