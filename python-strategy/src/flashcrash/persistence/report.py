"""The session report: 1-second closes with the detector's ALERT/ACTIVE/RECOVERY periods shaded and
entries/exits marked, and the equity (cumulative net P&L) below. Every time drawn is the venue's
event time. The PNG is written whole or not at all (`atomic_files`)."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from flashcrash.atomic_files import replacing
from flashcrash.event_detector import Candle

COLORS = {"ALERT": "#f5d76e", "ACTIVE": "#e74c3c", "RECOVERY": "#5dade2"}
# What the runner's end-of-session chart draws: every closed trade the strategy holds, which after a
# crash recovery includes those the sessions it carried on closed (they count in their own sessions).
HELD_TRADES_EQUITY = "net P&L of every closed trade held (after a recovery, the earlier sessions' too)"
VENUE_TIME = "venue event time (UTC; exchange-sim rebases a replay to start now)"


def _t(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC)


def plot_equity(
    eq: Any, start_ns: int, end_ns: int, pnls: list[tuple[int, Decimal]], label: str = "net P&L"
) -> None:
    """The equity step line (cumulative net P&L at each exit time) on the axes `eq`, titled `label`.
    A trade closed before `start_ns` (one the chart's first second does not reach) steps at it."""
    equity_t, equity_v, total = [_t(start_ns)], [0.0], Decimal(0)
    for exit_ns, pnl in pnls:
        total += pnl
        equity_t.append(_t(max(exit_ns, start_ns)))
        equity_v.append(float(total))
    equity_t.append(_t(max(end_ns, start_ns)))
    equity_v.append(float(total))
    eq.step(equity_t, equity_v, where="post", color="#1f618d")
    eq.axhline(0, color="#999", lw=0.5)
    eq.set_ylabel("net P&L")
    eq.set_title(label, fontsize=9, loc="left")


def shade_states(ax: Any, states: Sequence[tuple[int, str]], end_ns: int) -> None:
    """The detector's ALERT/ACTIVE/RECOVERY periods shaded on the axes `ax` (`states`: (time, new
    state) in order; the last lasts to `end_ns`)."""
    for i, (ts, state) in enumerate(states):
        color = COLORS.get(state)
        if color is not None:
            stop = states[i + 1][0] if i + 1 < len(states) else end_ns
            ax.axvspan(_t(ts), _t(max(stop, ts)), color=color, alpha=0.3, lw=0, label=state)


def _time_axis(ax: Any, label: str) -> None:
    """Date ticks as short as the span allows (seconds for a short session, no repeated labels)."""
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel(label)


def _legend(ax: Any, loc: str) -> None:
    """One legend entry per label (every shaded period carries its state's)."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        unique = dict(zip(labels, handles, strict=True))
        ax.legend(unique.values(), unique.keys(), loc=loc)


def _save(fig: Any, path: Path) -> Path:
    """The figure as a PNG at `path`, atomically: a failed save leaves the previous file as it was."""
    import matplotlib.pyplot as plt

    try:
        fig.tight_layout()
        with replacing(path, "wb") as f:
            fig.savefig(f, format="png", dpi=110)
    finally:
        plt.close(fig)
    return path


def _pyplot() -> Any:
    import matplotlib  # imported here: it is slow to import and only the report needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_equity_curve(
    path: Path,
    title: str,
    start_ns: int,
    end_ns: int,
    pnls: list[tuple[int, Decimal]],
    states: Sequence[tuple[int, str]] = (),
    equity_label: str = "net P&L",
) -> Path:
    """The equity curve of a stored session (no candles needed), with the detector's states shaded
    (`states`: (time, new state) in order)."""
    fig, eq = _pyplot().subplots(figsize=(11, 4))
    shade_states(eq, states, end_ns)
    plot_equity(eq, start_ns, end_ns, pnls, equity_label)
    _legend(eq, "upper left")
    fig.suptitle(title)
    _time_axis(eq, VENUE_TIME)
    return _save(fig, path)


def _closes_at(candles: Sequence[Candle], times: Sequence[int]) -> list[float]:
    """The close of the last candle started at or before each time (the first candle's before it)."""
    starts = [c.start_ns for c in candles]
    return [candles[max(bisect.bisect_right(starts, t) - 1, 0)].close for t in times]


def write_report(
    path: Path,
    symbol: str,
    candles: Sequence[Candle],
    states: Sequence[tuple[int, str]],
    entries: list[tuple[int, float]],
    exits: list[tuple[int, float]],
    pnls: list[tuple[int, Decimal]],
    *,
    written_off: Sequence[int] = (),
    equity_label: str = HELD_TRADES_EQUITY,
) -> Path | None:
    """Draws the PNG; returns None when there is nothing to draw. `states`: (time, new detector
    state) in order; `exits`: the sells; `written_off`: the times of trades written off (nothing
    sold: marked at the last close, not at their exit price); `pnls`: (exit time, net P&L) of the
    closed trades in order, what `equity_label` says they are. An exit at a price of 0 (a write-off
    read back after a recovery) is drawn as a write-off."""
    if not candles:
        return None
    fig, (ax, eq) = _pyplot().subplots(
        2, 1, figsize=(13, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    ax.plot(
        [_t(c.start_ns) for c in candles], [c.close for c in candles], lw=0.8, color="#222", label="1-s close"
    )
    end = candles[-1].start_ns
    shade_states(ax, states, end)
    sells = [(t, p) for t, p in exits if p > 0]
    offs = sorted([*written_off, *(t for t, p in exits if p <= 0)])
    if entries:
        ax.scatter(
            [_t(t) for t, _ in entries], [p for _, p in entries], marker="^", color="green", s=40, label="buy"
        )
    if sells:
        ax.scatter(
            [_t(t) for t, _ in sells], [p for _, p in sells], marker="v", color="red", s=40, label="sell"
        )
    if offs:
        ax.scatter(
            [_t(t) for t in offs], _closes_at(candles, offs), marker="x", color="#7d3c98", s=50,
            label="written off (at the last close)",
        )  # fmt: skip
    _legend(ax, "upper right")
    ax.set_title(f"{symbol}: price, detector states, trades")
    ax.set_ylabel("price")
    plot_equity(eq, candles[0].start_ns, end, pnls, equity_label)
    _time_axis(eq, VENUE_TIME)
    return _save(fig, path)
