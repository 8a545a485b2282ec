"""The venue's `serverShutdown` across the real processes: exchange-sim announces it mid-replay
(`--server-shutdown-at`) to the engine's market-data connection; the engine leaves that connection on
the event itself (the venue never has to close it), counts the reconnect, resyncs its book from a
fresh snapshot and goes on publishing the market after it."""

from __future__ import annotations

import time
from pathlib import Path

import msgpack
import pytest
import zmq

from flashcrash.launcher import REPO, Session, SimSpec, tail

pytestmark = pytest.mark.integration

CONFIG = REPO / "config" / "config.toml"
# Seconds after the replay starts (the engine's connection starts it), and the venue's grace before
# it closes a connection whose client stayed.
SHUTDOWN_AT = 3
GRACE = 5
# The crash's first minutes at 2x: trades and depth updates every second.
SIM = SimSpec(
    speed="2",
    start="2025-10-10T21:09:30Z",
    end="2025-10-10T21:15:00Z",
    extra_args=("--server-shutdown-at", f"{SHUTDOWN_AT}:{GRACE}"),
)
ANNOUNCED = "venue announced serverShutdown"
# Data the engine must publish after its book is live again.
BOOKS_AFTER = 20
TRADES_AFTER = 5


def test_engine_reconnects_and_resyncs_on_server_shutdown(bin_dir: Path) -> None:
    session = Session(config=CONFIG, bin_dir=bin_dir, sim=SIM, strategy=False)
    ctx = zmq.Context.instance()
    data = ctx.socket(zmq.SUB)
    data.setsockopt(zmq.LINGER, 0)
    try:
        with session:
            data.connect(session.endpoint("data"))
            for topic in (b"state", b"health", b"book.POLUSDT", b"trade.POLUSDT"):
                data.setsockopt(zmq.SUBSCRIBE, topic)
            # Phases: before the announcement, reconnecting for it, live again.
            told: dict | None = None
            live_again: dict | None = None
            last_book_before = 0
            books_after = trades_after = 0
            health: dict | None = None
            feed_states: list[tuple[str, str]] = []
            deadline = time.monotonic() + 30
            while not (
                live_again is not None
                and books_after >= BOOKS_AFTER
                and trades_after >= TRADES_AFTER
                and health is not None
            ):
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"told={told} live_again={live_again} books_after={books_after} "
                        f"trades_after={trades_after} health={health} feed states={feed_states}; engine log:\n"
                        f"{tail(session.procs['engine'].log_path, 40)}"
                    )
                session.check_alive()
                if not data.poll(200):
                    continue
                _, body = data.recv_multipart()
                m = msgpack.unpackb(body, raw=False)
                kind = m["type"]
                if kind == "StateChange" and m["component"] == "feed":
                    feed_states.append((m["current"], m["reason"]))
                    if told is None and m["current"] == "reconnecting" and m["reason"].startswith(ANNOUNCED):
                        told = m
                    elif told is not None and live_again is None and m["current"] == "live":
                        live_again = m
                elif kind == "OrderBookSnapshot":
                    if told is None:
                        last_book_before = max(last_book_before, m["update_id"])
                    elif live_again is not None and m["update_id"] > last_book_before:
                        books_after += 1
                elif kind == "Trade" and live_again is not None:
                    trades_after += 1
                elif (
                    kind == "HealthMetrics"
                    and live_again is not None
                    and m["reconnect_count"] >= 1
                    and m["resync_count"] >= 2
                ):
                    health = m
            assert told is not None and last_book_before > 0, "no book before the announcement"
            # The venue would close the connection at the end of the grace: once it is over, it has
            # closed none (the engine left on the event).
            time.sleep(max(0.0, told["ts_ns"] / 1e9 + GRACE + 1 - time.time()))
            stats = session.sim_stats()
            assert stats is not None
            assert stats["faults"]["server_shutdowns"] == 1, stats
            assert stats["faults"]["disconnects"] == 0, stats
            assert stats["clients"] == 1, stats
            engine_log = session.procs["engine"].log_path.read_text()
            assert "venue announced serverShutdown, reconnecting" in engine_log
            assert "panicked" not in engine_log
            codes = session.stop()
        assert codes["engine"] == 0 and codes["exchange-sim"] == 0, codes
        assert session.ports_free()
    finally:
        data.close()
        session.cleanup()
