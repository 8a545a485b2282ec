"""The backtest's pictures: price with the detector's states shaded and the entries/exits marked, the
equity curve and the drawdown, as one PNG (a run longer than `ZOOM_AFTER_NS` that went ACTIVE gets a
fourth panel, the busiest ACTIVE period zoomed in, where its trades are visible), and a self-contained
HTML page (the PNG inline as base64, what produced the run, the figures and the trades as tables)."""

from __future__ import annotations

import base64
import html
from bisect import bisect_left, bisect_right
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flashcrash.atomic_files import replacing, write_text
from flashcrash.backtest.results import BacktestResult, shown, utc
from flashcrash.event_detector import State
from flashcrash.persistence.report import (
    COLORS,
    legend,
    mark_trades,
    note_if_empty,
    plain_numbers,
    span_text,
    time_axis,
)
from flashcrash.symbols import quote_currency

HTML_TRADES = 500  # trades listed on the page (all of them are in the CSV)
NS = 1_000_000_000
ZOOM_AFTER_NS = 3 * 3600 * NS  # a run longer than this gets the zoomed panel (when it went ACTIVE)
ZOOM_MERGE_NS = 5 * 60 * NS  # ACTIVE spells closer than this are one period
ZOOM_MAX_NS = 3600 * NS  # the widest zoom: the busiest hour of a longer period
ZOOM_PAD_NS = 2 * 60 * NS  # shown before and after the period (at least; a tenth of it when longer)
DRAWDOWN = "#c0392b"


def _t(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC)


def _span_end(result: BacktestResult) -> int:
    return int(result.sample_ns[-1]) + NS


def busiest_active(result: BacktestResult) -> tuple[int, int] | None:
    """The event times `[from, to)` of the zoomed panel: in a run longer than `ZOOM_AFTER_NS`, the
    ACTIVE period (spells less than `ZOOM_MERGE_NS` apart joined) with the most entries and exits
    (then the most ACTIVE time), its busiest `ZOOM_MAX_NS` when longer, padded by `ZOOM_PAD_NS`;
    None for a shorter run or one never ACTIVE."""
    if len(result.sample_ns) == 0:
        return None
    first, end = int(result.sample_ns[0]), _span_end(result)
    if end - first <= ZOOM_AFTER_NS:
        return None
    trs = result.transitions
    spells = [
        (tr.ts_ns, trs[i + 1].ts_ns if i + 1 < len(trs) else end)
        for i, tr in enumerate(trs)
        if tr.current is State.ACTIVE
    ]
    if not spells:
        return None
    periods: list[list[int]] = []  # [from, to, ACTIVE ns]
    for a, b in spells:
        if periods and a - periods[-1][1] < ZOOM_MERGE_NS:
            periods[-1][1] = max(periods[-1][1], b)
            periods[-1][2] += b - a
        else:
            periods.append([a, b, b - a])
    marks = sorted(t for t, _ in [*result.entries, *result.exits])

    def count(a: int, b: int) -> int:
        return bisect_right(marks, b) - bisect_left(marks, a)

    best: tuple[tuple[int, int], int, int] | None = None
    for a, b, active in periods:
        if b - a > ZOOM_MAX_NS:  # its busiest hour, starting at a trade (or its first hour)
            starts = [min(m, b - ZOOM_MAX_NS) for m in marks[bisect_left(marks, a) : bisect_right(marks, b)]]
            a = max(starts or [a], key=lambda s: (count(s, s + ZOOM_MAX_NS), -s))
            b = a + ZOOM_MAX_NS
        key = (count(a, b), active)
        if best is None or key > best[0]:
            best = (key, a, b)
    assert best is not None
    _, a, b = best
    pad = max(ZOOM_PAD_NS, (b - a) // 10)
    return max(first, a - pad), min(end, b + pad)


def _price_panel(ax: Any, result: BacktestResult, lo: int, hi: int) -> None:
    """Price (1 s closes, in the quote currency), the detector's states shaded and the entries/exits
    marked, in `[lo, hi)`; a note when it shows no trade or no state but SLEEP."""
    ns = result.sample_ns
    i, j = int(ns.searchsorted(lo, side="left")), int(ns.searchsorted(hi, side="left"))
    # A marker too: a run of one second is one point, which a line alone does not draw.
    ax.plot([_t(t) for t in ns[i:j].tolist()], result.sample_price[i:j], lw=0.8, color="#222",
            marker="." if j - i == 1 else None, label="price (1 s)")  # fmt: skip
    trs = result.transitions
    shaded = False
    for k, tr in enumerate(trs):
        color = COLORS.get(str(tr.current))
        stop = trs[k + 1].ts_ns if k + 1 < len(trs) else hi
        a, b = max(tr.ts_ns, lo), min(max(stop, tr.ts_ns), hi)
        if color is None or b <= a:
            continue
        # Not antialiased: neighbouring bands meet without a white seam.
        ax.axvspan(_t(a), _t(b), color=color, alpha=0.3, lw=0, antialiased=False, label=str(tr.current))
        shaded = True
    buys, sells = ([(t, p) for t, p in points if lo <= t < hi] for points in (result.entries, result.exits))
    mark_trades(ax, buys, sells)
    legend(ax)
    note_if_empty(ax, bool(buys or sells), shaded)
    ax.set_ylabel(f"price ({quote_currency(result.symbol)})")
    plain_numbers(ax)


def _run_window(result: BacktestResult) -> str:
    """The run's `_window`; with a warm-up, the window asked for, after the warm-up drawn before it."""
    if len(result.sample_ns) == 0:
        return "no data"
    first, end = int(result.sample_ns[0]), _span_end(result)
    if result.trade_from_ns is None:
        return span_text(first, end)
    return f"{span_text(result.trade_from_ns, end)} after a warm-up from {utc(first)[11:19]}"


def _run_line(result: BacktestResult) -> str:
    """What was run: the config and overlays (file names), the book; "" without inputs."""
    inputs = result.inputs
    if not inputs:
        return ""
    names = [Path(str(p)).name for p in [inputs.get("config"), *(inputs.get("overlays") or [])] if p]
    parts = [f"config {' + '.join(names) or '?'}", f"book {inputs.get('book') or '?'}"]
    return ", ".join(parts)


def _outcome_line(result: BacktestResult, money: str) -> str:
    """`return -0.21 %, net P&L -2.07 USDT, 18 trades (3 wins), max drawdown 0.48 % (tick by tick)`."""
    m = result.metrics()
    n, wins = m["trades"], m["wins"]
    trades = f"{n} trade{'s' if n > 1 else ''} ({wins} win{'' if wins == 1 else 's'})" if n else "no trade"
    return (f"return {m['return_pct']:+.2f} %, net P&L {float(m['net_pnl']):+.2f} {money}, {trades}, "
            f"max drawdown {m['max_drawdown_pct']:.2f} % (tick by tick)")  # fmt: skip


def _title(result: BacktestResult) -> str:
    """Three lines: the symbol(s) and window; the config, book and warm-up; the outcome."""
    label = result.symbol
    if result.config_symbol and result.config_symbol != result.symbol:
        label += f" (tick, step and size of the {result.config_symbol} config)"
    money = quote_currency(result.config_symbol or result.symbol)
    lines = [f"{label} backtest, {_run_window(result)}", _run_line(result), _outcome_line(result, money)]
    return "\n".join(line for line in lines if line)


def _drawdown_panel(dd: Any, times: list[datetime], result: BacktestResult) -> None:
    """The per-second drawdown, % of the running peak, and the summary's deeper tick-by-tick one."""
    # Steps, as the equity moves, with an edge line: a fall shorter than a pixel's time still shows.
    drawdown = result.drawdown_pct()
    dd.fill_between(times, drawdown, 0, step="post", color=DRAWDOWN, alpha=0.45, lw=0)
    dd.step(times, drawdown, where="post", color=DRAWDOWN, lw=0.8)
    dd.set_ylabel("drawdown (%)")
    deepest = result.metrics()["max_drawdown_pct"]
    dd.set_title(f"drawdown from the running peak, % (per second; deepest tick by tick: {deepest:.2f} %)",
                 fontsize=9, loc="left")  # fmt: skip


def figure(result: BacktestResult) -> Any:
    """The figure of `write_png`: price, equity and drawdown sharing the time axis, and the zoomed
    panel of `busiest_active` when there is one; None when there is nothing to draw."""
    if len(result.sample_ns) == 0:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = [_t(t) for t in result.sample_ns.tolist()]
    first, end = int(result.sample_ns[0]), _span_end(result)
    zoom = busiest_active(result)
    fig = plt.figure(figsize=(13, 9.5 + (4.5 if zoom else 0)), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[9.5, 4.5]) if zoom else (fig, None)
    ax, eq, dd = top.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.2, 1]})
    _price_panel(ax, result, first, end)
    ax.set_title(_title(result), fontsize=11)
    if result.trade_from_ns is not None:
        ax.axvline(_t(result.trade_from_ns), color="#555", lw=1, ls="--")
        ax.annotate(" warm-up ends (entries from here)", (_t(result.trade_from_ns), 1), xycoords=("data", "axes fraction"),
                    va="top", fontsize=8, color="#555")  # fmt: skip
    eq.plot(times, result.sample_equity, color="#1f618d", lw=1, marker="." if len(times) == 1 else None)
    eq.axhline(float(result.initial_capital), color="#999", lw=0.5)
    eq.set_ylabel(f"equity ({quote_currency(result.config_symbol or result.symbol)})")
    plain_numbers(eq)
    _drawdown_panel(dd, times, result)
    time_axis(dd, first, end, "event time (UTC)")
    if zoom is not None and bottom is not None:
        lo, hi = zoom
        ax.axvspan(_t(lo), _t(hi), fill=False, edgecolor="#333", lw=1, ls=":")
        z = bottom.subplots()
        _price_panel(z, result, lo, hi)
        z.set_title(f"busiest ACTIVE period, {utc(lo)[11:19]} to {utc(hi)[11:19]} UTC (dotted box above)")
        time_axis(z, lo, hi, "event time (UTC)")
    return fig


def write_png(result: BacktestResult, path: Path) -> Path | None:
    """The figure (`figure`) as a PNG; None when there is nothing to draw."""
    fig = figure(result)
    if fig is None:
        return None
    import matplotlib.pyplot as plt

    with replacing(path, "wb") as f:
        fig.savefig(f, dpi=100, format="png")
    plt.close(fig)
    return path


def _table(rows: list[tuple[str, object]]) -> str:
    """A two-column table; "none" for no rows (an empty table is not drawn: its heading stood alone)."""
    if not rows:
        return "<p>none</p>"
    body = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(shown(v))}</td></tr>" for k, v in rows
    )
    return f"<table>{body}</table>"


MONEY_FIGURES = ("initial_capital", "final_equity", "net_pnl", "realized_pnl", "fees", "avg_win", "avg_loss",
                 "max_drawdown")  # fmt: skip


def _figure_rows(m: dict[str, Any]) -> list[tuple[str, object]]:
    """The Figures table: the summary's scalar figures under its own keys and values (the page's
    note gives their units), the recording gaps listed (not a Python list's text), the hold times."""
    rows: list[tuple[str, object]] = []
    for k, v in m.items():
        if k == "data_gaps":
            rows.append((k, "; ".join(f"{g['from_utc']} ({g['secs']} s)" for g in v) or "none"))
        elif not isinstance(v, dict):
            rows.append((k, v))
    return rows + [(f"hold secs {k}", v) for k, v in m["hold_secs"].items()]


def _inputs_rows(inputs: dict[str, Any]) -> list[tuple[str, object]]:
    rows: list[tuple[str, object]] = []
    for k, v in inputs.items():
        if isinstance(v, dict):
            rows += [(f"{k} {kk}", vv) for kk, vv in v.items()]
        elif isinstance(v, list):
            rows.append((k, ", ".join(map(str, v)) or None))
        else:
            rows.append((k, v))
    return rows


def write_html(result: BacktestResult, path: Path, png: Path | None) -> Path:
    m = result.metrics()
    title = result.symbol
    if m["config_symbol"] != result.symbol:
        title += f" (config {m['config_symbol']}: its tick, step and order size)"
    money, price = (quote_currency(x) for x in (m["config_symbol"], result.symbol))
    figures = _figure_rows(m)
    image = ""
    if png is not None and png.exists():
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        image = f'<img alt="price, states, equity, drawdown" src="data:image/png;base64,{data}">'
    head = ["entry (UTC)", "exit (UTC)", "qty", f"avg entry price, {price}", f"avg exit price, {price}",
            f"fees, {money}", f"P&amp;L, {money}", "hold s", "exit reason"]  # fmt: skip
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(shown(c))}</td>" for c in (
            utc(t.entry_ns), utc(t.exit_ns), t.quantity, result.avg_price(t.entry_price),
            result.avg_price(t.exit_price), t.fees, t.pnl,
            t.hold_secs, t.exit_reason,
        )) + "</tr>"
        for t in result.trades[:HTML_TRADES]
    )  # fmt: skip
    trades = f"<table><tr>{''.join(f'<th>{h}</th>' for h in head)}</tr>{rows}</table>" if rows else ""
    trades_note = (
        "Entry and exit prices are the averages of each trade's fills, rounded to 1/10,000 of the price "
        "tick; fees and P&amp;L are exact."
        if rows
        else "No trade in this window."
    )
    states = [(k, round(v * 100, 2)) for k, v in m["state_share"].items()]
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)} backtest</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1400px}} img{{max-width:100%}}
table{{border-collapse:collapse;margin:1em 0}} td,th{{border:1px solid #ccc;padding:2px 8px;text-align:left}}
.cols{{display:flex;gap:3em;flex-wrap:wrap}}</style></head><body>
<h1>{html.escape(title)} backtest, {_run_window(result)}</h1>
<p>Prices in {html.escape(price)}; {", ".join(MONEY_FIGURES)} and the trades' fees and P&amp;L in
{html.escape(money)}; return_pct and max_drawdown_pct in %, win_rate a fraction of the trades. Times are
the data's event times, UTC.</p>
{image}
<h2>Inputs</h2>{_table(_inputs_rows(result.inputs))}
<div class="cols"><div><h2>Figures</h2>{_table(figures)}</div>
<div><h2>Detector state (share of the seconds, %)</h2>{_table(states)}
<h2>Entry rejections</h2>{_table(list(m["entry_rejections"].items()))}
<h2>Exit reasons</h2>{_table(list(m["exit_reasons"].items()))}
<h2>Orders</h2>{_table(list(m["orders"].items()))}</div></div>
<h2>Trades ({len(result.trades)}{", first " + str(HTML_TRADES) if len(result.trades) > HTML_TRADES else ""})</h2>
<p>{trades_note}</p>
{trades}
</body></html>
"""
    return write_text(path, page)


def write_all(result: BacktestResult, out: Path) -> dict[str, Path]:
    """summary.json, trades.csv, states.csv, backtest.png, backtest.html under `out`."""
    files = {
        "summary": result.write_summary(out / "summary.json"),
        "trades": result.write_trades_csv(out / "trades.csv"),
        "states": result.write_states_csv(out / "states.csv"),
    }
    png = write_png(result, out / "backtest.png")
    if png is not None:
        files["png"] = png
    files["html"] = write_html(result, out / "backtest.html", png)
    return files
