"""Walk-forward: the study tunes on a training window, then the best values and the baseline
configuration are both replayed on the training window (in-sample) and on a later test window of the
same data (out-of-sample), so an overfit shows as an in-sample gain that the test window does not
keep. Windows are `START/END` in ISO UTC (`2025-10-10T20:45Z/2025-10-10T21:15Z`; END excluded)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from rich.table import Table

from flashcrash.backtest.commands import WINDOW_EXAMPLE, parse_utc, window
from flashcrash.backtest.replay import Replay
from flashcrash.backtest.results import utc
from flashcrash.config import Config
from flashcrash.optimize.objectives import Objective


class WindowError(Exception):
    """A window that cannot be used; the message names it."""


@dataclass(frozen=True)
class Window:
    """Event times `[start_ns, end_ns)`; None is open-ended."""

    start_ns: int | None
    end_ns: int | None

    @staticmethod
    def parse(text: str, flag: str) -> Window:
        start, sep, end = text.partition("/")
        if not sep or not start or not end:
            raise WindowError(
                f"optimize error: {flag} {text!r}: expected START/END in ISO UTC, e.g. "
                f"{WINDOW_EXAMPLE}/2025-10-10T21:30:00Z"
            )
        w = Window(parse_time(flag, start, text), parse_time(flag, end, text))
        if w.end_ns <= w.start_ns:  # type: ignore[operator]
            raise WindowError(
                f"optimize error: {flag} {text!r}: the window is reversed or empty (START {start} is "
                f"not before END {end}); END must be after START"
            )
        return w

    def overlaps(self, other: Window) -> bool:
        lo = max(self.start_ns or -(2**63), other.start_ns or -(2**63))
        hi = min(self.end_ns or 2**63, other.end_ns or 2**63)
        return lo < hi

    def cut(self, trades: np.ndarray) -> np.ndarray:
        return window(trades, self.start_ns, self.end_ns)

    def label(self) -> str:
        a = "start" if self.start_ns is None else utc(self.start_ns)
        b = "end" if self.end_ns is None else utc(self.end_ns)
        return f"{a}/{b}"

    def describe(self) -> str:
        """The window in words, for messages: `label` says "start"/"end" for an open side."""
        if self.start_ns is None and self.end_ns is None:
            return "the whole file"
        a = "the start of the file" if self.start_ns is None else utc(self.start_ns)
        b = "the end of the file" if self.end_ns is None else utc(self.end_ns)
        return f"{a} to {b}"


def parse_time(flag: str, text: str, given: str | None = None) -> int:
    """`parse_utc(text)`, or `WindowError` naming `flag` (and its value `given`, default `text`) with an
    example of the format."""
    try:
        return parse_utc(text)
    except (ValueError, OverflowError):
        what = f"{text!r}: not a time" if given is None else f"{given!r}: {text!r} is not a time"
        raise WindowError(f"optimize error: {flag} {what}; expected ISO UTC, e.g. {WINDOW_EXAMPLE}") from None


FIGURES = ("return_pct", "trades", "win_rate", "max_drawdown_pct", "net_pnl", "sharpe_per_trade")


def evaluate(
    cfg: Config, trades: np.ndarray, objective: type[Objective], trade_from_ns: int | None = None
) -> dict[str, Any]:
    """One backtest of `trades` under `cfg` (entries paused before `trade_from_ns`: a warm-up): the
    objective's value and the main figures."""
    result = Replay(cfg, trades, trade_from_ns=trade_from_ns).run()
    m = result.metrics()
    out: dict[str, Any] = {"value": objective.value(result=result, metrics=m, config=cfg)}
    out.update({k: m[k] for k in FIGURES})
    start = int(trades["ts_ns"][0]) if trade_from_ns is None else max(trade_from_ns, int(trades["ts_ns"][0]))
    out.update(
        start_utc=utc(start),
        end_utc=m["end_utc"],
        events=int(np.count_nonzero(trades["ts_ns"] >= start)),
        warmup_events=int(np.count_nonzero(trades["ts_ns"] < start)),
    )
    return out


def warm_cut(window: Window, trades: np.ndarray, cfg: Config) -> tuple[np.ndarray, int]:
    """The trades of `window` preceded by the `baseline_secs + warmup_secs` before it (as far as the
    data goes), and the time trading starts: a window judged out-of-sample begins with its detector
    warm, as it would be live, instead of blind for its first minutes."""
    ed = cfg.event_detection
    inside = window.cut(trades)
    start = int(inside["ts_ns"][0])
    warm = int((ed.baseline_secs + ed.warmup_secs) * 1_000_000_000)
    return Window(start - warm, window.end_ns).cut(trades), start


def report(
    baseline: Config,
    best: Config | None,
    train: np.ndarray,
    test: tuple[np.ndarray, int] | None,
    objective: type[Objective],
) -> dict[str, Any]:
    """`{"in_sample": {"baseline", "best"}, "out_of_sample": {...} or None}`; `best` is None when
    the study has no finished trial. `test` is `warm_cut`'s: the window with its warm-up, and the
    time trading starts."""

    def both(trades: np.ndarray, trade_from_ns: int | None = None) -> dict[str, Any]:
        return {
            "baseline": evaluate(baseline, trades, objective, trade_from_ns),
            "best": None if best is None else evaluate(best, trades, objective, trade_from_ns),
        }

    return {
        "in_sample": both(train),
        "out_of_sample": None if test is None or len(test[0]) == 0 else both(*test),
    }


def same_period(train: np.ndarray, test: np.ndarray) -> bool:
    """Whether the test trades' time span meets the training trades' (another market's file over the
    same hours: a crash moves every market at once, so that test is not out-of-sample in time)."""
    if len(train) == 0 or len(test) == 0:
        return False
    ts, tt = train["ts_ns"], test["ts_ns"]
    return bool(tt[0] <= ts[-1] and ts[0] <= tt[-1])


OUT_OF_SAMPLE = "out-of-sample"
HELD_OUT = "held-out market, same period"


# The table's row labels, with their units (`results.json` keeps the keys and a win rate of 0 to 1).
ROW_LABELS = {"return_pct": "return, %", "win_rate": "win rate, %", "sharpe_per_trade": "Sharpe per trade",
              "max_drawdown_pct": "max drawdown, %", "net_pnl": "net P&L"}  # fmt: skip


def _cell(figure: str, v: object) -> str:
    if v is None:
        return "-"
    if figure == "win_rate" and isinstance(v, float):
        return f"{v * 100:.2f}"
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def report_table(
    rep: dict[str, Any],
    objective: str,
    test_label: str = OUT_OF_SAMPLE,
    *,
    title: str = "",
    currency: str = "",
) -> Table:
    """Rows: the figures, labelled with their units (`currency`: the net P&L's); columns: baseline
    and best, in-sample and (when tested) on the test window, headed `test_label` (`HELD_OUT` for
    another market over the training's hours). `title` (default: "walk-forward" or "in-sample")
    should name the windows."""
    cols = [("in-sample", "baseline"), ("in-sample", "best")]
    if rep["out_of_sample"] is not None:
        cols += [(test_label, "baseline"), (test_label, "best")]
    t = Table(title=title or ("walk-forward" if rep["out_of_sample"] is not None else "in-sample"))
    t.add_column("")
    for sample, which in cols:
        t.add_column(f"{sample}\n{which}", justify="right")
    key = {"in-sample": "in_sample", test_label: "out_of_sample"}
    for figure in ("value", *FIGURES):
        label = ROW_LABELS.get(figure, figure)
        if figure == "net_pnl" and currency:
            label += f", {currency}"
        row = [f"{objective} (objective)" if figure == "value" else label]
        for sample, which in cols:
            run = rep[key[sample]][which]
            row.append(_cell(figure, None if run is None else run[figure]))
        t.add_row(*row)
    return t


def table_title(
    train: Window, test: Window | None, test_label: str = OUT_OF_SAMPLE, *, warmed: bool = True
) -> str:
    """What each pair of columns was replayed on: `walk-forward: in-sample A to B; out-of-sample C to
    D (after a warm-up)` (`warmed`: the data had trades before the test window, `warm_cut`), or
    `in-sample A to B` without a test window."""
    if test is None:
        return f"in-sample {train.describe()}"
    warm = " (after a warm-up)" if warmed else ""
    return f"walk-forward: in-sample {train.describe()}; {test_label} {test.describe()}{warm}"
