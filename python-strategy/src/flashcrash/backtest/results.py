"""What a backtest found: the account, the trades, the per-second series (price, equity, detector
state), the deepest drawdown of the equity marked at every trade and fill, and the figures computed
from them; CSV and JSON writers (atomic: `atomic_files.replacing`), and what produced them (the
`inputs` of `summary.json`)."""

from __future__ import annotations

import csv
import json
import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from flashcrash.atomic_files import replacing, write_text
from flashcrash.event_detector import State, Transition
from flashcrash.event_detector.candles import NS
from flashcrash.trading_engine import ClosedTrade
from flashcrash.wire import dec_text

if TYPE_CHECKING:
    from flashcrash.backtest.replay import Replay

STATES = list(State)
# The columns of trades.csv; the two prices are averages of the trade's fills (rounded: `avg_price`).
TRADES_CSV_HEADER = ["entry_utc", "exit_utc", "quantity", "entry_price_avg", "exit_price_avg", "fees", "pnl",
                     "return_pct", "hold_secs", "exit_reason", "entry_reason", "entry_score"]  # fmt: skip


def utc(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat(timespec="milliseconds")


def trade_return(t: ClosedTrade) -> float:
    """Net P&L over the entry notional."""
    notional = t.entry_price * t.quantity
    return float(t.pnl / notional) if notional else 0.0


# Price decimals kept below the price tick in an average fill price (a volume-weighted mean of fills
# at the tick is exact only to 28 digits: `0.1999669269269269269269269269`).
AVG_PRICE_DIGITS = 4
AVG_PRICE_SIGNIFICANT = 12  # without a tick: significant digits kept


def avg_price(price: Decimal, tick: Decimal | None = None) -> Decimal:
    """An average fill price as shown: rounded to `tick` x 1e-4 (to 12 significant digits without a
    tick), trailing zeros dropped (`0.20210000` -> `0.2021`). P&L and fees are computed from the
    exact price, never from this."""
    if not price.is_finite() or price == 0:
        return price
    if tick is not None and tick > 0:
        quantum = tick.scaleb(-AVG_PRICE_DIGITS)
    else:
        quantum = Decimal(1).scaleb(price.adjusted() - AVG_PRICE_SIGNIFICANT + 1)
    return price.quantize(quantum).normalize()  # written with `dec_text`: never in exponent form


def shown(v: object) -> str:
    """A value as the summary table and the HTML page show it: `-` where there is none (no trade, no
    win, no loss), a `Decimal` never in exponent form."""
    if v is None or v == "":
        return "-"
    return dec_text(v) if isinstance(v, Decimal) else str(v)


def max_drawdown(equity: np.ndarray) -> tuple[float, float]:
    """(largest fall from a running peak, in money; the largest as a fraction of that peak)."""
    if len(equity) == 0:
        return 0.0, 0.0
    peak = np.maximum.accumulate(equity)
    fall = peak - equity
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(peak > 0, fall / peak, 0.0)
    return float(fall.max()), float(rel.max())


class RunningDrawdown:
    """`max_drawdown` of an equity series kept as its values come (`mark`), without storing them:
    the running peak, the largest fall from it in money and the largest as a fraction of it."""

    __slots__ = ("fall", "peak", "ratio")

    def __init__(self) -> None:
        self.peak = -math.inf
        self.fall = 0.0
        self.ratio = 0.0

    def mark(self, equity: float) -> None:
        if equity >= self.peak:
            self.peak = equity
            return
        fall = self.peak - equity
        if fall > self.fall:
            self.fall = fall
        if self.peak > 0 and fall / self.peak > self.ratio:
            self.ratio = fall / self.peak

    @property
    def deepest(self) -> tuple[float, float]:
        """(largest fall, in money; the largest as a fraction of its peak), as `max_drawdown`."""
        return self.fall, self.ratio


def sharpe(returns: list[float]) -> float | None:
    """Mean over standard deviation of the per-trade returns (not annualised); None under 2 trades
    or with no dispersion."""
    if len(returns) < 2:
        return None
    sd = statistics.stdev(returns)
    return statistics.fmean(returns) / sd if sd > 0 else None


@dataclass
class BacktestResult:
    symbol: str
    initial_capital: Decimal
    final_equity: Decimal
    fees: Decimal
    trades: list[ClosedTrade]
    entries: list[tuple[int, float]]
    exits: list[tuple[int, float]]
    transitions: list[Transition]
    decisions: Counter[str]
    orders: dict[str, int]
    sample_ns: np.ndarray
    sample_price: np.ndarray
    sample_equity: np.ndarray
    sample_state: np.ndarray
    events: dict[str, int]
    run_secs: float
    commands: list[tuple[int, object]] = field(default_factory=list)
    data_gaps: list[tuple[int, int]] = field(default_factory=list)
    # The deepest drawdown of the equity marked at every trade and fill (`RunningDrawdown.deepest`);
    # None: the per-second samples' (`max_drawdown`).
    deepest_drawdown: tuple[float, float] | None = None
    # `symbol` is the data's (what the run is labelled with); this is the config's `[symbol] name`,
    # whose price tick, quantity step and order size the run traded with ("" = `symbol`).
    config_symbol: str = ""
    price_tick: Decimal | None = None  # the config's, to which average prices are rounded
    trade_from_ns: int | None = None  # the end of a warm-up (entries paused before it), if any
    # What produced the run (data file and its hash, window, config, overlays, book): `inputs` of
    # summary.json, the HTML page's Inputs table.
    inputs: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def of(r: Replay, run_secs: float) -> BacktestResult:
        s = r.runner.strategy
        last = r.sample_price[-1] if r.sample_price else 0.0
        first = int(r.trades["ts_ns"][0])
        return BacktestResult(
            symbol=r.cfg.symbol.name,
            initial_capital=r.cfg.backtest.initial_capital,
            final_equity=r.venue.equity(last),
            fees=r.venue.fees,
            trades=list(s.position.closed),
            entries=list(s.entries),
            exits=list(s.exits),
            transitions=[t for t in r.runner.detector.transitions if t.current is not State.SHUTDOWN],
            decisions=Counter(s.decisions),
            orders=dict(r.runner.orders.stats),
            sample_ns=np.asarray(r.sample_ns, dtype=np.int64),
            sample_price=np.asarray(r.sample_price, dtype=np.float64),
            sample_equity=np.asarray(r.sample_equity, dtype=np.float64),
            sample_state=np.asarray(r.sample_state, dtype=np.int8),
            events={"trades": r.k, "books": r.books_published},
            run_secs=run_secs,
            commands=list(r.commands),
            data_gaps=list(r.data_gaps),
            deepest_drawdown=r.drawdown.deepest,
            config_symbol=r.cfg.symbol.name,
            price_tick=r.cfg.strategy.price_tick,
            trade_from_ns=r.trade_from_ns if r.trade_from_ns > first else None,
        )

    # --------------------------------------------------------------- figures
    def drawdown(self) -> np.ndarray:
        """The per-second drawdown from the running peak (the CSV and the chart)."""
        if len(self.sample_equity) == 0:
            return self.sample_equity
        return self.sample_equity - np.maximum.accumulate(self.sample_equity)

    def drawdown_pct(self) -> np.ndarray:
        """`drawdown` as a % of the running peak (the chart; 0 where the peak is not positive), the
        unit of the summary's `max_drawdown_pct`."""
        if len(self.sample_equity) == 0:
            return self.sample_equity
        peak = np.maximum.accumulate(self.sample_equity)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(peak > 0, (self.sample_equity - peak) / peak * 100, 0.0)

    def metrics(self) -> dict[str, Any]:
        trades = self.trades
        pnls = [t.pnl for t in trades]
        wins = [p for p in pnls if p > 0]
        losses = [p for p in pnls if p < 0]  # a break-even trade is neither
        net = self.final_equity - self.initial_capital
        dd, dd_pct = self.deepest_drawdown or max_drawdown(self.sample_equity)
        holds = [t.hold_secs for t in trades]
        # The window's seconds: a warm-up's come before it (states.csv and the chart keep them).
        from_second = 0 if self.trade_from_ns is None else self.trade_from_ns // NS * NS
        first = int(np.searchsorted(self.sample_ns, from_second))
        window_ns, window_state = self.sample_ns[first:], self.sample_state[first:]
        counts = Counter(window_state.tolist())
        total = max(1, len(window_state))
        states = {str(s): round(counts.get(i, 0) / total, 4) for i, s in enumerate(STATES) if counts.get(i)}
        rejected = {
            k.removeprefix("rejected_"): v
            for k, v in sorted(self.decisions.items())
            if k.startswith("rejected_")
        }
        q = Decimal("0.00000001")

        def money(d: Decimal) -> str:
            return dec_text(d.quantize(q))

        return {
            "symbol": self.symbol,
            "config_symbol": self.config_symbol or self.symbol,
            "start_utc": utc(int(window_ns[0])) if len(window_ns) else None,
            "end_utc": utc(int(self.sample_ns[-1])) if len(self.sample_ns) else None,
            "initial_capital": dec_text(self.initial_capital),
            "final_equity": money(self.final_equity),
            "return_pct": round(float(net / self.initial_capital * 100), 4),
            "net_pnl": money(net),
            "realized_pnl": money(sum(pnls, Decimal(0))),
            "fees": money(self.fees),
            "trades": len(trades),
            "wins": len(wins),
            "win_rate": round(len(wins) / len(trades), 4) if trades else None,
            "avg_win": money(sum(wins, Decimal(0)) / len(wins)) if wins else None,
            "avg_loss": money(sum(losses, Decimal(0)) / len(losses)) if losses else None,
            "max_drawdown": round(dd, 8),
            "max_drawdown_pct": round(dd_pct * 100, 4),
            "sharpe_per_trade": _round(sharpe([trade_return(t) for t in trades])),
            "hold_secs": {
                "mean": round(statistics.fmean(holds), 3) if holds else None,
                "median": round(statistics.median(holds), 3) if holds else None,
                "max": max(holds) if holds else None,
            },
            "exit_reasons": dict(Counter(t.exit_reason for t in trades)),
            "state_share": states,
            "state_changes": len(self.transitions),
            "entries_taken": self.decisions.get("taken", 0),
            "entry_rejections": rejected,
            "orders": self.orders,
            "events": self.events,
            "data_gaps": [{"from_utc": utc(a), "secs": round((b - a) / 1e9, 3)} for a, b in self.data_gaps],
            "run_secs": round(self.run_secs, 3),
        }

    # ----------------------------------------------------------------- files
    def avg_price(self, price: Decimal) -> Decimal:
        """An average fill price as the CSV and the HTML page show it (`avg_price`)."""
        return avg_price(price, self.price_tick)

    def write_trades_csv(self, path: Path) -> Path:
        """One row per trade; `entry_price_avg` and `exit_price_avg` are the volume-weighted average
        prices of the trade's fills, rounded (`avg_price`); quantity, fees and P&L are exact."""
        with replacing(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(TRADES_CSV_HEADER)
            for t in self.trades:
                w.writerow([utc(t.entry_ns), utc(t.exit_ns), dec_text(t.quantity),
                            *(dec_text(self.avg_price(p)) for p in (t.entry_price, t.exit_price)),
                            dec_text(t.fees), dec_text(t.pnl), round(trade_return(t) * 100, 6), t.hold_secs,
                            t.exit_reason, t.entry_reason, "" if t.entry_score is None else round(t.entry_score, 3)])  # fmt: skip
        return path

    def write_states_csv(self, path: Path) -> Path:
        """One row per second: close, detector state, equity, drawdown; a warm-up's seconds first (the
        summary's `inputs.warm_up.trading_from_utc` says where the window starts)."""
        dd = self.drawdown()
        with replacing(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["utc", "ts_ns", "close", "state", "equity", "drawdown"])
            for i, ts in enumerate(self.sample_ns.tolist()):
                w.writerow([utc(ts), ts, self.sample_price[i], STATES[self.sample_state[i]],
                            round(float(self.sample_equity[i]), 8), round(float(dd[i]), 8)])  # fmt: skip
        return path

    def write_summary(self, path: Path) -> Path:
        m = self.metrics()
        # What produced the run first, after the labels: the data file, window, config and overlays.
        out = {"symbol": m.pop("symbol"), "config_symbol": m.pop("config_symbol"), "inputs": self.inputs, **m}
        out["transitions"] = [
            {"utc": utc(t.ts_ns), "from": str(t.previous), "to": str(t.current), "reason": t.reason}
            for t in self.transitions
        ]
        return write_text(path, json.dumps(out, indent=2))


def _round(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(x, 6)
