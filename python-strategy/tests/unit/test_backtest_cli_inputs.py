"""`flashcrash backtest` as a new user meets it: its files say what produced them (data file and its
hash, window, config, overlays in order, book, warm-up) and its header names the overlays; another
symbol's data is labelled with that symbol (the config's beside it) and the COIN-M conversion is said
in `flashcrash import`'s words; `--warm-up` replays a window as `flashcrash optimize` replays its test
window (the same figures); bad windows are refused before the file is read, or with the file's span,
leaving no output folder; backtest.log lines carry the replay's event time; the chart of a day shows
its date and zooms in on its busiest ACTIVE period, and a one-second drawdown still shows; average
prices are rounded, money is not."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import Counter
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from flashcrash import config as config_mod
from flashcrash.backtest import commands as backtest_commands
from flashcrash.backtest import plots
from flashcrash.backtest.commands import parse_utc, summary_table
from flashcrash.backtest.results import BacktestResult
from flashcrash.cli import main
from flashcrash.event_detector import State, Transition
from flashcrash.marketdata import load_trades
from flashcrash.trading_engine import ClosedTrade

REPO = Path(__file__).resolve().parents[3]
POL = REPO / "data" / "binance_trades_2025-10-10_POLUSDT_2045-2145.csv.gz"
ATOM = REPO / "data" / "binance-delivery_trades_2025-10-10_ATOMUSD_PERP_1700-2130.csv.gz"
CONFIG = REPO / "config" / "config.toml"
NS = 1_000_000_000
D = Decimal
DAY = 1_760_054_400  # 2025-10-10T00:00:00Z, in seconds
ISO_MS = r"2025-10-10T\d\d:\d\d:\d\d\.\d{3}\+00:00"


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def backtest(out: Path, cache: Path, *flags: str, data: Path = POL) -> int:
    return main(["backtest", "--data", str(data), "--out", str(out), "--cache-dir", str(cache), *flags])


def flat(text: str) -> str:
    """Console text with rich's line wrapping undone."""
    return " ".join(text.split())


# --- 1. what produced a run ---------------------------------------------------------------------------


def test_the_summary_records_its_inputs_and_the_header_names_the_overlays(
    tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "first.toml", tmp_path / "second.toml"
    first.write_text("[strategy]\nentry_fraction = 0.25\n")
    second.write_text("[strategy]\nentry_fraction = 0.3\n")
    out = tmp_path / "bt"
    window = ["--from", "2025-10-10T21:09:00Z", "--to", "2025-10-10T21:11:00Z"]
    assert backtest(out, cache, *window, "--overlay", str(first), "--overlay", str(second)) == 0
    text = flat(capsys.readouterr().out)
    # On the synthetic book its overlay comes first, over the config and local.toml, under --overlay.
    synthetic = REPO / "config" / "synthetic_book.toml"
    assert f"overlays applied, in order: {synthetic}, {first}, {second}" in text
    inputs = json.loads((out / "summary.json").read_text())["inputs"]
    assert inputs["data"] == str(POL.resolve())
    assert inputs["data_sha256"] == hashlib.sha256(POL.read_bytes()).hexdigest()
    assert inputs["data_bytes"] == POL.stat().st_size
    assert (inputs["from_utc"], inputs["to_utc"]) == (
        "2025-10-10T21:09:00.000+00:00",
        "2025-10-10T21:11:00.000+00:00",
    )
    assert inputs["config"] == str(CONFIG.resolve())
    assert inputs["overlays"] == [str(p.resolve()) for p in (synthetic, first, second)]  # in order
    assert (inputs["book"], inputs["warm_up"], inputs["data_symbol"]) == ("synthetic", None, "POLUSDT")
    page = (out / "backtest.html").read_text()
    assert "<h2>Inputs</h2>" in page and inputs["data_sha256"] in page


def test_no_synthetic_overlay_replays_the_configs_own_values(
    tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--no-synthetic-overlay`: the design's values of config.toml on the synthetic book, so its
    liquidity stop (100,000 USD against the model's few thousand) pauses the entries the overlay's
    1,000 lets through to be scored."""
    window = ["--from", "2025-10-10T21:10:00Z", "--to", "2025-10-10T21:14:00Z"]
    assert backtest(tmp_path / "with", cache, *window) == 0
    assert backtest(tmp_path / "bare", cache, *window, "--no-synthetic-overlay") == 0
    assert "; no overlay" in flat(capsys.readouterr().out)
    with_, bare = (json.loads((tmp_path / n / "summary.json").read_text()) for n in ("with", "bare"))
    assert bare["inputs"]["overlays"] == [] and len(with_["inputs"]["overlays"]) == 1
    assert "emergency_stop" not in with_["entry_rejections"], with_["entry_rejections"]
    assert bare["entry_rejections"]["emergency_stop"] > 0, bare["entry_rejections"]
    assert "under 100,000 (entries paused)" in (tmp_path / "bare" / "backtest.log").read_text()


# --- 2. another symbol's data -------------------------------------------------------------------------


def test_another_symbols_data_is_labelled_with_its_own_symbol(
    tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """ATOM data under the POLUSDT config: ATOMUSD_PERP in the title, the summary and the page, the
    config's symbol beside it; the contract size line is `flashcrash import`'s, word for word."""
    assert main(["import", str(ATOM), "--cache-dir", str(cache)]) == 0
    imported = flat(capsys.readouterr().out)
    out = tmp_path / "bt"
    assert (
        backtest(out, cache, "--from", "2025-10-10T21:00:00Z", "--to", "2025-10-10T21:02:00Z", data=ATOM) == 0
    )
    text = flat(capsys.readouterr().out)
    line = f"{ATOM.name}: COIN-M quantities converted from contracts of 10 USD (--contract-size to change)"
    assert line in imported and line in text
    assert "ATOMUSD_PERP (config POLUSDT) backtest 2025-10-10T21:00:00" in text
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["symbol"], summary["config_symbol"]) == ("ATOMUSD_PERP", "POLUSDT")
    assert summary["inputs"]["contract_size"] == 10.0
    assert "<h1>ATOMUSD_PERP (config POLUSDT" in (out / "backtest.html").read_text()


def test_the_chart_title_names_the_datas_symbol_and_the_configs(tmp_path: Path) -> None:
    r = result(3600, [])
    r.symbol, r.config_symbol = "ATOMUSD_PERP", "POLUSDT"
    title = drawn(r, tmp_path).axes[0].get_title()
    assert title.startswith("ATOMUSD_PERP") and "POLUSDT config" in title


# --- 3. the warm-up of optimize's test window ---------------------------------------------------------


def test_warm_up_replays_a_window_as_optimize_replays_its_test_window(
    tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--warm-up`: the `baseline_secs + warmup_secs` before `--from` replayed first, entries paused:
    the figures of the walk-forward's out-of-sample column for that window, exactly; off by default
    (a cold start trades otherwise)."""
    from flashcrash.optimize import walkforward as wf
    from flashcrash.optimize.objectives import OBJECTIVES

    window = ["--from", "2025-10-10T21:15:00Z", "--to", "2025-10-10T21:45:00Z"]
    assert backtest(tmp_path / "warm", cache, *window, "--warm-up") == 0
    assert "warm-up: 11413 trades from 2025-10-10T21:09:00.175" in flat(capsys.readouterr().out)
    assert backtest(tmp_path / "cold", cache, *window) == 0
    warm, cold = (json.loads((tmp_path / n / "summary.json").read_text()) for n in ("warm", "cold"))
    cfg = config_mod.load_synthetic(CONFIG)
    trades, _, _ = load_trades(POL, cache)
    test = wf.Window(parse_utc(window[1]), parse_utc(window[3]))
    cut, trading_from = wf.warm_cut(test, trades, cfg)
    expected = wf.evaluate(cfg, cut, OBJECTIVES["return"], trading_from)
    assert {k: warm[k] for k in wf.FIGURES} == {k: expected[k] for k in wf.FIGURES}
    assert warm["inputs"]["warm_up"] == {
        "secs": cfg.event_detection.baseline_secs + cfg.event_detection.warmup_secs,
        "from_utc": "2025-10-10T21:09:00.175+00:00",
        "trading_from_utc": expected["start_utc"],
        "trades": expected["warmup_events"],
    }
    assert cold["inputs"]["warm_up"] is None and cold["trades"] != warm["trades"]


# --- 4. window errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--from", "2025-10-10T21:30:00Z", "--to", "2025-10-10T21:00:00Z"],
         "backtest error: --from 2025-10-10T21:30:00Z is after --to 2025-10-10T21:00:00Z: the window is reversed"),
        (["--from", "10-10-2025 21:00"],
         "backtest error: --from '10-10-2025 21:00': not an ISO UTC time; expected e.g. 2025-10-10T21:00:00Z"),
        (["--to", "21:00"], "backtest error: --to '21:00': not an ISO UTC time; expected e.g. 2025-10-10T21:00:00Z"),
    ],
)  # fmt: skip
def test_a_bad_window_is_refused_before_the_file_is_read(
    tmp_path: Path,
    cache: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    flags: list[str],
    message: str,
) -> None:
    def unread(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the file was read")

    monkeypatch.setattr(backtest_commands, "load_trades", unread)
    assert backtest(tmp_path / "bt", cache, *flags) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(message), err
    assert not (tmp_path / "bt").exists()


def test_a_window_outside_the_file_says_the_files_span(
    tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert backtest(tmp_path / "bt", cache, "--from", "2025-10-11T01:00:00Z") == 2
    assert capsys.readouterr().err.strip() == (
        f"backtest error: no trades of {POL.name} in the window 2025-10-11T01:00:00.000+00:00 to end: "
        "the file's trades span 2025-10-10T20:45:00.101+00:00 to 2025-10-10T21:44:59.976+00:00"
    )
    assert not (tmp_path / "bt").exists()  # no folder, no empty backtest.log


# --- 5. event times in backtest.log -------------------------------------------------------------------


def test_backtest_log_lines_carry_the_replays_event_time(tmp_path: Path, cache: Path) -> None:
    """Each line starts with the event time of the replay when it was logged (UTC, milliseconds, as
    trades.csv's times), in order, inside the window; `-` outside the replay."""
    out = tmp_path / "bt"
    window = ["--from", "2025-10-10T21:15:00Z", "--to", "2025-10-10T21:25:00Z"]
    assert backtest(out, cache, *window, "--log-level", "info") == 0
    lines = (out / "backtest.log").read_text().splitlines()
    assert lines and all(re.match(rf"({ISO_MS}|-) [A-Z]+ \S+: ", line) for line in lines), lines[:3]
    times = [line.split(" ", 1)[0] for line in lines if line[0] != "-"]
    assert len(times) > 2 and times == sorted(times)
    assert times[0] >= "2025-10-10T21:15:00" and times[-1] < "2025-10-10T21:26"
    emergency = [line for line in lines if "emergency stop" in line]
    assert emergency and all(line.startswith("2025-10-10T21:") for line in emergency)


# --- 6. the chart of a day ----------------------------------------------------------------------------


def result(secs: int, trades: list[tuple[int, int]], drawdown_at: int | None = None) -> BacktestResult:
    """`secs` seconds from midnight of 10 Oct 2025, ACTIVE around each trade `(entry s, exit s)`;
    with `drawdown_at`, the equity 10 below its peak during that one second."""
    ns = (DAY + np.arange(secs, dtype=np.int64)) * NS
    equity = np.full(secs, 1000.0)
    if drawdown_at is not None:
        equity[drawdown_at] = 990.0
    closed = [
        ClosedTrade((DAY + a) * NS, (DAY + b) * NS, D("10"), D("0.2"), D("0.21"), D("0"), D("0.1"), "target")
        for a, b in trades
    ]
    transitions = []
    for a, b in trades:
        transitions += [
            Transition((DAY + a - 60) * NS, State.SLEEP, State.ACTIVE, "test"),
            Transition((DAY + b + 60) * NS, State.ACTIVE, State.SLEEP, "test"),
        ]
    return BacktestResult(
        "POLUSDT", D("1000"), D("1000"), D("0"), closed,
        [((DAY + a) * NS, 0.2) for a, _ in trades], [((DAY + b) * NS, 0.21) for _, b in trades], transitions,
        Counter(), {}, ns, np.full(secs, 0.2), equity, np.zeros(secs, dtype=np.int8), {"trades": secs, "books": 0}, 0.1,
    )  # fmt: skip


def drawn(r: BacktestResult, tmp_path: Path) -> object:
    """The matplotlib figure `plots.write_png` draws (kept as it closes it)."""
    import matplotlib.pyplot as plt

    kept: list[object] = []
    close = plt.close

    def keep(fig: object = None) -> None:
        kept.append(fig)

    plt.close = keep  # type: ignore[assignment]
    try:
        assert plots.write_png(r, tmp_path / "backtest.png") is not None
    finally:
        plt.close = close  # type: ignore[assignment]
    fig = kept[0]
    fig.canvas.draw()  # type: ignore[attr-defined]
    return fig


def test_a_days_chart_shows_its_date_and_zooms_in_on_its_busiest_active_period(tmp_path: Path) -> None:
    """A whole day, ACTIVE twice: the time axis says the date, its ends are not both `00:00`, and a
    zoomed panel shows the busier ACTIVE period (three trades at 21:00, not one at 09:00)."""
    busy = [(75_600 + 300 * i, 75_600 + 300 * i + 20) for i in range(3)]
    fig = drawn(result(86_400, [(32_400, 32_420), *busy]), tmp_path)
    axes = fig.axes  # type: ignore[attr-defined]
    assert len(axes) == 4
    dd, zoom = axes[2], axes[3]
    assert "2025-10-10" in dd.get_xlabel()
    labels = [t.get_text() for t in dd.get_xticklabels() if t.get_text()]
    assert labels[0] != labels[-1] and not all(label == "00:00" for label in (labels[0], labels[-1]))
    assert "busiest ACTIVE period" in zoom.get_title()
    lo, hi = (x * 86_400 for x in zoom.get_xlim())  # matplotlib dates: days since 1970
    assert lo <= DAY + busy[0][0] - 60 and DAY + busy[-1][1] + 60 <= hi and hi - lo < 3600
    assert len(drawn(result(3 * 3600, busy), tmp_path).axes) == 3  # type: ignore[attr-defined]  # short: no zoom
    assert plots.busiest_active(result(86_400, [])) is None  # never ACTIVE: none


def test_a_one_second_drawdown_shows_on_a_days_chart(tmp_path: Path) -> None:
    """A fall of 10 (1 %) for one second of a day-long run is under a 100th of a pixel wide: the
    drawdown panel still draws it down to its depth (not a near-white sliver)."""
    fig = drawn(result(86_400, [], drawdown_at=43_200), tmp_path)
    dd = fig.axes[2]  # type: ignore[attr-defined]
    rgba = np.asarray(fig.canvas.buffer_rgba())  # type: ignore[attr-defined]
    day = (DAY + 43_200) / 86_400
    x, y = dd.transData.transform((day, -0.9))  # 10 under a peak of 1000: -1 %
    row = rgba.shape[0] - round(y)
    near = rgba[row - 1 : row + 2, int(x) - 2 : int(x) + 3, :3].astype(int)
    assert near.min() < 200, near  # a drawn pixel (white is 255)


# --- 7. average prices; which drawdown ----------------------------------------------------------------


def test_average_prices_are_rounded_and_money_is_exact(tmp_path: Path) -> None:
    exit_price = D("0.1999669269269269269269269269")  # an average of fills: 28 decimals
    t = ClosedTrade(DAY * NS, (DAY + 2) * NS, D("499.5"), D("0.20032036"), exit_price, D("0.20004366"),
                    D("-0.37658348123"), "gap")  # fmt: skip
    r = result(3, [])
    r.trades, r.price_tick = [t], D("0.0001")
    path = r.write_trades_csv(tmp_path / "trades.csv")
    row = next(csv.DictReader(path.open()))
    assert (row["entry_price_avg"], row["exit_price_avg"]) == ("0.20032036", "0.19996693")  # tick x 1e-4
    assert (row["fees"], row["pnl"]) == ("0.20004366", "-0.37658348123")  # exact
    page = plots.write_html(r, tmp_path / "backtest.html", None).read_text()
    assert "<td>0.19996693</td>" in page and "0.199966926" not in page
    r.price_tick = None
    assert r.avg_price(exit_price) == D("0.199966926927")  # no tick: 12 significant digits


def test_the_printed_max_drawdown_says_it_is_marked_tick_by_tick() -> None:
    label, _ = summary_table(result(3, [])).columns
    assert "max drawdown (tick by tick)" in label._cells  # type: ignore[attr-defined]


# --- 8. what the chart and the page say -------------------------------------------------------------


def test_the_chart_says_what_was_run_and_in_which_units(tmp_path: Path) -> None:
    """The title names the symbol, the window, the config and overlays, the book and the outcome; the
    price and equity are in the quote currency, the drawdown in % of the running peak (the unit of
    the summary's max drawdown), without an offset such as `+1.21e5` above a BTC price."""
    r = result(600, [(200, 220)], drawdown_at=300)
    r.inputs = {"config": "/x/config/config.toml", "overlays": ["/y/best_params.toml"], "book": "synthetic"}
    r.sample_price = np.linspace(121_000, 121_003, 600)
    r.sample_equity = r.sample_equity * 100  # 100,000 with a fall of 1,000 (1 %)
    fig = drawn(r, tmp_path)
    price, equity, dd = fig.axes  # type: ignore[attr-defined]
    title = price.get_title()
    assert "POLUSDT backtest, 2025-10-10 00:00:00 to 00:10:00 UTC" in title
    assert "config config.toml + best_params.toml, book synthetic" in title
    assert "1 trade (1 win)" in title and "max drawdown" in title
    assert (price.get_ylabel(), equity.get_ylabel(), dd.get_ylabel()) == (
        "price (USDT)", "equity (USDT)", "drawdown (%)"
    )  # fmt: skip
    assert min(dd.get_ylim()) < -0.9 < 0.0 < max(dd.get_ylim()) < 0.5  # -1 %, not -1000
    for ax in (price, equity):
        assert ax.yaxis.get_major_formatter().get_offset() == ""
    assert any(t.get_text().startswith("121000") for t in price.get_yticklabels())


def test_a_round_trip_inside_a_second_shows_both_marks(tmp_path: Path) -> None:
    """A buy and a sell in the same second at the same price: the buy is drawn below the price, the
    sell above it (they covered one another, the sell hiding the buy)."""
    r = result(600, [(200, 200)])
    r.exits = [(t, 0.2) for t, _ in r.exits]
    fig = drawn(r, tmp_path)
    price = fig.axes[0]  # type: ignore[attr-defined]
    marks = {c.get_label(): c for c in price.collections if c.get_label() in ("buy", "sell")}
    (_, buy_y), (_, sell_y) = (marks[k].get_offset_transform().transform(marks[k].get_offsets())[0]
                               for k in ("buy", "sell"))  # fmt: skip
    _, line_y = price.transData.transform((price.lines[0].get_xydata()[200][0], 0.2))
    assert buy_y < line_y < sell_y


def test_the_legend_is_ordered_and_hides_no_price(tmp_path: Path) -> None:
    """The legend lists the price, the states as a crash goes through them, SLEEP (unshaded), then the
    marks, whatever came first, outside the price panel (inside, it sat on a crash at the chart's end)."""
    fig = drawn(result(600, [(200, 220)]), tmp_path)
    price = fig.axes[0]  # type: ignore[attr-defined]
    leg = price.get_legend()
    order = ["price (1 s)", "ACTIVE", "SLEEP (unshaded)", "buy", "sell"]
    assert [t.get_text() for t in leg.get_texts()] == order
    assert leg.get_window_extent().x0 >= price.get_window_extent().x1


def test_an_empty_run_says_so_and_a_second_is_not_drawn_across_years(tmp_path: Path) -> None:
    """No trade and no state but SLEEP: the price panel says so (it looked like a chart that failed
    to draw). A run of one second spans seconds on its time axis, where it spanned four years."""
    fig = drawn(result(600, []), tmp_path)
    texts = [t.get_text() for t in fig.axes[0].texts]  # type: ignore[attr-defined]
    assert "no trade; the detector stayed in SLEEP" in texts
    assert "no trade" in fig.axes[0].get_title()  # type: ignore[attr-defined]
    one = drawn(result(1, []), tmp_path)
    lo, hi = one.axes[2].get_xlim()  # type: ignore[attr-defined]
    assert 1 / 86_400 <= hi - lo <= 60 / 86_400  # matplotlib dates: days


def test_the_page_gives_units_and_says_when_there_is_nothing(tmp_path: Path) -> None:
    """The units said above the figures (money in the config's quote currency, prices in the data's)
    and on the trades' columns, the state shares in %; no trade, no rejection and no recording gap
    each said, not an empty table nor `[]`; the chart inline (the page is one file)."""
    r = result(600, [])
    page = plots.write_all(r, tmp_path)["html"].read_text()
    assert "<h1>POLUSDT backtest, 2025-10-10 00:00:00 to 00:10:00 UTC</h1>" in page
    assert "Prices in USDT; initial_capital, final_equity, net_pnl," in page
    assert (
        "max_drawdown and the trades' fees and P&amp;L in\nUSDT; return_pct and max_drawdown_pct in %" in page
    )
    assert "<th>data_gaps</th><td>none</td>" in page and "<h2>Entry rejections</h2><p>none</p>" in page
    assert "No trade in this window." in page and "<th>SLEEP</th><td>100.0</td>" in page
    assert 'src="data:image/png;base64,' in page and "http" not in page and 'src="/' not in page
    page = plots.write_html(result(600, [(200, 220)]), tmp_path / "backtest.html", None).read_text()
    assert "<th>avg entry price, USDT</th>" in page and "<th>P&amp;L, USDT</th>" in page
