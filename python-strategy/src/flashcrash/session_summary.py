"""The end-of-session summary of a `Runner` (`summary.json`, the demo's table): messages, feed,
detector, decisions, orders, risk and P&L."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from flashcrash import wire

if TYPE_CHECKING:
    from flashcrash.runner import Runner


def session_summary(runner: Runner) -> dict[str, Any]:
    pos = runner.strategy.position
    capital = runner.cfg.initial_capital
    net = pos.realized
    h = runner.health
    trades = [t.to_json() for t in pos.closed]
    wins = sum(1 for t in pos.closed if t.pnl > 0)
    return {
        "symbol": runner.cfg.symbol.name,
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
            "dropped_by_guard": dict(runner.guard.dropped),
            "late_trades": runner.candles.late_trades,
            "trades_missed": getattr(runner.client, "trades_missed", 0),
        },
        "feed": {
            # Its counters are the last HealthMetrics' (one a second); its state the newest heard.
            "state": runner.feed_state or (h.feed_state if h else None),
            "resync_count": h.resync_count if h else 0,
            "gap_count": h.gap_count if h else 0,
            "reconnect_count": h.reconnect_count if h else 0,
            "trades_missed_count": h.trades_missed_count if h else 0,
            "latency_p99_us": runner.latency_health.latency_p99_us if runner.latency_health else None,
            "latency_p99_max_us": runner.latency_p99_max_us if runner.latency_health else None,
        },
        "detector": {
            "candles": runner.candle_count,
            "state_changes": len(runner.detector.transitions),
            "transitions": [
                {
                    "utc": datetime.fromtimestamp(t.ts_ns / 1e9, tz=UTC).isoformat(),
                    "from": str(t.previous),
                    "to": str(t.current),
                    "reason": t.reason,
                }
                for t in runner.detector.transitions
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
        },
        "risk": {
            "emergency_stops": dict(runner.strategy.stops.triggered),
            "emergency_active": sorted(runner.strategy.stops.active),
            "breaker": str(runner.orders.breaker.state(runner.clock())),
            "breaker_events": dict(runner.orders.breaker.stats),
        },
        "pnl": {
            "trades": len(trades),
            "win_rate": round(wins / len(trades), 4) if trades else None,
            "fees": wire.dec_text(pos.total_fees),
            "net_pnl": wire.dec_text(net),
            "open_quantity": wire.dec_text(pos.quantity),
            "initial_capital": wire.dec_text(capital),
            "return_pct": wire.dec_text((net / capital * Decimal(100)).quantize(Decimal("0.0001"))),
        },
        "trades": trades,
    }
