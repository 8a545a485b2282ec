"""`WriteAhead`: the runner's order write-ahead (`Runner`, with a `PersistenceService`). A `PlaceOrder`
leaves only once it and the decision behind it are committed, so that a kill at any instant leaves
no order at the engine that a restart does not know. Their write is queued at once with a Future
(`PersistenceService.commit_soon`) and the order is HELD, not sent; every command the order manager
sends after it (a cancel of that very order, a query, anything) queues behind it, so that none
overtakes it. The loop goes on handling market data meanwhile; the writer thread's commit wakes it
(`Wakeup`, polled with the engine's sockets) and `Runner.step` sends what is held, in order, up to
the next order not yet committed. A commit that fails sends nothing from that order on: each held command is
undone in the order manager (`OrderManager.unsent`) and the runner stops ("persistence failed"). A
stop (`flatten`, `finish`) sends what was committed, waiting a bounded time for the commits still
out. Only with a client that can wake the loop (`EngineClient.watch`): with one that cannot (the
backtest's replay link, which hands the runner its events and never polls), the order is committed
before it leaves, waiting (`commit_now`), so that it leaves at its decision's time, as before.

The runner writes the order ahead (`Runner._before_send`) and hands its commit here (`written`); the
order manager's `send` comes here next (`take`). What this needs of the runner is passed in: how a
command is sent, undone and a failed write-ahead reported, and the clock."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass

from flashcrash import wire
from flashcrash.data_client import Wakeup

log = logging.getLogger("flashcrash.runner")

# At a stop, the longest wait for the write-ahead commits of the orders still held (`WriteAhead.settle`).
HELD_WAIT_S = 2.0


def not_recorded(cmd: object, error: BaseException) -> str:
    """Why an order written ahead does not leave: its write failed with `error`."""
    return f"order {getattr(cmd, 'client_order_id', '')} not sent: it could not be recorded: {error}"


@dataclass(slots=True)
class Held:
    """A command the runner holds (write-ahead): `commit` is a PlaceOrder's own, None for a command
    that only waits for those ahead of it; `stamp` is the receive stamp of the market event it
    answers (its order latency, timed when it leaves)."""

    cmd: object
    commit: Future[None] | None
    stamp: int


class WriteAhead:
    """The commands held, oldest first (`held`), behind the write-ahead commits of their orders, and
    the wake-up those commits set (`wakeup`: None until `open`, and without one nothing is held).

    `send` hands a command to the client, with the receive stamp of the event it answers (False: the
    client refused it); `unsent` undoes a held command that does not leave (in the order manager, and
    a new order's lot told); `failed` reports an order that could not be recorded (the runner stops);
    `clock` gives the time a command is undone at."""

    def __init__(
        self,
        send: Callable[[object, int], bool],
        unsent: Callable[[object, int], None],
        failed: Callable[[str], None],
        clock: Callable[[], int],
    ) -> None:
        self._send = send
        self._unsent = unsent
        self._failed = failed
        self._clock = clock
        self.held: deque[Held] = deque()
        # The commit of the PlaceOrder just written ahead (`written`), for the `take` that follows it.
        self._written: tuple[object, Future[None]] | None = None
        self.wakeup: Wakeup | None = None

    def open(self) -> int:
        """Creates the wake-up; its descriptor, for the client to poll (`EngineClient.watch`)."""
        self.wakeup = Wakeup()
        return self.wakeup.fileno()

    def close(self, unwatch: Callable[[int], None] | None) -> None:
        """Closes the wake-up, once `unwatch` (the client's, when it has one) stops polling it."""
        if self.wakeup is None:
            return
        if unwatch is not None:
            unwatch(self.wakeup.fileno())
        self.wakeup.close()
        self.wakeup = None

    def written(self, cmd: object, commit: Future[None]) -> None:
        """`cmd`, a PlaceOrder, is written ahead: its `commit`, once done, wakes the loop, and `take`,
        which the order manager calls next, holds it until then."""
        assert self.wakeup is not None
        commit.add_done_callback(self.wakeup.set)  # on the writer thread, once committed
        self._written = (cmd, commit)

    def take(self, cmd: object, stamp: int) -> bool:
        """A command the order manager sends: a PlaceOrder written ahead, and any command behind a
        held one, is held (True: taken); any other is sent at once (`send`)."""
        ahead, self._written = self._written, None
        commit = ahead[1] if ahead is not None and ahead[0] is cmd else None
        if commit is not None and not self.held and commit.done():  # on disk already
            error = commit.exception()
            if error is not None:
                self._failed(not_recorded(cmd, error))
                return False
            commit = None
        if commit is not None or self.held:
            self.held.append(Held(cmd, commit, stamp))
            return True
        return self._send(cmd, stamp)

    def release(self) -> None:
        """Sends the held commands, oldest first, up to the first PlaceOrder whose commit is not done
        yet. A failed commit sends nothing from its order on (`_commit_failed`); a command the client
        refuses is undone, with those held behind it for the same order (a cancel of an order that
        never left)."""
        held = self.held
        while held:
            h = held[0]
            if h.commit is not None:
                if not h.commit.done():
                    return
                error = h.commit.exception()
                if error is not None:
                    self._commit_failed(error)
                    return
            held.popleft()
            if self._send(h.cmd, h.stamp):
                continue
            now = self._clock()
            if isinstance(h.cmd, wire.PlaceOrder):
                coid = h.cmd.client_order_id
                for behind in [b for b in held if getattr(b.cmd, "client_order_id", None) == coid]:
                    held.remove(behind)
                    self._unsent(behind.cmd, now)
            self._unsent(h.cmd, now)

    def _commit_failed(self, error: BaseException) -> None:
        """The write-ahead commit of the order at the head of `held` failed: neither it nor anything
        held behind it leaves; each is undone in the order manager, and the runner stops."""
        cmds = [h.cmd for h in self.held]
        self.held.clear()
        coids = [c.client_order_id for c in cmds if isinstance(c, wire.PlaceOrder)]
        self._failed(
            f"{len(cmds)} command(s) not sent (order(s) {', '.join(coids)}): "
            f"the order could not be recorded: {error}"
        )
        now = self._clock()
        for cmd in cmds:
            self._unsent(cmd, now)

    def release_ready(self) -> None:
        """The loop's: reads the wake-up, and sends what is held and may leave (also without a
        wake-up: a backstop, every iteration)."""
        wakeup = self.wakeup
        if wakeup is not None and wakeup.pending:
            wakeup.clear()
        if self.held:
            self.release()

    def settle(self, wait_s: float | None = None) -> None:
        """At a stop: sends what is held, waiting up to `wait_s` (`HELD_WAIT_S`) for the commits still
        out. What is still held then stays so (unsent, but perhaps on disk: the order, unsettled, is
        left to the next start, which reconciles it)."""
        wait_s = HELD_WAIT_S if wait_s is None else wait_s
        deadline = time.monotonic() + wait_s
        self.release_ready()
        while self.held:
            left = deadline - time.monotonic()
            head = self.held[0].commit
            if left <= 0 or head is None:
                break
            wait_futures([head], timeout=left)
            self.release_ready()
        if self.held:
            log.error(
                "%d command(s) held not sent: their order's write-ahead commit was not done within %.1f s",
                len(self.held),
                wait_s,
            )
