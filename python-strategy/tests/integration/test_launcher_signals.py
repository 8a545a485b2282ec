"""No process outlives the launcher: `flashcrash demo` stopped by SIGTERM or SIGHUP (a `timeout`, CI,
a closed terminal) stops exchange-sim, the engine and the strategy on its way out, and a launcher
killed outright (SIGKILL, no handler runs) still takes them with it. A second Ctrl-C while the
processes stop (`demo` and `paper --sim`) kills what is left instead of waiting out their grace."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flashcrash.launcher import REPO

WAIT = 60.0  # bound of every wait (a stop takes about a second)
GRACE = 40.0  # `Session.stop`'s grace before it kills a process that does not stop


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "--ppid", str(pid), "-o", "pid="], capture_output=True, text=True)
    return [int(x) for x in out.stdout.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (dead, not yet reaped by its parent) counts as gone.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"


def _demo(
    bin_dir: Path, tmp_path: Path, command: tuple[str, ...] = ("demo",)
) -> tuple[subprocess.Popen[bytes], list[int]]:
    """A demo (or `command`) replaying a long slice slowly, and its three processes once all are
    started."""
    launcher = subprocess.Popen(
        [sys.executable, "-m", "flashcrash", *command, "--bin-dir", str(bin_dir), "--speed", "2",
         "--from", "2025-10-10T21:05:00Z", "--to", "2025-10-10T21:25:00Z"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "launcher.log", "wb"),  # noqa: SIM115
    )  # fmt: skip
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        children = _children(launcher.pid)
        if len(children) == 3:
            time.sleep(1.0)  # the strategy past its start
            return launcher, children
        assert launcher.poll() is None, (tmp_path / "launcher.log").read_text()[-2000:]
        time.sleep(0.2)
    launcher.kill()
    raise AssertionError(f"the demo never started its processes: {(tmp_path / 'launcher.log').read_text()}")


def _gone(pids: list[int]) -> list[int]:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.2)
    return [p for p in pids if _alive(p)]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL], ids=lambda s: s.name)
def test_no_process_outlives_the_launcher(bin_dir: Path, tmp_path: Path, sig: signal.Signals) -> None:
    launcher, children = _demo(bin_dir, tmp_path)
    try:
        launcher.send_signal(sig)
        code = launcher.wait(timeout=WAIT)
        if sig is not signal.SIGKILL:
            # Stopped as by Ctrl-C: the processes stopped on the way out, then exit status 130.
            assert code == 130, (tmp_path / "launcher.log").read_text()[-2000:]
        assert _gone(children) == [], children
    finally:
        for p in [launcher.pid, *children]:
            if _alive(p):
                os.kill(p, signal.SIGKILL)


@pytest.mark.parametrize("command", [("demo",), ("paper", "--sim")], ids=["demo", "paper"])
def test_a_second_ctrl_c_while_stopping_kills_what_is_left(
    bin_dir: Path, tmp_path: Path, command: tuple[str, ...]
) -> None:
    """The strategy is frozen (SIGSTOP), so the first Ctrl-C's stop would wait out its 40-s grace;
    the second kills it, and the other processes are stopped with a short grace: the launcher is
    gone well before the 40 s."""
    launcher, children = _demo(bin_dir, tmp_path, command)
    try:
        strategy = next(p for p in children if b"flashcrash" in Path(f"/proc/{p}/cmdline").read_bytes())
        os.kill(strategy, signal.SIGSTOP)
        launcher.send_signal(signal.SIGINT)
        time.sleep(1.0)
        assert launcher.poll() is None, "the frozen strategy holds the first stop"
        launcher.send_signal(signal.SIGINT)
        assert launcher.wait(timeout=GRACE / 2) == 130, (tmp_path / "launcher.log").read_text()[-2000:]
        assert _gone(children) == [], children
        assert "interrupted" in (tmp_path / "launcher.log").read_text()
    finally:
        for p in [launcher.pid, *children]:
            if _alive(p):
                os.kill(p, signal.SIGKILL)
