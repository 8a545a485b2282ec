"""The session report: 1-second closes with the detector's ALERT/ACTIVE/RECOVERY periods shaded and
entries/exits marked, and the equity (cumulative net P&L) below. Every time drawn is the venue's
event time; a replay faster than real time (`exchange-sim` rebases it to start at the wall clock)
says so on the time axis, its times being neither the wall clock's nor the market's recorded ones,
unless the replay's shift is known (`recorded_shift_ns`, exchange-sim's `time_offset_ms`): its chart
is then drawn at the market's recorded times.
The PNG is written whole or not at all (`atomic_files`). The backtest's chart (`backtest.plots`)
draws its price panel with the same helpers: the markers, the legend, the time axis."""

from __future__ import annotations

import bisect
import dataclasses
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from flashcrash.atomic_files import replacing
from flashcrash.event_detector import Candle
from flashcrash.symbols import quote_currency

COLORS = {"ALERT": "#f5d76e", "ACTIVE": "#e74c3c", "RECOVERY": "#5dade2"}
SLEEP_LABEL = "SLEEP (unshaded)"
# Buys are drawn this many points below their price, sells above: an entry and its exit in the same
# second at nearly the same price (a crash's round trips) otherwise hide one another.
MARK_OFFSET_PT = 4.5
# Event times that ran this much faster than the wall clock (and a minute more) are a replay's.
REPLAY_SPEED = 1.5
# What the runner's end-of-session chart draws: every closed trade the strategy holds, which after a
# crash recovery includes those the sessions it carried on closed (they count in their own sessions).
HELD_TRADES_EQUITY = "net P&L of every closed trade held (after a recovery, the earlier sessions' too)"
VENUE_TIME = "venue event time (UTC)"
MARKET_TIME = "the market's recorded time (UTC)"
NS = 1_000_000_000
MIN_SPAN_NS = 10 * NS  # the shortest time axis: a run of a second or two is drawn in whole seconds


def _t(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC)


def plain_numbers(ax: Any) -> None:
    """Whole values on the y axis: no `+1.21e5` offset above it (a BTC price read as `2.0`)."""
    ax.ticklabel_format(axis="y", useOffset=False, style="plain")


def mark_trades(ax: Any, buys: Sequence[tuple[int, float]], sells: Sequence[tuple[int, float]]) -> None:
    """Buys (green, pointing up) drawn just below their price and sells (red, pointing down) just
    above it (`MARK_OFFSET_PT`), edged in white: a round trip inside a second shows both marks."""
    from matplotlib.transforms import offset_copy

    for points, marker, color, label, dy in (
        (buys, "^", "green", "buy", -MARK_OFFSET_PT),
        (sells, "v", "red", "sell", MARK_OFFSET_PT),
    ):
        if points:
            ax.scatter([_t(t) for t, _ in points], [p for _, p in points], marker=marker, color=color, s=40,
                       edgecolors="white", linewidths=0.5, zorder=3, label=label,
                       transform=offset_copy(ax.transData, fig=ax.figure, y=dy, units="points"))  # fmt: skip


def note_if_empty(ax: Any, traded: bool, shaded: bool) -> None:
    """Says in the panel what an empty one means: no trade, no state but SLEEP."""
    notes = ([] if traded else ["no trade"]) + ([] if shaded else ["the detector stayed in SLEEP"])
    if notes:
        ax.text(0.01, 0.03, "; ".join(notes), transform=ax.transAxes, fontsize=10, color="#555",
                bbox={"facecolor": "white", "edgecolor": "#bbb", "alpha": 0.9})  # fmt: skip


def replay_note(
    first_ns: int, last_ns: int, wall_ns: tuple[int, int] | None = None, recorded: bool = False
) -> str:
    """What the time axis adds for event times that ran faster than the wall clock (`wall_ns`: the
    session's start and end; by default from its first event to now, the session's end when it draws
    its chart): a replay's, rebased to start at the wall clock, not the market's recorded times; ""
    for a session at the market's pace. `recorded`: the times drawn are the market's recorded ones,
    taken back from a replay's (the note says it was one)."""
    start, end = wall_ns if wall_ns is not None else (first_ns, time.time_ns())
    events, wall = last_ns - first_ns, max(end - start, NS)
    fast = events > REPLAY_SPEED * wall + 60 * NS
    if recorded:
        return f": replayed by exchange-sim{f' at about {events / wall:.0f}x real time' if fast else ''}"
    if not fast:
        return ""
    return (
        f": a replay at about {events / wall:.0f}x real time, its times rebased by exchange-sim to start at "
        "the session's start (not the market's recorded times)"
    )


def _recorded(times: Sequence[tuple[int, Any]], shift_ns: int) -> list[tuple[int, Any]]:
    """(time, value) pairs taken back by a replay's shift to the market's recorded times."""
    return [(t - shift_ns, v) for t, v in times]


def plot_equity(
    eq: Any,
    start_ns: int,
    end_ns: int,
    pnls: list[tuple[int, Decimal]],
    label: str = "net P&L",
    currency: str = "",
) -> None:
    """The equity step line (cumulative net P&L at each exit time, in `currency`) on the axes `eq`,
    titled `label`. A trade closed before `start_ns` (one the chart's first second does not reach)
    steps at it."""
    equity_t, equity_v, total = [_t(start_ns)], [0.0], Decimal(0)
    for exit_ns, pnl in pnls:
        total += pnl
        equity_t.append(_t(max(exit_ns, start_ns)))
        equity_v.append(float(total))
    equity_t.append(_t(max(end_ns, start_ns)))
    equity_v.append(float(total))
    eq.step(equity_t, equity_v, where="post", color="#1f618d")
    eq.axhline(0, color="#999", lw=0.5)
    eq.set_ylabel(f"net P&L ({currency})" if currency else "net P&L")
    plain_numbers(eq)
    eq.set_title(label, fontsize=9, loc="left")


def shade_states(ax: Any, states: Sequence[tuple[int, str]], end_ns: int) -> None:
    """The detector's ALERT/ACTIVE/RECOVERY periods shaded on the axes `ax` (`states`: (time, new
    state) in order; the last lasts to `end_ns`)."""
    for i, (ts, state) in enumerate(states):
        color = COLORS.get(state)
        if color is not None:
            stop = states[i + 1][0] if i + 1 < len(states) else end_ns
            ax.axvspan(_t(ts), _t(max(stop, ts)), color=color, alpha=0.3, lw=0, label=state)


def time_axis(ax: Any, lo_ns: int, hi_ns: int, label: str, note: str = "") -> None:
    """Ticks as short as the span `[lo_ns, hi_ns]` allows (seconds for a short one, a midnight tick
    reads as its date), the axis limited to it, at least `MIN_SPAN_NS` (a single second was drawn
    across four years, or in tenths of a second), labelled `label`, the date(s) of the span (no
    offset text: it would name the last tick's date, the next day at a closing midnight) and `note`."""
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(tz=UTC, minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=UTC, show_offset=False))
    ax.set_xlim(_t(lo_ns), _t(max(hi_ns, lo_ns + MIN_SPAN_NS)))
    first, last = (datetime.fromtimestamp(t // NS, tz=UTC).date() for t in (lo_ns, max(hi_ns - 1, lo_ns)))
    days = first.isoformat() if first == last else f"{first.isoformat()} to {last.isoformat()}"
    ax.set_xlabel(f"{label}, {days}{note}")


def legend(ax: Any) -> None:
    """One entry per label (every shaded period carries its state's): the price (drawn first), the
    states as they come in a crash, SLEEP's when one is shaded, the buys and sells, the rest;
    outside the axes on the right, where it hides no price (inside, it sat on the crash of a chart
    that ends in one)."""
    from matplotlib.patches import Patch

    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    if any(state in unique for state in COLORS):
        unique[SLEEP_LABEL] = Patch(facecolor="white", edgecolor="#bbb", lw=0.5)
    # The price, drawn first: on a chart without one (the equity alone) a state is not put first.
    price = labels[0] if labels and labels[0] not in COLORS else ""
    order = [price, *COLORS, SLEEP_LABEL, "buy", "sell"]
    if unique:
        keys = sorted(unique, key=lambda k: order.index(k) if k in order else len(order))
        ax.legend([unique[k] for k in keys], keys, loc="upper left", bbox_to_anchor=(1.005, 1), fontsize=9)


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
    *,
    currency: str = "",
    wall_ns: tuple[int, int] | None = None,
    recorded_shift_ns: int | None = None,
) -> Path:
    """The equity curve of a stored session (no candles needed), with the detector's states shaded
    (`states`: (time, new state) in order); `currency` the P&L's, `wall_ns` as `replay_note`;
    `recorded_shift_ns` as `write_report`'s."""
    wall = replay_note(start_ns, end_ns, wall_ns, recorded_shift_ns is not None)
    if recorded_shift_ns is not None:
        start_ns, end_ns = start_ns - recorded_shift_ns, end_ns - recorded_shift_ns
        pnls, states = _recorded(pnls, recorded_shift_ns), _recorded(states, recorded_shift_ns)
    clock = VENUE_TIME if recorded_shift_ns is None else MARKET_TIME
    fig, eq = _pyplot().subplots(figsize=(11, 4))
    shade_states(eq, states, end_ns)
    plot_equity(eq, start_ns, end_ns, pnls, equity_label, currency)
    legend(eq)
    fig.suptitle(
        f"{title}, {span_text(start_ns, end_ns)} ({_short(clock)})\n{_outcome(pnls, currency)}", fontsize=11
    )
    note_if_empty(eq, bool(pnls), any(s in COLORS for _, s in states))
    time_axis(eq, start_ns, end_ns, clock, wall)
    return _save(fig, path)


def _short(clock: str) -> str:
    """`venue time`, `the market's recorded time`: the time axis's label without its zone."""
    return clock.removesuffix(" (UTC)").replace("venue event time", "venue time")


def _outcome(pnls: Sequence[tuple[int, Decimal]], currency: str) -> str:
    """`18 closed trades, net P&L -2.5722 USDT`, or `no closed trade`."""
    if not pnls:
        return "no closed trade"
    total = sum((p for _, p in pnls), Decimal(0))
    return f"{len(pnls)} closed trade{'s' if len(pnls) > 1 else ''}, net P&L {total:+.4f} {currency}".rstrip()


def span_text(first_ns: int, last_ns: int) -> str:
    """`2026-12-06 15:36:57 to 16:36:56 UTC` (the date twice when they differ)."""
    a, b = _t(first_ns).strftime("%Y-%m-%d %H:%M:%S"), _t(last_ns).strftime("%Y-%m-%d %H:%M:%S")
    return f"{a} to {b[11:] if a[:10] == b[:10] else b} UTC"


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
    subject: str = "",
    wall_ns: tuple[int, int] | None = None,
    recorded_shift_ns: int | None = None,
) -> Path | None:
    """Draws the PNG; returns None when there is nothing to draw. `states`: (time, new detector
    state) in order; `exits`: the sells; `written_off`: the times of trades written off (nothing
    sold: marked at the last close, not at their exit price); `pnls`: (exit time, net P&L) of the
    closed trades in order, what `equity_label` says they are. An exit at a price of 0 (a write-off
    read back after a recovery) is drawn as a write-off. The title names `subject` (default
    `symbol`), the span and the outcome; prices and P&L are in `symbol`'s quote currency; `wall_ns`
    as `replay_note`. `recorded_shift_ns`: every time given is a replay's, this far after the
    market's recorded one (exchange-sim's `time_offset_ms`): the chart is drawn at the recorded
    times (None: at the times given, the venue's)."""
    if not candles:
        return None
    wall = replay_note(candles[0].start_ns, candles[-1].start_ns, wall_ns, recorded_shift_ns is not None)
    clock = VENUE_TIME
    if recorded_shift_ns is not None:
        clock, shift = MARKET_TIME, recorded_shift_ns
        candles = [dataclasses.replace(c, start_ns=c.start_ns - shift) for c in candles]
        states, entries, exits, pnls = (_recorded(x, shift) for x in (states, entries, exits, pnls))
        written_off = [t - shift for t in written_off]
    currency = quote_currency(symbol)
    fig, (ax, eq) = _pyplot().subplots(
        2, 1, figsize=(13, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    ax.plot(
        [_t(c.start_ns) for c in candles], [c.close for c in candles], lw=0.8, color="#222", label="1-s close"
    )
    first, end = candles[0].start_ns, candles[-1].start_ns
    shade_states(ax, states, end)
    sells = [(t, p) for t, p in exits if p > 0]
    offs = sorted([*written_off, *(t for t, p in exits if p <= 0)])
    mark_trades(ax, entries, sells)
    if offs:
        ax.scatter(
            [_t(t) for t in offs], _closes_at(candles, offs), marker="x", color="#7d3c98", s=50,
            label="written off (at the last close)",
        )  # fmt: skip
    legend(ax)
    ax.set_title(
        f"{subject or symbol}: price, detector states, trades, {span_text(first, end)} ({_short(clock)})\n{_outcome(pnls, currency)}",
        fontsize=11,
    )
    ax.set_ylabel(f"price ({currency})")
    plain_numbers(ax)
    note_if_empty(ax, bool(entries or pnls), any(s in COLORS for _, s in states))
    plot_equity(eq, first, end, pnls, equity_label, currency)
    time_axis(eq, first, end + NS, clock, wall)
    return _save(fig, path)
