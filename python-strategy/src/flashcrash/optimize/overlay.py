"""Config overlays of tuned values: a trial's values become a `Config` through the config loader (the
same schema checks as `config/local.toml`), and the best values are saved as an overlay file in the
format of `config/local.toml`, loadable with `--overlay` (or `config.load(path, overlays=[...])`)."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

from flashcrash import config as config_mod
from flashcrash.atomic_files import write_text

Table = dict[str, dict[str, Any]]


def params_table(params: dict[str, Any]) -> Table:
    """Optuna's `section.key` parameters as `{section: {key: value}}`, in the order given."""
    table: Table = {}
    for name, value in params.items():
        section, _, key = name.partition(".")
        table.setdefault(section, {})[key] = round(value, 10) if isinstance(value, float) else value
    return table


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"cannot write {v!r} to a config overlay")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string is a JSON string for these values
    raise ValueError(f"cannot write {v!r} ({type(v).__name__}) to a config overlay")


def to_toml(table: Table, header: list[str] | None = None) -> str:
    """`table` as TOML: `# header` lines, then one `[section]` of `key = value` lines each."""
    lines = [f"# {h}" for h in header or []]
    for section, keys in table.items():
        if lines:
            lines.append("")
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {_value(v)}" for key, v in keys.items())
    return "\n".join(lines) + "\n"


def write_overlay(path: Path, table: Table, header: list[str] | None = None) -> Path:
    """`table` (with `header`) as a TOML overlay at `path`, written atomically."""
    return write_text(Path(path), to_toml(table, header))


def trial_config(base: Path, overlays: list[Path], table: Table) -> config_mod.Config:
    """The configuration at `base` (with its `local.toml`) and `overlays`, then `table` on top, all
    through `config.load`: a value the schema refuses raises `ConfigError` naming the key."""
    with tempfile.TemporaryDirectory(prefix="flashcrash-trial-") as tmp:
        layer = write_overlay(Path(tmp) / "trial.toml", table)
        return config_mod.load(base, [*overlays, layer])
