"""`flashcrash import` end to end (each test here was checked to fail under a mutation of
`flashcrash.marketdata.commands`): the dropped rows are listed by line, `--no-cache` writes no
cache and a second run loads from it otherwise, `--bars` writes the 1-second bars of the trades as
imported with `--market`/`--contract-size`/`--format`, and a file that cannot be read fails the run."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pytest

from flashcrash.cli import main

T0 = 1_760_130_000_000  # 2025-10-10 21:00:00 UTC, in ms
AGG_HEADER = "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"
ROWS = [
    AGG_HEADER,
    f"1,2000.0,4,1,1,{T0},false",  # line 2
    f"2,nan,4,2,2,{T0 + 1},false",  # line 3: dropped
    f"3,2010.0,2,3,3,{T0 + 400},true",  # line 4
    f"4,1990.0,1,4,4,{T0 + 1000},false",  # line 5: the next second
]


@pytest.fixture
def trades_file(tmp_path: Path) -> Path:
    path = tmp_path / "ETHUSD_PERP-aggTrades-2025-10-10.csv"
    path.write_text("\n".join(ROWS) + "\n")
    return path


def test_import_lists_dropped_rows_and_caches_unless_told_not_to(
    tmp_path: Path, trades_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The dropped rows are printed with their line and reason; `--no-cache` leaves the cache folder
    empty; without it the second import comes from the cache and still lists the dropped line."""
    cache = tmp_path / "cache"
    assert main(["import", str(trades_file), "--cache-dir", str(cache), "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert "line 3: NaN or infinite" in out
    assert not cache.exists() or not list(cache.iterdir())
    assert main(["import", str(trades_file), "--cache-dir", str(cache)]) == 0
    assert main(["import", str(trades_file), "--cache-dir", str(cache)]) == 0
    out = capsys.readouterr().out
    assert len(list(cache.glob("*.npz"))) == 1
    assert "True" in out.split("imported")[-1]  # the "from cache" column of the second run
    assert out.count("line 3: NaN or infinite") == 2


def test_import_writes_bars_of_the_trades_as_imported(tmp_path: Path, trades_file: Path) -> None:
    """`--bars` writes one row per second with trades; `--market cm` and `--contract-size` convert the
    contracts before the bars are made; `--format` is the format used."""
    bars = tmp_path / "out" / "bars.csv"
    args = ["import", str(trades_file), "--no-cache", "--bars", str(bars), "--format", "aggTrades"]
    assert main([*args, "--market", "cm", "--contract-size", "5"]) == 0
    with open(bars) as f:
        rows = list(csv.DictReader(f))
    assert [int(r["start_ns"]) for r in rows] == [T0 * 1_000_000, (T0 + 1000) * 1_000_000]
    assert [(float(r["open"]), float(r["close"]), int(r["trades"])) for r in rows] == [
        (2000.0, 2010.0, 2),
        (1990.0, 1990.0, 1),
    ]
    assert float(rows[0]["volume"]) == pytest.approx(4 * 5 / 2000 + 2 * 5 / 2010)
    assert float(rows[0]["buy_volume"]) == pytest.approx(4 * 5 / 2000)
    assert main([*args, "--market", "um"]) == 0
    with open(bars) as f:
        assert [float(r["volume"]) for r in csv.DictReader(f)] == [6.0, 1.0]


def test_import_fails_on_a_file_it_cannot_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file that is not trades (a klines file without `--kind klines`) fails the run with status 1
    and says why; a missing file is status 2."""
    klines = tmp_path / "k.csv"
    klines.write_text("open_time,open,high,low,close,volume,close_time\n")
    assert main(["import", str(klines), "--no-cache"]) == 1
    assert "--kind klines" in " ".join(capsys.readouterr().out.split())
    assert main(["import", str(tmp_path / "missing.csv"), "--no-cache"]) == 2


def test_import_uses_the_format_given(tmp_path: Path) -> None:
    """`--format trades` is the format used, even where the first row would pass for an aggTrades
    row (a headerless trades file whose quote quantity is a whole number)."""
    path = tmp_path / "t.csv"
    path.write_text(f"5,2000,1,2000,{T0},true,true\n6,2001,2,4002,{T0 + 10},false,true\n")
    bars = tmp_path / "bars.csv"
    assert main(["import", str(path), "--no-cache", "--format", "trades", "--bars", str(bars)]) == 0
    with open(bars) as f:
        (row,) = csv.DictReader(f)
    assert (float(row["volume"]), float(row["buy_volume"]), int(row["trades"])) == (3.0, 2.0, 2)


def test_a_row_out_of_range_is_dropped_and_the_next_files_are_imported(
    tmp_path: Path, trades_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A trade whose time overflows int64 nanoseconds is one dropped row of its file, listed by line:
    the run goes on to the next file and succeeds."""
    bad = tmp_path / "BTCUSDT-aggTrades-x.csv"
    bad.write_text(f"1,100.0,1.0,1,1,{T0},true,true\n2,100.0,1.0,2,2,99999999999999,true,true\n")
    assert main(["import", str(bad), str(trades_file), "--no-cache"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "2 rows, 1 kept, 1 dropped (time out of range: 1)" in out
    assert "line 2: time out of range" in out
    assert "4 rows, 3 kept, 1 dropped (NaN or infinite: 1)" in out  # the file after it


def test_a_damaged_file_fails_the_run_and_the_next_files_are_imported(
    tmp_path: Path, trades_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A gzip cut short (a partial download) is one failed file, said so in one line; the run goes
    on to the next file and ends with status 1."""
    cut = tmp_path / "cut.csv.gz"
    whole = gzip.compress("".join(f"{i},0.2,10,{i},{i},{T0 + i},false\n" for i in range(1, 20_000)).encode())
    cut.write_bytes(whole[: len(whole) // 2])
    assert main(["import", str(cut), str(trades_file), "--no-cache"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "damaged or cut short after line" in out
    assert "4 rows, 3 kept, 1 dropped (NaN or infinite: 1)" in out  # the file after it


def test_a_file_with_no_row_kept_fails_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text(AGG_HEADER + "\n")
    assert main(["import", str(empty), "--no-cache"]) == 1
    assert "no row kept" in " ".join(capsys.readouterr().out.split())


def test_bars_take_one_file(tmp_path: Path, trades_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--bars` with two files would write the second's bars over the first's: refused, status 2."""
    bars = tmp_path / "bars.csv"
    assert main(["import", str(trades_file), str(trades_file), "--no-cache", "--bars", str(bars)]) == 2
    assert "--bars writes the bars of one trade file" in capsys.readouterr().err
    assert not bars.exists()


def table_rows(out: str) -> dict[str, list[str]]:
    """The cells of the `imported` table's rows, by file name."""
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines() if line.startswith("│ ")]
    return {r[0]: r for r in rows}


def test_import_output_captured_is_whole_and_names_symbol_and_market(
    tmp_path: Path, trades_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Captured (not a terminal), the table's cells are whole: the file name and times were cut to
    an 80-column console ("binance-d…", "2025-10-1…"). Each row names the symbol and the market the
    file was read as: COIN-M with its contract size, a file not told COIN-M as spot or USD-M (read
    alike), `--market` as given."""
    spot = tmp_path / "binance-data-vision-spot-BTCUSDT-aggTrades-2025-10-10-full-day.csv"
    spot.write_text("\n".join(ROWS) + "\n")
    assert main(["import", str(trades_file), str(spot), "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert "…" not in out
    rows = table_rows(out)
    cells = rows[trades_file.name]
    assert cells == [
        trades_file.name, "ETHUSD_PERP", "cm (10 USD contracts)", "4", "3", "1",
        "2025-10-10T21:00:00+00:00", "2025-10-10T21:00:01+00:00", "False",
    ]  # fmt: skip
    assert rows[spot.name][:3] == [spot.name, "-", "spot or um"]
    assert main(["import", str(spot), "--no-cache", "--market", "um"]) == 0
    assert table_rows(capsys.readouterr().out)[spot.name][:3] == [spot.name, "-", "um"]


def test_import_says_where_bars_went_and_how_many(
    tmp_path: Path, trades_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bars = tmp_path / "out" / "bars.csv"
    assert main(["import", str(trades_file), "--no-cache", "--bars", str(bars)]) == 0
    out = capsys.readouterr().out
    assert f"--bars: 2 rows of 1-second bars of {trades_file.name} written to {bars}" in out
    with open(bars) as f:
        assert len(list(csv.DictReader(f))) == 2
