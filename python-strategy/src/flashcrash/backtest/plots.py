"""The backtest's pictures: price with the detector's states shaded and the entries/exits marked, the
equity curve and the drawdown, as one PNG, and a self-contained HTML page (the PNG inline as base64,
the figures and the trades as tables)."""

from __future__ import annotations

import base64
import html
from datetime import UTC, datetime
from pathlib import Path

from flashcrash.atomic_files import replacing, write_text
from flashcrash.backtest.results import BacktestResult, shown, utc
from flashcrash.persistence.report import COLORS

HTML_TRADES = 500  # trades listed on the page (all of them are in the CSV)


def _t(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC)


def write_png(result: BacktestResult, path: Path) -> Path | None:
    """Three panels sharing the time axis; None when there is nothing to draw."""
    if len(result.sample_ns) == 0:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    times = [_t(t) for t in result.sample_ns.tolist()]
    fig, (ax, eq, dd) = plt.subplots(
        3, 1, figsize=(13, 9), sharex=True, gridspec_kw={"height_ratios": [3, 1.2, 1]}
    )
    ax.plot(times, result.sample_price, lw=0.8, color="#222", label="price (1 s)")
    end = int(result.sample_ns[-1])
    trs = result.transitions
    for i, tr in enumerate(trs):
        color = COLORS.get(str(tr.current))
        if color is None:
            continue
        stop = trs[i + 1].ts_ns if i + 1 < len(trs) else end
        ax.axvspan(_t(tr.ts_ns), _t(max(stop, tr.ts_ns)), color=color, alpha=0.3, lw=0, label=str(tr.current))
    if result.entries:
        ax.scatter([_t(t) for t, _ in result.entries], [p for _, p in result.entries],
                   marker="^", color="green", s=40, zorder=3, label="buy")  # fmt: skip
    if result.exits:
        ax.scatter([_t(t) for t, _ in result.exits], [p for _, p in result.exits],
                   marker="v", color="red", s=40, zorder=3, label="sell")  # fmt: skip
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    ax.legend(unique.values(), unique.keys(), loc="upper right")
    ax.set_title(f"{result.symbol} backtest: price, detector states, entries and exits")
    ax.set_ylabel("price")
    eq.plot(times, result.sample_equity, color="#1f618d", lw=1)
    eq.axhline(float(result.initial_capital), color="#999", lw=0.5)
    eq.set_ylabel("equity")
    dd.fill_between(times, result.drawdown(), 0, color="#c0392b", alpha=0.5, lw=0)
    dd.set_ylabel("drawdown")
    dd.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
    dd.set_xlabel("event time (UTC)")
    fig.tight_layout()
    with replacing(path, "wb") as f:
        fig.savefig(f, dpi=100, format="png")
    plt.close(fig)
    return path


def _table(rows: list[tuple[str, object]]) -> str:
    body = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(shown(v))}</td></tr>" for k, v in rows
    )
    return f"<table>{body}</table>"


def write_html(result: BacktestResult, path: Path, png: Path | None) -> Path:
    m = result.metrics()
    figures = [(k, v) for k, v in m.items() if not isinstance(v, dict)]
    figures += [(f"hold secs {k}", v) for k, v in m["hold_secs"].items()]
    image = ""
    if png is not None and png.exists():
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        image = f'<img alt="price, states, equity, drawdown" src="data:image/png;base64,{data}">'
    head = ["entry", "exit", "qty", "entry price", "exit price", "fees", "P&L", "hold s", "exit reason"]
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(shown(c))}</td>" for c in (
            utc(t.entry_ns), utc(t.exit_ns), t.quantity, t.entry_price, t.exit_price, t.fees, t.pnl,
            t.hold_secs, t.exit_reason,
        )) + "</tr>"
        for t in result.trades[:HTML_TRADES]
    )  # fmt: skip
    trades = f"<table><tr>{''.join(f'<th>{h}</th>' for h in head)}</tr>{rows}</table>"
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(result.symbol)} backtest</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1400px}} img{{max-width:100%}}
table{{border-collapse:collapse;margin:1em 0}} td,th{{border:1px solid #ccc;padding:2px 8px;text-align:left}}
.cols{{display:flex;gap:3em;flex-wrap:wrap}}</style></head><body>
<h1>{html.escape(result.symbol)} backtest, {html.escape(str(m["start_utc"]))} to {html.escape(str(m["end_utc"]))}</h1>
{image}
<div class="cols"><div><h2>Figures</h2>{_table(figures)}</div>
<div><h2>Detector state (share of seconds)</h2>{_table(list(m["state_share"].items()))}
<h2>Entry rejections</h2>{_table(list(m["entry_rejections"].items()))}
<h2>Exit reasons</h2>{_table(list(m["exit_reasons"].items()))}
<h2>Orders</h2>{_table(list(m["orders"].items()))}</div></div>
<h2>Trades ({len(result.trades)}{", first " + str(HTML_TRADES) if len(result.trades) > HTML_TRADES else ""})</h2>
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
