"""Two `flashcrash optimize` processes run one study concurrently through a real PostgreSQL server.

The fixture starts PostgreSQL on loopback (a free port, data and socket in a temp dir) and always stops
it. It uses the server binaries of the machine (`/usr/lib/postgresql/*/bin`); without them it installs
the Debian `postgresql` package when running as root, and skips otherwise. `initdb` refuses root, so
as root the server runs as the `postgres` user."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from flashcrash.launcher import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
POL = REPO / "data" / "binance_trades_2025-10-10_POLUSDT_2045-2145.csv.gz"
K = 3  # trials per worker
WAIT = 60  # seconds, any one wait of the server or a worker


def pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def ensure_binaries() -> Path:
    found = pg_bin()
    if found is not None:
        return found
    if os.geteuid() != 0:
        pytest.skip("PostgreSQL server binaries are missing and installing them needs root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "postgresql"]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            pytest.skip(f"cannot install PostgreSQL ({' '.join(cmd)}): {done.stderr.strip()[-300:]}")
    found = pg_bin()
    if found is None:
        pytest.skip("apt-get install postgresql left no /usr/lib/postgresql/*/bin/pg_ctl")
    return found


@pytest.fixture
def postgres_url() -> Iterator[str]:
    bindir = ensure_binaries()
    as_root = os.geteuid() == 0
    if as_root:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run the server as")
        prefix = ["runuser", "-u", "postgres", "--"]
    else:
        prefix = []
    tmp = Path(tempfile.mkdtemp(prefix="flashcrash-pg-"))
    data, sock = tmp / "data", tmp / "sock"
    sock.mkdir()
    if as_root:
        for p in (tmp, sock):
            os.chown(p, user.pw_uid, user.pw_gid)
    port = free_port()

    def run(*args: str, timeout: float = WAIT) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=timeout, check=False)

    started = False
    try:
        done = run(
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        assert done.returncode == 0, f"initdb failed: {done.stderr}"
        opts = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
        done = run(
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            opts,
            "-l",
            str(tmp / "server.log"),
            "-w",
            "-t",
            str(WAIT),
            "start",
        )
        started = True
        log = (tmp / "server.log").read_text() if (tmp / "server.log").exists() else ""
        assert done.returncode == 0, f"pg_ctl start failed: {done.stderr} {log[-2000:]}"
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        if started:
            stop = run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "-t", "30", "stop")
            pid_file = data / "postmaster.pid"
            if stop.returncode != 0 and pid_file.exists():
                pid = int(pid_file.read_text().split()[0])
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 9)
        shutil.rmtree(tmp, ignore_errors=True)


def test_two_worker_processes_share_one_postgres_study(postgres_url: str, tmp_path: Path) -> None:
    name = "pg-two-workers"
    procs = []
    for i in range(2):
        cmd = [
            sys.executable,
            "-m",
            "flashcrash",
            "optimize",
            "--mode",
            "quick",
            "--data",
            str(POL),
            "--from",
            "2025-10-10T21:05:00Z",
            "--to",
            "2025-10-10T21:08:00Z",
            "--storage",
            postgres_url,
            "--study-name",
            name,
            "--n-trials",
            str(K),
            "--seed",
            str(i),
            "--cache-dir",
            str(tmp_path / f"cache{i}"),
            "--out",
            str(tmp_path / f"out{i}"),
        ]
        log = open(tmp_path / f"worker{i}.txt", "w")  # noqa: SIM115 (closed below)
        procs.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log))
    try:
        for p, _ in procs:
            p.wait(timeout=2 * WAIT)
    finally:
        for p, log in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
            log.close()
    for i, (p, _) in enumerate(procs):
        assert p.returncode == 0, (tmp_path / f"worker{i}.txt").read_text()[-3000:]

    study = optuna.load_study(study_name=name, storage=postgres_url)
    finished = [
        t
        for t in study.trials
        if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    ]
    assert len(finished) == 2 * K
    assert sorted(t.number for t in finished) == list(range(2 * K))
    workers = {t.user_attrs["worker"] for t in finished}
    assert len(workers) == 2 and {p.pid for p, _ in procs} == {int(w.rsplit(":", 1)[1]) for w in workers}
    assert study.best_value is not None
    assert study.user_attrs["objective"] == "return"
