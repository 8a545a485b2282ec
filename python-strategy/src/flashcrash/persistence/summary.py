"""The session summary as JSON: written to `--summary-json` and to `<report_dir>/session_<time>.json`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_summary(summary: dict[str, Any], paths: list[Path]) -> None:
    """Writes atomically (temporary file, then rename), so a reader never sees half a file."""
    text = json.dumps(summary, indent=2, sort_keys=False)
    for p in paths:
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(p.suffix + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, p)
