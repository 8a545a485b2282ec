"""The secrets file `.env`: parsed as `env.example` writes it, loaded without overriding what the
environment already has and without an empty value setting anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from flashcrash import envfile
from flashcrash.launcher import REPO


def test_parse_reads_keys_values_quotes_and_comments() -> None:
    text = """
# a comment
BINANCE_API_KEY=abc123
export BINANCE_API_SECRET = "s3cr#t"
FLASHCRASH_ALERT_WEBHOOK_URL=https://hooks.example/T/B/X # prod
EMPTY=
not a line
1BAD=x
"""
    assert envfile.parse(text) == {
        "BINANCE_API_KEY": "abc123",
        "BINANCE_API_SECRET": "s3cr#t",
        "FLASHCRASH_ALERT_WEBHOOK_URL": "https://hooks.example/T/B/X",
        "EMPTY": "",
    }


def test_every_key_of_env_example_is_read() -> None:
    keys = envfile.parse((REPO / "env.example").read_text())
    assert {"BINANCE_API_KEY", "BINANCE_API_SECRET", "FLASHCRASH_ALERT_WEBHOOK_URL"} <= set(keys)


def test_load_sets_what_the_environment_lacks_and_names_no_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / ".env"
    path.write_text("FC_TEST_NEW=from-file\nFC_TEST_SET=from-file\nFC_TEST_EMPTY=\n")
    monkeypatch.setenv("FC_TEST_SET", "from-env")
    monkeypatch.delenv("FC_TEST_NEW", raising=False)
    monkeypatch.delenv("FC_TEST_EMPTY", raising=False)
    added = envfile.load(path)
    assert added == ["FC_TEST_NEW"]
    import os

    assert os.environ["FC_TEST_NEW"] == "from-file" and os.environ["FC_TEST_SET"] == "from-env"
    assert "FC_TEST_EMPTY" not in os.environ
    monkeypatch.delenv("FC_TEST_NEW")
    assert envfile.load(tmp_path / "missing") == []
