"""The `flashcrash` command: `run` (the strategy process), `demo` and `paper` (the whole system),
`report` (a stored session), `import` and `download` (market data files), `backtest` (a replay of
a trade file through the strategy), `monitor` (a live view of the running system), `reload` (re-read
thresholds and limits without a restart), `halt` and `resume` (stop and restart the engine's
trading)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flashcrash import config as config_mod
from flashcrash import envfile, wire
from flashcrash.config import ZmqConfig
from flashcrash.launcher import REPO

if TYPE_CHECKING:
    from flashcrash.runner import Runner


def setup_logging(level: str, fmt: str) -> None:
    """structlog over the standard handlers (`flashcrash.monitoring.logs`): `json` one object per line
    with `command_id`/`client_order_id` when a record carries them, `text` readable lines."""
    from flashcrash.monitoring import logs

    logs.setup(level, fmt)


def _write_summary(runner: Runner, summary_json: Path | None) -> dict[str, Any] | None:
    """The session summary and report written (`Runner.write`); None, with one line on stderr, when
    they could not be (a full disk, a `report_dir` that is not a folder, a drawing error)."""
    try:
        return runner.write(summary_json)
    except Exception as e:
        print(
            f"summary error: session summary and report not written: {type(e).__name__}: {e}", file=sys.stderr
        )
        return None


def cmd_run(args: argparse.Namespace) -> int:
    """`flashcrash run`: the strategy process, until a signal or the engine's stop. At the end the
    summary and report are written, then the session is ended in the database, whatever the writing
    did: a failed write is one line on stderr, never a session left for the next start to recover.

    Exit code: 0; 2 when it could not start (configuration, database, a port); 3 when the database
    failed (the session's record is incomplete); 4 when only the summary or report could not be
    written (the session ended and is recorded)."""
    from flashcrash.runner import install_signal_handlers

    signals = install_signal_handlers()  # first, so a stop during the imports below is not lost

    from rich.console import Console

    from flashcrash.data_client import EngineClient, PublishError, StatePublisher
    from flashcrash.demo import summary_table
    from flashcrash.runner import Runner

    try:
        cfg = config_mod.load(args.config)
    except config_mod.ConfigError as e:
        print(e, file=sys.stderr)
        return 2
    setup_logging(cfg.monitoring.log_level, cfg.monitoring.log_format)
    from flashcrash.persistence import PersistenceError, PersistenceService

    # The database first: a corrupt, locked or unwritable file stops the process with one line naming
    # it, before anything is traded.
    try:
        db = PersistenceService.open(cfg)
    except PersistenceError as e:
        print(f"persistence error: {e}", file=sys.stderr)
        return 2
    try:
        publisher = StatePublisher(cfg.zmq.strategy_endpoint)
    except PublishError as e:
        print(e, file=sys.stderr)
        with contextlib.suppress(PersistenceError):
            db.close()
        return 2
    from flashcrash.monitoring.alerts import AlertSender
    from flashcrash.monitoring.metrics import MetricsError, StrategyMetrics

    metrics = StrategyMetrics(cfg.symbol.name, cfg.initial_capital)
    port = cfg.monitoring.strategy_metrics_port
    if port:
        try:
            metrics.serve(port)
        except MetricsError as e:
            print(e, file=sys.stderr)
            publisher.close()
            with contextlib.suppress(PersistenceError):
                db.close()
            return 2
    alerts = AlertSender.from_env(cfg.monitoring.alert_format, cfg.monitoring.alert_min_interval_secs)
    client = EngineClient(cfg.zmq, cfg.symbol.name)
    runner = Runner(
        cfg, client, db, publisher=publisher, metrics=metrics, alerts=alerts, config_path=args.config
    )
    try:
        session = runner.start()
    except PersistenceError as e:
        print(f"persistence error: {e}", file=sys.stderr)
        client.close()
        publisher.close()
        metrics.close()
        alerts.close()
        with contextlib.suppress(PersistenceError):
            db.close()
        return 2
    log = logging.getLogger("flashcrash")
    if session is not None:
        log.info("session %d in %s", session.id, db.settings.db_path)
    log.info("strategy ready: %s", cfg.zmq.data_endpoint)
    error: BaseException | None = None
    summary: dict[str, Any] | None = None
    db_ok = True
    try:
        runner.run(signals)
    except BaseException as e:
        error = e
        raise
    finally:
        try:
            summary = _write_summary(runner, args.summary_json)
        finally:
            publisher.close()
            metrics.close()
            alerts.close()
            try:
                runner.finish(error)  # sends what it still holds: the client is closed after it
                db.close()
            except PersistenceError as e:
                print(f"persistence error: {e}", file=sys.stderr)
                db_ok = False
            finally:
                client.close()
    if not db_ok or runner.stop_reason == "persistence failed":
        return 3
    if summary is None:
        return 4
    Console().print(summary_table(summary))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """`flashcrash report --session ID`: a stored session's report, its price and equity (PNG) and
    its trades (CSV). Exit code 0; 1 when the database cannot be read or a file cannot be written
    (one line); 2 on a bad config file."""
    from rich.console import Console

    from flashcrash.persistence import PersistenceError
    from flashcrash.persistence.service import PersistenceSettings
    from flashcrash.persistence.session_report import session_report

    db, out = args.db, args.out
    if db is None or out is None:
        try:
            cfg = config_mod.load(args.config)
        except config_mod.ConfigError as e:
            print(e, file=sys.stderr)
            return 2
        db = db or PersistenceSettings.from_config(cfg).db_path
        out = out or cfg.report_dir / f"session_{args.session}_report.png"
    try:
        # Piped or redirected, the tables keep their natural width (rich would fold them to 80).
        shift = None if args.replay_offset_ms is None else args.replay_offset_ms * 1_000_000
        console = Console() if sys.stdout.isatty() else Console(width=200)
        session_report(db, args.session, out, console, recorded_shift_ns=shift)
    except PersistenceError as e:
        print(f"report error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"report error: cannot write the report: {e}", file=sys.stderr)
        return 1
    return 0


def _ask_engine(
    args: argparse.Namespace,
    what: str,
    command: Callable[[str, int], wire.Message],
    endpoints: Callable[[Path], ZmqConfig] = lambda p: config_mod.load(p).zmq,
) -> int:
    """Sends `command` to the engine at the `endpoints` read from `args.config` and prints the outcome:
    `<what> applied`, `refused` (the engine's Error), `not sent` (no engine listening) or `sent, no
    answer` (the engine may still act on it). Exit 0 applied, 1 otherwise, 2 on a bad config file."""
    from flashcrash.engine_command import Outcome, ask

    try:
        zmq_cfg = endpoints(args.config)
    except config_mod.ConfigError as e:
        print(f"{e} (nothing sent to the engine)", file=sys.stderr)
        return 2
    answer = ask(zmq_cfg, command, args.timeout)
    ok = answer.outcome is Outcome.APPLIED
    print(f"{what} {answer.outcome.value}: {answer.message}", file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


def cmd_reload(args: argparse.Namespace) -> int:
    """`flashcrash reload`: the engine re-reads its thresholds and limits (and, on its StateChange
    `config`, the strategy too); prints the engine's answer."""
    return _ask_engine(args, "reload", lambda cid, ts: wire.ReloadConfig(cid, ts))


def cmd_halt(args: argparse.Namespace) -> int:
    """`flashcrash halt`: the engine's `EmergencyHalt` (every open order canceled, with `--flatten` the
    net position sold, every later order refused until `flashcrash resume`). Only `[zmq]` of the
    config is read: a bad value elsewhere does not stop a halt."""
    return _ask_engine(
        args,
        "halt",
        lambda cid, ts: wire.EmergencyHalt(cid, ts, args.reason, args.flatten),
        config_mod.load_zmq,
    )


def cmd_resume(args: argparse.Namespace) -> int:
    """`flashcrash resume`: lifts a halt (an `EmergencyHalt`, a watchdog halt, refused credentials; a
    venue ban once it is over); the engine says what is still in the way, if anything."""
    return _ask_engine(args, "resume", lambda cid, ts: wire.Resume(cid, ts, args.reason), config_mod.load_zmq)


# The commands built in `main` itself. Their parsers and handlers import neither numpy nor optuna nor
# SQLAlchemy, so for them the other commands' parsers are not built: their modules would cost the
# strategy process (`run`, started again after every crash) about 0.8 s and 30 MiB at each start.
LIGHT_COMMANDS = frozenset({"run", "demo", "paper", "report", "reload", "halt", "resume"})


def _add_data_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """`monitor`, `import`, `download`, `backtest`, `optimize`: parsers whose modules import rich's
    live views, numpy, the replay and optuna."""
    from flashcrash.backtest import commands as backtest_commands
    from flashcrash.marketdata import commands as marketdata_commands
    from flashcrash.monitoring import live
    from flashcrash.optimize import commands as optimize_commands

    live.add_parser(sub)
    marketdata_commands.add_parsers(sub)
    backtest_commands.add_parser(sub)
    optimize_commands.add_parser(sub)


def main(argv: list[str] | None = None) -> int:
    from flashcrash import demo

    p = argparse.ArgumentParser(prog="flashcrash", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the strategy process against a running engine")
    run.add_argument("--config", type=Path, default=REPO / "config" / "config.toml")
    run.add_argument("--summary-json", type=Path, help="also write the session summary here")
    run.set_defaults(func=cmd_run)
    d = sub.add_parser("demo", help="paper-trade the bundled real crash through exchange-sim")
    demo.add_arguments(d, demo=True)
    d.set_defaults(func=demo.run_demo)
    pp = sub.add_parser("paper", help="start engine and strategy (optionally exchange-sim) until Ctrl-C")
    demo.add_arguments(pp, demo=False)
    pp.set_defaults(func=demo.run_paper)
    rep = sub.add_parser("report", help="print a stored session's report and draw its price and equity")
    rep.add_argument("--session", type=int, required=True, help="session id (see the sessions table)")
    rep.add_argument("--db", type=Path, help="database file (default: [persistence] db_path)")
    rep.add_argument("--config", type=Path, default=REPO / "config" / "config.toml")
    rep.add_argument("--out", type=Path, help="PNG path (default: <report_dir>/session_<ID>_report.png)")
    rep.add_argument(
        "--replay-offset-ms",
        type=int,
        help="the session traded a replay whose times were this far after the market's recorded ones "
        "(exchange-sim's /sim/stats time_offset_ms; `flashcrash demo` prints it): the chart is drawn "
        "at the recorded times",
    )
    rep.set_defaults(func=cmd_report)
    rl = sub.add_parser("reload", help="re-read thresholds and limits in the running engine and strategy")
    ht = sub.add_parser("halt", help="halt the running engine: cancel its open orders, refuse new ones")
    ht.add_argument("--flatten", action="store_true", help="also sell the net position with market orders")
    rs = sub.add_parser("resume", help="lift the running engine's halt")
    for cmd, func in ((rl, cmd_reload), (ht, cmd_halt), (rs, cmd_resume)):
        cmd.add_argument("--config", type=Path, default=REPO / "config" / "config.toml")
        cmd.add_argument(
            "--timeout", type=float, default=10.0, help="seconds to wait for the engine's answer"
        )
        if cmd is not rl:
            cmd.add_argument("--reason", default="from the command line", help="reason, logged and published")
        cmd.set_defaults(func=func)
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in LIGHT_COMMANDS:
        _add_data_commands(sub)
    args = p.parse_args(argv)
    envfile.load(REPO / ".env")
    try:
        return int(args.func(args))
    except KeyboardInterrupt as e:
        # Ctrl-C, SIGTERM or SIGHUP: a session's processes were stopped on the way out.
        print(f"flashcrash {args.command}: interrupted ({str(e) or 'Ctrl-C'})", file=sys.stderr)
        return 130
