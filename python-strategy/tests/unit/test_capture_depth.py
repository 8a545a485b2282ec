"""The real L2 book of a recorded Binance capture (`flashcrash.marketdata.depth`): Binance's sync rules
on the bundled BTCUSDT capture (every rebuilt top of book equals the venue's own `bookTicker` at the
same update id), and crafted captures for the edge cases: stale events dropped, a gap or a crossed
book ends the books, bad levels dropped by line, no snapshot refused; `flashcrash backtest` replays a
capture with its recorded book."""

from __future__ import annotations

import gzip
import itertools
import json
from pathlib import Path

import pytest

from flashcrash.cli import main
from flashcrash.marketdata.depth import capture_books, is_capture
from flashcrash.marketdata.trades import ImportError_

DATA = Path(__file__).resolve().parents[3] / "data"
CAPTURE = DATA / "binance_spot_capture_BTCUSDT_20240808.gz"
POL = DATA / "binance_trades_2025-10-10_POLUSDT_2045-2145.csv.gz"


def test_bundled_capture_rebuilds_the_venues_top_of_book() -> None:
    books, report = capture_books(CAPTURE, levels=5)
    assert report.snapshot_update_id == 50093239218 and not report.stopped
    assert report.applied == len(books) == 3449 and report.dropped == 2  # 2 events before the snapshot
    ticker: dict[int, tuple[float, float]] = {}
    with gzip.open(CAPTURE, "rt") as f:
        for line in f:
            msg = json.loads(line.partition(" ")[2])
            if msg.get("stream", "").endswith("@bookTicker"):
                d = msg["data"]
                ticker[int(d["u"])] = (float(d["b"]), float(d["a"]))
    checked = 0
    for b in books:
        assert len(b.bids) == len(b.asks) == 5
        assert all(b.bids[i][0] > b.bids[i + 1][0] for i in range(4))
        assert all(b.asks[i][0] < b.asks[i + 1][0] for i in range(4))
        if b.update_id in ticker:
            assert (b.bids[0][0], b.asks[0][0]) == ticker[b.update_id], b.update_id
            checked += 1
    assert checked > 500, checked  # the update ids both streams share
    assert all(a.exchange_ts_ns <= b.exchange_ts_ns for a, b in itertools.pairwise(books))


def _capture(tmp_path: Path, events: list[dict], snapshot_at: int = 1) -> Path:
    lines = []
    snap = {
        "lastUpdateId": 100,
        "bids": [["10.0", "1"], ["9.9", "2"]],
        "asks": [["10.1", "1"], ["10.2", "2"]],
    }
    for i, e in enumerate(events):
        if i == snapshot_at:
            lines.append(f"{1000 + i} {json.dumps(snap)}")
        data = {"e": "depthUpdate", "E": 1_700_000_000_000 + i, "s": "XUSDT", **e}
        lines.append(f"{1000 + i} " + json.dumps({"stream": "xusdt@depth@100ms", "data": data}))
    path = tmp_path / "cap.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_sync_rules_on_crafted_captures(tmp_path: Path) -> None:
    events = [
        {"U": 90, "u": 99, "b": [], "a": []},  # before the snapshot, all <= 100: dropped
        {"U": 95, "u": 102, "b": [["10.0", "0"]], "a": []},  # straddles 101: first applied, removes 10.0
        {"U": 103, "u": 104, "b": [["9.95", "NaN"]], "a": []},  # bad level: dropped, not applied
        {"U": 103, "u": 105, "b": [["9.95", "3"]], "a": [["10.1", "0.5"]]},
        {"U": 107, "u": 108, "b": [], "a": []},  # gap (106 missing): the books stop here
        {"U": 109, "u": 110, "b": [["9.0", "1"]], "a": []},
    ]
    books, report = capture_books(_capture(tmp_path, events))
    assert [b.update_id for b in books] == [102, 105]
    assert books[0].bids == ((9.9, 2.0),) and books[1].bids == ((9.95, 3.0), (9.9, 2.0))
    assert books[1].asks == ((10.1, 0.5), (10.2, 2.0))
    assert "gap" in report.stopped and "expected 106" in report.stopped
    reasons = {i.reason.split(" (")[0] for i in report.issues}
    assert reasons == {"stale", "malformed depth event"}, report.issues
    assert {i.line for i in report.issues if i.reason.startswith("malformed")} == {4}


def test_futures_sync_rules_on_crafted_captures(tmp_path: Path) -> None:
    """USD-M / COIN-M (ids not contiguous): an event ending exactly at the snapshot's id is not
    stale (u < lastUpdateId is) and is the first applied (U <= lastUpdateId <= u); each later one
    chains by `pu` whatever its `U`; a broken `pu` chain stops the books."""
    events = [
        {"U": 80, "u": 90, "pu": 70, "b": [], "a": []},  # u < 100: dropped
        {"U": 95, "u": 100, "pu": 90, "b": [["10.0", "3"]], "a": []},  # u == 100: the first applied
        {"U": 105, "u": 110, "pu": 100, "b": [["10.0", "4"]], "a": []},  # chained by pu, U > 101
        {"U": 112, "u": 120, "pu": 110, "b": [["9.9", "0"]], "a": []},
        {"U": 125, "u": 130, "pu": 121, "b": [], "a": []},  # pu is not 120: the books stop
    ]
    books, report = capture_books(_capture(tmp_path, events))
    assert [b.update_id for b in books] == [100, 110, 120]
    assert books[1].bids == ((10.0, 4.0), (9.9, 2.0)) and books[2].bids == ((10.0, 4.0),)
    assert "gap" in report.stopped and "expected 120" in report.stopped


def test_a_crossed_book_ends_the_books_and_no_snapshot_is_refused(tmp_path: Path) -> None:
    crossed = [{"U": 101, "u": 101, "b": [["10.5", "1"]], "a": []}, {"U": 102, "u": 102, "b": [], "a": []}]
    books, report = capture_books(_capture(tmp_path, crossed, snapshot_at=0))
    assert books == [] and "crossed" in report.stopped
    with pytest.raises(ImportError_, match="no REST depth snapshot"):
        capture_books(_capture(tmp_path, crossed, snapshot_at=9))
    assert is_capture(CAPTURE) and not is_capture(POL)


def test_a_capture_behind_a_recorders_log_line_is_a_capture(tmp_path: Path) -> None:
    """A capture whose first line is a recorder's log line: the trade import drops that line and
    the depth rebuild skips it, so it is a capture (the backtest replays its recorded book, and
    `--book recorded` takes it); a plain trade file is still none."""
    path = tmp_path / "capture_with_log_line.gz"
    with gzip.open(CAPTURE, "rb") as src, gzip.open(path, "wb") as dst:
        dst.write(b"2024-08-08 23:54:15 INFO recorder started\n")
        dst.write(src.read())
    assert is_capture(path) and not is_capture(POL)
    books, _ = capture_books(path)
    assert len(books) == len(capture_books(CAPTURE)[0])


def test_backtest_of_a_capture_uses_its_recorded_book(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bt"
    assert main(["backtest", "--data", str(CAPTURE), "--out", str(out), "--no-cache"]) == 0
    text = capsys.readouterr().out
    assert "3449 depth events applied" in text
    # The capture is BTCUSDT, the config's symbol POLUSDT: said before the replay.
    assert "holds BTCUSDT trades but [symbol] name is" in " ".join(text.split())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["events"]["books"] == 3449, summary["events"]
    # A recorded book is a real one: the synthetic book's overlay is not layered.
    assert "; no overlay" in " ".join(text.split()) and summary["inputs"]["overlays"] == []
    code = main(["backtest", "--data", str(POL), "--book", "recorded", "--out", str(out), "--no-cache"])
    assert code == 2 and "holds no recorded depth" in capsys.readouterr().err
