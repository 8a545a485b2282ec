"""The session summary as JSON: written to `--summary-json` and to `<report_dir>/session_<time>.json`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flashcrash.atomic_files import write_text


def write_summary(summary: dict[str, Any], paths: list[Path]) -> None:
    """Writes each file atomically (`atomic_files`), so a reader never sees half a file."""
    text = json.dumps(summary, indent=2, sort_keys=False)
    for p in paths:
        write_text(p, text)
