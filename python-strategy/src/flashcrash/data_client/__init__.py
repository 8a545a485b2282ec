"""The strategy's side of the engine's three ZeroMQ channels."""

from flashcrash.data_client.client import EngineClient

__all__ = ["EngineClient"]
