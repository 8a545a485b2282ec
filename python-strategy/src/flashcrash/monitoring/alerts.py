"""Webhook alerts: an emergency stop, an engine halt, the circuit breaker opening, the feed down past its
reconnect attempts, a watchdog finding, a drawdown over `[monitoring] alert_drawdown_pct`.

The URL comes from the environment (`FLASHCRASH_ALERT_WEBHOOK_URL`; unset: alerts are only logged). The
body is Slack's `{"text": ...}` or Discord's `{"content": ...}` (`[monitoring] alert_format`).

`alert` never blocks the caller (the trading loop): it logs the alert and hands it to a sender thread
through a bounded queue (a full queue drops it, counted). The sender posts at most one alert per
`min_interval_s`; what arrives in between is held and summarised in the next post ("+N more: ..."),
which goes out as soon as the interval has passed, so a storm of events sends one alert at once and
one summary later. Each post has a timeout; a failure is logged and counted, never raised.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

ENV_URL = "FLASHCRASH_ALERT_WEBHOOK_URL"
DISCORD_MAX = 2000  # characters of a Discord message
SLACK_MAX = 3000


@dataclass(frozen=True)
class Alert:
    kind: str  # emergency_stop, engine_halted, breaker_open, feed_down, watchdog, drawdown
    text: str


def payload(fmt: str, text: str) -> dict[str, str]:
    """The webhook body: Discord `{"content": ...}`, Slack `{"text": ...}` (within their limits)."""
    if fmt == "discord":
        return {"content": text[: DISCORD_MAX - 1] + "…" if len(text) > DISCORD_MAX else text}
    return {"text": text[: SLACK_MAX - 1] + "…" if len(text) > SLACK_MAX else text}


def summarise(first: Alert, held: Counter[str], last: Alert | None, dropped: int) -> str:
    """`first` in full, then "+N more: kind xK, ... (last: text)" for the alerts held behind it."""
    more = sum(held.values())
    text = f"[{first.kind}] {first.text}"
    if more:
        kinds = ", ".join(f"{k} x{n}" for k, n in held.most_common())
        text += f"\n+{more} more: {kinds}"
        if last is not None:
            text += f" (last: [{last.kind}] {last.text})"
    if dropped:
        text += f"\n({dropped} alert(s) dropped: sender queue full)"
    return text


_STOP = object()


def _plausible_url(url: str) -> bool:
    """An http(s) URL with a host and no space or control character (a `.env` line's trailing
    comment, a missing scheme): anything else would fail every post."""
    parsed = urllib.parse.urlsplit(url)
    return (
        parsed.scheme in ("http", "https")
        and bool(parsed.netloc)
        and not any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url)
    )


class AlertSender:
    def __init__(
        self,
        url: str | None,
        fmt: str = "slack",
        min_interval_s: float = 60.0,
        *,
        source: str = "flashcrash",
        timeout_s: float = 5.0,
        queue_size: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url or None
        self.fmt = fmt
        self.min_interval_s = min_interval_s
        self.source = source
        self.timeout_s = timeout_s
        self.clock = clock
        self.stats: Counter[str] = Counter()  # raised, posted, failed, dropped, held, refused_url
        if self.url is not None and not _plausible_url(self.url):
            # Its text is a secret (a webhook URL is its own key): never logged, even refused.
            log.error(
                "%s is not an http(s) URL without spaces or control characters: alerts are only logged",
                ENV_URL,
            )
            self.stats["refused_url"] += 1
            self.url = None
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._dropped = 0  # since the last post (read by the sender thread)
        self._thread: threading.Thread | None = None
        if self.url is not None:
            self._thread = threading.Thread(target=self._run, name="alert-sender", daemon=True)
            self._thread.start()

    @classmethod
    def from_env(cls, fmt: str, min_interval_s: float, source: str = "flashcrash strategy") -> AlertSender:
        return cls(os.environ.get(ENV_URL, "").strip() or None, fmt, min_interval_s, source=source)

    # ---------------------------------------------------------------- caller
    def alert(self, kind: str, text: str) -> None:
        """Logs the alert and queues it for the webhook; never blocks, never raises."""
        self.stats["raised"] += 1
        log.warning("ALERT %s: %s", kind, text, extra={"alert": kind})
        if self._thread is None:
            return
        try:
            self._queue.put_nowait(Alert(kind, text))
        except queue.Full:
            self.stats["dropped"] += 1
            self._dropped += 1

    def close(self, timeout_s: float = 2.0) -> None:
        """Stops the sender; what is held is posted first when that fits in `timeout_s`."""
        if self._thread is None:
            return
        with contextlib.suppress(queue.Full):
            self._queue.put(_STOP, timeout=timeout_s)
        self._thread.join(timeout_s)
        self._thread = None

    # ---------------------------------------------------------------- sender
    def _run(self) -> None:
        first: Alert | None = None
        last: Alert | None = None
        held: Counter[str] = Counter()
        next_ok = 0.0
        stopping = False
        while True:
            wait = None if first is None else max(0.0, next_ok - self.clock())
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                item = None
            if item is _STOP:
                stopping = True
            elif isinstance(item, Alert):
                if first is None:
                    first = item
                else:
                    held[item.kind] += 1
                    last = item
                    self.stats["held"] += 1
            if first is not None and (stopping or self.clock() >= next_ok):
                dropped, self._dropped = self._dropped, 0
                self._post(summarise(first, held, last if held else None, dropped))
                next_ok = self.clock() + self.min_interval_s
                first, last = None, None
                held = Counter()
            if stopping:
                return

    def _post(self, text: str) -> None:
        body = json.dumps(payload(self.fmt, f"{self.source}: {text}")).encode()
        assert self.url is not None
        try:
            req = urllib.request.Request(
                self.url, data=body, method="POST", headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(req, timeout=self.timeout_s) as r:
                r.read()
            self.stats["posted"] += 1
        except Exception as e:
            # The URL is a secret: an error that quotes it (a malformed URL) is named by its type only.
            self.stats["failed"] += 1
            reason = getattr(e, "code", None) or getattr(e, "reason", None) or type(e).__name__
            log.error("alert webhook failed: %s", reason if self.url not in str(reason) else type(e).__name__)
