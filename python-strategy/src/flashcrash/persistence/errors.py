"""The errors of the persistence layer. Every message names the database file."""

from __future__ import annotations


class PersistenceError(Exception):
    """Base of every persistence error."""


class DatabaseCorrupt(PersistenceError):
    """The file is not a database, or its integrity check fails. Nothing was changed."""


class DatabaseLocked(PersistenceError):
    """Another connection or process holds the lock for longer than the busy timeout."""


class SchemaError(PersistenceError):
    """The schema version on disk is newer than this code, or a migration failed."""


class StorageError(PersistenceError):
    """The file cannot be opened, read or written (permissions, disk full, I/O error)."""


class ConstraintViolation(PersistenceError):
    """A row broke a NOT NULL/UNIQUE/CHECK/foreign-key rule: that write is refused, the others stand."""


class QueueFull(PersistenceError):
    """The write queue is full: the write was NOT queued (and is counted in `stats["rejected"]`)."""


class WriteTimeout(PersistenceError):
    """A write was queued but not committed within the time waited for it (a locked database being
    retried, a slow disk). It may still commit later; the caller must act as if it had not."""


class WriterFailed(PersistenceError):
    """The writer thread stopped on a fatal error; no further writes are accepted."""


class Closed(PersistenceError):
    """The service was closed."""
