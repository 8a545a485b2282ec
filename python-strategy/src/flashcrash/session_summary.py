"""The end-of-session summary of a `Runner` (`summary.json`, the demo's table): messages, feed,
detector, decisions, orders, risk and P&L.

Every figure is this session's own (`scope`: "session N"; "this run" without a database), as the
database counts it: after a crash recovery the counts the crashed session's snapshots held are its
own (`recovery._counts_afresh`), and the detector's transitions read back from the sessions carried
on and the input guard's drops restored with the detector are left out here. The one exception is
named in place: the feed's counts are added up over the engines the session heard (`feed.engines`;
an engine restarted counts from zero), from the first one's start (`feed.counted_since_utc`), which
a strategy restarted against a running engine does not share (`feed_counts`).

`pnl` and `trades` are this session's own, as `flashcrash report` counts them: the trades it closed
(one recovered from a crashed session and closed here included), their fees and net P&L; the fees
paid on positions still open are `open_fees`, counted in the trade once a session closes it. After
a crash recovery the strategy also holds the trades the sessions it carried on closed: they are in
`pnl_with_earlier_sessions` (what the end-of-session chart's equity draws; its `sessions` names
them and this one), not in `pnl`.

`started_utc` is the wall clock at the runner's start; the detector's and the trades' times are the
venue's event times. `session_id` is the database's (`flashcrash report --session ID`)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from flashcrash import wire
from flashcrash.event_detector.machine import Transition
from flashcrash.persistence.records import SessionStats
from flashcrash.trading_engine.position import ClosedTrade

if TYPE_CHECKING:
    from flashcrash.runner import Runner


def _utc(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, tz=UTC).isoformat()


def _earlier(runner: Runner, key: str, default: Any) -> Any:
    """What a crash recovery read back from the sessions it carries on (`recovery["earlier_*"]`)."""
    return runner.recovery.get(key, default) if runner.recovery is not None else default


def own_closed_trades(runner: Runner) -> list[ClosedTrade]:
    """The trades this session closed: after a crash recovery the strategy's closed trades begin
    with those the sessions it carried on closed (`recovery["earlier_trades"]`), which count there."""
    return runner.strategy.position.closed[_earlier(runner, "earlier_trades", 0) :]


def own_transitions(runner: Runner) -> list[Transition]:
    """The detector's transitions of this session: after a recovery the detector's list begins with
    those read back from the sessions carried on."""
    return runner.detector.transitions[_earlier(runner, "earlier_transitions", 0) :]


def _own_dropped(runner: Runner) -> dict[str, int]:
    """The input guard's drops in this session (a recovered detector's guard carries the counts of
    the sessions carried on)."""
    before = _earlier(runner, "earlier_dropped", {})
    now = runner.guard.dropped
    return {k: n - before.get(k, 0) for k, n in now.items() if n > before.get(k, 0)}


def _pnl(runner: Runner, own: list[ClosedTrade]) -> dict[str, Any]:
    """This session's closed trades' figures, what is still open, and the return on the session's
    capital (`flashcrash.session_capital`: the account's equity at its start, else initial_capital)."""
    pos = runner.strategy.position
    capital = runner.capital.value
    st = SessionStats.of_closed(own)
    return {
        "trades": st.trades,
        "wins": st.wins,
        "losses": st.losses,
        "win_rate": round(st.win_rate, 4) if st.win_rate is not None else None,
        "fees": wire.dec_text(st.fees),
        "net_pnl": wire.dec_text(st.net_pnl),
        "open_quantity": wire.dec_text(pos.quantity),
        "open_fees": wire.dec_text(sum((lot.position.fees for lot in pos.lots.values()), Decimal(0))),
        "initial_capital": wire.dec_text(capital),
        "capital_source": runner.capital.source,
        "return_pct": wire.dec_text((st.net_pnl / capital * Decimal(100)).quantize(Decimal("0.0001"))),
    }


def _with_earlier_sessions(runner: Runner) -> dict[str, Any] | None:
    """Every closed trade the strategy holds, the earlier sessions' included (None without a
    recovery: then they are `pnl`'s)."""
    if runner.recovery is None:
        return None
    st = SessionStats.of_closed(runner.strategy.position.closed)
    sessions = [*runner.recovery.get("earlier_sessions", [runner.recovery["from_session"]])]
    if runner.session is not None:
        sessions.append(runner.session.id)
    return {
        "recovered_from": runner.recovery["from_session"],
        "sessions": ", ".join(str(s) for s in sessions),
        "trades": st.trades,
        "net_pnl": wire.dec_text(st.net_pnl),
    }


def session_summary(runner: Runner) -> dict[str, Any]:
    h = runner.health
    fc = runner.feed_counts
    own = own_closed_trades(runner)
    transitions = own_transitions(runner)
    sid = runner.session.id if runner.session is not None else None
    return {
        "symbol": runner.cfg.symbol.name,
        # The database's id of the session (`flashcrash report --session ID`); None without one.
        "session_id": sid,
        # What every figure below covers (but `pnl_with_earlier_sessions`): this session only.
        "scope": f"session {sid}" if sid is not None else "this run",
        "started_utc": runner.started.isoformat(),
        "stop_reason": runner.stop_reason,
        "messages": {
            "book": runner.client.received["OrderBookSnapshot"],
            "trade": runner.client.received["Trade"],
            "health": runner.client.received["HealthMetrics"],
            "state": runner.client.received["StateChange"],
            "responses": sum(
                n for k, n in runner.client.received.items() if k in {c.__name__ for c in wire.RESPONSE_TYPES}
            ),
            "malformed": sum(runner.client.malformed.values()),
            # Books left out unread: a newer book of the symbol came in the same read.
            "books_conflated": getattr(runner.client, "conflated", 0),
            "dropped_by_guard": _own_dropped(runner),
            "late_trades": runner.candles.late_trades,
            "trades_missed": getattr(runner.client, "trades_missed", 0),
        },
        "feed": {
            # Its counts from the engines' HealthMetrics (one a second), added up (`feed_counts`);
            # its state the newest heard.
            "state": runner.feed_state or (h.feed_state if h else None),
            "counted_since_utc": _utc(fc.since_ns) if fc.since_ns else None,
            "engines": fc.engines,
            **fc.totals(),
            "latency_p99_us": runner.latency_health.latency_p99_us if runner.latency_health else None,
            "latency_p99_max_us": runner.latency_p99_max_us if runner.latency_health else None,
        },
        "detector": {
            "candles": runner.candle_count,
            "state_changes": len(transitions),
            "transitions": [
                {
                    "utc": _utc(t.ts_ns),
                    "from": str(t.previous),
                    "to": str(t.current),
                    "reason": t.reason,
                }
                for t in transitions
            ],
        },
        "decisions": dict(runner.strategy.decisions),
        "orders": {
            "sent": runner.orders.stats["sent"],
            "placed": runner.orders.stats["placed"],
            "fills": runner.orders.stats["fills"],
            "errors": runner.orders.stats["errors"],
            "cancel_too_late": runner.orders.stats["cancel_too_late"],
            "timeouts": runner.orders.stats["timeouts"],
            "cancels": runner.orders.stats["cancels"],
            "queries": runner.orders.stats["queries"],
            "resends": runner.orders.stats["resends"],
            "in_doubt": runner.orders.stats["in_doubt"],
            "lost": runner.orders.stats["lost"],
            "duplicate_fills": runner.orders.stats["duplicate_fills"],
            "refused_fills": runner.orders.stats["refused_fills"],
            "refused_answers": runner.orders.stats["refused_answers"],
            "unknown_order": runner.orders.stats["unknown_order"],
        },
        "risk": {
            "emergency_stops": dict(runner.strategy.stops.triggered),
            "emergency_active": sorted(runner.strategy.stops.active),
            "breaker": str(runner.orders.breaker.state(runner.clock())),
            "breaker_events": dict(runner.orders.breaker.stats),
            # The engine's last report of the free quote (None: none came), and how many came.
            "funds": {
                "asset": runner.strategy.funds.asset or None,
                "free": None if runner.strategy.funds.free is None else str(runner.strategy.funds.free),
                "reports": runner.orders.stats["balances"],
            },
        },
        "pnl": _pnl(runner, own),
        "pnl_with_earlier_sessions": _with_earlier_sessions(runner),
        "trades": [t.to_json() for t in own],
    }
