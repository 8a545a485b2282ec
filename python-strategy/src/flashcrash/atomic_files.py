"""Files written whole or not at all: the content goes to a temporary file beside the target, renamed
over it (`os.replace`) once complete, so a reader (or a run stopped mid-write) sees the old file or
the new one, never half of one. Used by every report, summary and results file (the backtest's, the
optimiser's, a session's)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def replacing(path: Path, mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """An open temporary file beside `path` (its folder made if missing), renamed over `path` when
    the block ends without an error; after an error it is removed and `path` is left as it was.
    `mode` and `kwargs` are `open`'s."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, mode, **kwargs) as f:
            yield f
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> Path:
    """`text` as the whole content of `path` (UTF-8), atomically."""
    with replacing(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path
