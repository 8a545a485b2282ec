"""Market data import rules the first test file left unchecked (each test here was checked to fail
under a mutation of `flashcrash.marketdata`): a dropped row never moves the time or id reference;
line numbers count blank lines; USD-M quantities stay as they are and an explicit contract size or
market wins; captures' aggressor side, aggTrade events and bad lines; klines and bookDepth
validation, their units and UTC times; the cache key (content, path, options) and the
cached report's line numbers; the 1-second boundary; the futures `pu` chain of a depth capture; the
download's reuse of a verified file."""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import time
import zipfile
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from flashcrash.marketdata import Market, TradeFormat, load_trades, read_trades, second_bars
from flashcrash.marketdata import cache as cache_module
from flashcrash.marketdata.depth import capture_books
from flashcrash.marketdata.download import daily_url, download
from flashcrash.marketdata.tables import read_book_depth, read_klines
from flashcrash.marketdata.trades import TRADE_DTYPE, ImportError_

T0 = 1_760_130_000_000  # 2025-10-10 21:00:00 UTC, in ms
AGG_HEADER = "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"


def write(tmp: Path, name: str, lines: list[str], newline: str = "\n") -> Path:
    path = tmp / name
    text = newline.join(lines) + newline
    if name.endswith(".gz"):
        with gzip.open(path, "wb") as f:
            f.write(text.encode())
    elif name.endswith(".zip"):
        with zipfile.ZipFile(path, "w") as z:
            z.writestr(name.replace(".zip", ".csv"), text)
    else:
        path.write_bytes(text.encode())
    return path


def agg(tid: int, dt_ms: int, price: str = "0.2", qty: str = "10", maker: str = "false") -> str:
    return f"{tid},{price},{qty},{tid},{tid},{T0 + dt_ms},{maker}"


# --- trades: validation against the previous *kept* row -------------------------------------------


def test_a_dropped_row_never_moves_the_time_or_id_reference(tmp_path: Path) -> None:
    """Time and id are checked against the previous kept row: a dropped row (NaN, zero price, a time
    step back) neither raises nor lowers the bar for the rows after it."""
    rows = [
        agg(10, 0),  # 1: kept
        agg(50, 5_000, price="nan"),  # 2: NaN, with a later time and a higher id: must not count
        agg(11, 1),  # 3: kept (11 > 10, time after the kept row's)
        agg(60, 9_000, price="0"),  # 4: zero price
        agg(12, -500),  # 5: time back
        agg(13, 0),  # 6: still before the kept row 3's time (the dropped row 5 is no reference)
        agg(14, 1),  # 7: kept (same time as row 3 is allowed)
        agg(14, 2),  # 8: duplicate id
        agg(13, 2),  # 9: id step back
        agg(15, 2),  # 10: kept
    ]
    trades, report = read_trades(write(tmp_path, "a.csv", rows))
    assert trades["id"].tolist() == [10, 11, 14, 15]
    assert [(i.line, i.reason.split(" (")[0]) for i in report.issues] == [
        (2, "NaN or infinite"),
        (4, "price not positive"),
        (5, "time before the previous row"),
        (6, "time before the previous row"),
        (8, "id not above the previous row"),
        (9, "id not above the previous row"),
    ]
    assert (report.rows, report.kept, report.dropped) == (10, 4, 6)


@pytest.mark.parametrize("name", ["b.csv", "b.csv.gz", "b.zip"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_line_numbers_count_the_header_and_blank_lines(tmp_path: Path, name: str, newline: str) -> None:
    """A dropped row's line is its line in the decompressed file: the header and blank lines count,
    whatever the compression and line ending."""
    rows = [AGG_HEADER, agg(1, 0), "", agg(2, 1, qty="-3"), "", "", agg(3, 2, price="inf"), agg(4, 3)]
    trades, report = read_trades(write(tmp_path, name, rows, newline))
    assert trades["id"].tolist() == [1, 4]
    assert [i.line for i in report.issues] == [4, 7]


def test_header_row_is_skipped_when_the_format_is_given(tmp_path: Path) -> None:
    """`--format` names the format; a header row is still a header, not a malformed trade."""
    path = write(tmp_path, "h.csv", [AGG_HEADER, agg(1, 0), agg(2, 1)])
    trades, report = read_trades(path, fmt=TradeFormat.AGG_TRADES)
    assert trades["id"].tolist() == [1, 2] and report.dropped == 0 and report.rows == 2


def test_a_leading_blank_line_does_not_hide_the_header(tmp_path: Path) -> None:
    """The header and the format are read from the first non-blank line, not from line 1 only."""
    trades, report = read_trades(write(tmp_path, "h.csv", ["", AGG_HEADER, agg(1, 0), agg(2, 1, qty="0")]))
    assert trades["id"].tolist() == [1]
    assert [(i.line, i.reason) for i in report.issues] == [(4, "quantity not positive")]


def test_a_headerless_tardis_file_is_read_whole(tmp_path: Path) -> None:
    """A Tardis file without its header row starts with its exchange's name, as a header would: its
    first trade is read, not taken for a header (refused as "unknown header", or with `--format
    tardis` dropped without a line number)."""
    rows = [
        f"binance,POLUSDT,{T0 * 1000 + i},{T0 * 1000 + i + 3},{100 + i},{side},0.2361,47.8"
        for i, side in enumerate(("buy", "buy", "sell"))
    ]
    for fmt in (None, TradeFormat.TARDIS):
        trades, report = read_trades(write(tmp_path, "t.csv", rows), fmt=fmt)
        assert trades["id"].tolist() == [100, 101, 102] and report.rows == 3, fmt


# --- trades: markets, contract sizes, aggressor side ----------------------------------------------


def test_usdm_quantities_are_base_units_not_contracts(tmp_path: Path) -> None:
    """USD-M futures quantities are in the base asset: no contract conversion, for aggTrades and trades."""
    path = write(tmp_path, "BTCUSDT-aggTrades-2025-10-10.csv", [agg(1, 0, price="100000.0", qty="3")])
    trades, _ = read_trades(path, market=Market.USDM)
    assert trades["qty"].tolist() == [3.0]
    rows = ["id,price,qty,quote_qty,time,is_buyer_maker", f"1,100000.0,0.5,50000.0,{T0},true"]
    trades, _ = read_trades(write(tmp_path, "um_trades.csv", rows), market=Market.USDM)
    assert trades["qty"].tolist() == [0.5] and trades["buy"].tolist() == [False]


def test_contract_size_given_wins_and_the_tardis_rows_symbol_sets_the_default(tmp_path: Path) -> None:
    """COIN-M contracts: an explicit contract size is used as given; otherwise a Tardis row's symbol
    chooses it (BTC 100 USD, others 10), whatever the file is called."""
    path = write(tmp_path, "ETHUSD_PERP-aggTrades.csv", [agg(1, 0, price="2000.0", qty="4")])
    trades, _ = read_trades(path, market=Market.COINM, contract_size=5.0)
    assert math.isclose(trades["qty"][0], 4 * 5 / 2000)
    trades, _ = read_trades(path, market=Market.COINM)
    assert math.isclose(trades["qty"][0], 4 * 10 / 2000)
    tardis = [
        "exchange,symbol,timestamp,local_timestamp,id,side,price,amount",
        f"binance-delivery,BTCUSD_PERP,{T0 * 1000},{T0 * 1000 + 7},1,buy,100000.0,3",
    ]
    trades, report = read_trades(write(tmp_path, "ethusd_named.csv", tardis))
    assert math.isclose(trades["qty"][0], 3 * 100 / 100000.0) and report.symbol == "BTCUSD_PERP"


def test_an_explicit_market_wins_over_the_tardis_exchange(tmp_path: Path) -> None:
    """`market` is detected only when not given: a `binance-delivery` file read as USD-M keeps its amounts."""
    tardis = [
        "exchange,symbol,timestamp,local_timestamp,id,side,price,amount",
        f"binance-delivery,ATOMUSD_PERP,{T0 * 1000},{T0 * 1000 + 7},1,sell,4.0,12",
    ]
    path = write(tmp_path, "t.csv", tardis)
    assert read_trades(path, market=Market.USDM)[0]["qty"].tolist() == [12.0]
    assert math.isclose(read_trades(path)[0]["qty"][0], 12 * 10 / 4.0)


def _capture_line(stamp: int, data: dict, stream: str = "xusdt@trade") -> str:
    return f"{stamp} " + json.dumps({"stream": stream, "data": data})


def test_capture_trades_aggressor_side_trade_time_and_bad_lines(tmp_path: Path) -> None:
    """Capture `trade` events: `m` true (buyer is maker) means a sell aggressor; the time is the trade
    time `T`, not the event time `E`; a line that is not JSON is dropped with its line number; other
    events are not rows."""
    base = {"e": "trade", "s": "XUSDT", "p": "100.5", "q": "0.25", "M": True}
    lines = [
        _capture_line(1, {"e": "depthUpdate", "E": T0, "s": "XUSDT", "U": 1, "u": 2, "b": [], "a": []}),
        _capture_line(2, {**base, "E": T0 + 9, "T": T0 + 3, "t": 7, "m": True}),
        '3 {"stream":"xusdt@trade","data":{"e":"trade","E":',  # cut short by the recorder
        _capture_line(4, {**base, "E": T0 + 12, "T": T0 + 10, "t": 8, "m": False}),
    ]
    trades, report = read_trades(write(tmp_path, "cap.gz", lines))
    assert trades["id"].tolist() == [7, 8]
    assert trades["buy"].tolist() == [False, True]
    assert trades["ts_ns"].tolist() == [(T0 + 3) * 1_000_000, (T0 + 10) * 1_000_000]
    assert [i.line for i in report.issues] == [3] and report.issues[0].reason.startswith("malformed")
    assert (report.rows, report.kept, report.symbol) == (3, 2, "XUSDT")


def test_capture_aggtrade_events(tmp_path: Path) -> None:
    """Capture `aggTrade` events are trades too, with the aggregate id `a`."""
    lines = [
        _capture_line(
            1,
            {"e": "aggTrade", "E": T0 + 1, "s": "XUSDT", "a": 500, "p": "2.5", "q": "4", "f": 9, "l": 11}
            | {"T": T0, "m": False},
            "xusdt@aggTrade",
        ),
        _capture_line(
            2,
            {"e": "aggTrade", "E": T0 + 2, "s": "XUSDT", "a": 501, "p": "2.4", "q": "1", "f": 12, "l": 12}
            | {"T": T0 + 2, "m": True},
            "xusdt@aggTrade",
        ),
    ]
    trades, report = read_trades(write(tmp_path, "agg_cap.txt", lines))
    assert trades.tolist() == [
        (T0 * 1_000_000, 500, 2.5, 4.0, True),
        ((T0 + 2) * 1_000_000, 501, 2.4, 1.0, False),
    ]
    assert report.dropped == 0


# --- times and ids out of range -------------------------------------------------------------------


def test_trade_times_and_ids_out_of_range_are_dropped_not_raised(tmp_path: Path) -> None:
    """A time outside 2009..2100 (once read as ms, µs or ns by its size) or an id beyond int64 is a
    dropped row with its line and reason, never an OverflowError; times in µs and ns in range still
    pass the unit detection."""
    rows = [
        AGG_HEADER,
        agg(1, 0),  # 2: kept
        "2,0.2,10,2,2,99999999999999,false",  # 3: ms that overflow int64 ns
        f"{2**63},0.2,10,3,3,{T0 + 1},false",  # 4: id beyond int64
        "4,0.2,10,4,4,1230767999999,false",  # 5: 2008-12-31T23:59:59.999Z
        "5,0.2,10,5,5,4102444800000,false",  # 6: 2100-01-01T00:00:00Z, the first time out
        f"6,0.2,10,6,6,{(T0 + 2) * 1000},false",  # 7: kept, µs
        f"7,0.2,10,7,7,{(T0 + 3) * 1_000_000},false",  # 8: kept, ns
    ]
    trades, report = read_trades(write(tmp_path, "a.csv", rows))
    assert trades["id"].tolist() == [1, 6, 7]
    assert trades["ts_ns"].tolist() == [T0 * 10**6, (T0 + 2) * 10**6, (T0 + 3) * 10**6]
    assert [(i.line, i.reason) for i in report.issues] == [
        (3, "time out of range"),
        (4, "id out of range"),
        (5, "time out of range"),
        (6, "time out of range"),
    ]
    assert (report.rows, report.kept, report.dropped) == (7, 3, 4)
    tardis = [
        "exchange,symbol,timestamp,local_timestamp,id,side,price,amount",
        f"binance,XUSDT,{T0 * 1000},{T0 * 1000},{2**64},buy,1.0,1",  # 2: id beyond int64
        f"binance,XUSDT,{10**30},{T0 * 1000},2,buy,1.0,1",  # 3: time beyond int64
        f"binance,XUSDT,{T0 * 1000},{T0 * 1000},3,buy,1.0,1",  # 4: kept
    ]
    trades, report = read_trades(write(tmp_path, "t.csv", tardis))
    assert trades["id"].tolist() == [3]
    assert [(i.line, i.reason) for i in report.issues] == [(2, "id out of range"), (3, "time out of range")]
    plain = [f"1,1.0,1,1.0,{T0},true", "2,1.0,1,1.0,99999999999999,true", f"{2**63},1.0,1,1.0,{T0 + 1},true"]
    trades, report = read_trades(write(tmp_path, "p.csv", plain), fmt=TradeFormat.TRADES)
    assert trades["id"].tolist() == [1]
    assert [(i.line, i.reason) for i in report.issues] == [(2, "time out of range"), (3, "id out of range")]


def test_capture_trade_with_an_infinite_or_huge_time_or_id_is_dropped(tmp_path: Path) -> None:
    """A capture trade whose `T` is a JSON number such as 1e999 (infinite once read) or past 2100, or
    whose id is infinite, is dropped and counted like any bad line; the trades around it are kept."""
    base = {"e": "trade", "s": "XUSDT", "p": "1.5", "q": "2", "m": True}
    lines = [
        _capture_line(1, {**base, "E": T0, "T": T0, "t": 1}),
        _capture_line(2, {**base, "E": T0, "T": 0, "t": 2}).replace('"T": 0', '"T": 1e999'),
        _capture_line(3, {**base, "E": T0, "T": 99999999999999, "t": 3}),
        _capture_line(4, {**base, "E": T0, "T": T0 + 1, "t": 0}).replace('"t": 0', '"t": 1e999'),
        _capture_line(5, {**base, "E": T0, "T": T0 + 2, "t": 5}),
    ]
    trades, report = read_trades(write(tmp_path, "cap.txt", lines))
    assert trades["id"].tolist() == [1, 5]
    assert [(i.line, i.reason) for i in report.issues] == [
        (2, "time out of range"),
        (3, "time out of range"),
        (4, "id out of range"),
    ]
    assert (report.rows, report.kept, report.dropped) == (5, 2, 3)


def test_klines_and_book_depth_times_out_of_range_are_dropped(tmp_path: Path) -> None:
    """A kline whose open time is past int64 ns (or before 2009) or whose count is past int64, and a
    bookDepth row of 9999-12-31 (or 2008), are dropped with their line and reason."""
    rows = [
        KLINE_HEADER,
        kline(T0, "1", "2", "1", "2"),  # 2: kept
        kline(99_999_999_999_999, "1", "2", "1", "2"),  # 3
        kline(1_000_000_000_000, "1", "2", "1", "2"),  # 4: 2001
        kline(T0 + 60_000, "1", "2", "1", "2").replace(",7,", f",{2**63},"),  # 5: the trade count
        kline(T0 + 120_000, "1", "2", "1", "2"),  # 6: kept
    ]
    k, report = read_klines(write(tmp_path, "k.csv", rows))
    assert k["open_ns"].tolist() == [T0 * 10**6, (T0 + 120_000) * 10**6]
    assert [(i.line, i.reason) for i in report.issues] == [
        (3, "time out of range"),
        (4, "time out of range"),
        (5, "count out of range"),
    ]
    assert (report.rows, report.kept, report.dropped) == (5, 2, 3)
    depth_rows = [*BOOK_DEPTH[:2], "9999-12-31 23:59:59,1,10.0,100.0", "2008-12-31 23:59:59,2,1.0,1.0"]
    depth, report = read_book_depth(write(tmp_path, "d.csv", depth_rows))
    assert depth["ts_ns"].tolist() == [1_760_130_000 * 10**9]
    assert [(i.line, i.reason) for i in report.issues] == [(3, "time out of range"), (4, "time out of range")]
    assert (report.rows, report.kept, report.dropped) == (3, 1, 2)


# --- klines and bookDepth -------------------------------------------------------------------------

KLINE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
    "taker_buy_quote_volume,ignore"
)


def kline(open_ms: int, o: str, h: str, lo: str, c: str, taker: str = "2.0") -> str:
    return f"{open_ms},{o},{h},{lo},{c},5.0,{open_ms + 59_999},500.0,7,{taker},200.0,0"


def test_klines_bad_rows_reported_by_line_and_columns_mapped(tmp_path: Path) -> None:
    """Klines: high/low must bound open and close, open times must rise strictly, NaN and malformed
    rows are dropped, each reported by its line; `taker_buy_volume` is the tenth column (not the quote
    one)."""
    rows = [
        KLINE_HEADER,
        kline(T0, "100", "110", "95", "105", taker="2.5"),  # 2: kept
        kline(T0 + 60_000, "100", "104", "95", "105"),  # 3: close above high
        kline(T0 + 60_000, "100", "110", "101", "105"),  # 4: low above open
        kline(T0, "100", "110", "95", "105"),  # 5: same open time as line 2
        kline(T0 + 60_000, "nan", "110", "95", "105"),  # 6
        f"{T0 + 60_000},100,110,95",  # 7: too few columns
        kline(T0 + 60_000, "105", "106", "99", "100", taker="1.5"),  # 8: kept
    ]
    k, report = read_klines(write(tmp_path, "k.csv", rows))
    assert k.tolist() == [
        (T0 * 1_000_000, 100.0, 110.0, 95.0, 105.0, 5.0, 7, 2.5),
        ((T0 + 60_000) * 1_000_000, 105.0, 106.0, 99.0, 100.0, 5.0, 7, 1.5),
    ]
    assert [i.line for i in report.issues] == [3, 4, 5, 6, 7]
    assert (report.rows, report.kept, report.dropped) == (7, 2, 5)


def test_klines_in_microseconds(tmp_path: Path) -> None:
    """Binance spot klines are in µs since 2025: the same open time as ms klines, in ns."""
    rows = [
        kline(T0 * 1000, "1", "2", "1", "2"),
        kline((T0 + 1000) * 1000, "2", "2", "1", "1"),
    ]
    k, report = read_klines(write(tmp_path, "BTCUSDT-1s-2025-10-10.zip", rows))
    assert report.dropped == 0
    assert k["open_ns"].tolist() == [T0 * 1_000_000, (T0 + 1000) * 1_000_000]


BOOK_DEPTH = [
    "timestamp,percentage,depth,notional",
    "2025-10-10 21:00:00,-1,10.5,1150000.0",  # 2: kept
    " 2025-10-10 21:00:00, 1,12.0,1400000.0",  # 3: kept (stray leading spaces, as in the real file)
    "2025-10-10 21:00:00,0,1.0,100.0",  # 4: no 0 % band
    "2025-10-10 21:00:00,6,1.0,100.0",  # 5: beyond 5 %
    "2025-10-10 21:00:00,-2,1.0,-100.0",  # 6: negative notional
    "2025-10-10 21:00:00,-3,-1.0,100.0",  # 7: negative depth
    "2025-10-10 21:00:00,-4,nan,100.0",  # 8
    "2025-10-10T21:00:30,-1,1.0,100.0",  # 9: not the file's time format
    "2025-10-10 21:00:30,-5,0.0,0.0",  # 10: kept (an empty band)
]


def test_book_depth_bad_rows_and_utc_times(tmp_path: Path) -> None:
    """bookDepth: bands -5..-1 and 1..5 only, no negative depth or notional, NaN and malformed rows
    dropped by line; the text times are UTC, in ns."""
    depth, report = read_book_depth(write(tmp_path, "d.csv.gz", BOOK_DEPTH))
    at = 1_760_130_000 * 1_000_000_000
    assert depth.tolist() == [
        (at, -1, 10.5, 1_150_000.0),
        (at, 1, 12.0, 1_400_000.0),
        (at + 30 * 1_000_000_000, -5, 0.0, 0.0),
    ]
    assert [i.line for i in report.issues] == [4, 5, 6, 7, 8, 9]
    assert (report.rows, report.kept) == (9, 3)


def test_klines_and_book_depth_rows_with_an_empty_first_field_are_reported(tmp_path: Path) -> None:
    """A row whose first field (the time) is empty is a bad row, dropped and reported by its line;
    only blank lines are skipped."""
    rows = [
        KLINE_HEADER,
        kline(T0, "1", "2", "1", "2"),
        "",
        "," + kline(T0 + 60_000, "1", "2", "1", "2")[14:],
    ]
    k, report = read_klines(write(tmp_path, "k.csv", rows))
    assert len(k) == 1 and [i.line for i in report.issues] == [4] and report.rows == 2
    depth, report = read_book_depth(write(tmp_path, "d.csv", [*BOOK_DEPTH[:2], "", ",-2,1.0,100.0"]))
    assert len(depth) == 1 and [i.line for i in report.issues] == [4] and report.rows == 2


def test_book_depth_times_do_not_depend_on_the_local_timezone(tmp_path: Path, monkeypatch) -> None:
    """The bookDepth time is UTC even when the machine's zone is not."""
    path = write(tmp_path, "d.csv", BOOK_DEPTH[:2])
    try:
        monkeypatch.setenv("TZ", "America/New_York")
        time.tzset()
        depth, _ = read_book_depth(path)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert depth["ts_ns"].tolist() == [1_760_130_000 * 1_000_000_000]


# --- the cache ------------------------------------------------------------------------------------


def test_cache_is_not_served_for_a_same_size_edit(tmp_path: Path) -> None:
    """An edit that keeps the file's size (one digit changed) is not served from the cache."""
    src = write(tmp_path, "a.csv", [agg(1, 0, price="0.21"), agg(2, 1)])
    cache = tmp_path / "cache"
    assert load_trades(src, cache)[0]["price"].tolist() == [0.21, 0.2]
    before = src.stat().st_mtime_ns
    write(tmp_path, "a.csv", [agg(1, 0, price="0.22"), agg(2, 1)])
    os.utime(src, ns=(before + 1_000_000_000, before + 1_000_000_000))  # a later edit, same size
    trades, _, cached = load_trades(src, cache)
    assert not cached and trades["price"].tolist() == [0.22, 0.2]


def test_cache_is_not_served_when_the_size_changes_but_the_time_does_not(tmp_path: Path) -> None:
    """A file whose size changed is re-read even when its modification time was kept (copied with
    `cp -p`, extracted from an archive)."""
    src = write(tmp_path, "a.csv", [agg(1, 0), agg(2, 1)])
    cache = tmp_path / "cache"
    load_trades(src, cache)
    st = src.stat()
    write(tmp_path, "a.csv", [agg(1, 0), agg(2, 1), agg(3, 2)])
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))
    trades, _, cached = load_trades(src, cache)
    assert not cached and trades["id"].tolist() == [1, 2, 3]


def test_cache_is_per_path_and_per_import_options(tmp_path: Path) -> None:
    """Two files of the same name, size and time in different folders have their own caches, and
    so do the same file's imports with different options (market, contract size, format)."""
    cache = tmp_path / "cache"
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    x = write(tmp_path / "x", "ETHUSD_PERP-aggTrades.csv", [agg(1, 0, price="2000.0", qty="4")])
    y = write(tmp_path / "y", "ETHUSD_PERP-aggTrades.csv", [agg(1, 0, price="3000.0", qty="4")])
    st = x.stat()
    os.utime(y, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert load_trades(x, cache)[0]["price"].tolist() == [2000.0]
    assert load_trades(y, cache)[0]["price"].tolist() == [3000.0]
    assert load_trades(x, cache, market=Market.COINM)[0]["qty"].tolist() == [4 * 10 / 2000]
    assert load_trades(x, cache, market=Market.COINM, contract_size=5.0)[0]["qty"].tolist() == [4 * 5 / 2000]
    trades, _, cached = load_trades(x, cache)
    assert cached and trades["qty"].tolist() == [4.0]


def test_a_cache_written_by_other_parsing_rules_is_not_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache is keyed by the parser's own code: once `trades.py` (or `report.py`) changes, a
    cache the earlier code wrote is not served (a version number bumped by hand was forgotten once,
    and a file the new rules read whole was served as the old rules had read it: empty)."""
    cache = tmp_path / "cache"
    src = write(tmp_path, "ETHUSD_PERP-aggTrades.csv", [agg(1, 0, price="2000.0", qty="4")])
    assert not load_trades(src, cache)[2] and load_trades(src, cache)[2]
    monkeypatch.setattr(cache_module, "PARSER_DIGEST", "the rules of another version")
    assert not load_trades(src, cache)[2]


def test_a_cached_load_reports_the_dropped_rows_lines(tmp_path: Path) -> None:
    """The report of a cached load is the one written when the file was parsed: the dropped rows
    keep their line numbers and reasons, not only their count."""
    src = write(tmp_path, "a.csv", [AGG_HEADER, agg(1, 0), agg(2, 1, price="nan"), agg(3, 2), agg(3, 3)])
    cache = tmp_path / "cache"
    _, first, cached = load_trades(src, cache)
    assert not cached and (first.issues[0].line, first.issues[0].reason) == (3, "NaN or infinite")
    _, again, cached = load_trades(src, cache)
    assert cached
    assert again.issues == first.issues and again.by_reason == first.by_reason
    assert [i.line for i in again.issues] == [3, 5]


# --- 1-second bars --------------------------------------------------------------------------------


def test_second_bars_boundaries_and_order() -> None:
    """A bar holds [start, start + 1 s): a trade 1 ns before the second is in the earlier bar, one at
    the second exactly in the later; open is the bar's first trade, close its last."""
    s = 1_000_000_000
    trades = np.array(
        [
            (5 * s, 1, 10.0, 1.0, True),
            (5 * s + 1, 2, 12.0, 2.0, False),
            (6 * s - 1, 3, 11.0, 4.0, True),
            (6 * s, 4, 9.0, 8.0, False),
        ],
        dtype=TRADE_DTYPE,
    )
    assert second_bars(trades).tolist() == [
        (5 * s, 10.0, 12.0, 10.0, 11.0, 7.0, 5.0, 3),
        (6 * s, 9.0, 9.0, 9.0, 9.0, 8.0, 0.0, 1),
    ]
    assert second_bars(trades[:3]).tolist() == [(5 * s, 10.0, 12.0, 10.0, 11.0, 7.0, 5.0, 3)]


# --- depth captures -------------------------------------------------------------------------------


def _depth_capture(tmp_path: Path, lines: list[str]) -> Path:
    snap = {
        "lastUpdateId": 100,
        "bids": [["10.0", "1"], ["9.9", "2"]],
        "asks": [["10.1", "1"], ["10.2", "2"]],
    }
    path = tmp_path / "depth.txt"
    path.write_text("\n".join([f"999 {json.dumps(snap)}", *lines]) + "\n")
    return path


def _diff(stamp: int, symbol: str = "XUSDT", **fields) -> str:
    data = {"e": "depthUpdate", "E": T0 + stamp, "s": symbol, "b": [], "a": [], **fields}
    return f"{stamp} " + json.dumps({"stream": f"{symbol.lower()}@depth", "data": data})


def test_futures_depth_events_chain_on_pu(tmp_path: Path) -> None:
    """Futures diffs chain on `pu` (the previous event's `u`), not on `U`; an event with
    `u < lastUpdateId` is stale, one with `u == lastUpdateId` the first applied (Binance's futures
    procedure: U <= lastUpdateId <= u); another symbol's diffs and non-JSON lines are not applied,
    the latter reported by line; each book keeps the line's receive time."""
    lines = [
        _diff(1000, U=90, u=99, pu=89),  # line 2: u < lastUpdateId: stale
        _diff(1001, U=95, u=100, pu=99, b=[["9.95", "3"]]),  # 3: u == lastUpdateId: first applied
        "1002 {not json",  # 4
        _diff(1003, symbol="YUSDT", U=500, u=501, pu=400, b=[["11.0", "1"]]),  # 5: other symbol
        _diff(1004, U=110, u=112, pu=100, a=[["10.1", "0"]]),  # 6: U skips, pu chains: applied
        _diff(1005, U=120, u=121, pu=111),  # 7: pu breaks the chain: the books stop
    ]
    books, report = capture_books(_depth_capture(tmp_path, lines))  # XUSDT: the first seen
    assert [b.update_id for b in books] == [100, 112]
    assert books[1].bids == ((10.0, 1.0), (9.95, 3.0), (9.9, 2.0)) and books[1].asks == ((10.2, 2.0),)
    assert [b.local_ts_ns for b in books] == [1001, 1004]
    assert [b.exchange_ts_ns for b in books] == [(T0 + 1001) * 1_000_000, (T0 + 1004) * 1_000_000]
    assert "line 7" in report.stopped
    assert [(i.line, i.reason.split(" (")[0]) for i in report.issues] == [(2, "stale"), (4, "not JSON")]


def test_depth_events_with_ids_or_times_out_of_range_are_dropped(tmp_path: Path) -> None:
    """A diff whose `U` is infinite (1e999) or whose `u` is past int64 is dropped as "id out of range",
    one whose event time is past int64 ns as "time out of range", and the sync goes on with the next
    event; a receive time past int64 leaves the event time as the book's local time. A snapshot whose
    `lastUpdateId` is infinite is a file that cannot be read, not a crash."""
    lines = [
        _diff(1000, U=0, u=101).replace('"U": 0', '"U": 1e999'),  # 2
        _diff(1001, U=101, u=2**64),  # 3
        _diff(1002, U=101, u=102).replace(f'"E": {T0 + 1002}', '"E": 99999999999999'),  # 4
        _diff(1003, U=101, u=102, b=[["9.95", "3"]]).replace("1003 ", f"{2**63} ", 1),  # 5: applied
        _diff(1004, U=103, u=103),  # 6: applied
    ]
    books, report = capture_books(_depth_capture(tmp_path, lines))
    assert [b.update_id for b in books] == [102, 103] and not report.stopped
    assert [b.local_ts_ns for b in books] == [(T0 + 1003) * 1_000_000, 1004]
    assert [(i.line, i.reason) for i in report.issues] == [
        (2, "id out of range"),
        (3, "id out of range"),
        (4, "time out of range"),
    ]
    assert (report.rows, report.applied, report.dropped) == (5, 2, 3)
    bad = tmp_path / "bad_snapshot.txt"
    bad.write_text('1 {"lastUpdateId":1e999,"bids":[["1.0","1"]],"asks":[["2.0","1"]]}\n')
    with pytest.raises(ImportError_, match="line 1: bad REST snapshot: lastUpdateId out of range"):
        capture_books(bad)


# --- download -------------------------------------------------------------------------------------


def test_download_keeps_a_verified_file_and_reads_binary_mode_checksums(tmp_path: Path) -> None:
    """A file already there with the published digest is not fetched again; a `.CHECKSUM` line in
    binary mode (`<sha256> *<name>`) is read too."""
    payload = b"PK\x03\x04 not really a zip"
    url = daily_url(Market.USDM, "bookDepth", "BTCUSDT", date(2025, 10, 10))
    name = url.rsplit("/", 1)[1]
    checksum = f"{hashlib.sha256(payload).hexdigest()} *{name}\n".encode()
    fetched: list[str] = []

    def fetch(u: str, _timeout: float) -> bytes:
        fetched.append(u)
        return checksum if u.endswith(".CHECKSUM") else payload

    assert download(url, tmp_path, fetch=fetch).read_bytes() == payload
    assert download(url, tmp_path, fetch=fetch).read_bytes() == payload
    assert fetched == [url + ".CHECKSUM", url, url + ".CHECKSUM"]
