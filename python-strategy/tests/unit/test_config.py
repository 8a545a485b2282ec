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


def _load_with(tmp_path: Path, overlay: str) -> config.Config:
    """`config/config.toml` with `overlay` as its `local.toml`."""
    for name in ("config.toml", "schema.toml"):
        shutil.copy(REPO / "config" / name, tmp_path / name)
    (tmp_path / "local.toml").write_text(overlay)
    return config.load(tmp_path / "config.toml")


ZERO_WEIGHTS = (
    "[strategy]\nweight_volatility = 0.0\nweight_acceleration = 0.0\nweight_obi = 0.0\nweight_spread = 0.0\n"
    "weight_volume_delta = 0.0\nweight_message_velocity = 0.0\nweight_pattern = 0.0\nweight_liquidity = 0\n"
)


@pytest.mark.parametrize(
    ("overlay", "message"),
    [
        (
            "[strategy]\nentry_fraction = 0.9\nexit_fraction = 0.1\n",
            "config error: [strategy] entry_fraction = 0.9 must be below [strategy] exit_fraction = 0.1 "
            "(the target would not be above the entry)",
        ),
        (
            "[strategy]\nentry_fraction = 0.5\nexit_fraction = 0.5\n",
            "config error: [strategy] entry_fraction = 0.5 must be below [strategy] exit_fraction = 0.5 "
            "(the target would not be above the entry)",
        ),
        (
            "[strategy]\nrange_min_samples = 1001\n",
            "config error: [strategy] range_min_samples = 1001 must not exceed [strategy] range_samples = 1000",
        ),
        (
            "[event_detection]\npattern_min_candles = 6\n",
            "config error: [event_detection] pattern_min_candles = 6 must not exceed "
            "[event_detection] pattern_max_candles = 5",
        ),
        (
            "[strategy]\nscore_good = 90.0\n",
            "config error: [strategy] score_good = 90.0 must not exceed [strategy] score_excellent = 55.0",
        ),
        (
            "[strategy]\nscore_exhaustion = 40.0\n",
            "config error: [strategy] score_exhaustion = 40.0 must not exceed [strategy] score_good = 35.0",
        ),
        (
            "[event_detection]\nwarmup_secs = 301\n",
            "config error: [event_detection] warmup_secs = 301 must not exceed "
            "[event_detection] baseline_secs = 300",
        ),
        (
            ZERO_WEIGHTS,
            "config error: [strategy] weight_volatility = 0.0, weight_acceleration = 0.0, weight_obi = 0.0, "
            "weight_spread = 0.0, weight_volume_delta = 0.0, weight_message_velocity = 0.0, "
            "weight_pattern = 0.0, weight_liquidity = 0: at least one entry score weight must be above 0",
        ),
        (
            '[risk]\nmax_order_notional = "4.99"\n',
            'config error: [symbol] min_notional = "5" must not exceed [risk] max_order_notional = "4.99" (no order could trade, and a flatten\'s orders would be under the minimum notional)',
        ),
        (
            '[risk]\nmax_position_notional = "999.99"\n',
            'config error: [risk] max_order_notional = "1000" must not exceed [risk] max_position_notional = "999.99"',
        ),
        (
            "[risk]\nmax_open_orders = 2\n",
            "config error: [risk] max_positions = 3 must not exceed [risk] max_open_orders = 2",
        ),
        (
            "[feed]\npublish_levels = 15\n",
            "config error: [event_detection] depth_levels = 20 must not exceed [feed] publish_levels = 15 (the detector sees only the published levels)",
        ),
        (
            "[event_detection]\nobi_levels = 21\n",
            "config error: [event_detection] obi_levels = 21 must not exceed [feed] publish_levels = 20 (the detector sees only the published levels)",
        ),
    ],
    ids=[
        "entry above exit",
        "entry at exit",
        "range samples",
        "pattern candles",
        "score good",
        "score exhaustion",
        "warmup",
        "zero weights",
        "order notional under min notional",
        "position notional under order notional",
        "open orders under positions",
        "depth levels over published",
        "obi levels over published",
    ],
)
def test_contradictory_keys_are_refused(tmp_path: Path, overlay: str, message: str) -> None:
    """Keys that contradict each other are refused with one line naming both keys and values, the
    same line as the engine's loader (`rust-engine/crates/common/tests/config_cases.rs`)."""
    with pytest.raises(config.ConfigError) as e:
        _load_with(tmp_path, overlay)
    assert str(e.value) == message


@pytest.mark.parametrize(
    "overlay",
    [
        "[strategy]\nentry_fraction = 0.0\nexit_fraction = 0.01\nrange_min_samples = 1000\n",
        "[event_detection]\npattern_min_candles = 5\nwarmup_secs = 300\n",
        "[strategy]\nscore_good = 55.0\nscore_exhaustion = 55.0\n",
        ZERO_WEIGHTS.replace("weight_pattern = 0.0", "weight_pattern = 0.5"),
        '[risk]\nmax_order_notional = "5"\nmax_position_notional = "5"\nmax_open_orders = 3\n',
        "[feed]\npublish_levels = 10\n[event_detection]\ndepth_levels = 10\n",
    ],
    ids=["fractions and samples", "candles and warmup", "scores", "one weight", "risk limits", "levels"],
)
def test_equal_bounds_and_one_weight_are_accepted(tmp_path: Path, overlay: str) -> None:
    _load_with(tmp_path, overlay)


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
    ok = config._decimal_ok
    assert ok("0." + "1" * 28) and ok("-79228162514264337593543950335")
    assert not ok("0." + "0" * 29) and not ok("79228162514264337593543950336")
    assert not ok("7.9228162514264337593543950336") and ok("7.922816251426433759354395033")
