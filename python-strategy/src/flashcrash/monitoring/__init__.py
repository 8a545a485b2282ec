"""Operations: Prometheus metrics (`metrics`), structured logs (`logs`), webhook alerts (`alerts`), the
live terminal view `flashcrash monitor` (`live`), configuration reload (`reload`)."""
