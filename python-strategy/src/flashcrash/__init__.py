"""flashcrash strategy process: crash detection and rebound trading over the engine's ZeroMQ channels."""

__version__ = "0.1.0"
