"""The strategy's own PUB socket (`[zmq] strategy_endpoint`): a `StateChange` (topic `state`) on every
transition of its detector and circuit breaker, for whoever watches the strategy. Publishing never
blocks the loop: a message the socket cannot queue is dropped and counted."""

from __future__ import annotations

import logging

import zmq

from flashcrash import wire
from flashcrash.data_client.client import is_ipv6

log = logging.getLogger(__name__)

STATE_TOPIC = b"state"


class PublishError(Exception):
    """The endpoint cannot be bound (in use, malformed)."""


class StatePublisher:
    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.PUB)
        self.sock.setsockopt(zmq.LINGER, 500)
        self.sock.setsockopt(zmq.SNDHWM, 10_000)
        # A PUB socket silently discards what a subscriber's full queue cannot take; with NODROP the
        # send says so instead (zmq.Again), and the drop is counted and logged below.
        self.sock.setsockopt(zmq.XPUB_NODROP, 1)
        if is_ipv6(endpoint):
            self.sock.setsockopt(zmq.IPV6, 1)
        try:
            self.sock.bind(endpoint)
        except zmq.ZMQError as e:
            self.sock.close(0)
            self.ctx.term()
            raise PublishError(f"[zmq] strategy_endpoint {endpoint}: cannot bind: {e}") from e
        self.published = 0
        self.dropped = 0

    def state_change(self, ts_ns: int, component: str, previous: str, current: str, reason: str) -> None:
        msg = wire.StateChange(ts_ns, component, previous, current, reason)
        try:
            self.sock.send_multipart([STATE_TOPIC, wire.encode(msg)], flags=zmq.NOBLOCK)
            self.published += 1
        except zmq.Again:
            self.dropped += 1
            log.warning(
                "StateChange %s -> %s of %s dropped: publisher queue full", previous, current, component
            )

    def close(self) -> None:
        self.sock.close()
        self.ctx.term()
