"""The strategy's side of the engine's three ZeroMQ channels, and its own StateChange publisher."""

from flashcrash.data_client.client import EngineClient
from flashcrash.data_client.publisher import PublishError, StatePublisher

__all__ = ["EngineClient", "PublishError", "StatePublisher"]
