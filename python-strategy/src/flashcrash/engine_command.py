"""One command to the running engine from the command line (`flashcrash reload`, `halt`, `resume`):
sent on the command channel once both sockets are connected (a PUB drops what it sends before the
subscription has reached it; the engine binds its command socket only once it reads it, and the
command is never queued for an engine not listening), and its answer, matched by `command_id`,
awaited for at most `timeout_s`."""

from __future__ import annotations

import enum
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from flashcrash import wire
from flashcrash.config import ZmqConfig
from flashcrash.data_client.client import connect


class Outcome(enum.Enum):
    APPLIED = "applied"  # the engine answered Success
    REFUSED = "refused"  # the engine answered Error
    NOT_SENT = "not sent"  # no engine listening: nothing was sent
    NO_ANSWER = "sent, no answer"  # sent: the engine may still act on it


@dataclass(frozen=True)
class Answer:
    outcome: Outcome
    message: str


def ask(endpoints: ZmqConfig, command: Callable[[str, int], wire.Message], timeout_s: float = 10.0) -> Answer:
    """Sends `command(command_id, ts_ns)` to the engine at `endpoints` and waits for its answer."""
    import zmq

    command_id = str(uuid.uuid4())
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    push = ctx.socket(zmq.PUSH)
    monitors = [s.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED) for s in (sub, push)]
    try:
        for s in (sub, push):
            s.setsockopt(zmq.LINGER, 0)
        # Sent only on a connection that is up: never held for an engine that binds later.
        push.setsockopt(zmq.IMMEDIATE, 1)
        sub.setsockopt(zmq.SUBSCRIBE, b"resp")
        connect(sub, endpoints.response_endpoint)
        connect(push, endpoints.command_endpoint)
        deadline = time.monotonic() + timeout_s
        for monitor, endpoint in zip(
            monitors, (endpoints.response_endpoint, endpoints.command_endpoint), strict=True
        ):
            if not monitor.poll(max(1, int((deadline - time.monotonic()) * 1000))):
                return Answer(Outcome.NOT_SENT, f"no engine listening at {endpoint} within {timeout_s:g} s")
        time.sleep(0.2)  # the subscription, sent after the handshake, on its way to the engine
        try:
            push.send(wire.encode(command(command_id, time.time_ns())), flags=zmq.NOBLOCK)
        except zmq.Again:
            return Answer(Outcome.NOT_SENT, f"no engine listening at {endpoints.command_endpoint}")
        while (left := deadline - time.monotonic()) > 0:
            if not sub.poll(int(left * 1000) + 1):
                break
            msg = wire.decode_published(sub.recv_multipart())
            if getattr(msg, "command_id", None) != command_id:
                continue
            if isinstance(msg, wire.Success):
                return Answer(Outcome.APPLIED, msg.message)
            if isinstance(msg, wire.Error):
                field = f" ({msg.field})" if msg.field else ""
                return Answer(Outcome.REFUSED, f"{msg.code}{field}: {msg.message}")
            return Answer(Outcome.NO_ANSWER, f"an unexpected answer, {type(msg).__name__}")
        return Answer(
            Outcome.NO_ANSWER, f"no answer from the engine within {timeout_s:g} s: it may still act on it"
        )
    finally:
        for s, monitor in zip((sub, push), monitors, strict=True):
            s.disable_monitor()
            monitor.close(0)
            s.close(0)
        ctx.term()
