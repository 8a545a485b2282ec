"""Fixtures of the cross-process tests: the folder of the Rust binaries."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def bin_dir() -> Path:
    value = os.environ.get("FLASHCRASH_BIN_DIR")
    if not value:
        pytest.skip("FLASHCRASH_BIN_DIR is not set (make test sets it to rust-engine/target/debug)")
    path = Path(value)
    for name in ("engine", "exchange-sim"):
        if not (path / name).exists():
            pytest.fail(f"{path / name} is missing: run make build")
    return path
