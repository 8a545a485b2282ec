"""The secrets file: `.env` at the repository root (`env.example` shows its keys), read by every
`flashcrash` command into its environment before anything else, so the processes it starts (the
engine's Binance keys) and the strategy itself (the alert webhook) see them. A variable already set
in the environment wins; an empty value sets nothing. Lines are `KEY=value`, `#` comments and blank
lines skipped; a value may be quoted ('...' or "..."), and an unquoted one ends at ` #`."""

from __future__ import annotations

import os
import re
from pathlib import Path

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse(text: str) -> dict[str, str]:
    """The `KEY=value` pairs of `text` (later lines win)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = (part.strip() for part in line.removeprefix("export ").split("=", 1))
        if not _KEY.fullmatch(key):
            continue
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].strip()
        out[key] = value
    return out


def load(path: Path) -> list[str]:
    """Sets the variables of `path` (if it exists) not already in the environment; returns their
    names (never their values: they are secrets)."""
    if not path.is_file():
        return []
    added = []
    for key, value in parse(path.read_text(encoding="utf-8")).items():
        if value and key not in os.environ:
            os.environ[key] = value
            added.append(key)
    return added
