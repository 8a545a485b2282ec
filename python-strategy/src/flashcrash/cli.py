"""The `flashcrash` command: `run` (the strategy process), `demo` and `paper` (the whole system),
`report` (a stored session), `import` and `download` (market data files), `backtest` (a replay of
a trade file through the strategy)."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from pathlib import Path

from flashcrash import config as config_mod
from flashcrash.launcher import REPO


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with `command_id`/`client_order_id` when a record carries them."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in ("command_id", "client_order_id"):
            if hasattr(record, key):
                out[key] = getattr(record, key)
        return json.dumps(out)


def setup_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    logging.basicConfig(
        level=level.upper().replace("WARN", "WARNING").replace("TRACE", "DEBUG"), handlers=[handler]
    )


def cmd_run(args: argparse.Namespace) -> int:
    from flashcrash.runner import install_signal_handlers

    signals = install_signal_handlers()  # first, so a stop during the imports below is not lost

    from rich.console import Console

    from flashcrash.data_client import EngineClient
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
    client = EngineClient(cfg.zmq, cfg.symbol.name)
    runner = Runner(cfg, client, db)
    try:
        session = runner.start()
    except PersistenceError as e:
        print(f"persistence error: {e}", file=sys.stderr)
        client.close()
        with contextlib.suppress(PersistenceError):
            db.close()
        return 2
    log = logging.getLogger("flashcrash")
    if session is not None:
        log.info("session %d in %s", session.id, db.settings.db_path)
    log.info("strategy ready: %s", cfg.zmq.data_endpoint)
    error: BaseException | None = None
    db_ok = True
    try:
        runner.run(signals)
    except BaseException as e:
        error = e
        raise
    finally:
        summary = runner.write(args.summary_json)
        client.close()
        try:
            runner.finish(error)
            db.close()
        except PersistenceError as e:
            print(f"persistence error: {e}", file=sys.stderr)
            db_ok = False
    Console().print(summary_table(summary))
    return 0 if db_ok and runner.stop_reason != "persistence failed" else 3


def cmd_report(args: argparse.Namespace) -> int:
    """`flashcrash report --session ID`: a stored session's report and equity curve (PNG)."""
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
        out = out or cfg.report_dir / f"session_{args.session}_equity.png"
    try:
        session_report(db, args.session, out, Console())
    except PersistenceError as e:
        print(f"report error: {e}", file=sys.stderr)
        return 1
    return 0


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
    rep = sub.add_parser("report", help="print a stored session's report and draw its equity curve")
    rep.add_argument("--session", type=int, required=True, help="session id (see the sessions table)")
    rep.add_argument("--db", type=Path, help="database file (default: [persistence] db_path)")
    rep.add_argument("--config", type=Path, default=REPO / "config" / "config.toml")
    rep.add_argument("--out", type=Path, help="PNG path (default: <report_dir>/session_<ID>_equity.png)")
    rep.set_defaults(func=cmd_report)
    from flashcrash.marketdata import commands as marketdata_commands

    marketdata_commands.add_parsers(sub)
    from flashcrash.backtest import commands as backtest_commands

    backtest_commands.add_parser(sub)
    args = p.parse_args(argv)
    return int(args.func(args))
