"""Starts and stops the processes of a session: `exchange-sim` (optional), `engine` and the strategy.

One implementation serves `flashcrash demo`, `scripts/start_paper_trading.sh` and the cross-process
integration tests: free loopback ports, a private config folder layering the ports (and the
simulator's URLs) over the user's configuration, bounded waits, and a stop that always leaves no
process behind and every port free. A session `as_configured` (`flashcrash paper` without `--sim`)
runs the processes on the user's configuration as it is instead.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from flashcrash.config import Config, ConfigError, merge_layer, read_toml, synthetic_book_overlay
from flashcrash.config import load as load_config
from flashcrash.monitoring.live import parse_metrics
from flashcrash.paths import REPO
from flashcrash.process_signals import die_with_parent, restore_handlers, stop_on_hangup

log = logging.getLogger(__name__)

DEMO_DATA = REPO / "data" / "binance_trades_2025-10-10_POLUSDT_2045-2145.csv.gz"


class LaunchError(RuntimeError):
    """A process did not start, did not answer in time, or did not stop."""


class ConfigRefused(LaunchError):
    """The configuration was refused before anything started (its one line names the file or key)."""


# Ports handed out are taken below the kernel's ephemeral range: a port from that range can be given,
# between the choice and the bind of the process it is for, to any outgoing connection on the host
# (CI once saw the engine's command port taken that way while the strategy was connecting).
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST_PORT = 10_000


def _ephemeral_start() -> int:
    """The first port the kernel hands to outgoing connections (Linux's default without /proc)."""
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def _bindable(port: int) -> bool:
    """True when 127.0.0.1:`port` can be bound now (no SO_REUSEADDR: a TIME_WAIT counts as taken)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_ports(count: int) -> list[int]:
    """`count` distinct TCP ports on 127.0.0.1 that are free right now and outside the ephemeral
    range (when the range leaves room below it; otherwise ports the kernel picks)."""
    top = _ephemeral_start()
    ports: list[int] = []
    if top - _LOWEST_PORT >= 1_000:
        rng = random.Random()
        for _ in range(100 * count):
            if len(ports) == count:
                break
            port = rng.randrange(_LOWEST_PORT, top)
            if port not in ports and _bindable(port):
                ports.append(port)
    while len(ports) < count:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in ports:
            ports.append(port)
    return ports


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (see `free_ports`)."""
    return free_ports(1)[0]


def port_is_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:`port`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    raise TypeError(f"cannot write {v!r} as a TOML value")


def dump_toml(tables: dict[str, dict[str, Any]]) -> str:
    """Writes a two-level TOML document (sections of scalar keys), as config overlays are."""
    lines: list[str] = []
    for section, keys in tables.items():
        lines.append(f"[{section}]")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in keys.items())
        lines.append("")
    return "\n".join(lines)


@dataclass(frozen=True)
class SimSpec:
    """What `exchange-sim` replays and how fast."""

    data: Path = DEMO_DATA
    symbol: str = "POLUSDT"
    speed: str = "30"
    start: str | None = None
    end: str | None = None
    extra_args: tuple[str, ...] = ()
    # Layers `config/synthetic_book.toml` (values calibrated for the synthetic book) over the config
    # when the simulator publishes that book (every format but a capture's recorded depth).
    synthetic_overlay: bool = True

    @property
    def synthetic_book(self) -> bool:
        """True unless the simulator replays a capture's recorded depth (`--format capture`)."""
        args = list(self.extra_args)
        return not any(a == "--format" and args[i + 1 : i + 2] == ["capture"] for i, a in enumerate(args))


@dataclass
class Proc:
    """A started child process and its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]

    def alive(self) -> bool:
        return self.popen.poll() is None


@dataclass
class Session:
    """A running set of processes. Use as a context manager: leaving it always stops everything."""

    config: Path
    bin_dir: Path
    sim: SimSpec | None = None
    workdir: Path | None = None
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Environment added to every child's (e.g. BINANCE_API_KEY / BINANCE_API_SECRET in real mode).
    env: dict[str, str] = field(default_factory=dict)
    # Passes --confirm-real to the engine (needed when the config says [execution] mode = "real").
    confirm_real: bool = False
    # False: no strategy process (a test drives the engine's channels itself).
    strategy: bool = True
    # True: the processes run on `config` as it is: its endpoints, metrics ports, database and report
    # folder (so `flashcrash reload` and `flashcrash monitor` with that file reach them, a reload
    # re-reads it, and the next session recovers from the same database); only the logs and the
    # summary go to the session folder. False: free ports, a private database and `overrides` layered
    # over it (the demo, the simulator, the tests).
    as_configured: bool = False
    procs: dict[str, Proc] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    sim_port: int | None = None
    # Why the launcher stopped the strategy (`stop(why=...)`), when it was the one that did: the
    # strategy's own `stop_reason` then only says `SIGTERM`.
    stopped_for: str | None = None
    # The config's `[persistence] report_dir` as the session read it at its start (where `flashcrash
    # demo` and `paper` copy the session's files at its end: a file edited since is not read again).
    report_root: Path | None = None
    _own_workdir: bool = False
    # The SIGTERM / SIGHUP handlers the session replaced while it runs (see `stop_on_hangup`).
    _handlers: dict[int, Any] = field(default_factory=dict)

    # ----------------------------------------------------------------- start
    def __enter__(self) -> Session:
        self._handlers = stop_on_hangup()
        try:
            self.start()
        except BaseException:
            self.stop()
            restore_handlers(self._handlers)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop()
        finally:
            restore_handlers(self._handlers)

    @property
    def run_config(self) -> Path:
        if self.as_configured:
            return self.config
        assert self.workdir is not None
        return self.workdir / "config" / "config.toml"

    @property
    def summary_path(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "summary.json"

    def endpoint(self, name: str) -> str:
        return f"tcp://127.0.0.1:{self.ports[name]}"

    def start(self) -> None:
        # Validated before any value of it is used (exchange-sim's flags, the ports): a bad file is
        # refused with the loader's one line naming the key, not a traceback or a child's error.
        self._load_config()
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="flashcrash-"))
            self._own_workdir = True
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.as_configured:
            self.ports.update(self._configured_ports())
        else:
            names = ("data", "command", "response", "strategy", "engine_metrics", "strategy_metrics")
            self.ports.update(zip(names, free_ports(len(names)), strict=True))
        if self.sim is not None:
            self._start_sim(self.sim)
        if not self.as_configured:
            self._write_config()
        if self.strategy:
            self._start_strategy()
        self._start_engine()

    def _configured_ports(self) -> dict[str, int]:
        """The ports of the user's configuration (with `local.toml`), for a session `as_configured`;
        it takes no simulator and no overrides, whose URLs and ports would have to be layered over it."""
        if self.sim is not None or self.overrides:
            raise LaunchError("a session on the configuration as it is takes no simulator and no overrides")
        cfg = self._load_config()
        z, m = cfg.zmq, cfg.monitoring
        endpoints = {
            "data": z.data_endpoint,
            "command": z.command_endpoint,
            "response": z.response_endpoint,
            "strategy": z.strategy_endpoint,
        }
        ports = {name: int(url.rsplit(":", 1)[1]) for name, url in endpoints.items()}
        return {**ports, "engine_metrics": m.engine_metrics_port, "strategy_metrics": m.strategy_metrics_port}

    def _load_config(self) -> Config:
        """The configuration (with `local.toml` beside it) through the strategy's loader;
        `ConfigRefused` with its one line naming the file or key when it is refused. Keeps its
        `report_dir` (`report_root`)."""
        try:
            cfg = load_config(self.config, [self.book_overlay] if self.book_overlay else None)
        except ConfigError as e:
            raise ConfigRefused(str(e)) from e
        self.report_root = cfg.report_dir
        return cfg

    def _binary(self, name: str) -> Path:
        path = self.bin_dir / name
        if not path.exists():
            raise LaunchError(f"{path} not found: build it first (make build or make build-release)")
        return path

    def _spawn(self, name: str, argv: list[str], stdout: int | IO[bytes] | None = None) -> Proc:
        assert self.workdir is not None
        log_path = self.workdir / f"{name}.log"
        log_file = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        popen = subprocess.Popen(
            argv,
            stdout=stdout if stdout is not None else log_file,
            stderr=log_file,
            stdin=subprocess.DEVNULL,
            cwd=REPO,
            env={**os.environ, **self.env},
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        proc = Proc(name, popen, log_path, log_file)
        self.procs[name] = proc
        log.info("started %s (pid %d): %s", name, popen.pid, " ".join(argv))
        return proc

    def _start_sim(self, spec: SimSpec) -> None:
        argv = [
            str(self._binary("exchange-sim")),
            "--data",
            str(spec.data),
            "--symbol",
            spec.symbol,
            "--listen",
            "127.0.0.1:0",
            "--speed",
            spec.speed,
            "--wait-for-client",
        ]
        # The simulator as the venue the config describes: the symbol's grid and minimum notional (the
        # engine checks its config against them in exchangeInfo), and the backtest's rule for
        # recording gaps and seed of the synthetic book's noise.
        layers = self._layers()
        for flag, section, key in (
            ("--data-gap-secs", "backtest", "data_gap_secs"),
            ("--seed", "backtest", "book_seed"),
            ("--tick-size", "strategy", "price_tick"),
            ("--step-size", "symbol", "quantity_step"),
            ("--min-notional", "symbol", "min_notional"),
        ):
            value = _setting(layers, section, key)
            if value is not None and flag not in spec.extra_args:
                argv += [flag, str(value)]
        if spec.start:
            argv += ["--from", spec.start]
        if spec.end:
            argv += ["--to", spec.end]
        argv += list(spec.extra_args)
        proc = self._spawn("exchange-sim", argv, stdout=subprocess.PIPE)
        line = _read_line(proc, timeout=60.0)
        prefix = "exchange-sim listening on "
        if not line.startswith(prefix):
            raise LaunchError(f"exchange-sim did not start: {line!r}; see {proc.log_path}")
        self.sim_port = int(line[len(prefix) :].rsplit(":", 1)[1])

    def _local_tables(self) -> dict[str, dict[str, Any]]:
        """The tables of `local.toml` beside the config (none when it is absent)."""
        local = self.config.parent / "local.toml"
        if not local.exists():
            return {}
        with open(local, "rb") as f:
            return {k: dict(v) for k, v in tomllib.load(f).items() if isinstance(v, dict)}

    @property
    def book_overlay(self) -> Path | None:
        """The synthetic-book overlay the session layers over the config and its `local.toml`: with a
        simulator publishing that book, unless its spec turns it off."""
        if self.sim is None or not (self.sim.synthetic_book and self.sim.synthetic_overlay):
            return None
        return synthetic_book_overlay(self.config)

    def _book_tables(self) -> dict[str, dict[str, Any]]:
        return {} if self.book_overlay is None else read_toml(self.book_overlay)

    def _layers(self) -> list[dict[str, Any]]:
        """The config's tables as the session will layer them: the config, `local.toml` beside it, the
        synthetic-book overlay (`book_overlay`), the session's overrides."""
        with open(self.config, "rb") as f:
            base = tomllib.load(f)
        return [base, self._local_tables(), self._book_tables(), self.overrides]

    def _write_config(self) -> None:
        assert self.workdir is not None
        src = self.config.parent
        dst = self.run_config.parent
        dst.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.config, dst / "config.toml")
        schema = src / "schema.toml"
        shutil.copy(schema if schema.exists() else REPO / "config" / "schema.toml", dst / "schema.toml")
        layered = self._local_tables()
        ours: dict[str, dict[str, Any]] = {
            "zmq": {
                "data_endpoint": self.endpoint("data"),
                "command_endpoint": self.endpoint("command"),
                "response_endpoint": self.endpoint("response"),
                "strategy_endpoint": self.endpoint("strategy"),
            },
            "monitoring": {
                "engine_metrics_port": self.ports["engine_metrics"],
                "strategy_metrics_port": self.ports["strategy_metrics"],
            },
            # The session's own database (overrides may point elsewhere), so a test or a demo never
            # touches the user's reports/flashcrash.db; the demo copies it with the reports.
            "persistence": {
                "report_dir": str(self.workdir / "reports"),
                "db_path": str(self.workdir / "reports" / "flashcrash.db"),
                "engine_position_dir": str(self.workdir / "reports"),
            },
        }
        if self.sim_port is not None:
            base = f"127.0.0.1:{self.sim_port}"
            ours["feed"] = {"ws_url": f"ws://{base}", "rest_url": f"http://{base}", "backup_ws_url": ""}
            hz = _publish_hz_for(self.sim, _setting(self._layers(), "feed", "max_publish_hz"))
            if hz is not None:
                ours["feed"]["max_publish_hz"] = hz
            ours["execution"] = {"rest_url": f"http://{base}", "ws_api_url": f"ws://{base}"}
        for tables in (self._book_tables(), ours, self.overrides):
            merge_layer(layered, tables)
        (dst / "local.toml").write_text(dump_toml(layered))

    def _start_strategy(self, timeout: float = 60.0) -> None:
        """Starts the strategy and waits until it says it is ready (signal handlers installed,
        sockets connected), so a stop right after the start is handled, not fatal."""
        proc = self._spawn(
            "strategy",
            [
                sys.executable,
                "-m",
                "flashcrash",
                "run",
                "--config",
                str(self.run_config),
                "--summary-json",
                str(self.summary_path),
            ],
        )
        deadline = time.monotonic() + timeout
        while "strategy ready" not in proc.log_path.read_text(errors="replace"):
            if not proc.alive():
                raise LaunchError(f"strategy exited with {proc.popen.returncode}: {tail(proc.log_path)}")
            if time.monotonic() > deadline:
                raise LaunchError(f"strategy not ready within {timeout:.0f} s; see {proc.log_path}")
            time.sleep(0.05)

    def _start_engine(self) -> None:
        argv = [str(self._binary("engine")), "--config", str(self.run_config)]
        if self.confirm_real:
            argv.append("--confirm-real")
        self._spawn("engine", argv)

    # ------------------------------------------------------------------ run
    def sim_stats(self) -> dict[str, Any] | None:
        """The simulator's `/sim/stats`, or None when it is not reachable."""
        if self.sim_port is None:
            return None
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.sim_port}/sim/stats", timeout=1) as r:
                return dict(json.load(r))
        except (OSError, ValueError):
            return None

    def strategy_messages(self) -> dict[str, int] | None:
        """The messages the strategy received from the engine, by type (`Trade`, `OrderBookSnapshot`...),
        from its metrics (updated about once a second); None when they cannot be read."""
        port = self.ports.get("strategy_metrics")
        if not port:
            return None
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as r:
                text = r.read().decode(errors="replace")
        except (OSError, ValueError):
            return None
        return {labels["type"]: int(n) for labels, n in parse_metrics(text).get("messages_total", [])}

    def wait_strategy_caught_up(
        self, trades: int, timeout: float, settle: float = 2.5, on_tick: Any = None
    ) -> tuple[int | None, bool]:
        """After the replay: waits until the strategy has received `trades` trades, or until its count
        has not moved for `settle` seconds (more than two updates of its metrics: what is still
        missing is not coming), at most `timeout` seconds. A strategy slower than the replay (`--speed
        max`) holds messages the engine published in its queue: stopped at once, it would drop them
        unread. Returns the trades it received (None: its metrics cannot be read) and whether it
        caught up (False: the wait timed out, or its metrics could not be read)."""
        deadline = time.monotonic() + timeout
        last: int | None = None
        moved_at = time.monotonic()
        while True:
            self.check_alive()
            got = self.strategy_messages()
            n = None if got is None else got.get("Trade", 0)
            if on_tick is not None:
                on_tick(self, n)
            now = time.monotonic()
            if n is not None and n >= trades:
                return n, True
            if n != last:
                last, moved_at = n, now
            elif now - moved_at >= settle:
                return n, n is not None
            if now >= deadline:
                return n, False
            time.sleep(0.25)

    def check_alive(self) -> None:
        """Raises if the engine or the strategy died."""
        for name in ("engine", "strategy"):
            p = self.procs.get(name)
            if p is not None and not p.alive():
                raise LaunchError(
                    f"{name} exited with {p.popen.returncode}; see {p.log_path}:\n{tail(p.log_path)}"
                )

    def check_alive_one(self, name: str) -> None:
        """Raises if the process `name` died."""
        p = self.procs[name]
        if not p.alive():
            raise LaunchError(
                f"{name} exited with {p.popen.returncode}; see {p.log_path}:\n{tail(p.log_path)}"
            )

    def wait_replay_end(self, timeout: float, on_tick: Any = None) -> None:
        """Waits for the simulator to finish its replay (its second line, `exchange-sim replay
        finished: ...`). It goes on serving the final book until `stop`, so that the strategy, stopped
        first, can still sell what it holds against a book in sync."""

        def each() -> None:
            self.check_alive()
            if on_tick is not None:
                on_tick(self)

        late = f"replay did not finish within {timeout:.0f} s"
        _read_until(self.procs["exchange-sim"], b"replay finished", timeout, late, 0.5, each)

    # --------------------------------------------------------- kill, restart
    def kill(self, name: str, sig: int = signal.SIGKILL, timeout: float = 10.0) -> int | None:
        """Sends `sig` to one process (`strategy`, `engine`, `exchange-sim`) and, for a fatal signal,
        waits (bounded) until it is gone. Returns its exit code (None if still running)."""
        p = self.procs[name]
        _signal(p, sig)
        if sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
            try:
                p.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal(p, signal.SIGKILL)
                p.popen.wait(timeout=5)
        return p.popen.poll()

    def restart(self, name: str) -> None:
        """Starts `strategy` or `engine` again with the same configuration and ports (the previous
        process must have exited; its log is kept as `<name>.log.<n>`)."""
        old = self.procs.get(name)
        if old is not None:
            if old.alive():
                raise LaunchError(f"{name} is still running (pid {old.popen.pid})")
            old.log_file.close()
            n = 1
            while old.log_path.with_name(f"{old.log_path.name}.{n}").exists():
                n += 1
            old.log_path.rename(old.log_path.with_name(f"{old.log_path.name}.{n}"))
        if name == "strategy":
            self._start_strategy()
        elif name == "engine":
            self._start_engine()
        else:
            raise LaunchError(f"cannot restart {name}")

    # ----------------------------------------------------------------- stop
    def stop(self, grace: float = 40.0, why: str | None = None) -> dict[str, int | None]:
        """Stops the strategy (it flattens and writes its summary), then the engine, then the rest.

        Escalates to SIGKILL after `grace` seconds: longer than the engine's own longest wait for its
        cancels at shutdown (30 s, behind an order whose outcome is unknown); a normal stop takes about
        a second. Returns each process's exit code. `why` (e.g. "the end of the replay") is kept in
        `stopped_for` when the strategy was still running to be stopped.
        """
        strategy = self.procs.get("strategy")
        if why is not None and strategy is not None and strategy.alive():
            self.stopped_for = why
        codes: dict[str, int | None] = {}
        interrupted: BaseException | None = None
        for name in ("strategy", "engine", "exchange-sim"):
            p = self.procs.get(name)
            if p is None:
                continue
            if p.alive():
                _signal(p, signal.SIGTERM)
                try:
                    p.popen.wait(timeout=grace if interrupted is None else HURRIED_GRACE)
                except subprocess.TimeoutExpired:
                    log.warning("%s did not stop in time: killing it", name)
                    _signal(p, signal.SIGKILL)
                    p.popen.wait(timeout=5)
                except (KeyboardInterrupt, SystemExit) as e:
                    # Asked again to stop while waiting: this one is killed, the next ones get a
                    # short grace, and none is left running.
                    log.warning("interrupted while %s stopped: killing it", name)
                    interrupted = e
                    _signal(p, signal.SIGKILL)
                    p.popen.wait(timeout=5)
            codes[name] = p.popen.returncode
            if p.popen.stdout is not None:
                p.popen.stdout.close()
            p.log_file.close()
        if interrupted is not None:
            raise interrupted
        return codes

    def ports_free(self) -> bool:
        ports = list(self.ports.values()) + ([self.sim_port] if self.sim_port else [])
        return all(port_is_free(p) for p in ports)

    def cleanup(self) -> None:
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


# The grace of the processes still to stop once a stop was interrupted (a second Ctrl-C).
HURRIED_GRACE = 2.0


def _signal(p: Proc, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(p.popen.pid, sig)


# The highest `[feed] max_publish_hz` the configuration takes (config/schema.toml): no cap in effect.
MAX_PUBLISH_HZ = 100_000


def _publish_hz_for(sim: SimSpec | None, configured: Any) -> int | None:
    """The engine's `[feed] max_publish_hz` for a replay at `sim.speed`: the simulator sends a book
    every 100 ms of event time, so N times faster than real time it sends 10 N a second of wall time;
    capped at the configured rate (a real market's), the strategy would see a third of them at 30x
    where the backtest of the same data sees them all. It is raised to `BOOK_BURST_HEADROOM` times
    that rate (the books come in bursts). None: the configured rate will do.

    At `max` there is no rate to match, and a cap does harm: the engine sends a book held back by
    the cap when its interval ends, read then from its live book, which at hundreds of times real
    time is seconds of replay ahead of the trades still queued behind it; the strategy's input guard
    then drops those trades as `time_backwards` (hundreds an hour at 100 a second), or, a book more
    than the jitter window + 2 s ahead, the book as `time_ahead` (the trades after it show it out of
    place). Uncapped, a book goes out as soon as the engine has caught up with the trades before it: a
    fraction of a second of replay ahead of them at most, inside the guard's jitter window."""
    if sim is None:
        return None
    if not sim.speed.replace(".", "", 1).isdigit():
        return MAX_PUBLISH_HZ  # `max`
    needed = math.ceil(10 * float(sim.speed) * BOOK_BURST_HEADROOM)
    rate = int(configured) if isinstance(configured, int) else 100
    return needed if needed > rate else None


# The books of a replay faster than real time do not come evenly: the simulator sends what is due
# back to back when it wakes (a loaded host wakes it late), so two books can come closer than 1/rate
# apart, and a cap at their mean rate held back and replaced every early one (measured on 2026-12-06,
# 21:05-21:20 of the bundled crash: 8,058 of 8,998 books reached the strategy at 10x, with the
# configured 100 a second, and 5,913 at 30x, with 300; docs/parity.md). Four times the mean rate lets
# them through.
BOOK_BURST_HEADROOM = 4


def _setting(layers: list[dict[str, Any]], section: str, key: str) -> Any:
    """`[section] key` of the last of `layers` that sets it (None when none does)."""
    value = None
    for tables in layers:
        value = tables.get(section, {}).get(key, value)
    return value


def _read_line(p: Proc, timeout: float) -> str:
    """First stdout line of a process, within `timeout` seconds."""
    out = _read_until(p, b"\n", timeout, f"{p.name} printed nothing within {timeout:.0f} s; see {p.log_path}")
    return out.split(b"\n", 1)[0].decode(errors="replace").strip()


def _read_until(
    p: Proc, marker: bytes, timeout: float, late: str, idle_s: float = 0.05, each: Any = None
) -> bytes:
    """What a process printed until `marker`, within `timeout` seconds (else `LaunchError(late)`);
    `each` is called between reads, which wait `idle_s` while nothing comes. Raises if the process
    exits first."""
    assert p.popen.stdout is not None
    fd = p.popen.stdout.fileno()
    os.set_blocking(fd, False)
    buf = b""
    deadline = time.monotonic() + timeout
    try:
        while marker not in buf:
            if time.monotonic() > deadline:
                raise LaunchError(late)
            if each is not None:
                each()
            if not p.alive():
                raise LaunchError(f"{p.name} exited with {p.popen.returncode}: {tail(p.log_path)}")
            try:
                chunk = os.read(fd, 4096)
            except BlockingIOError:
                chunk = b""
            buf += chunk
            if not chunk:
                time.sleep(idle_s)
    finally:
        os.set_blocking(fd, True)
    return buf


def tail(path: Path, lines: int = 15) -> str:
    """Last lines of a log file."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
