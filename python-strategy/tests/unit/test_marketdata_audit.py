"""Market data import rules an audit found broken (each test here failed before its fix): a COIN-M
capture's book is in the base asset as its trades are, with the same contract size, and the backtest
reads it so; insurance fund and ADL trades of a futures capture are dropped; a Tardis file's trades
are those of its first trade's exchange and symbol; a short run of rows ahead (one, two or three)
costs those rows, not every row after them; a byte that is no UTF-8 costs its row, in every reader,
and a backtest says a decode error in one line; a COIN-M file whose symbol nothing names is refused
without `--contract-size`, and the contract size used is reported; a malformed first klines row is
a dropped row, not a skipped header; bookDepth bands with decimals are read."""

from __future__ import annotations

import gzip
import json
import zipfile
from pathlib import Path

import pytest

from flashcrash.backtest import commands as backtest_commands
from flashcrash.cli import main
from flashcrash.marketdata import Market, load_trades, read_trades
from flashcrash.marketdata.depth import capture_books
from flashcrash.marketdata.tables import read_book_depth, read_klines
from flashcrash.marketdata.trades import MAX_AHEAD, NOT_UTF8, ImportError_

T0 = 1_760_130_000_000  # 2025-10-10 21:00:00 UTC, in ms
AGG_HEADER = "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"
AHEAD = "out of order with the rows after it"


def agg(tid: int, dt_ms: int, price: str = "0.2") -> str:
    return f"{tid},{price},10,{tid},{tid},{T0 + dt_ms},false"


def write(tmp: Path, name: str, lines: list[str]) -> Path:
    path = tmp / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def issues(report) -> list[tuple[int, str]]:
    return [(i.line, i.reason.split(" (")[0]) for i in report.issues]


# --- 1. a COIN-M capture's book in the base asset ---------------------------------------------------


def _coinm_capture(
    tmp_path: Path, name: str = "btcusd_perp_20251010.gz", symbol: str = "BTCUSD_PERP"
) -> Path:
    """A COIN-M capture: a diff event before the REST snapshot, the snapshot, two diffs (one removing a
    level with 0) and a trade; quantities in contracts."""

    def line(stamp: int, data: dict) -> str:
        return f"{stamp} {json.dumps({'stream': symbol.lower() + '@x', 'data': data})}"

    diff = {"e": "depthUpdate", "s": symbol}
    trade = {"e": "trade", "s": symbol, "X": "MARKET", "m": False}
    lines = [
        line(1, {**diff, "E": T0, "U": 95, "u": 100, "pu": 90, "b": [["60000.0", "600"]], "a": []}),
        "2 "
        + json.dumps(
            {
                "lastUpdateId": 100,
                "symbol": symbol,
                "bids": [["60000.0", "500"], ["59999.9", "300"]],
                "asks": [["60000.1", "400"], ["60000.2", "200"]],
            }
        ),
        line(3, {**diff, "E": T0 + 10, "U": 101, "u": 105, "pu": 100, "b": [["59999.9", "0"]], "a": []}),
        line(4, {**diff, "E": T0 + 20, "U": 106, "u": 110, "pu": 105, "b": [], "a": [["60000.2", "50"]]}),
        line(5, {**trade, "E": T0 + 30, "T": T0 + 30, "t": 1, "p": "60000.1", "q": "400"}),
    ]
    path = tmp_path / name
    with gzip.open(path, "wt") as f:
        f.write("\n".join(lines) + "\n")
    return path


def test_a_coin_m_captures_book_is_in_the_base_asset_as_its_trades(tmp_path: Path) -> None:
    """Every level of a COIN-M capture (the snapshot's, the diffs') is converted from contracts as
    its trades are: 600 contracts of 100 USD at 60,000 are 1 BTC, not 600; a 0 still removes the
    level; `contract_size` overrides; an explicit market other than COIN-M leaves them as they are."""
    path = _coinm_capture(tmp_path)
    books, report = capture_books(path)
    assert [b.update_id for b in books] == [100, 105, 110]
    assert books[0].bids == ((60000.0, pytest.approx(1.0)), (59999.9, pytest.approx(300 * 100 / 59999.9)))
    assert books[1].bids == ((60000.0, pytest.approx(1.0)),)  # 59999.9 removed by its 0
    assert books[2].asks == (
        (60000.1, pytest.approx(400 * 100 / 60000.1)),
        (60000.2, pytest.approx(50 * 100 / 60000.2)),
    )
    assert report.contract_size == 100 and "contracts of 100 USD" in report.summary()
    trades, trade_report = read_trades(path)
    assert trades["qty"].tolist() == [pytest.approx(books[2].asks[0][1])]  # the same units
    assert trade_report.contract_size == report.contract_size
    books, _ = capture_books(path, contract_size=10.0)
    assert books[0].bids[0] == (60000.0, pytest.approx(600 * 10 / 60000.0))
    books, report = capture_books(path, market=Market.USDM)
    assert books[0].bids[0] == (60000.0, 600.0) and report.contract_size is None


def test_a_usdm_capture_book_is_not_converted(tmp_path: Path) -> None:
    books, report = capture_books(_coinm_capture(tmp_path, "cap.gz", symbol="BTCUSDT"))
    assert books[0].bids[0] == (60000.0, 600.0) and report.contract_size is None


def test_backtest_reads_a_captures_book_as_it_read_its_trades(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The backtest passes `capture_books` the symbol, market and contract size of the trades."""
    seen: dict = {}

    def books(path: Path, **kwargs):
        seen.update(kwargs)
        raise ImportError_("seen")

    monkeypatch.setattr(backtest_commands, "capture_books", books)
    path = _coinm_capture(tmp_path)
    assert main(["backtest", "--data", str(path), "--out", str(tmp_path / "bt"), "--no-cache"]) == 2
    assert "data error: seen" in capsys.readouterr().err
    assert (seen["symbol"], seen["market"], seen["contract_size"]) == ("BTCUSD_PERP", Market.COINM, 100.0)


# --- 2. insurance fund and ADL trades ---------------------------------------------------------------


def test_capture_trades_other_than_market_trades_are_dropped(tmp_path: Path) -> None:
    """A futures `trade` event's `X`: MARKET trades are kept; INSURANCE_FUND, ADL and NA ones are
    dropped by line, naming X; an event without `X` (spot, aggTrade) is a market trade."""
    base = {"e": "trade", "s": "BTCUSDT", "q": "0.5", "m": True}
    kinds = ["MARKET", "INSURANCE_FUND", "MARKET", "ADL", "NA", None]
    lines = []
    for n, x in enumerate(kinds, start=1):
        data = {**base, "E": T0 + n, "T": T0 + n, "t": n, "p": "55000.0" if x and x != "MARKET" else "61800"}
        lines.append(f"{n} {json.dumps({'stream': 'btcusdt@trade', 'data': data | ({'X': x} if x else {})})}")
    trades, report = read_trades(write(tmp_path, "cap.txt", lines))
    assert trades["id"].tolist() == [1, 3, 6] and set(trades["price"].tolist()) == {61800.0}
    assert [(i.line, i.reason) for i in report.issues] == [
        (2, "X INSURANCE_FUND: not a MARKET trade (an insurance fund or ADL trade)"),
        (4, "X ADL: not a MARKET trade (an insurance fund or ADL trade)"),
        (5, "X NA: not a MARKET trade (an insurance fund or ADL trade)"),
    ]
    assert (report.rows, report.kept) == (6, 3)


# --- 3. a Tardis file of several symbols or exchanges -----------------------------------------------


def test_a_tardis_files_trades_are_those_of_its_first_trades_exchange_and_symbol(tmp_path: Path) -> None:
    us = T0 * 1000
    rows = [
        "exchange,symbol,timestamp,local_timestamp,id,side,price,amount",
        f"binance-futures,BTCUSDT,{us + 1},{us + 2},1000,buy,121000.1,0.01",
        f"binance-futures,ETHUSDT,{us + 2},{us + 3},2000,sell,4350.2,1.5",  # line 3
        f"binance-futures,BTCUSDT,{us + 3},{us + 4},1001,buy,121000.2,0.02",
        f"binance,BTCUSDT,{us + 4},{us + 5},1500,sell,121001.0,0.1",  # line 5: spot, not futures
        f"binance-futures,BTCUSDT,{us + 5},{us + 6},1002,buy,121000.3,0.02",
    ]
    trades, report = read_trades(write(tmp_path, "t.csv", rows))
    assert trades["id"].tolist() == [1000, 1001, 1002] and report.symbol == "BTCUSDT"
    assert [(i.line, i.reason) for i in report.issues] == [
        (3, "binance-futures ETHUSDT, not the file's binance-futures BTCUSDT"),
        (5, "binance BTCUSDT, not the file's binance-futures BTCUSDT"),
    ]


# --- 4. a short run of rows ahead ---------------------------------------------------------------------


@pytest.mark.parametrize("column", ["time", "id"])
@pytest.mark.parametrize("run", [1, 2, 3])
def test_a_short_run_of_rows_ahead_is_dropped_and_the_file_resumes(
    tmp_path: Path, column: str, run: int
) -> None:
    """Rows 3.. (one, two or three) an hour or 1000 ids ahead: those rows are dropped, every row
    after them kept."""
    rows = [agg(i, i * 10) for i in range(1, 13)]
    for i in range(3, 3 + run):
        rows[i - 1] = agg(i, i * 10 + 3_600_000) if column == "time" else agg(i + 1000, i * 10)
    trades, report = read_trades(write(tmp_path, "t.csv", [AGG_HEADER, *rows]))
    ahead = list(range(3, 3 + run))
    assert trades["id"].tolist() == [i for i in range(1, 13) if i not in ahead]
    assert issues(report) == [(i + 1, AHEAD) for i in ahead]  # line = row + 1 (the header)


def test_a_step_back_in_the_middle_is_the_row_dropped(tmp_path: Path) -> None:
    """Rows going back (one before the row before it, two before rows already kept), between runs
    ahead: the rows going back are dropped, and the runs ahead, and nothing else."""
    rows = [agg(i, i * 10) for i in range(1, 21)]
    rows[3] = agg(4, 4 * 10 + 3_600_000)  # row 4 ahead
    rows[8] = agg(9, 7 * 10 + 5)  # row 9: between rows 7 and 8 in time: a step back
    rows[11] = agg(12, 1)  # rows 12, 13: far back, before rows kept long ago
    rows[12] = agg(13, 2)
    rows[15] = agg(1016, 16 * 10)  # rows 16, 17: ids ahead
    rows[16] = agg(1017, 17 * 10)
    trades, report = read_trades(write(tmp_path, "t.csv", rows))
    assert trades["id"].tolist() == [1, 2, 3, 5, 6, 7, 8, 10, 11, 14, 15, 18, 19, 20]
    assert issues(report) == [
        (4, AHEAD),
        (9, "time before the previous row"),
        (12, "time before the previous row"),
        (13, "time before the previous row"),
        (16, AHEAD),
        (17, AHEAD),
    ]


def test_a_jump_ahead_the_rows_after_follow_is_kept(tmp_path: Path) -> None:
    """A jump ahead that the rows after it go on from (a recording gap) is the file's sequence: all
    kept; a run ahead longer than `MAX_AHEAD` rows is taken for one."""
    rows = [agg(i, i * 10 + (3_600_000 if i > 5 else 0)) for i in range(1, 21)]
    trades, report = read_trades(write(tmp_path, "t.csv", rows))
    assert trades["id"].tolist() == list(range(1, 21)) and report.dropped == 0
    long_run = [agg(i, i * 10 + (3_600_000 if 3 <= i < 4 + MAX_AHEAD else 0)) for i in range(1, 21)]
    trades, report = read_trades(write(tmp_path, "t.csv", long_run))
    assert trades["id"].tolist() == list(range(1, 4 + MAX_AHEAD))
    assert {reason for _, reason in issues(report)} == {"time before the previous row"}


# --- 5. bytes that are no UTF-8 ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["POLUSDT-aggTrades-2025-10-10.csv", "a.csv.gz", "a.zip"])
def test_a_byte_that_is_no_utf8_costs_its_row_not_the_file(tmp_path: Path, name: str) -> None:
    text = ("\n".join([AGG_HEADER, agg(1, 0), agg(2, 1), agg(3, 2), agg(4, 3)]) + "\n").encode()
    text = text.replace(b"3,0.2,", b"3,0.2\xff,", 1)  # line 4
    path = tmp_path / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(text))
    elif name.endswith(".zip"):
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("a.csv", text)
    else:
        path.write_bytes(text)
    trades, report = read_trades(path)
    assert trades["id"].tolist() == [1, 2, 4]
    assert [(i.line, i.reason) for i in report.issues] == [(4, NOT_UTF8)] and report.rows == 4


def test_a_byte_that_is_no_utf8_in_a_field_not_parsed_still_costs_its_row(tmp_path: Path) -> None:
    """A bad byte in a Tardis symbol or a capture's JSON text would parse: the row is dropped all the same."""
    us = T0 * 1000
    path = tmp_path / "t.csv"
    path.write_bytes(
        b"exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"
        + f"binance,POLUSDT,{us},{us},1,buy,0.2,5\n".encode()
        + f"binance,POLUSDT\xe9,{us + 1},{us + 1},2,buy,0.2,5\n".encode("latin-1")
        + f"binance,POLUSDT,{us + 2},{us + 2},3,buy,0.2,5\n".encode()
    )
    trades, report = read_trades(path)
    assert trades["id"].tolist() == [1, 3] and [(i.line, i.reason) for i in report.issues] == [(3, NOT_UTF8)]


def test_klines_book_depth_and_capture_books_drop_a_line_that_is_no_utf8(tmp_path: Path) -> None:
    kline = "{t},0.2,0.21,0.19,0.2,100,{c},20,5,40,8,0"
    lines = [kline.format(t=T0 + i * 60_000, c=T0 + i * 60_000 + 59_999) for i in range(3)]
    path = tmp_path / "k.csv"
    path.write_bytes("\n".join(lines).encode().replace(b",20,5,", b",20,5\xfe,", 1) + b"\n")
    klines, report = read_klines(path)
    assert len(klines) == 2 and [(i.line, i.reason) for i in report.issues] == [(1, NOT_UTF8)]

    path = tmp_path / "d.csv"
    path.write_bytes(
        b"timestamp,percentage,depth,notional\n2025-10-10 21:00:00,-1,5.0,100.0\n"
        b"2025-10-10 21:00:00,1,4.0\xc3,90.0\n2025-10-10 21:00:30,-1,5.0,100.0\n"
    )
    depth, report = read_book_depth(path)
    assert len(depth) == 2 and [(i.line, i.reason) for i in report.issues] == [(3, NOT_UTF8)]

    cap = _coinm_capture(tmp_path)
    with gzip.open(cap, "rb") as f:
        raw = f.read().split(b"\n")
    raw[2] = raw[2].replace(b'"E"', b'"\xff\xfeE"')  # line 3, a diff event
    bad = tmp_path / "btcusd_perp_bad.gz"
    bad.write_bytes(gzip.compress(b"\n".join(raw)))
    books, report = capture_books(bad)
    assert [b.update_id for b in books] == [100]
    assert [(i.line, i.reason) for i in report.issues] == [(3, NOT_UTF8)]
    assert "gap" in report.stopped  # the dropped diff is missing from the chain: said, not skipped


@pytest.mark.parametrize("failing", ["load_trades", "capture_books"])
def test_backtest_says_a_decode_error_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], failing: str
) -> None:
    def fail(*_args, **_kwargs):
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    monkeypatch.setattr(backtest_commands, failing, fail)
    path = _coinm_capture(tmp_path)
    assert main(["backtest", "--data", str(path), "--out", str(tmp_path / "bt"), "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("data error: 'utf-8' codec can't decode") and err.count("\n") == 1


# --- 6. the COIN-M contract size ---------------------------------------------------------------------


def test_a_coin_m_file_whose_symbol_nothing_names_needs_its_contract_size(tmp_path: Path) -> None:
    """`--market cm` on a file whose name and rows do not say the symbol: refused, asking for
    `--contract-size` (10 USD guessed for a BTC file was a tenth of its quantities); given, or
    named for its symbol, it is read and the report says the contract size used."""
    path = write(tmp_path, "cm_btc_day.csv", [agg(1, 0, price="100000")])
    with pytest.raises(ImportError_, match=r"cm_btc_day\.csv: COIN-M .* give --contract-size"):
        read_trades(path, market=Market.COINM)
    trades, report = read_trades(path, market=Market.COINM, contract_size=100.0)
    assert trades["qty"].tolist() == [pytest.approx(10 * 100 / 100000)]
    assert report.contract_size == 100.0 and "COIN-M contracts of 100 USD" in report.summary()
    for name in ("BTCUSD_PERP-aggTrades.csv", "btcusd_perp_day.csv", "BTCUSDT-aggTrades-2025-10-10.csv"):
        trades, report = read_trades(write(tmp_path, name, [agg(1, 0, price="100000")]), market=Market.COINM)
        assert report.contract_size == 100.0 and trades["qty"].tolist() == [pytest.approx(0.01)], name
    with pytest.raises(ImportError_, match="contract size 0"):
        read_trades(path, market=Market.COINM, contract_size=0.0)
    spot, report = read_trades(path)  # nothing says COIN-M: spot, quantities as they are
    assert spot["qty"].tolist() == [10.0] and report.contract_size is None and report.market == Market.SPOT


def test_import_command_refuses_or_states_the_contract_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "cm_btc_day.csv", [agg(1, 0, price="100000")])
    assert main(["import", str(path), "--market", "cm", "--no-cache"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "not imported" in out and "give --contract-size" in out
    assert main(["import", str(path), "--market", "cm", "--contract-size", "100", "--no-cache"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "cm_btc_day.csv: COIN-M quantities converted from contracts of 100 USD" in out


def test_a_cached_load_keeps_the_market_and_contract_size(tmp_path: Path) -> None:
    path = write(tmp_path, "ETHUSD_PERP-aggTrades-2025-10-10.csv", [agg(1, 0, price="2000")])
    _, first, cached = load_trades(path, tmp_path / "cache")
    _, again, cached = load_trades(path, tmp_path / "cache")
    assert cached and (again.market, again.contract_size) == (first.market, first.contract_size)
    assert (again.market, again.contract_size) == (Market.COINM, 10.0)


# --- 7. klines line 1, bookDepth bands --------------------------------------------------------------


def test_a_malformed_first_klines_row_is_a_dropped_row_not_a_header(tmp_path: Path) -> None:
    kline = "{t},0.2,0.21,0.19,0.2,100,{c},20,5,40,8,0"
    good = [kline.format(t=T0 + i * 60_000, c=T0 + i * 60_000 + 59_999) for i in range(1, 3)]
    for first in (
        ",0.2,0.21,0.19,0.2,100,0,20,5,40,8,0",
        "x1760130000000,0.2,0.21,0.19,0.2,100,0,20,5,40,8,0",
    ):
        klines, report = read_klines(write(tmp_path, "k.csv", [first, *good]))
        assert len(klines) == 2 and report.rows == 3
        assert [(i.line, i.reason) for i in report.issues] == [(1, "malformed")], first
    header = "Open_Time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,x,ignore"
    klines, report = read_klines(write(tmp_path, "k.csv", [header, *good]))
    assert len(klines) == 2 and report.rows == 2 and report.dropped == 0


def test_book_depth_bands_with_decimals_are_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "d.csv",
        [
            "timestamp,percentage,depth,notional",
            "2025-10-10 21:00:00,-0.20,1.5,180000.0",
            "2025-10-10 21:00:00,-1,5.0,600000.0",
            "2025-10-10 21:00:00,0.20,1.2,145000.0",
            "2025-10-10 21:00:00,0.00,1.0,1.0",  # line 5: no band
        ],
    )
    depth, report = read_book_depth(path)
    assert depth["percentage"].tolist() == [-0.2, -1.0, 0.2]
    assert [i.line for i in report.issues] == [5]
