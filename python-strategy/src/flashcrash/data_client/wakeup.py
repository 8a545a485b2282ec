"""`Wakeup`: a file descriptor another thread makes readable, for the loop's poller to wait on next to
its sockets (`EngineClient.watch`): the loop wakes the instant that thread has news for it (the
persistence writer committed an order the runner holds), not at its next poll timeout.

`set` (any thread; a Future's done-callback) makes the descriptor readable and raises `pending`; the
loop's `clear` reads it empty when `pending` says there is something to read (one cheap attribute
test per loop iteration otherwise). `set` writes before it raises `pending`, so the descriptor is
never left readable with `pending` down for good: at worst the poller returns once more at once, and
the next `clear` reads it. An eventfd where there is one (Linux), else a pipe."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import weakref
from typing import Any


class Wakeup:
    def __init__(self) -> None:
        if hasattr(os, "eventfd"):
            self._r = self._w = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        else:  # pragma: no cover - not Linux
            self._r, self._w = os.pipe()
            for fd in (self._r, self._w):
                os.set_blocking(fd, False)
        self.pending = False
        self._lock = threading.Lock()  # no write to a descriptor `close` freed (its number reused)
        self._closed = False
        # Closed with the object when nobody called `close` (a test's runner never finished).
        self._finalizer = weakref.finalize(self, _close, self._r, self._w)

    def fileno(self) -> int:
        """The descriptor to poll for reading."""
        return self._r

    def set(self, *_: Any) -> None:
        """Wakes the poller (from any thread; its arguments, a Future's, are ignored)."""
        with self._lock:
            if self._closed:
                return
            # Full (a pipe's buffer, an eventfd's counter at its maximum): readable already.
            with contextlib.suppress(BlockingIOError):
                os.write(self._w, _ONE if self._r == self._w else b"\0")
        self.pending = True

    def clear(self) -> bool:
        """Reads the descriptor empty when it was set; whether it was."""
        if not self.pending:
            return False
        self.pending = False
        with contextlib.suppress(BlockingIOError):
            while os.read(self._r, 4096) and self._r != self._w:  # an eventfd reads empty at once
                pass
        return True

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._finalizer()


_ONE = (1).to_bytes(8, sys.byteorder)  # what an eventfd adds to its counter: a native uint64


def _close(r: int, w: int) -> None:
    os.close(r)
    if w != r:
        os.close(w)
