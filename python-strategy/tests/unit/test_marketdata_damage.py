"""Import of damaged and unusual files (each test here failed before its rule): a cut-short gzip or a
broken zip is an error naming the last line, not a crash nor a partial file; a UTF-8 byte-order mark
hides no row; COIN-M told from a capture's symbol and from a `base_qty` column; one row far ahead
is the one dropped, not every row after it; a capture's trades of another symbol or stream are
dropped, and a line of no format before a capture's first event; the cache follows the file's content and survives a damaged cache file; a headerless spot
`trades` file is told from aggTrades by where its booleans are; a COIN-M price of zero says so;
bookDepth times going back and percentages given twice, and klines with more taker buy volume than
volume, are dropped."""

from __future__ import annotations

import gzip
import json
import math
import os
from pathlib import Path

import pytest

from flashcrash.marketdata import load_trades, read_trades
from flashcrash.marketdata.tables import read_book_depth, read_klines
from flashcrash.marketdata.trades import ImportError_

T0 = 1_760_130_000_000  # 2025-10-10 21:00:00 UTC, in ms
AGG_HEADER = "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"


def agg(tid: int, dt_ms: int, price: str = "0.2") -> str:
    return f"{tid},{price},10,{tid},{tid},{T0 + dt_ms},false"


def rows(n: int) -> list[str]:
    return [agg(i, i) for i in range(1, n + 1)]


def test_a_cut_short_gzip_is_an_error_naming_the_last_line(tmp_path: Path) -> None:
    whole = gzip.compress(("\n".join(rows(20_000)) + "\n").encode())
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ImportError_, match=r"cut\.csv\.gz: damaged or cut short after line \d+"):
        read_trades(path)


def test_a_broken_zip_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "X-aggTrades-2025-10-10.zip"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ImportError_, match="damaged or cut short"):
        read_trades(path)


def test_a_byte_order_mark_hides_no_row(tmp_path: Path) -> None:
    bom = "\ufeff"
    trades_path = tmp_path / "a.csv"
    trades_path.write_text(bom + "\n".join(rows(3)) + "\n", encoding="utf-8")
    trades, report = read_trades(trades_path)
    assert trades["id"].tolist() == [1, 2, 3] and report.dropped == 0

    kline = "{t},0.2,0.21,0.19,0.2,100,{c},20,5,40,8,0"
    klines_path = tmp_path / "k.csv"
    lines = [kline.format(t=T0 + i * 60_000, c=T0 + i * 60_000 + 59_999) for i in range(3)]
    klines_path.write_text(bom + "\n".join(lines) + "\n", encoding="utf-8")
    klines, report = read_klines(klines_path)
    assert len(klines) == 3 and report.rows == 3 and report.dropped == 0

    depth_path = tmp_path / "d.csv"
    depth_path.write_text(
        bom + "timestamp,percentage,depth,notional\n2025-10-10 21:00:00,-1,5.0,100.0\n", encoding="utf-8"
    )
    depth, report = read_book_depth(depth_path)
    assert len(depth) == 1 and report.dropped == 0


def test_coin_m_is_told_from_a_capture_symbol_and_from_a_base_qty_column(tmp_path: Path) -> None:
    trade = {"e": "trade", "E": T0, "T": T0, "s": "BTCUSD_PERP", "t": 1, "p": "61800", "q": "10", "m": True}
    cap = tmp_path / "capture.gz"
    with gzip.open(cap, "wt") as f:
        f.write(f"1 {json.dumps({'stream': 'btcusd_perp@trade', 'data': trade})}\n")
    trades, _ = read_trades(cap)
    assert math.isclose(trades["qty"][0], 10 * 100 / 61800)  # contracts of 100 USD, not 10 BTC

    cm = tmp_path / "renamed.csv"
    cm.write_text(
        f"id,price,qty,base_qty,time,is_buyer_maker\n1,3.973,12,30.2039,{T0},false\n", encoding="utf-8"
    )
    trades, _ = read_trades(cm)
    assert trades["qty"].tolist() == [30.2039]  # the base quantity column, not 12 contracts


@pytest.mark.parametrize("column", ["time", "id"])
def test_one_row_far_ahead_is_dropped_not_every_row_after_it(tmp_path: Path, column: str) -> None:
    lines = [AGG_HEADER, *rows(9)]
    far = agg(3, 365 * 86_400_000) if column == "time" else agg(10**12, 3)
    lines[3] = far  # line 4 (the third row): a year ahead, or an id far ahead
    trades, report = read_trades_of(tmp_path, lines)
    assert trades["id"].tolist() == [1, 2, 4, 5, 6, 7, 8, 9]
    assert [(i.line, i.reason.split(" (")[0]) for i in report.issues] == [
        (4, "out of order with the rows after it")
    ]


def test_a_single_step_back_is_still_the_row_dropped(tmp_path: Path) -> None:
    lines = [AGG_HEADER, agg(1, 0), agg(2, 5), agg(3, 2), agg(4, 6), agg(5, 7)]  # line 4 goes back
    trades, report = read_trades_of(tmp_path, lines)
    assert trades["id"].tolist() == [1, 2, 4, 5]
    assert [(i.line, i.reason) for i in report.issues] == [(4, "time before the previous row")]


def read_trades_of(tmp_path: Path, lines: list[str]):
    path = tmp_path / "t.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return read_trades(path)


def test_capture_trades_of_another_symbol_or_stream_are_dropped(tmp_path: Path) -> None:
    def line(stamp: int, data: dict) -> str:
        return f"{stamp} {json.dumps({'stream': 'x', 'data': data})}"

    base = {"E": T0, "p": "60000", "q": "0.1", "m": False}
    lines = [
        line(1, {**base, "e": "trade", "s": "BTCUSDT", "T": T0, "t": 10}),
        line(2, {**base, "e": "trade", "s": "ETHUSDT", "T": T0 + 1, "t": 11, "p": "2600"}),
        line(3, {**base, "e": "aggTrade", "s": "BTCUSDT", "T": T0 + 2, "a": 5}),
        line(4, {**base, "e": "trade", "s": "BTCUSDT", "T": T0 + 3, "t": 12}),
    ]
    path = tmp_path / "cap.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    trades, report = read_trades(path)
    assert trades["id"].tolist() == [10, 12] and trades["price"].tolist() == [60000.0, 60000.0]
    assert [i.line for i in report.issues] == [2, 3]
    assert report.issues[0].reason == "ETHUSDT trade, not the capture's BTCUSDT trade"


def test_a_capture_behind_a_line_of_no_format_is_read(tmp_path: Path) -> None:
    """A recorder's log line, or an event cut in half, before a capture's first event is dropped by
    its line number and the capture is read (it was unreadable whole); before a CSV row, or alone,
    such a line still stops the file, naming it."""
    base = {"E": T0, "p": "60000", "q": "0.1", "m": False, "e": "trade", "s": "BTCUSDT"}
    events = [
        f"{n} {json.dumps({'stream': 'x', 'data': {**base, 'T': T0 + n, 't': 10 + n}})}" for n in (1, 2)
    ]
    for first in (
        "recording wss://stream.binance.com:9443/stream?streams=btcusdt@trade",
        '60000","q":"0.1"}}',
        '0000000,"s":"BTCUSDT","t":1,"p":"6","q":"1","T":1,"m":true,"M":true}',
    ):
        path = tmp_path / "cap.txt"
        path.write_text("\n".join(["", first, *events]) + "\n", encoding="utf-8")
        trades, report = read_trades(path)
        assert trades["id"].tolist() == [11, 12]
        assert [i.line for i in report.issues] == [2] and report.issues[0].reason.startswith(
            "not a capture's line"
        )
        assert report.rows == 3 and report.kept == 2
    for lines in (["recording ...", agg(1, 0)], ["recording ..."]):
        path = tmp_path / "agg.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        with pytest.raises(ImportError_, match="unknown header: recording"):
            read_trades(path)


def test_the_cache_follows_the_content_not_the_size_and_time(tmp_path: Path) -> None:
    src = tmp_path / "a.csv"
    src.write_text("\n".join([agg(1, 0, price="0.3"), agg(2, 1)]) + "\n", encoding="utf-8")
    cache = tmp_path / "cache"
    load_trades(src, cache)
    st = src.stat()
    src.write_text("\n".join([agg(1, 0, price="9.9"), agg(2, 1)]) + "\n", encoding="utf-8")
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size, the old time put back
    trades, _, cached = load_trades(src, cache)
    assert not cached and trades["price"].tolist() == [9.9, 0.2]


def test_a_damaged_cache_file_is_read_again_from_the_source(tmp_path: Path) -> None:
    src = tmp_path / "a.csv"
    src.write_text("\n".join(rows(3)) + "\n", encoding="utf-8")
    cache = tmp_path / "cache"
    load_trades(src, cache)
    (npz,) = cache.glob("*.npz")
    npz.write_bytes(npz.read_bytes()[:40])
    trades, _, cached = load_trades(src, cache)
    assert not cached and trades["id"].tolist() == [1, 2, 3]
    assert load_trades(src, cache)[2]  # written again whole


def test_a_headerless_trades_file_with_a_whole_quote_quantity_is_read_as_trades(tmp_path: Path) -> None:
    """Spot `trades` rows: id, price, qty, quote_qty, time, is_buyer_maker, is_best_match. A quote
    quantity of 2000 is a whole number like an aggTrades trade id: the booleans' place tells."""
    path = tmp_path / "t.csv"
    path.write_text(f"5,2000,1,2000,{T0},true,true\n6,2001,2,4002,{T0 + 10},false,true\n", encoding="utf-8")
    trades, report = read_trades(path)
    assert trades["id"].tolist() == [5, 6] and report.dropped == 0
    assert trades["buy"].tolist() == [False, True]


def test_a_coin_m_row_at_a_price_of_zero_says_so(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSD_PERP-aggTrades-2025-10-10.csv"
    path.write_text(f"{agg(1, 0)}\n{agg(2, 1, price='0')}\n{agg(3, 2)}\n", encoding="utf-8")
    _, report = read_trades(path)
    assert [(i.line, i.reason) for i in report.issues] == [(2, "price not positive")]


def test_book_depth_times_going_back_and_repeated_percentages_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text(
        "timestamp,percentage,depth,notional\n"
        "2025-10-10 21:00:30,-1,5.0,100.0\n"
        "2025-10-10 21:00:30,1,4.0,90.0\n"
        "2025-10-10 21:00:30,-1,6.0,120.0\n"  # line 4: -1 again at the same time
        "2025-10-10 21:00:00,-2,7.0,140.0\n"  # line 5: back in time
        "2025-10-10 21:01:00,-1,5.5,110.0\n",
        encoding="utf-8",
    )
    depth, report = read_book_depth(path)
    assert depth["percentage"].tolist() == [-1, 1, -1]
    assert [(i.line, i.reason.split(" (")[0]) for i in report.issues] == [
        (4, "percentage already given at this time"),
        (5, "time before the previous row"),
    ]


def test_a_kline_whose_taker_buy_volume_exceeds_its_volume_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "k.csv"
    path.write_text(
        f"{T0},0.2,0.21,0.19,0.2,10,{T0 + 59_999},2,5,4,0.8,0\n"
        f"{T0 + 60_000},0.2,0.21,0.19,0.2,10,{T0 + 119_999},2,5,40,8,0\n",
        encoding="utf-8",
    )
    klines, report = read_klines(path)
    assert len(klines) == 1 and [(i.line, i.reason) for i in report.issues] == [
        (2, "taker buy volume above the volume")
    ]
