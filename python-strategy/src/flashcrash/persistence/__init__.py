"""What the strategy writes to disk: the session summary (JSON) and its report (PNG), and the
database of sessions, orders, fills, trades, the audit log, component snapshots and 1-second candles
(`PersistenceService`; SQLite in `sqlite.py` and `sqlite_tables.py`, the only modules that speak
SQL)."""

from flashcrash.persistence.errors import (
    Closed,
    ConstraintViolation,
    DatabaseCorrupt,
    DatabaseLocked,
    PersistenceError,
    QueueFull,
    SchemaError,
    StorageError,
    WriterFailed,
    WriteTimeout,
)
from flashcrash.persistence.records import (
    EventRecord,
    FillRecord,
    OrderRecord,
    SessionRecord,
    SessionStats,
    SnapshotRecord,
    TradeRecord,
)
from flashcrash.persistence.report import write_report
from flashcrash.persistence.service import PersistenceService, PersistenceSettings
from flashcrash.persistence.summary import write_summary

__all__ = [
    "Closed",
    "ConstraintViolation",
    "DatabaseCorrupt",
    "DatabaseLocked",
    "EventRecord",
    "FillRecord",
    "OrderRecord",
    "PersistenceError",
    "PersistenceService",
    "PersistenceSettings",
    "QueueFull",
    "SchemaError",
    "SessionRecord",
    "SessionStats",
    "SnapshotRecord",
    "StorageError",
    "TradeRecord",
    "WriteTimeout",
    "WriterFailed",
    "write_report",
    "write_summary",
]
