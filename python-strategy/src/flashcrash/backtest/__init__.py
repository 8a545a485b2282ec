"""Backtesting (issue 7): the replay engine will drive the same detector, strategy and order-manager
objects as `flashcrash run`; nothing of it is built yet."""
