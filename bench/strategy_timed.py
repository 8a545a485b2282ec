"""`flashcrash run` with a stopwatch: `python bench/strategy_timed.py OUT run --config ... [--summary-json ...]`
runs the strategy process exactly as `python -m flashcrash run ...` does (`flashcrash.cli.main`, its
database, metrics, state publisher, alerts and logging), with two timestamps added per market message
(trade or book) for the tick-to-decision figures of `bench/strategy_bench.py`:

* when `EngineClient.poll` hands the decoded message to the loop (received);
* when `Runner.handle` returns for it (decided).

At exit OUT gets a JSON object: `sent_ns` (the message's `local_ts_ns`, which the bench's publisher
sets to its send time in the measured part), `send_to_decision_ns` (decided minus that) and
`receive_to_decision_ns`, one value per market message in the order handled. The wrappers cost about a microsecond a message."""

from __future__ import annotations

import json
import sys
import time
from array import array
from collections.abc import Iterator
from pathlib import Path


def main() -> int:
    out = Path(sys.argv[1])
    from flashcrash import cli, wire
    from flashcrash.data_client.client import EngineClient
    from flashcrash.runner import Runner

    sent = array("q")
    send_to_decision = array("q")
    receive_to_decision = array("q")
    received = [0]
    now = time.time_ns
    market = (wire.Trade, wire.OrderBookSnapshot)
    poll, handle = EngineClient.poll, Runner.handle

    def timed_poll(
        self: EngineClient, timeout_ms: int, max_batch: int = 1000
    ) -> Iterator[object]:
        for msg in poll(self, timeout_ms, max_batch):
            received[0] = now()
            yield msg

    def timed_handle(self: Runner, msg: object) -> None:
        handle(self, msg)
        if type(msg) in market:
            done = now()
            sent.append(msg.local_ts_ns)  # type: ignore[attr-defined]
            send_to_decision.append(done - msg.local_ts_ns)  # type: ignore[attr-defined]
            receive_to_decision.append(done - received[0])

    EngineClient.poll = timed_poll  # type: ignore[method-assign]
    Runner.handle = timed_handle  # type: ignore[method-assign]
    try:
        return cli.main(sys.argv[2:])
    finally:
        out.write_text(
            json.dumps(
                {
                    "sent_ns": sent.tolist(),
                    "send_to_decision_ns": send_to_decision.tolist(),
                    "receive_to_decision_ns": receive_to_decision.tolist(),
                }
            )
        )


if __name__ == "__main__":
    raise SystemExit(main())
