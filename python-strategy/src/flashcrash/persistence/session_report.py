"""`flashcrash report --session ID`: a stored session's summary, trades and audit counts printed with
rich, its trades as CSV (every figure exact, beside the PNG), and a PNG: its 1-second closes with the
detector's states shaded and the entries and exits marked, above its equity curve (sessions written
before the candles were stored, before schema v5: the equity curve alone). Both files are written
whole or not at all. Opens the database read-only, of any schema version up to this program's,
without migrating it (what an older file lacks reads as empty: `migrations.read_views`).

The session's start and end are the wall clock; the trades' and the detector's times are the venue's
event times (`exchange-sim` rebases a replay to start "now", and faster than real time its event
times run ahead of the wall clock)."""

from __future__ import annotations

import csv
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from rich.console import Console
from rich.table import Table

from flashcrash.atomic_files import replacing
from flashcrash.persistence.errors import PersistenceError
from flashcrash.persistence.records import NS, SessionRecord, TradeRecord, iso
from flashcrash.persistence.report import write_equity_curve, write_report
from flashcrash.persistence.service import session_stats
from flashcrash.persistence.sqlite import SqliteDatabase
from flashcrash.symbols import quote_currency
from flashcrash.trading_engine.exits import ExitReason
from flashcrash.wire import dec_text

WRITTEN_OFF = str(ExitReason.WRITTEN_OFF)


def _date(ns: int) -> str:
    return datetime.fromtimestamp(ns / NS, tz=UTC).strftime("%Y-%m-%d")


def _clock(ns: int | None, with_date: bool) -> str:
    """UTC time to the millisecond, with the date (month-day) only when the trades span several."""
    if ns is None:
        return "-"
    t = datetime.fromtimestamp(ns / NS, tz=UTC)
    return t.strftime("%m-%d %H:%M:%S.%f" if with_date else "%H:%M:%S.%f")[:-3]


def _num(d: Decimal | None) -> str:
    """A price or quantity to 8 significant digits without trailing zeros (an exit price is an
    average of fills, with many more), so the table fits a terminal and nothing is cut."""
    if d is None:
        return "-"
    if not d.is_finite() or d.is_zero():
        return str(d)
    return format(d.quantize(Decimal(10) ** (d.adjusted() - 7)).normalize(), "f")


def _money(d: Decimal | None) -> str:
    return "-" if d is None else f"{d:.4f}"


def _session_table(s: SessionRecord, trades: list[TradeRecord], events: Counter[str]) -> Table:
    st = session_stats(trades, s.id)
    ret = st.net_pnl / s.initial_capital * 100 if s.initial_capital else None
    t = Table(title=f"session {s.id}", show_header=False)
    t.add_column("what", style="bold")
    t.add_column("value", justify="right")
    rows = [
        ("symbol", s.symbol),
        ("mode", s.mode),
        ("status", s.status),
        ("started (UTC, wall clock)", iso(s.started_ns)),
        ("ended (UTC, wall clock)", iso(s.ended_ns) if s.ended_ns is not None else "-"),
        ("stop reason", s.stop_reason or "-"),
        ("recovered from", str(s.recovered_from) if s.recovered_from else "-"),
        ("closed trades", str(st.trades)),
        ("open trades", str(st.open_trades)),
        ("closed by a later session", str(st.closed_later)),
        ("wins / losses", f"{st.wins} / {st.losses}"),
        ("win rate", f"{st.win_rate:.1%}" if st.win_rate is not None else "-"),
        ("fees", dec_text(st.fees)),
        ("net P&L", dec_text(st.net_pnl)),
        ("initial capital", dec_text(s.initial_capital)),
        ("return", f"{ret:.4f} %" if ret is not None else "-"),
    ]
    rows += [(f"events: {k}", str(n)) for k, n in sorted(events.items())]
    for k, v in rows:
        t.add_row(k, v)
    return t


def _trades_table(trades: list[TradeRecord]) -> Table:
    stamps = [ns for t in trades for ns in (t.entry_ns, t.exit_ns) if ns is not None]
    dates = sorted({_date(ns) for ns in stamps})
    many = len(dates) > 1
    when = f"{dates[0]} to {dates[-1]}" if many else (dates[0] if dates else "")
    t = Table(
        title=f"trades (times: venue event time, UTC{', ' + when if when else ''}; fees and P&L in quote currency)"
    )
    left = ("exit reason",)
    for col in ("#", "session", "entry (venue)", "exit (venue)", "qty", "entry", "exit", "held s",
                "exit reason", "fees", "P&L"):  # fmt: skip
        t.add_column(col, justify="left" if col in left else "right", overflow="fold")
    for i, tr in enumerate(trades, 1):
        pnl = tr.pnl
        closer = tr.closing_session
        t.add_row(
            str(i),
            f"{tr.session_id} -> {closer}" if closer not in (None, tr.session_id) else str(tr.session_id),
            _clock(tr.entry_ns, many),
            _clock(tr.exit_ns, many),
            _num(tr.quantity),
            _num(tr.entry_price),
            _num(tr.exit_price) if tr.exit_price is not None else "open",
            f"{tr.hold_secs:.1f}" if tr.hold_secs is not None else "-",
            tr.exit_reason or "-",
            _money(tr.fees),
            _money(pnl),
            style=_pnl_style(pnl),
        )
    return t


def _pnl_style(pnl: Decimal | None) -> str:
    """Green for a win, red for a loss; an open or break-even trade plain."""
    if pnl is None or pnl.is_zero():
        return ""
    return "green" if pnl > 0 else "red"


# The entry and exit times are the venue's event times (the session's start and end, wall clock).
TRADE_COLUMNS = (
    "session", "closing_session", "trade_key", "entry_venue_time_utc", "exit_venue_time_utc",
    "quantity", "entry_price", "exit_price", "hold_secs", "exit_reason", "entry_reason", "entry_score",
    "fees", "pnl", "entry_client_order_id", "exit_client_order_id",
)  # fmt: skip


def write_trades_csv(path: Path, trades: list[TradeRecord]) -> Path:
    """The trades with their exact decimal text, one row each (open ones without exit columns),
    written whole or not at all."""
    with replacing(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(TRADE_COLUMNS)
        for t in trades:
            w.writerow([
                t.session_id, t.closing_session, t.trade_key, iso(t.entry_ns),
                iso(t.exit_ns) if t.exit_ns is not None else None, t.quantity, t.entry_price,
                t.exit_price, t.hold_secs, t.exit_reason, t.entry_reason, t.entry_score, t.fees, t.pnl,
                t.entry_client_order_id, t.exit_client_order_id,
            ])  # fmt: skip
    return path


def _venue_span(
    s: SessionRecord, states: Sequence[tuple[int, str]], pnls: Sequence[tuple[int, Decimal]]
) -> tuple[int, int]:
    """The first and last venue event time the equity chart draws (the detector's states, the
    session's exits); the session's own wall-clock start and end when it has none."""
    times = [ts for ts, _ in states] + [ns for ns, _ in pnls]
    if not times:
        return s.started_ns, s.ended_ns or s.started_ns
    return min(times), max(times)


def session_report(
    db_path: Path,
    session_id: int,
    out: Path,
    console: Console | None = None,
    recorded_shift_ns: int | None = None,
) -> Path:
    """Prints the report of session `session_id` and writes its chart to `out` (its trades CSV
    beside it); a replay's chart at the market's recorded times with `recorded_shift_ns` (as
    `write_report`'s). Raises `PersistenceError` for a database that cannot be read, `OSError` for a
    file that cannot be written."""
    console = console or Console()
    db = SqliteDatabase.open(db_path, read_only=True)
    try:
        uow = db.reader()
        s = uow.sessions.get(session_id)
        if s is None:
            recent = ", ".join(str(x.id) for x in uow.sessions.recent(10)) or "none"
            raise PersistenceError(f"database {db_path}: no session {session_id} (latest: {recent})")
        trades = uow.trades.of_session(session_id)
        events = uow.events.of_session(session_id)
        candles = uow.candles.of_session(session_id)
    finally:
        db.close()
    console.print(_session_table(s, trades, Counter(e.kind for e in events)))
    if trades:
        console.print(_trades_table(trades))
        csv_path = write_trades_csv(out.with_name(f"{out.stem}_trades.csv"), trades)
        console.print(f"trades: {csv_path}")
    states = [
        (e.ts_ns, str(e.payload.get("current")))
        for e in events
        if e.kind == "transition" and e.component == "detector"
    ]
    closed = sorted((t for t in trades if t.closing_session == s.id), key=lambda t: t.exit_ns or 0)
    pnls = [(t.exit_ns, t.pnl) for t in closed if t.exit_ns is not None and t.pnl is not None]
    entries = [(t.entry_ns, float(t.entry_price)) for t in trades if t.session_id == s.id]
    exits = [
        (t.exit_ns, float(t.exit_price))
        for t in closed
        if t.exit_ns is not None and t.exit_price is not None and t.exit_reason != WRITTEN_OFF
    ]
    written_off = [t.exit_ns for t in closed if t.exit_ns is not None and t.exit_reason == WRITTEN_OFF]
    equity = f"net P&L of the trades session {s.id} closed"
    subject = f"session {s.id} {s.symbol} ({s.status})"
    wall = (s.started_ns, s.ended_ns if s.ended_ns is not None else time.time_ns())
    drawn = write_report(
        out, s.symbol, candles, states, entries, exits, pnls,
        written_off=written_off, equity_label=equity, subject=subject, wall_ns=wall,
        recorded_shift_ns=recorded_shift_ns,
    )  # fmt: skip
    if drawn is not None:
        console.print(f"price, states and equity: {drawn}")
        return drawn
    start, end = _venue_span(s, states, pnls)
    path = write_equity_curve(
        out, f"{subject}: equity", start, end, pnls, states,
        equity_label=equity, currency=quote_currency(s.symbol), wall_ns=wall,
        recorded_shift_ns=recorded_shift_ns,
    )  # fmt: skip
    console.print(f"equity curve (no candles stored): {path}")
    return path
