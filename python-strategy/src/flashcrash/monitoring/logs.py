"""Log setup of the strategy process (configured once, at the entry point), with structlog over the
standard library's handlers: every module keeps `logging.getLogger(__name__)`.

* `json`: one JSON object per line with `ts` (ISO 8601 UTC), `level`, `logger`, `event` (the message),
  and `command_id` / `client_order_id` when the record carries them (the order manager passes them
  as `extra=`), so one order can be followed across both processes' logs; an exception comes as
  `exception` (its traceback, as text).
* `text`: structlog's console renderer, one readable line per event, with colours on a terminal.
"""

from __future__ import annotations

import logging
import sys
from typing import IO, Any

import structlog

# Record attributes (passed with `extra=`) that become keys of the event.
CORRELATION = ("command_id", "client_order_id", "alert")
HANDLER_NAME = "flashcrash"


def level_number(level: str) -> int:
    """`[monitoring] log_level` (trace, debug, info, warn, error) as a logging level."""
    return {"trace": logging.DEBUG, "debug": logging.DEBUG, "info": logging.INFO,
            "warn": logging.WARNING, "error": logging.ERROR}.get(level.lower(), logging.INFO)  # fmt: skip


def _shared(fmt: str) -> list[Any]:
    # The console renderer puts a `timestamp` first; JSON says `ts`.
    stamp = structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts" if fmt == "json" else "timestamp")
    return [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(allow=CORRELATION),
        stamp,
    ]


def formatter(fmt: str, colors: bool = False) -> structlog.stdlib.ProcessorFormatter:
    """The stdlib formatter rendering every record (stdlib or structlog) as `fmt` says."""
    render: list[Any]
    if fmt == "json":
        render = [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        render = [structlog.dev.ConsoleRenderer(colors=colors)]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared(fmt),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *render],
    )


def setup(level: str, fmt: str, stream: IO[str] | None = None) -> logging.Handler:
    """Routes the root logger (and structlog's loggers) to `stream` (stderr) in `fmt` (text, json)."""
    out = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(out)
    isatty = getattr(out, "isatty", None)
    handler.setFormatter(formatter(fmt, colors=bool(isatty and isatty())))
    handler.set_name(HANDLER_NAME)
    root = logging.getLogger()
    for h in list(root.handlers):
        if h.get_name() == HANDLER_NAME:  # ours from an earlier call: replaced
            root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level_number(level))
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared(fmt),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return handler
