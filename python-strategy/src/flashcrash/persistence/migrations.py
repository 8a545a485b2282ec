"""Numbered schema migrations of the SQLite database, applied in order at open.

`schema_version` holds one row per applied migration. Never edit a released step: add a new one.
Money columns are exact decimal TEXT; `*_ns` are UTC integer nanoseconds and `*_utc` the same
instant as ISO-8601 text for people. Tables are STRICT (SQLite >= 3.37), so a wrong type is refused.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


V1 = """
CREATE TABLE sessions (
    id              INTEGER PRIMARY KEY,
    started_ns      INTEGER NOT NULL,
    started_utc     TEXT    NOT NULL,
    ended_ns        INTEGER,
    ended_utc       TEXT,
    status          TEXT    NOT NULL CHECK (status IN ('running', 'clean', 'aborted', 'crashed')),
    stop_reason     TEXT,
    recovered_from  INTEGER REFERENCES sessions(id),
    symbol          TEXT    NOT NULL CHECK (symbol <> ''),
    mode            TEXT    NOT NULL,
    initial_capital TEXT    NOT NULL,
    pid             INTEGER,
    host            TEXT,
    config_json     TEXT CHECK (config_json IS NULL OR json_valid(config_json)),
    CHECK (status = 'running' OR status = 'crashed' OR ended_ns IS NOT NULL),
    CHECK (ended_ns IS NULL OR ended_ns >= started_ns)
) STRICT;
-- At most one session is running at a time.
CREATE UNIQUE INDEX sessions_one_running ON sessions(status) WHERE status = 'running';

CREATE TABLE orders (
    id                INTEGER PRIMARY KEY,
    session_id        INTEGER NOT NULL REFERENCES sessions(id),
    client_order_id   TEXT    NOT NULL UNIQUE CHECK (client_order_id <> ''),
    command_id        TEXT    NOT NULL,
    symbol            TEXT    NOT NULL,
    side              TEXT    NOT NULL CHECK (side IN ('BUY', 'SELL')),
    order_type        TEXT    NOT NULL CHECK (order_type IN ('LIMIT', 'MARKET', 'LIMIT_MAKER')),
    quantity          TEXT    NOT NULL CHECK (CAST(quantity AS REAL) > 0),
    price             TEXT,
    tag               TEXT    NOT NULL,
    status            TEXT    NOT NULL CHECK (status IN
                      ('PENDING', 'NEW', 'PARTIALLY_FILLED', 'FILLED', 'CANCELED', 'REJECTED', 'EXPIRED')),
    exchange_order_id TEXT,
    filled_quantity   TEXT    NOT NULL,
    created_ns        INTEGER NOT NULL,
    created_utc       TEXT    NOT NULL,
    updated_ns        INTEGER NOT NULL
) STRICT;
CREATE INDEX orders_session ON orders(session_id);
CREATE INDEX orders_command ON orders(command_id);

CREATE TABLE fills (
    id              INTEGER PRIMARY KEY,
    session_id      INTEGER NOT NULL REFERENCES sessions(id),
    client_order_id TEXT    NOT NULL REFERENCES orders(client_order_id),
    command_id      TEXT,
    trade_id        INTEGER NOT NULL,
    side            TEXT    NOT NULL CHECK (side IN ('BUY', 'SELL')),
    price           TEXT    NOT NULL CHECK (CAST(price AS REAL) > 0),
    quantity        TEXT    NOT NULL CHECK (CAST(quantity AS REAL) > 0),
    fee             TEXT    NOT NULL,
    fee_asset       TEXT    NOT NULL,
    liquidity       TEXT    NOT NULL CHECK (liquidity IN ('maker', 'taker')),
    ts_ns           INTEGER NOT NULL,
    ts_utc          TEXT    NOT NULL,
    UNIQUE (client_order_id, trade_id)
) STRICT;
CREATE INDEX fills_session ON fills(session_id);

CREATE TABLE trades (
    id                    INTEGER PRIMARY KEY,
    session_id            INTEGER NOT NULL REFERENCES sessions(id),
    trade_key             TEXT    NOT NULL UNIQUE,
    symbol                TEXT    NOT NULL,
    quantity              TEXT    NOT NULL CHECK (CAST(quantity AS REAL) > 0),
    entry_ns              INTEGER NOT NULL,
    entry_utc             TEXT    NOT NULL,
    entry_price           TEXT    NOT NULL CHECK (CAST(entry_price AS REAL) > 0),
    entry_reason          TEXT    NOT NULL,
    entry_client_order_id TEXT,
    exit_ns               INTEGER,
    exit_utc              TEXT,
    exit_price            TEXT CHECK (exit_price IS NULL OR CAST(exit_price AS REAL) > 0),
    exit_reason           TEXT,
    exit_client_order_id  TEXT,
    fees                  TEXT    NOT NULL,
    pnl                   TEXT,
    hold_ns               INTEGER,
    -- open: no exit field; closed: every exit field, and the holding time is exit - entry
    CHECK ((exit_ns IS NULL AND exit_utc IS NULL AND exit_price IS NULL AND exit_reason IS NULL
            AND pnl IS NULL AND hold_ns IS NULL)
        OR (exit_ns IS NOT NULL AND exit_utc IS NOT NULL AND exit_price IS NOT NULL
            AND exit_reason IS NOT NULL AND pnl IS NOT NULL AND hold_ns = exit_ns - entry_ns
            AND exit_ns >= entry_ns))
) STRICT;
CREATE INDEX trades_session ON trades(session_id, exit_ns);

CREATE TABLE events (
    id              INTEGER PRIMARY KEY,
    session_id      INTEGER NOT NULL REFERENCES sessions(id),
    ts_ns           INTEGER NOT NULL,
    ts_utc          TEXT    NOT NULL,
    kind            TEXT    NOT NULL CHECK (kind IN ('transition', 'entry_decision', 'entry_rejected',
                    'circuit_breaker', 'emergency_stop', 'command', 'response', 'session', 'error', 'note')),
    component       TEXT,
    command_id      TEXT,
    client_order_id TEXT,
    message_type    TEXT,
    summary         TEXT    NOT NULL,
    payload         TEXT    NOT NULL CHECK (json_valid(payload))
) STRICT;
CREATE INDEX events_session ON events(session_id, ts_ns);
CREATE INDEX events_command ON events(command_id) WHERE command_id IS NOT NULL;
CREATE INDEX events_client_order ON events(client_order_id) WHERE client_order_id IS NOT NULL;
CREATE INDEX events_kind ON events(session_id, kind);
"""

V2 = """
-- Entry score of the (future) scoring model; NULL until it exists.
ALTER TABLE trades ADD COLUMN entry_score REAL;

CREATE TABLE snapshots (
    id         INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    component  TEXT    NOT NULL CHECK (component <> ''),
    ts_ns      INTEGER NOT NULL,
    ts_utc     TEXT    NOT NULL,
    reason     TEXT    NOT NULL CHECK (reason IN ('periodic', 'shutdown', 'manual')),
    state      TEXT    NOT NULL CHECK (json_valid(state))
) STRICT;
CREATE INDEX snapshots_component ON snapshots(component, ts_ns);
CREATE INDEX snapshots_session ON snapshots(session_id, component, ts_ns);
"""

V3 = """
-- Snapshot reasons "change" (the trading state after an iteration that sent a command or received a
-- response) and "recovery" (the state right after a crash recovery). SQLite cannot alter a CHECK: the
-- table is rebuilt.
CREATE TABLE snapshots_v3 (
    id         INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    component  TEXT    NOT NULL CHECK (component <> ''),
    ts_ns      INTEGER NOT NULL,
    ts_utc     TEXT    NOT NULL,
    reason     TEXT    NOT NULL CHECK (reason IN ('periodic', 'shutdown', 'manual', 'change', 'recovery')),
    state      TEXT    NOT NULL CHECK (json_valid(state))
) STRICT;
INSERT INTO snapshots_v3 (id, session_id, component, ts_ns, ts_utc, reason, state)
    SELECT id, session_id, component, ts_ns, ts_utc, reason, state FROM snapshots;
DROP TABLE snapshots;
ALTER TABLE snapshots_v3 RENAME TO snapshots;
CREATE INDEX snapshots_component ON snapshots(component, ts_ns);
CREATE INDEX snapshots_session ON snapshots(session_id, component, ts_ns);
"""

V4 = """
-- The market event time the process had reached when it wrote an audit event (ts_ns is the wall
-- clock): crash recovery applies a fill of the audit log at the event time it arrived, not at the
-- snapshot's. NULL for events written before v4 or before the first market message.
ALTER TABLE events ADD COLUMN event_ns INTEGER;
-- The session that closed a trade: a trade opened before a crash and closed by the session that
-- recovered it counts in the P&L of the closing session, once.
ALTER TABLE trades ADD COLUMN exit_session_id INTEGER REFERENCES sessions(id);
UPDATE trades SET exit_session_id = session_id WHERE exit_ns IS NOT NULL;
CREATE INDEX trades_exit_session ON trades(exit_session_id) WHERE exit_session_id IS NOT NULL;
"""

V5 = """
-- The 1-second candles the strategy closed (a second without a trade has none), floats as the
-- detector has them: the session report draws the price from them, so the strategy keeps none in
-- memory however long it runs.
CREATE TABLE candles (
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    start_ns   INTEGER NOT NULL,
    open       REAL    NOT NULL,
    high       REAL    NOT NULL,
    low        REAL    NOT NULL CHECK (low > 0),
    close      REAL    NOT NULL,
    volume     REAL    NOT NULL CHECK (volume >= 0),
    buy_volume REAL    NOT NULL CHECK (buy_volume >= 0 AND buy_volume <= volume),
    trades     INTEGER NOT NULL CHECK (trades > 0),
    PRIMARY KEY (session_id, start_ns),
    CHECK (low <= open AND open <= high AND low <= close AND close <= high)
) STRICT, WITHOUT ROWID;
"""

V6 = """
-- The newest audit event written before each snapshot (events are written in order, so the events
-- after it are exactly those to replay on it; the wall clock may step back): NULL in older rows.
ALTER TABLE snapshots ADD COLUMN after_event_id INTEGER;
-- A trade may close at an exit price of 0: a lot written off (coins no venue would buy) received
-- nothing for what it held. SQLite cannot alter a CHECK: the table is rebuilt, as it stands after v4.
CREATE TABLE trades_v6 (
    id                    INTEGER PRIMARY KEY,
    session_id            INTEGER NOT NULL REFERENCES sessions(id),
    trade_key             TEXT    NOT NULL UNIQUE,
    symbol                TEXT    NOT NULL,
    quantity              TEXT    NOT NULL CHECK (CAST(quantity AS REAL) > 0),
    entry_ns              INTEGER NOT NULL,
    entry_utc             TEXT    NOT NULL,
    entry_price           TEXT    NOT NULL CHECK (CAST(entry_price AS REAL) > 0),
    entry_reason          TEXT    NOT NULL,
    entry_client_order_id TEXT,
    exit_ns               INTEGER,
    exit_utc              TEXT,
    exit_price            TEXT CHECK (exit_price IS NULL OR CAST(exit_price AS REAL) >= 0),
    exit_reason           TEXT,
    exit_client_order_id  TEXT,
    fees                  TEXT    NOT NULL,
    pnl                   TEXT,
    hold_ns               INTEGER,
    entry_score           REAL,
    exit_session_id       INTEGER REFERENCES sessions(id),
    CHECK ((exit_ns IS NULL AND exit_utc IS NULL AND exit_price IS NULL AND exit_reason IS NULL
            AND pnl IS NULL AND hold_ns IS NULL)
        OR (exit_ns IS NOT NULL AND exit_utc IS NOT NULL AND exit_price IS NOT NULL
            AND exit_reason IS NOT NULL AND pnl IS NOT NULL AND hold_ns = exit_ns - entry_ns
            AND exit_ns >= entry_ns))
) STRICT;
INSERT INTO trades_v6 SELECT id, session_id, trade_key, symbol, quantity, entry_ns, entry_utc,
    entry_price, entry_reason, entry_client_order_id, exit_ns, exit_utc, exit_price, exit_reason,
    exit_client_order_id, fees, pnl, hold_ns, entry_score, exit_session_id FROM trades;
DROP TABLE trades;
ALTER TABLE trades_v6 RENAME TO trades;
CREATE INDEX trades_session ON trades(session_id, exit_ns);
CREATE INDEX trades_exit_session ON trades(exit_session_id) WHERE exit_session_id IS NOT NULL;
"""

V7 = """
-- Session status "failed": a start that stopped after opening its session (a damaged row the
-- recovery refused, say) ends that session so at once, instead of leaving it "running" for the next
-- start to call crashed. SQLite cannot alter a CHECK: the table is rebuilt, as it stands after v1 (the
-- tables that refer to it are left as they are: foreign keys are off while the steps run, and checked
-- after them, `sqlite.migrate`).
CREATE TABLE sessions_v7 (
    id              INTEGER PRIMARY KEY,
    started_ns      INTEGER NOT NULL,
    started_utc     TEXT    NOT NULL,
    ended_ns        INTEGER,
    ended_utc       TEXT,
    status          TEXT    NOT NULL CHECK (status IN ('running', 'clean', 'aborted', 'crashed', 'failed')),
    stop_reason     TEXT,
    recovered_from  INTEGER REFERENCES sessions(id),
    symbol          TEXT    NOT NULL CHECK (symbol <> ''),
    mode            TEXT    NOT NULL,
    initial_capital TEXT    NOT NULL,
    pid             INTEGER,
    host            TEXT,
    config_json     TEXT CHECK (config_json IS NULL OR json_valid(config_json)),
    CHECK (status = 'running' OR status = 'crashed' OR ended_ns IS NOT NULL),
    CHECK (ended_ns IS NULL OR ended_ns >= started_ns)
) STRICT;
INSERT INTO sessions_v7 SELECT id, started_ns, started_utc, ended_ns, ended_utc, status, stop_reason,
    recovered_from, symbol, mode, initial_capital, pid, host, config_json FROM sessions;
DROP TABLE sessions;
ALTER TABLE sessions_v7 RENAME TO sessions;
CREATE UNIQUE INDEX sessions_one_running ON sessions(status) WHERE status = 'running';
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "sessions, orders, fills, trades, audit events", V1),
    Migration(2, "trades.entry_score, component snapshots", V2),
    Migration(3, "snapshot reasons change and recovery", V3),
    Migration(4, "events.event_ns, trades.exit_session_id", V4),
    Migration(5, "1-second candles", V5),
    Migration(6, "snapshots.after_event_id, trades written off at 0", V6),
    Migration(7, "session status failed", V7),
)
LATEST = MIGRATIONS[-1].version

# What a read-only connection to an older file shows for what later steps added (`read_views`), so
# `flashcrash report` reads any version without migrating it. Add an entry with each new column or
# table a reader uses: (version that added it, table, column, its value in older rows).
ADDED_COLUMNS: tuple[tuple[int, str, str, str], ...] = (
    (2, "trades", "entry_score", "NULL"),
    # As step 4 fills it: a closed trade was closed by the session that opened it.
    (4, "trades", "exit_session_id", "CASE WHEN exit_ns IS NOT NULL THEN session_id END"),
    (4, "events", "event_ns", "NULL"),
    (6, "snapshots", "after_event_id", "NULL"),
)
# (version that added it, table, its columns): empty in an older file.
ADDED_TABLES: tuple[tuple[int, str, str], ...] = (
    (2, "snapshots", "id, session_id, component, ts_ns, ts_utc, reason, state, after_event_id"),
    (5, "candles", "session_id, start_ns, open, high, low, close, volume, buy_volume, trades"),
)


def read_views(version: int) -> list[str]:
    """Temporary views (one connection's, shadowing its tables: the file is not changed) that give a
    file of schema `version` the tables and columns of the latest one a reader uses: a missing
    table empty, a missing column as `ADDED_COLUMNS` says."""
    missing = {table for since, table, _ in ADDED_TABLES if version < since}
    views = [
        f"CREATE TEMP VIEW {table} AS SELECT {', '.join(f'NULL AS {c}' for c in columns.split(', '))} WHERE 0"
        for since, table, columns in ADDED_TABLES
        if version < since
    ]
    added: dict[str, list[str]] = {}
    for since, table, column, value in ADDED_COLUMNS:
        if version < since and table not in missing:
            added.setdefault(table, []).append(f"{value} AS {column}")
    views += [
        f"CREATE TEMP VIEW {t} AS SELECT *, {', '.join(cols)} FROM main.{t}" for t, cols in added.items()
    ]
    return views


SCHEMA_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_ns INTEGER NOT NULL,
    applied_utc TEXT   NOT NULL
) STRICT
"""


def split_statements(sql: str) -> list[str]:
    """The statements of a step (none of ours has a `;` inside a literal or a trigger)."""
    lines = [ln for ln in sql.splitlines() if not ln.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
