"""The shared configuration cases (tests/config_cases/cases.json), also run by the Rust loader."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from flashcrash import config

REPO = Path(__file__).resolve().parents[3]
CASES = json.loads((REPO / "tests" / "config_cases" / "cases.json").read_text())["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_shared_case(case: dict, tmp_path: Path) -> None:
    for name in ("config.toml", "schema.toml"):
        shutil.copy(REPO / "config" / name, tmp_path / name)
    if case["overlay"]:
        (tmp_path / "local.toml").write_text(case["overlay"])
    if not case["error_contains"]:
        config.load(tmp_path / "config.toml")
        return
    with pytest.raises(config.ConfigError) as e:
        config.load(tmp_path / "config.toml")
    line = str(e.value)
    assert "\n" not in line
    for want in case["error_contains"]:
        assert want in line


def test_shipped_config() -> None:
    cfg = config.load(REPO / "config" / "config.toml")
    assert cfg.symbol.name == "POLUSDT"
    assert cfg.event_detection.baseline_secs == 300
    assert cfg.report_dir.is_absolute()
