"""The session report: 1-second closes with the detector's ALERT/ACTIVE/RECOVERY periods shaded and
entries/exits marked, and the equity (cumulative net P&L) below."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from flashcrash.event_detector import Candle

COLORS = {"ALERT": "#f5d76e", "ACTIVE": "#e74c3c", "RECOVERY": "#5dade2"}


def _t(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC)


def plot_equity(eq: Any, start_ns: int, end_ns: int, pnls: list[tuple[int, Decimal]]) -> None:
    """The equity step line (cumulative net P&L at each exit time) on the axes `eq`."""
    equity_t, equity_v, total = [_t(start_ns)], [0.0], Decimal(0)
    for exit_ns, pnl in pnls:
        total += pnl
        equity_t.append(_t(exit_ns))
        equity_v.append(float(total))
    equity_t.append(_t(max(end_ns, start_ns)))
    equity_v.append(float(total))
    eq.step(equity_t, equity_v, where="post", color="#1f618d")
    eq.axhline(0, color="#999", lw=0.5)
    eq.set_ylabel("net P&L")


def shade_states(ax: Any, states: Sequence[tuple[int, str]], end_ns: int) -> None:
    """The detector's ALERT/ACTIVE/RECOVERY periods shaded on the axes `ax` (`states`: (time, new
    state) in order; the last lasts to `end_ns`)."""
    for i, (ts, state) in enumerate(states):
        color = COLORS.get(state)
        if color is not None:
            stop = states[i + 1][0] if i + 1 < len(states) else end_ns
            ax.axvspan(_t(ts), _t(max(stop, ts)), color=color, alpha=0.3, lw=0, label=state)


def write_equity_curve(
    path: Path,
    title: str,
    start_ns: int,
    end_ns: int,
    pnls: list[tuple[int, Decimal]],
    states: Sequence[tuple[int, str]] = (),
) -> Path:
    """The equity curve of a stored session (no candles needed), with the detector's states shaded
    (`states`: (time, new state) in order)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    fig, eq = plt.subplots(figsize=(11, 4))
    shade_states(eq, states, end_ns)
    plot_equity(eq, start_ns, end_ns, pnls)
    handles, labels = eq.get_legend_handles_labels()
    if handles:
        unique = dict(zip(labels, handles, strict=True))
        eq.legend(unique.values(), unique.keys(), loc="upper left")
    eq.set_title(title)
    eq.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
    eq.set_xlabel("UTC")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(
    path: Path,
    symbol: str,
    candles: Sequence[Candle],
    states: Sequence[tuple[int, str]],
    entries: list[tuple[int, float]],
    exits: list[tuple[int, float]],
    pnls: list[tuple[int, Decimal]],
) -> Path | None:
    """Draws the PNG; returns None when there is nothing to draw. `states`: (time, new detector
    state) in order; `pnls`: (exit time, net P&L) of the closed trades in order."""
    if not candles:
        return None
    import matplotlib  # imported here: it is slow to import and only the report needs it

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    fig, (ax, eq) = plt.subplots(2, 1, figsize=(13, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.plot(
        [_t(c.start_ns) for c in candles], [c.close for c in candles], lw=0.8, color="#222", label="1-s close"
    )
    end = candles[-1].start_ns
    shade_states(ax, states, end)
    if entries:
        ax.scatter(
            [_t(t) for t, _ in entries], [p for _, p in entries], marker="^", color="green", s=40, label="buy"
        )
    if exits:
        ax.scatter(
            [_t(t) for t, _ in exits], [p for _, p in exits], marker="v", color="red", s=40, label="sell"
        )
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    ax.legend(unique.values(), unique.keys(), loc="upper right")
    ax.set_title(f"{symbol}: price, detector states, trades")
    ax.set_ylabel("price")
    plot_equity(eq, candles[0].start_ns, end, pnls)
    eq.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
    eq.set_xlabel("venue event time (UTC; exchange-sim rebases a replay to start now)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
