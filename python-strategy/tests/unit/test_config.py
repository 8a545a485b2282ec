"""The shared configuration cases (tests/config_cases/cases.json), also run by the Rust loader."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from flashcrash import config, engine_decimal

REPO = Path(__file__).resolve().parents[3]
CASES = json.loads((REPO / "tests" / "config_cases" / "cases.json").read_text())["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_shared_case(case: dict, tmp_path: Path) -> None:
    for name in ("config.toml", "schema.toml"):
        shutil.copy(REPO / "config" / name, tmp_path / name)
    if case["overlay"]:
        (tmp_path / "local.toml").write_text(case["overlay"])
    if not case["error_contains"] and "error" not in case:
        config.load(tmp_path / "config.toml")
        return
    with pytest.raises(config.ConfigError) as e:
        config.load(tmp_path / "config.toml")
    line = str(e.value)
    assert "\n" not in line
    for want in case["error_contains"]:
        assert want in line
    assert line == case.get("error", line)


def test_shipped_config() -> None:
    cfg = config.load(REPO / "config" / "config.toml")
    assert cfg.symbol.name == "POLUSDT"
    assert cfg.event_detection.baseline_secs == 300
    assert cfg.report_dir.is_absolute()


def _calibrated(cfg: config.Config) -> tuple[object, ...]:
    st = cfg.strategy
    return (
        cfg.event_detection.quorum_needs_price,
        st.volume_multiple,
        (st.score_excellent, st.score_good, st.score_exhaustion),
        cfg.risk.min_liquidity_usd,
    )


def test_the_shipped_config_holds_the_designs_values_and_the_overlay_the_synthetic_books(
    tmp_path: Path,
) -> None:
    """config.toml ships the design's values (any 3 of 5, volume 2x, bands 85 / 70 / 60, the $100k
    liquidity threshold); config/synthetic_book.toml changes those keys alone, for the synthetic
    book; a config folder without one takes the repository's."""
    shipped = REPO / "config" / "config.toml"
    assert _calibrated(config.load(shipped)) == (False, 2.0, (85.0, 70.0, 60.0), 100000.0)
    assert _calibrated(config.load_synthetic(shipped)) == (True, 1.0, (55.0, 35.0, 30.0), 1000.0)
    overlay = config.read_toml(config.synthetic_book_overlay(shipped))
    assert {f"{s}.{k}" for s, t in overlay.items() for k in t} == {
        "event_detection.quorum_needs_price",
        "strategy.volume_multiple",
        "strategy.score_excellent",
        "strategy.score_good",
        "strategy.score_exhaustion",
        "risk.min_liquidity_usd",
    }
    shutil.copy(shipped, tmp_path / "config.toml")
    assert config.synthetic_book_overlay(tmp_path / "config.toml") == REPO / "config" / "synthetic_book.toml"
    (tmp_path / "synthetic_book.toml").write_text("[strategy]\nvolume_multiple = 3.0\n")
    assert config.load_synthetic(tmp_path / "config.toml").strategy.volume_multiple == 3.0


def _load_with(tmp_path: Path, overlay: str) -> config.Config:
    """`config/config.toml` with `overlay` as its `local.toml`."""
    for name in ("config.toml", "schema.toml"):
        shutil.copy(REPO / "config" / name, tmp_path / name)
    (tmp_path / "local.toml").write_text(overlay)
    return config.load(tmp_path / "config.toml")


def test_a_huge_integer_is_a_config_error_not_a_crash(tmp_path: Path) -> None:
    """An integer too large for a float, given to a float key, is refused naming the key; one of
    more digits than Python converts is invalid TOML (named by file), not a ValueError."""
    big = "1" + "0" * 400
    with pytest.raises(config.ConfigError) as e:
        _load_with(tmp_path, f"[strategy]\nstop_loss_pct = {big}\n")
    assert (
        str(e.value)
        == f"config error: [strategy] stop_loss_pct = {big}: expected a number from 0.01 to 100.0"
    )
    with pytest.raises(config.ConfigError) as e:
        _load_with(tmp_path, f"[strategy]\nstop_loss_pct = 1{'0' * 5000}\n")
    assert str(e.value).startswith(
        f"config error: {tmp_path / 'local.toml'}: invalid TOML: Exceeds the limit"
    )


def test_report_dir_expands_the_home_folder(tmp_path: Path) -> None:
    """`~` in report_dir is the home folder, as in db_path (`persistence.service.resolve_db_path`)."""
    cfg = _load_with(tmp_path, '[persistence]\nreport_dir = "~/flashcrash-reports"\n')
    assert cfg.report_dir == Path.home() / "flashcrash-reports"


def test_decimals_are_those_the_engine_can_hold() -> None:
    """At most 28 digits after the point, and all the digits under 2**96 (`rust_decimal`): the engine
    refuses the rest (the shared cases check both loaders on the same values)."""
    ok = engine_decimal.holds
    assert ok("0." + "1" * 28) and ok("-79228162514264337593543950335")
    assert not ok("0." + "0" * 29) and not ok("79228162514264337593543950336")
    assert not ok("7.9228162514264337593543950336") and ok("7.922816251426433759354395033")


def test_a_decimal_of_thousands_of_digits_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    """A decimal string of more digits than Python's int() converts (4300) is refused naming the key,
    never a ValueError; however many leading zeros come before its digits, it is read as the engine's
    loader reads it (`"000…0500"` is 500, as `rust_decimal` parses it)."""
    zeros = "0" * 5000
    cfg = _load_with(tmp_path, f'[symbol]\norder_quantity = "{zeros}500"\n')
    assert cfg.symbol.order_quantity == Decimal(500)
    for value in ("5" * 5000, f"{zeros}1{zeros}", f"0.{zeros}5", f"-{'9' * 5000}.5"):
        with pytest.raises(config.ConfigError) as e:
            _load_with(tmp_path, f'[symbol]\norder_quantity = "{value}"\n')
        assert str(e.value).startswith(f'config error: [symbol] order_quantity = "{value[:20]}')
        assert "expected a decimal string from" in str(e.value)
    assert engine_decimal.holds(f"{zeros}79228162514264337593543950335")
    assert not engine_decimal.holds(f"{zeros}79228162514264337593543950336")


def test_a_port_of_thousands_of_digits_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    """The same for an endpoint's port: refused naming the key, never a ValueError; leading zeros
    are taken as the engine's loader takes them (Rust's `u32` parse)."""
    with pytest.raises(config.ConfigError) as e:
        _load_with(tmp_path, f'[zmq]\ndata_endpoint = "tcp://127.0.0.1:{"9" * 5000}"\n')
    assert str(e.value).startswith('config error: [zmq] data_endpoint = "tcp://127.0.0.1:999')
    assert config._host_port(f"127.0.0.1:{'0' * 5000}5555", True)
    assert not config._host_port(f"127.0.0.1:{'0' * 5000}65536", True)
    assert not config._host_port(f"127.0.0.1:{'0' * 5000}", True)


def test_a_report_dir_of_an_unknown_user_is_a_config_error(tmp_path: Path) -> None:
    """`~user` of no such user cannot be expanded: refused naming the key, never a RuntimeError."""
    with pytest.raises(config.ConfigError) as e:
        _load_with(tmp_path, '[persistence]\nreport_dir = "~no-such-user-fc/reports"\n')
    assert str(e.value).startswith('config error: [persistence] report_dir = "~no-such-user-fc/reports": ')
