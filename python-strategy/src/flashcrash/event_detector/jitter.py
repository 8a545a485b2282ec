"""The jitter buffer: events wait `delay_ns` of event time, then leave in time order, so feed jitter
and messages overtaking each other (a book ahead of the trades behind it) reach the indicators in
the order they happened. Pushing and releasing are O(log n) (a heap)."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class JitterBuffer(Generic[T]):
    def __init__(self, delay_ns: int) -> None:
        self.delay_ns = delay_ns
        self.newest_ns = 0
        self._heap: list[tuple[int, int, T]] = []
        self._seq = 0

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, ts_ns: int, item: T) -> None:
        heapq.heappush(self._heap, (ts_ns, self._seq, item))
        self._seq += 1
        if ts_ns > self.newest_ns:
            self.newest_ns = ts_ns

    def release(self) -> Iterator[tuple[int, T]]:
        """Yields, oldest first, the events older than the newest one by more than `delay_ns`."""
        horizon = self.newest_ns - self.delay_ns
        while self._heap and self._heap[0][0] < horizon:
            ts, _, item = heapq.heappop(self._heap)
            yield ts, item

    def release_to(self, apply: Callable[[int, T], object]) -> None:
        """`release` without a generator: calls `apply(ts, item)` for each, oldest first."""
        heap = self._heap
        horizon = self.newest_ns - self.delay_ns
        while heap and heap[0][0] < horizon:
            ts, _, item = heapq.heappop(heap)
            apply(ts, item)

    def push_release(self, ts_ns: int, item: T, apply: Callable[[int, T], object]) -> None:
        """`push`, then `release_to`, in one call (the detector's per-event path)."""
        heap = self._heap
        heapq.heappush(heap, (ts_ns, self._seq, item))
        self._seq += 1
        if ts_ns > self.newest_ns:
            self.newest_ns = ts_ns
        horizon = self.newest_ns - self.delay_ns
        while heap and heap[0][0] < horizon:
            ts, _, ready = heapq.heappop(heap)
            apply(ts, ready)

    def drain(self) -> Iterator[tuple[int, T]]:
        """Yields every buffered event, oldest first (end of the session)."""
        while self._heap:
            ts, _, item = heapq.heappop(self._heap)
            yield ts, item
