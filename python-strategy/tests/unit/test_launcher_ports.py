"""The launcher's port choice: distinct, free, and never from the range the kernel hands to outgoing
connections (from where any connect on the host could take a port before its process binds it)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from flashcrash import launcher


def test_ports_are_distinct_free_and_below_the_ephemeral_range() -> None:
    top = launcher._ephemeral_start()
    ports = launcher.free_ports(50)
    assert len(set(ports)) == 50
    assert all(launcher._LOWEST_PORT <= p < top for p in ports), (top, ports)
    for p in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", p))


def test_a_taken_port_is_never_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        taken = held.getsockname()[1]
        # The whole allowed range is the one taken port: the choice falls back to the kernel's.
        monkeypatch.setattr(launcher, "_LOWEST_PORT", taken)
        monkeypatch.setattr(launcher, "_ephemeral_start", lambda: taken + 1_000)
        monkeypatch.setattr(launcher.random.Random, "randrange", lambda self, a, b: taken)
        assert taken not in launcher.free_ports(3)


def test_without_proc_the_linux_default_range_is_assumed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(launcher, "_EPHEMERAL_RANGE", Path("/nonexistent/ip_local_port_range"))
    assert launcher._ephemeral_start() == 32_768
