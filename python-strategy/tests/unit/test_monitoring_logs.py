"""Structured logs: `json` is one JSON object per line (ts, level, logger, event) and an order's line
carries its command_id and client_order_id; `text` is a readable line; stdlib and structlog loggers
both go through the same handler."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from decimal import Decimal

import pytest
import structlog

from flashcrash.monitoring import logs
from flashcrash.trading_engine.money import Price, Quantity
from flashcrash.trading_engine.orders import OrderManager
from flashcrash.wire import PlaceOrder


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(level)
    structlog.reset_defaults()


def _order(sent: list[object]) -> PlaceOrder:
    om = OrderManager("POLUSDT", lambda cmd: sent.append(cmd) is None)
    qty = Quantity.of(Decimal("10"))
    assert qty is not None
    om.place("BUY", qty, Price(Decimal("0.95")), 1, "entry")
    cmd = sent[0]
    assert isinstance(cmd, PlaceOrder)
    return cmd


def test_json_lines_carry_the_order_ids(restore_logging: None) -> None:
    out = io.StringIO()
    logs.setup("info", "json", out)
    sent: list[object] = []
    cmd = _order(sent)
    logging.getLogger("flashcrash.test").warning("plain %s", "stdlib")
    structlog.get_logger("flashcrash.native").info("native", command_id="c-1", figure=3)
    logging.getLogger("flashcrash.test").debug("below the level")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]  # every line is one JSON object
    assert len(lines) == 3, lines
    order, plain, native = lines
    assert order["command_id"] == cmd.command_id
    assert order["client_order_id"] == cmd.client_order_id
    assert order["logger"] == "flashcrash.trading_engine.orders" and order["level"] == "info"
    assert order["event"].startswith("order sent: entry BUY LIMIT 10 @ 0.95")
    assert order["ts"].endswith("Z") and order["ts"][:2] == "20"
    assert plain["event"] == "plain stdlib" and plain["level"] == "warning"
    assert "command_id" not in plain
    assert native["event"] == "native" and native["command_id"] == "c-1" and native["figure"] == 3
    assert native["logger"] == "flashcrash.native"


def test_an_exception_is_one_json_line(restore_logging: None) -> None:
    out = io.StringIO()
    logs.setup("info", "json", out)
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("flashcrash.test").exception("failed")
    (line,) = out.getvalue().splitlines()
    rec = json.loads(line)
    assert rec["event"] == "failed" and "ValueError: boom" in rec["exception"]


def test_text_is_readable_and_setup_replaces_itself(restore_logging: None) -> None:
    out = io.StringIO()
    logs.setup("warn", "json", io.StringIO())
    logs.setup("warn", "text", out)  # replaces the first handler, not added beside it
    ours = [h for h in logging.getLogger().handlers if h.get_name() == logs.HANDLER_NAME]
    assert len(ours) == 1
    logging.getLogger("flashcrash.test").info("not shown at warn")
    logging.getLogger("flashcrash.test").error("order %s refused", "X", extra={"client_order_id": "abc"})
    text = out.getvalue()
    assert "not shown" not in text
    assert "order X refused" in text and "client_order_id=abc" in text and "[error" in text
    assert not text.lstrip().startswith("{")


def test_an_alert_line_carries_its_kind(restore_logging: None) -> None:
    """An alert's log line says which alert it is (`alert` key), so alerts can be found in the logs
    whether or not a webhook is set."""
    from flashcrash.monitoring.alerts import AlertSender

    out = io.StringIO()
    logs.setup("info", "json", out)
    AlertSender(None).alert("breaker_open", "circuit breaker closed -> open")
    (line,) = out.getvalue().splitlines()
    rec = json.loads(line)
    assert rec["alert"] == "breaker_open" and rec["level"] == "warning"
    assert rec["event"] == "ALERT breaker_open: circuit breaker closed -> open"


@pytest.mark.parametrize(
    ("name", "level"),
    [("trace", logging.DEBUG), ("debug", logging.DEBUG), ("info", logging.INFO), ("warn", logging.WARNING),
     ("error", logging.ERROR), ("WARN", logging.WARNING)],
)  # fmt: skip
def test_config_level_names(name: str, level: int) -> None:
    """`[monitoring] log_level` names (any case) map to the logging levels."""
    assert logs.level_number(name) == level
