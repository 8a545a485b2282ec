"""The strategy's side of the engine's three ZeroMQ channels, its own StateChange publisher,
and the `Wakeup` its poller can wait on for another thread."""

from flashcrash.data_client.client import EngineClient
from flashcrash.data_client.publisher import PublishError, StatePublisher
from flashcrash.data_client.wakeup import Wakeup

__all__ = ["EngineClient", "PublishError", "StatePublisher", "Wakeup"]
