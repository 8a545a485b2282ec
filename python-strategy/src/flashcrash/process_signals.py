"""Signals between a process and the ones it starts: a child that dies with its parent, and SIGTERM
/ SIGHUP turned into the Ctrl-C a command already handles (the launcher's processes, the optimiser's
workers)."""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any


def die_with_parent() -> None:
    """In a child before it runs (Linux): SIGTERM when the launcher dies, however it dies (even
    killed with SIGKILL, which no handler sees), so no process outlives it. Each child has a session
    of its own, so a terminal's signals do not reach it directly."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    parent = os.getppid()
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the launcher died before the request took effect
        os._exit(1)


def stop_on_hangup() -> dict[int, Any]:
    """SIGTERM and SIGHUP (the terminal closed, `timeout`, CI) stop the session as Ctrl-C does, so
    its processes are stopped rather than left running, unless the caller handles them itself.
    Returns the handlers replaced."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    replaced = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is signal.SIG_DFL:
            replaced[sig] = signal.signal(sig, _interrupt)
    return replaced


def _interrupt(sig: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(sig).name}")


def restore_handlers(handlers: dict[int, Any]) -> None:
    for sig, handler in handlers.items():
        signal.signal(sig, handler)
