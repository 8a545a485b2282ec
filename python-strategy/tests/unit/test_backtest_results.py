"""The backtest's figures and files, by hand: the win count, the per-trade Sharpe of a single trade,
the holding-time median and maximum, the running drawdown against `max_drawdown`, the trades and
states CSVs cell by cell (a failed write leaving the previous file whole), the self-contained HTML
page, the time window of `flashcrash backtest --from/--to`, and the CLI run that writes them."""

from __future__ import annotations

import base64
import csv
import html
import json
import re
from collections import Counter
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from flashcrash.backtest.commands import parse_utc, summary_table, window
from flashcrash.backtest.plots import write_all
from flashcrash.backtest.results import BacktestResult, RunningDrawdown, max_drawdown, shown
from flashcrash.cli import main
from flashcrash.marketdata import load_trades
from flashcrash.marketdata.trades import TRADE_DTYPE
from flashcrash.trading_engine import ClosedTrade
from flashcrash.wire import dec_text

REPO = Path(__file__).resolve().parents[3]
POL = REPO / "data" / "binance_trades_2025-10-10_POLUSDT_2045-2145.csv.gz"
D = Decimal
NS = 1_000_000_000
T0 = 1_760_130_000  # 2025-10-10T21:00:00Z, in seconds


def trade(
    entry_s: float,
    hold: float,
    qty: str,
    entry: str,
    exit_: str,
    fees: str,
    reason: str = "target",
    **kw: object,
) -> ClosedTrade:
    q, e, x, f = D(qty), D(entry), D(exit_), D(fees)
    start = int((T0 + entry_s) * NS)
    return ClosedTrade(start, start + int(hold * NS), q, e, x, f, (x - e) * q - f, reason, **kw)  # type: ignore[arg-type]


def result(
    trades: list[ClosedTrade],
    equity: list[float] | None = None,
    states: list[int] | None = None,
    prices: list[float] | None = None,
) -> BacktestResult:
    equity = equity if equity is not None else [100.0, 100.0]
    n = len(equity)
    return BacktestResult(
        "POLUSDT", D("100"), D(repr(equity[-1])), sum((t.fees for t in trades), D(0)), trades, [], [], [],
        Counter({"taken": len(trades)}), {"sent": 2 * len(trades)},
        (T0 + np.arange(n, dtype=np.int64)) * NS, np.asarray(prices or [0.25] * n, dtype=np.float64),
        np.asarray(equity, dtype=np.float64), np.asarray(states or [0] * n, dtype=np.int8),
        {"trades": n, "books": 0}, 0.1,
    )  # fmt: skip


def test_a_break_even_trade_is_neither_a_win_nor_a_loss() -> None:
    """A win is a trade with a positive net P&L, a loss one with a negative net P&L: a trade that
    nets exactly zero (its gross gain eaten by its fees) counts in neither `wins` and the win rate
    nor the average loss."""
    trades = [
        trade(0, 5, "10", "1.00", "1.10", "0.02"),  # +0.98
        trade(10, 5, "10", "1.00", "1.002", "0.02"),  # 0.02 gross - 0.02 fees = 0
        trade(20, 5, "10", "1.00", "0.95", "0.02"),  # -0.52
    ]
    assert trades[1].pnl == 0
    m = result(trades).metrics()
    assert (m["trades"], m["wins"], m["win_rate"]) == (3, 1, round(1 / 3, 4))
    assert (m["avg_win"], m["avg_loss"]) == ("0.98000000", "-0.52000000")


def test_sharpe_needs_two_trades_with_dispersion() -> None:
    """The per-trade Sharpe is None (not an error) with one trade, or with trades whose returns are
    all the same; the other figures of such a run are still computed."""
    one = result([trade(0, 3, "10", "1.00", "1.10", "0.02")]).metrics()
    assert one["sharpe_per_trade"] is None and one["trades"] == 1 and one["win_rate"] == 1.0
    same = result([trade(0, 3, "10", "1.00", "1.10", "0.02"), trade(9, 3, "10", "1.00", "1.10", "0.02")])
    assert same.metrics()["sharpe_per_trade"] is None


def test_money_is_never_written_in_exponent_form(tmp_path: Path) -> None:
    """A zero or tiny figure is plain decimal text in the metrics, the summary JSON and the trades
    CSV (`str(Decimal)` writes `0E-8` and `1.2E-7`)."""
    none = result([]).metrics()
    assert (none["net_pnl"], none["fees"], none["final_equity"]) == (
        "0.00000000",
        "0.00000000",
        "100.00000000",
    )
    tiny = trade(0, 1, "0.001", "0.0001", "0.0002", "0.00000012")  # pnl 1E-7 - 1.2E-7 = -2E-8
    m = result([tiny], equity=[100.0, 99.99999998]).metrics()
    assert (m["fees"], m["net_pnl"], m["avg_loss"]) == ("0.00000012", "-0.00000002", "-0.00000002")
    assert json.loads(json.dumps(tiny.to_json()))["fees"] == "0.00000012"
    path = result([tiny]).write_trades_csv(tmp_path / "trades.csv")
    row = next(csv.DictReader(path.open()))
    assert (row["quantity"], row["fees"], row["pnl"]) == ("0.001", "0.00000012", "-0.00000002")


def test_the_summary_shows_a_dash_where_there_is_no_figure() -> None:
    """No trade: no win rate, no average win or loss, no Sharpe, no holding time: `-`, not None."""
    assert (shown(None), shown(""), shown(D("0E-8")), shown(0.5)) == ("-", "-", "0.00000000", "0.5")
    rows = {r[0]: r[1] for r in _rows(summary_table(result([])))}
    assert rows["win rate"] == "-" and rows["average win / loss"] == "- / -"
    assert rows["Sharpe per trade"] == "-" and rows["hold secs mean / median / max"] == "- / - / -"
    assert rows["net P&L"] == "0.00000000"
    two = {
        r[0]: r[1]
        for r in _rows(
            summary_table(result([trade(0, 1, "1", "1", "2", "0"), trade(5, 1, "1", "2", "1", "0")]))
        )
    }
    assert two["win rate"] == "50.0%" and two["average win / loss"] == "1.00000000 / -1.00000000"


def _rows(t: object) -> list[tuple[str, str]]:
    """The (label, value) rows of a two-column rich table."""
    label, value = t.columns  # type: ignore[attr-defined]
    return list(zip(label._cells, value._cells, strict=True))


def test_holding_times_mean_median_and_max() -> None:
    """Holding times of 1, 9 and 2 s (in that order): mean 4, median 2 (not the mean), max 9 (not
    the last trade's)."""
    trades = [
        trade(0, 1, "1", "1.00", "1.01", "0"),
        trade(10, 9, "1", "1.00", "1.01", "0"),
        trade(30, 2, "1", "1.00", "1.01", "0"),
    ]
    assert result(trades).metrics()["hold_secs"] == {"mean": 4.0, "median": 2.0, "max": 9.0}


def test_trades_csv_has_every_column_unrounded(tmp_path: Path) -> None:
    """trades.csv: a header of 12 columns (the two prices named as the averages they are) and one row
    per trade, quantities, fees and P&L written as the exact decimals of the trade (8 decimal places
    kept), prices of 8 decimals whole, the return in percent of the entry notional to 6 places, the
    entry score to 3 places (empty when the trade has none)."""
    t1 = trade(
        1.5,
        2.25,
        "1234.5",
        "0.12345678",
        "0.13",
        "0.31234567",
        "target",
        entry_reason="dip",
        entry_score=71.23456,
    )
    t2 = trade(30, 4, "10", "1.00", "0.95", "0.02", "stop_loss")
    assert t1.pnl == D("7.76525942")  # (0.13 - 0.12345678) x 1234.5 - 0.31234567
    path = result([t1, t2]).write_trades_csv(tmp_path / "t" / "trades.csv")
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["entry_utc", "exit_utc", "quantity", "entry_price_avg", "exit_price_avg", "fees", "pnl",
                       "return_pct", "hold_secs", "exit_reason", "entry_reason", "entry_score"]  # fmt: skip
    assert t1.entry_price * t1.quantity == D("152.40739491")  # return: 7.76525942 / this = 5.095067 %
    decimals = slice(2, 7)  # quantity, entry and exit price, fees, P&L: compared as numbers
    assert [D(c) for c in rows[1][decimals]] == [D("1234.5"), D("0.12345678"), D("0.13"), D("0.31234567"),
                                                 D("7.76525942")]  # fmt: skip
    assert rows[1][:2] + rows[1][7:] == ["2025-10-10T21:00:01.500+00:00", "2025-10-10T21:00:03.750+00:00",
                                         "5.095067", "2.25", "target", "dip", "71.235"]  # fmt: skip
    assert [D(c) for c in rows[2][decimals]] == [D("10"), D("1.00"), D("0.95"), D("0.02"), D("-0.52")]
    assert rows[2][:2] + rows[2][7:] == ["2025-10-10T21:00:30.000+00:00", "2025-10-10T21:00:34.000+00:00",
                                         "-5.2", "4.0", "stop_loss", "", ""]  # fmt: skip
    assert len(rows) == 3


def test_states_csv_is_one_row_a_second_with_its_drawdown(tmp_path: Path) -> None:
    """states.csv: per second its time, close, the detector state's name, the equity and the
    drawdown from the running peak (0 at a new peak, negative below it)."""
    r = result(
        [],
        equity=[100.0, 101.0, 100.5, 99.0, 102.0],
        states=[0, 1, 2, 3, 0],
        prices=[0.3, 0.25, 0.2, 0.22, 0.3],
    )
    path = r.write_states_csv(tmp_path / "states.csv")
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["utc", "ts_ns", "close", "state", "equity", "drawdown"]
    assert [r[2:] for r in rows[1:]] == [
        ["0.3", "SLEEP", "100.0", "0.0"],
        ["0.25", "ALERT", "101.0", "0.0"],
        ["0.2", "ACTIVE", "100.5", "-0.5"],
        ["0.22", "RECOVERY", "99.0", "-2.0"],
        ["0.3", "SLEEP", "102.0", "0.0"],
    ]
    assert rows[1][:2] == ["2025-10-10T21:00:00.000+00:00", str(T0 * NS)]
    assert rows[5][1] == str((T0 + 4) * NS)


def test_a_failed_write_leaves_the_previous_file_whole(tmp_path: Path) -> None:
    """The files are written beside their place and renamed over it once complete: a write that
    fails half-way (here a state code no state has, on the last row) leaves the previous file as
    it was and no temporary file behind."""
    path = tmp_path / "states.csv"
    result([], equity=[100.0, 101.0]).write_states_csv(path)
    before = path.read_text()
    broken = result([], equity=[100.0] * 200, states=[0] * 199 + [99])
    with pytest.raises(IndexError):
        broken.write_states_csv(path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["states.csv"]


def test_the_running_drawdown_is_max_drawdown_kept_as_it_goes() -> None:
    """`RunningDrawdown` (the replay marks the equity at every trade and fill with it) finds what
    `max_drawdown` finds over the whole series, in money and as a fraction of the peak, whose
    deepest points may differ (10 from 100 is the deeper share, 15 from 200 the more money)."""
    rng = np.random.default_rng(3)
    assert max_drawdown(np.array([100.0, 90.0, 200.0, 185.0])) == (15.0, 0.1)
    series = [[100.0, 90.0, 200.0, 185.0], [100.0], [0.0, -1.0, 2.0], [-5.0, -7.0, -2.0, -9.0]]
    series += [list(100 + rng.normal(0, 1, 50).cumsum()) for _ in range(20)]
    for equity in series:
        running = RunningDrawdown()
        for e in equity:
            running.mark(e)
        assert running.deepest == pytest.approx(max_drawdown(np.asarray(equity))), equity
    assert RunningDrawdown().deepest == (0.0, 0.0)


def test_html_page_is_self_contained_with_every_figure_and_trade(tmp_path: Path) -> None:
    """backtest.html embeds the PNG itself (base64 of the very bytes of backtest.png), refers to no
    other file or site, shows every scalar figure of the summary in its Figures table, and one row per
    trade with its entry time, prices and P&L."""
    trades = [
        trade(1, 2, "10", "1.00", "1.10", "0.02"),
        trade(3, 1, "20", "0.50", "0.48", "0.01", "stop_loss"),
    ]
    r = result(trades, equity=[100.0, 100.98, 100.98, 100.57], states=[0, 1, 2, 2])
    files = write_all(r, tmp_path)
    page = files["html"].read_text()
    (embedded,) = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert base64.b64decode(embedded) == files["png"].read_bytes()
    assert not re.search(r"(src|href)=\"(?!data:)", page) and "http" not in page and "<script" not in page
    m = json.loads(files["summary"].read_text())
    for k, v in m.items():
        if not isinstance(v, dict | list) and v is not None:
            assert f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" in page, k
    for t in trades:
        prices = [dec_text(r.avg_price(p)) for p in (t.entry_price, t.exit_price)]  # averages, as shown
        cells = ["2025-10-10T21:00:0", *prices, str(t.pnl), t.exit_reason]
        row = next(r for r in re.findall(r"<tr><td>.*?</tr>", page) if f"<td>{t.pnl}</td>" in r)
        assert all(c in row for c in cells), row
    assert "<h2>Trades (2)</h2>" in page


def test_window_keeps_from_and_drops_to() -> None:
    """`--from` is included, `--to` excluded, by event time, with ties at either end kept together."""
    a = np.zeros(6, dtype=TRADE_DTYPE)
    a["ts_ns"] = [1, 2, 2, 3, 5, 5]
    a["id"] = np.arange(6)
    assert window(a, 2, 5)["id"].tolist() == [1, 2, 3]
    assert window(a, None, 2)["id"].tolist() == [0]
    assert window(a, 3, None)["id"].tolist() == [3, 4, 5]
    assert window(a, 6, None).size == 0


def test_backtest_cli_replays_only_its_window(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`flashcrash backtest --from A --to B`: only the trades in [A, B) are replayed (the summary's
    event count is theirs, its first and last seconds lie inside), and every file is written."""
    start, end = "2025-10-10T21:09:00Z", "2025-10-10T21:11:00Z"
    out = tmp_path / "bt"
    code = main(["backtest", "--data", str(POL), "--from", start, "--to", end, "--out", str(out),
                 "--cache-dir", str(tmp_path / "cache")])  # fmt: skip
    assert code == 0
    trades, _, _ = load_trades(POL, tmp_path / "cache")
    inside = window(trades, parse_utc(start), parse_utc(end))
    assert 0 < len(inside) < len(trades)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["events"]["trades"] == len(inside)
    assert summary["start_utc"] == "2025-10-10T21:09:00.000+00:00"
    assert "2025-10-10T21:10:59" <= summary["end_utc"] < "2025-10-10T21:11:01"
    assert {p.name for p in out.iterdir()} >= {"summary.json", "trades.csv", "states.csv", "backtest.png",
                                                "backtest.html", "backtest.log"}  # fmt: skip
    assert "return %" in capsys.readouterr().out
