"""Market data import: every format, bad rows reported by line and dropped, the cache, 1-second bars,
the download path (without a network)."""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import zipfile
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flashcrash.marketdata import Market, TradeFormat, load_trades, read_trades, second_bars
from flashcrash.marketdata.download import DownloadError, daily_url, days, download
from flashcrash.marketdata.tables import read_book_depth, read_klines
from flashcrash.marketdata.trades import contract_size_of

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / "data"

AGG_SPOT = [
    "100,0.21450000,500.00000000,1000,1001,1760130000000,False,True",
    "101,0.21440000,20.50000000,1002,1002,1760130000250,True,True",
    "102,0.21460000,3.00000000,1003,1005,1760130001001,False,True",
]


def write(tmp: Path, name: str, lines: list[str]) -> Path:
    path = tmp / name
    text = "\n".join(lines) + "\n"
    if name.endswith(".gz"):
        with gzip.open(path, "wt") as f:
            f.write(text)
    elif name.endswith(".zip"):
        with zipfile.ZipFile(path, "w") as z:
            z.writestr(name.replace(".zip", ".csv"), text)
    else:
        path.write_text(text)
    return path


def test_bundled_tardis_spot_file() -> None:
    trades, report = read_trades(DATA / "binance_trades_2025-10-10_POLUSDT_2045-2145.csv.gz")
    assert (report.rows, report.kept, report.dropped) == (96_855, 96_855, 0)
    first = trades[0]
    assert first["ts_ns"] == 1_760_129_100_101_296_000 and first["id"] == 34_903_745
    assert (first["price"], first["qty"], bool(first["buy"])) == (0.2258, 47.8, True)
    assert np.all(np.diff(trades["ts_ns"]) >= 0)


def test_bundled_coinm_tardis_file_is_converted_from_contracts() -> None:
    trades, report = read_trades(DATA / "binance-delivery_trades_2025-10-10_ATOMUSD_PERP_1700-2130.csv.gz")
    assert report.dropped == 0 and report.kept == 34_493
    # The first row: 12 contracts of 10 USD at 3.973 → 30.2039 ATOM.
    assert math.isclose(trades[0]["qty"], 12 * 10 / 3.973)


def test_capture_trades() -> None:
    trades, report = read_trades(DATA / "binance_spot_capture_BTCUSDT_20240808.gz")
    assert report.kept == 9_757 and report.dropped == 0
    assert trades[0]["price"] == 61837.63 and trades[0]["ts_ns"] == 1_723_161_255_342_000_000


@pytest.mark.parametrize("name", ["agg.csv", "agg.csv.gz", "agg.zip"])
@pytest.mark.parametrize("header", [False, True])
def test_binance_aggtrades_spot_plain_gz_zip_with_or_without_header(
    tmp_path: Path, name: str, header: bool
) -> None:
    lines = (
        ["agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"]
        if header
        else []
    )
    path = write(tmp_path, name, lines + AGG_SPOT)
    trades, report = read_trades(path)
    assert report.kept == 3 and report.dropped == 0
    assert trades["id"].tolist() == [100, 101, 102]
    assert trades["buy"].tolist() == [True, False, True]  # buyer maker → the seller was the aggressor
    assert trades["ts_ns"][1] == 1_760_130_000_250_000_000


def test_microsecond_times_and_trades_format(tmp_path: Path) -> None:
    rows = [
        "5,0.2145,10.0,2.145,1760130000000123,true,true",
        "6,0.2146,1.0,0.2146,1760130000000999,false,true",
    ]
    trades, report = read_trades(write(tmp_path, "t.csv", rows))
    assert report.kept == 2
    assert trades["ts_ns"].tolist() == [1_760_130_000_000_123_000, 1_760_130_000_000_999_000]
    assert trades["qty"].tolist() == [10.0, 1.0] and trades["buy"].tolist() == [False, True]


def test_coinm_files(tmp_path: Path) -> None:
    # trades: the fourth column is the base quantity (taken as is).
    rows = ["id,price,qty,base_qty,time,is_buyer_maker", "1,100000.0,3,0.003,1760130000000,false"]
    trades, _ = read_trades(write(tmp_path, "cm_trades.csv", rows), market=Market.COINM)
    assert trades["qty"].tolist() == [0.003]
    # aggTrades: contracts, converted with the contract size (BTC: 100 USD).
    agg = ["1,100000.0,3,1,1,1760130000000,false"]
    trades, _ = read_trades(
        write(tmp_path, "BTCUSD_PERP-aggTrades.csv", agg), fmt=TradeFormat.AGG_TRADES, market=Market.COINM
    )
    assert math.isclose(trades["qty"][0], 3 * 100 / 100000.0)
    assert contract_size_of("ETHUSD_PERP") == 10.0


@pytest.mark.parametrize(
    ("name", "coinm"),
    [
        ("BTCUSD_PERP-aggTrades-2025-10-10.csv", True),
        ("ETHUSD_251226-aggTrades-2025-10-10.csv", True),
        ("BTCUSDT-aggTrades-2025-10-10.csv", False),  # spot or USD-M: base quantities either way
        ("BTCUSD_PERP.csv", False),  # not named as Binance names its files: --market decides
    ],
)
def test_a_binance_file_named_for_a_coinm_symbol_is_read_as_coinm(
    tmp_path: Path, name: str, coinm: bool
) -> None:
    """Without `--market`, a Binance aggTrades file of a COIN-M symbol has its contracts converted to
    the base asset (3 BTC contracts of 100 USD at 100,000 = 0.003 BTC; ETH's are 10 USD), not read as
    3 coins; its symbol comes from the name. A given market wins over the name."""
    path = write(tmp_path, name, ["1,100000.0,3,1,1,1760130000000,false"])
    trades, report = read_trades(path)
    usd = 100 if name.startswith("BTC") else 10
    assert trades["qty"].tolist() == ([pytest.approx(3 * usd / 100000)] if coinm else [3.0])
    if coinm:
        assert report.symbol == name.split("-")[0]
        spot, _ = read_trades(path, market=Market.SPOT)
        assert spot["qty"].tolist() == [3.0]


def test_bad_rows_are_reported_with_their_line_and_dropped(tmp_path: Path) -> None:
    rows = [
        "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker",
        "1,0.2,10,1,1,1760130000000,false",  # line 2: kept
        "2,nan,10,2,2,1760130000001,false",  # 3
        "3,0.2,inf,3,3,1760130000002,false",  # 4
        "4,-0.2,10,4,4,1760130000003,false",  # 5
        "5,0.2,0,5,5,1760130000004,false",  # 6
        "6,0.2,10,6,6,1760129999999,false",  # 7: time goes back
        "1,0.2,10,7,7,1760130000005,false",  # 8: duplicate id
        "8,0.2,ten,8,8,1760130000006,false",  # 9
        "9,0.2,10,9,9,1760130000007,maybe",  # 10
        "10,0.21,10,10,10,1760130000008,true",  # 11: kept
    ]
    trades, report = read_trades(write(tmp_path, "bad.csv", rows))
    assert trades["id"].tolist() == [1, 10]
    assert report.rows == 10 and report.kept == 2 and report.dropped == 8
    assert [i.line for i in report.issues] == [3, 4, 5, 6, 7, 8, 9, 10]
    reasons = [i.reason for i in report.issues]
    assert reasons[:4] == [
        "NaN or infinite",
        "NaN or infinite",
        "price not positive",
        "quantity not positive",
    ]
    assert reasons[4] == "time before the previous row" and reasons[5].startswith("id not above")
    assert "8 dropped" in report.summary()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(-5, 50),
            st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.just("x")),
            st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.just("")),
            st.integers(1_760_000_000_000, 1_760_000_100_000),
            st.booleans(),
        ),
        max_size=40,
    )
)
def test_whatever_the_rows_every_kept_trade_is_valid(rows: list) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        lines = [f"{i},{p},{q},{i},{i},{t},{str(m).lower()}" for i, p, q, t, m in rows]
        trades, report = read_trades(write(Path(d), "h.csv", lines or ["1,1,1,1,1,1760000000000,true"]))
    assert report.kept + report.dropped == report.rows == len(trades) + report.dropped
    assert np.all(np.isfinite(trades["price"])) and np.all(trades["price"] > 0)
    assert np.all(np.isfinite(trades["qty"])) and np.all(trades["qty"] > 0)
    assert np.all(np.diff(trades["ts_ns"]) >= 0) and np.all(np.diff(trades["id"]) > 0)


@given(st.lists(st.tuples(st.integers(1, 30), st.integers(0, 20)), max_size=40), st.integers(1, 4))
def test_rows_packed_in_chunks_are_the_rows_kept(rows: list, chunk: int) -> None:
    """The rows kept are packed into arrays a chunk at a time (memory); ids and times out of order
    across a chunk's edge are judged as within one: the same trades and the same drops, whatever
    the chunk size."""
    import tempfile

    from flashcrash.marketdata import trades as module

    lines = [f"{i},1.5,2,{i},{i},{1_760_000_000_000 + t},true" for i, t in rows] or [
        "1,1,1,1,1,1760000000000,true"
    ]
    with tempfile.TemporaryDirectory() as d:
        path = write(Path(d), "h.csv", lines)
        whole, whole_report = read_trades(path)
        default = module.CHUNK_ROWS
        module.CHUNK_ROWS = chunk
        try:
            packed, report = read_trades(path)
        finally:
            module.CHUNK_ROWS = default
    assert packed.dtype == whole.dtype and np.array_equal(packed, whole)
    assert report.issues == whole_report.issues and report.kept == len(packed)


def test_cache_loads_the_same_and_is_invalidated_by_a_change(tmp_path: Path) -> None:
    src = write(tmp_path, "agg.csv", AGG_SPOT)
    cache = tmp_path / "cache"
    first, report, cached = load_trades(src, cache)
    assert not cached and len(list(cache.glob("*.npz"))) == 1
    again, report2, cached = load_trades(src, cache)
    assert cached and np.array_equal(first, again) and report2.kept == report.kept
    write(tmp_path, "agg.csv", AGG_SPOT[:2])
    changed, _, cached = load_trades(src, cache)
    assert not cached and len(changed) == 2


def test_the_files_symbol_from_its_rows_or_its_binance_name(tmp_path: Path) -> None:
    """Tardis rows and captures name their symbol, Binance's public files their name; the cache keeps
    it, and a cache written before it was kept is read again."""
    assert read_trades(DATA / "binance_trades_2025-10-10_POLUSDT_2045-2145.csv.gz")[1].symbol == "POLUSDT"
    assert read_trades(DATA / "binance_spot_capture_BTCUSDT_20240808.gz")[1].symbol == "BTCUSDT"
    assert read_trades(write(tmp_path, "agg.csv", AGG_SPOT))[1].symbol is None
    named = write(tmp_path, "ETHUSDT-aggTrades-2025-10-10.zip", AGG_SPOT)
    assert read_trades(named)[1].symbol == "ETHUSDT"
    cache = tmp_path / "cache"
    assert load_trades(named, cache)[1].symbol == "ETHUSDT"
    _, report, cached = load_trades(named, cache)
    assert cached and report.symbol == "ETHUSDT"
    (entry,) = cache.glob("*.npz")
    with np.load(entry, allow_pickle=False) as z:
        trades, meta = z["trades"], json.loads(str(z["report"]))
    del meta["symbol"]
    np.savez_compressed(entry, trades=trades, report=np.array(json.dumps(meta)))
    _, report, cached = load_trades(named, cache)
    assert not cached and report.symbol == "ETHUSDT"


def test_second_bars_by_hand() -> None:
    trades, _ = read_trades(DATA / "binance_trades_2025-10-10_POLUSDT_2045-2145.csv.gz")
    bars = second_bars(trades)
    assert bars["trades"].sum() == len(trades)
    assert np.all(bars["low"] <= np.minimum(bars["open"], bars["close"]))
    assert np.all(bars["high"] >= np.maximum(bars["open"], bars["close"]))
    t = trades[:0]
    assert len(second_bars(t)) == 0
    sample = np.array(
        [
            (1_000_000_000, 1, 1.0, 2.0, True),
            (1_500_000_000, 2, 3.0, 1.0, False),
            (2_100_000_000, 3, 2.0, 4.0, True),
        ],
        dtype=trades.dtype,
    )
    b = second_bars(sample)
    assert b.tolist() == [
        (1_000_000_000, 1.0, 3.0, 1.0, 3.0, 3.0, 2.0, 2),
        (2_000_000_000, 2.0, 2.0, 2.0, 2.0, 4.0, 4.0, 1),
    ]


def test_klines_and_book_depth_bundled() -> None:
    klines, report = read_klines(DATA / "BTCUSD_PERP-1m-2025-10-10.zip")
    assert report.kept == 1_440 and report.dropped == 0
    assert klines["open_ns"][1] - klines["open_ns"][0] == 60_000_000_000
    depth, report = read_book_depth(DATA / "BTCUSDT-bookDepth-2025-10-10_2000-2300.csv.gz")
    assert report.kept == 3_600 and report.dropped == 0
    assert set(np.unique(depth["percentage"]).tolist()) == {-5, -4, -3, -2, -1, 1, 2, 3, 4, 5}


def test_download_urls_and_checksums(tmp_path: Path) -> None:
    d = date(2025, 10, 10)
    assert daily_url(Market.SPOT, "aggTrades", "polusdt", d) == (
        "https://data.binance.vision/data/spot/daily/aggTrades/POLUSDT/POLUSDT-aggTrades-2025-10-10.zip"
    )
    assert daily_url(Market.COINM, "trades", "BTCUSD_PERP", d).startswith(
        "https://data.binance.vision/data/futures/cm/daily/trades/BTCUSD_PERP/"
    )
    assert daily_url(Market.USDM, "klines", "BTCUSDT", d, "1s").endswith(
        "/klines/BTCUSDT/1s/BTCUSDT-1s-2025-10-10.zip"
    )
    with pytest.raises(ValueError, match="futures only"):
        daily_url(Market.SPOT, "bookDepth", "BTCUSDT", d)
    assert len(list(days(d, date(2025, 10, 12)))) == 3
    with pytest.raises(ValueError, match="before it starts"):
        list(days(d, date(2025, 10, 9)))

    payload = (DATA / "BTCUSD_PERP-1m-2025-10-10.zip").read_bytes()
    url = daily_url(Market.COINM, "klines", "BTCUSD_PERP", d)
    name = url.rsplit("/", 1)[1]
    good = {url: payload, url + ".CHECKSUM": f"{hashlib.sha256(payload).hexdigest()}  {name}\n".encode()}
    path = download(url, tmp_path, fetch=lambda u, _t: good[u])
    assert path.read_bytes() == payload
    bad = {**good, url: payload[:-1]}
    with pytest.raises(DownloadError, match="does not match"):
        download(url, tmp_path / "other", fetch=lambda u, _t: bad[u])
    assert not list((tmp_path / "other").glob("*"))
