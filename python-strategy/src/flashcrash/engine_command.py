"""One command to the running engine from the command line (`flashcrash reload`, `halt`, `resume`):
sent on the command channel once the responses subscription has reached the engine (a PUB drops what
it sends before then), and its answer, matched by `command_id`, awaited for at most `timeout_s`."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from flashcrash import wire
from flashcrash.config import ZmqConfig


def ask(
    endpoints: ZmqConfig, command: Callable[[str, int], wire.Message], timeout_s: float = 10.0
) -> tuple[bool, str]:
    """Sends `command(command_id, ts_ns)` to the engine at `endpoints` and waits for its answer: (True, the
    `Success` message) or (False, the `Error` or why there was no answer)."""
    import zmq

    command_id = str(uuid.uuid4())
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    push = ctx.socket(zmq.PUSH)
    monitor = sub.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
    try:
        for s in (sub, push):
            s.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.SUBSCRIBE, b"resp")
        sub.connect(endpoints.response_endpoint)
        push.connect(endpoints.command_endpoint)
        deadline = time.monotonic() + timeout_s
        if not monitor.poll(int(timeout_s * 1000)):
            return False, f"engine not reachable at {endpoints.response_endpoint} within {timeout_s:g} s"
        time.sleep(0.2)  # the subscription, sent after the handshake, on its way to the engine
        try:
            push.send(wire.encode(command(command_id, time.time_ns())), flags=zmq.NOBLOCK)
        except zmq.Again:
            return False, f"engine not reachable at {endpoints.command_endpoint}"
        while (left := deadline - time.monotonic()) > 0:
            if not sub.poll(int(left * 1000) + 1):
                break
            frames = sub.recv_multipart()
            if len(frames) != 2:
                continue
            try:
                msg = wire.decode(frames[1])
            except wire.WireError:
                continue
            if getattr(msg, "command_id", None) != command_id:
                continue
            if isinstance(msg, wire.Success):
                return True, msg.message
            if isinstance(msg, wire.Error):
                field = f" ({msg.field})" if msg.field else ""
                return False, f"{msg.code}{field}: {msg.message}"
            return False, f"unexpected answer {type(msg).__name__}"
        return False, f"no answer from the engine within {timeout_s:g} s"
    finally:
        sub.disable_monitor()
        monitor.close(0)
        for s in (sub, push):
            s.close(0)
        ctx.term()
