"""What the strategy process imports: `flashcrash run` (started again after every crash) builds its
command line and loads every module its handler uses without numpy, pandas, matplotlib, optuna or
SQLAlchemy; the other commands are still all listed and reachable."""

from __future__ import annotations

import subprocess
import sys

import pytest

from flashcrash import cli

HEAVY = ("numpy", "pandas", "matplotlib", "optuna", "sqlalchemy")

# The modules `cli.cmd_run` imports before it trades (the end-of-session report loads matplotlib
# later, once the session is over).
PROBE = """
import sys
from flashcrash import cli
try:
    cli.main(["run", "--help"])
except SystemExit:
    pass
import flashcrash.runner, flashcrash.data_client, flashcrash.demo, flashcrash.persistence
import flashcrash.monitoring.alerts, flashcrash.monitoring.metrics, flashcrash.monitoring.logs
print(" ".join(sorted({m.split(".")[0] for m in sys.modules})), file=sys.stderr)
"""


def test_run_loads_no_heavy_library() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    loaded = set(out.stderr.split())
    assert "zmq" in loaded and "flashcrash" in loaded  # the probe did import the run path
    assert loaded.isdisjoint(HEAVY), sorted(loaded.intersection(HEAVY))


def test_every_command_is_still_listed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    assert e.value.code == 0
    usage = capsys.readouterr().out
    for name in ("run", "demo", "paper", "report", "reload", "halt", "resume", "monitor", "import",
                 "download", "backtest", "optimize"):  # fmt: skip
        assert name in usage


@pytest.mark.parametrize("command", ["backtest", "optimize", "import", "download", "monitor"])
def test_data_commands_parse(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        cli.main([command, "--help"])
    assert e.value.code == 0
    assert f"flashcrash {command}" in capsys.readouterr().out
