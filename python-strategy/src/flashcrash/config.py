"""Configuration: `config.toml`, with `local.toml` from the same folder layered on top, checked against
`schema.toml`, then read into frozen dataclasses.

The error lines use the same words as the engine's Rust loader: both run `tests/config_cases/cases.json`.
"""

from __future__ import annotations

import argparse
import math
import re
import tomllib
import unicodedata
from dataclasses import dataclass, fields
from decimal import Decimal
from pathlib import Path
from typing import Any

from flashcrash import engine_decimal
from flashcrash.paths import REPO

REPO_SCHEMA = REPO / "config" / "schema.toml"
_SYMBOL = re.compile(r"[A-Z0-9]{2,20}")


class ConfigError(Exception):
    """A configuration that cannot be used; the message is one line naming the key."""


def _num(x: float | int) -> str:
    return repr(x)


@dataclass(frozen=True)
class Rule:
    """What one key may hold."""

    kind: str
    spec: dict[str, Any]

    def allowed(self) -> str:
        s = self.spec
        return {
            "bool": lambda: "true or false",
            "int": lambda: f"an integer from {s['min']} to {s['max']}",
            "float": lambda: f"a number from {_num(s['min'])} to {_num(s['max'])}",
            "decimal": lambda: f"a decimal string from {s['min']} to {s['max']}",
            "enum": lambda: "one of: " + ", ".join(s["values"]),
            "url": lambda: (
                "a URL with scheme "
                + ", ".join(s["schemes"])
                + (', or "" for none' if s.get("empty") else "")
            ),
            "endpoint": lambda: "tcp://HOST:PORT with HOST a name or address (not *) and PORT 1-65535",
            "symbol": lambda: "an upper-case symbol of 2 to 20 letters and digits",
            "string": lambda: "a non-empty string",
        }[self.kind]()

    def accepts(self, v: Any) -> bool:
        s = self.spec
        match self.kind:
            case "bool":
                return isinstance(v, bool)
            case "int":
                return isinstance(v, int) and not isinstance(v, bool) and s["min"] <= v <= s["max"]
            case "float":
                return (
                    isinstance(v, int | float)
                    and not isinstance(v, bool)
                    and (isinstance(v, int) or math.isfinite(v))  # an int of any size compares exactly
                    and s["min"] <= v <= s["max"]
                )
            case "decimal":
                return (
                    isinstance(v, str)
                    and engine_decimal.holds(v)
                    and Decimal(s["min"]) <= Decimal(v) <= Decimal(s["max"])
                )
            case "enum":
                return isinstance(v, str) and v in s["values"]
            case "url":
                return isinstance(v, str) and ((v == "" and bool(s.get("empty"))) or _url_ok(v, s["schemes"]))
            case "endpoint":
                return (
                    isinstance(v, str)
                    and v.startswith("tcp://")
                    and "/" not in v[6:]
                    and _host_port(v[6:], True)
                    # A concrete host: the engine binds the endpoint and the strategy connects to it,
                    # and a wildcard can be bound but not connected to.
                    and v[6:].rpartition(":")[0] != "*"
                )
            case "symbol":
                return isinstance(v, str) and bool(_SYMBOL.fullmatch(v))
            case "string":
                return isinstance(v, str) and v != ""
        raise ConfigError(f"schema error: unknown type {self.kind!r}")


def _host_port(rest: str, need_port: bool) -> bool:
    authority = rest.split("/", 1)[0]
    host, sep, port = authority.rpartition(":")
    if not sep:
        return bool(authority) and not need_port
    # ASCII digits only: `isdigit` alone takes other scripts' digits (fullwidth ones), which int() reads.
    # Leading zeros are taken as the engine's loader takes them; at most 5 digits after them, so int()
    # never meets a string too long for it.
    digits = port.lstrip("0")
    return (
        bool(host)
        and port.isascii()
        and port.isdigit()
        and len(digits) <= 5
        and 1 <= int(digits or "0") <= 65535
    )


def _url_ok(v: str, schemes: list[str]) -> bool:
    scheme, sep, rest = v.partition("://")
    return bool(sep) and scheme in schemes and _host_port(rest, False)


_STRING_ESCAPES = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _toml_string(s: str) -> str:
    """`s` as a TOML basic string on one line: control characters escaped (as the engine's loader
    shows it), so an error naming the value stays one line."""
    out = []
    for c in s:
        if c in _STRING_ESCAPES:
            out.append(_STRING_ESCAPES[c])
        elif unicodedata.category(c) == "Cc":
            out.append(f"\\u{ord(c):04X}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def _show(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return _toml_string(v)
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return str(v)


Schema = dict[str, dict[str, Rule]]


def load_schema(path: Path) -> Schema:
    with open(path, "rb") as f:
        raw = tomllib.load(f)
    return {
        section: {key: Rule(spec["type"], spec) for key, spec in keys.items()}
        for section, keys in raw.items()
    }


def merge_layer(table: dict[str, Any], layer: dict[str, Any]) -> None:
    """`layer`'s keys over `table`'s, section by section (the later layer wins)."""
    for section, keys in layer.items():
        table.setdefault(section, {}).update(keys)


def read_toml(path: Path) -> dict[str, Any]:
    """One TOML file; `ConfigError` naming it when it cannot be read or parsed."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"config error: {path}: cannot read: {e}") from None
    except ValueError as e:  # TOMLDecodeError, or an integer of over 4300 digits
        raise ConfigError(f"config error: {path}: invalid TOML: {e}".replace("\n", " ")) from None


def check_layer(schema: Schema, table: dict[str, Any], file: str) -> None:
    for section, value in table.items():
        rules = schema.get(section)
        if rules is None:
            raise ConfigError(
                f"config error: {file}: unknown section [{section}]; allowed sections: {', '.join(sorted(schema))}"
            )
        if not isinstance(value, dict):
            raise ConfigError(f"config error: {file}: [{section}] must be a table")
        for key, v in value.items():
            rule = rules.get(key)
            if rule is None:
                raise ConfigError(
                    f"config error: {file}: unknown key [{section}] {key}; allowed keys: {', '.join(sorted(rules))}"
                )
            if not rule.accepts(v):
                raise ConfigError(f"config error: [{section}] {key} = {_show(v)}: expected {rule.allowed()}")


def check_complete(schema: Schema, table: dict[str, Any]) -> None:
    for section, rules in sorted(schema.items()):
        for key, rule in sorted(rules.items()):
            if key not in table.get(section, {}):
                raise ConfigError(f"config error: missing key [{section}] {key} (expected {rule.allowed()})")


def check_cross_fields(table: dict[str, Any]) -> None:
    symbol = table.get("symbol", {})
    quantity, step = symbol.get("order_quantity"), symbol.get("quantity_step")
    if isinstance(quantity, str) and isinstance(step, str) and Decimal(quantity) % Decimal(step):
        raise ConfigError(
            f"config error: [symbol] order_quantity = {quantity} must be a multiple of "
            f"[symbol] quantity_step = {step}"
        )
    for low_section, low, high_section, high, why in _NOT_ABOVE:
        a, b = table.get(low_section, {}).get(low), table.get(high_section, {}).get(high)
        if _exceeds(a, b):
            raise ConfigError(
                f"config error: [{low_section}] {low} = {_show(a)} must not exceed "
                f"[{high_section}] {high} = {_show(b)}" + (f" ({why})" if why else "")
            )
    fraction, positions = (
        table.get("backtest", {}).get("position_fraction"),
        table.get("risk", {}).get("max_positions"),
    )
    if _number(fraction) and _number(positions) and fraction * positions > 1:
        raise ConfigError(
            f"config error: [backtest] position_fraction = {_show(fraction)} times [risk] max_positions = "
            f"{_show(positions)} is over 1: the later entries could not be paid for (the paper venue "
            "refuses them, and each refusal counts against the circuit breaker)"
        )
    strategy = table.get("strategy", {})
    entry, exit_ = strategy.get("entry_fraction"), strategy.get("exit_fraction")
    if _number(entry) and _number(exit_) and entry >= exit_:
        raise ConfigError(
            f"config error: [strategy] entry_fraction = {_show(entry)} must be below "
            f"[strategy] exit_fraction = {_show(exit_)} (the target would not be above the entry)"
        )
    weights = {k: strategy.get(k) for k in _ENTRY_WEIGHTS}
    if all(_number(w) for w in weights.values()) and not any(w > 0 for w in weights.values()):
        shown = ", ".join(f"{k} = {_show(w)}" for k, w in weights.items())
        raise ConfigError(
            f"config error: [strategy] {shown}: at least one entry score weight must be above 0"
        )


# Pairs of keys whose first must not exceed its second, (section, lower, section, upper, why), checked
# in order (`why`, when not empty, ends the error in parentheses).
_DETECTOR_SEES = "the detector sees only the published levels"
_NOT_ABOVE = (
    ("feed", "reconnect_initial_ms", "feed", "reconnect_max_ms", ""),
    ("event_detection", "warmup_secs", "event_detection", "baseline_secs", ""),
    ("event_detection", "pattern_min_candles", "event_detection", "pattern_max_candles", ""),
    ("strategy", "range_min_samples", "strategy", "range_samples", ""),
    ("strategy", "score_good", "strategy", "score_excellent", ""),
    # A selling exhaustion lowers the acceptance threshold to score_exhaustion: above score_good it
    # would raise it (`trading_engine.scoring`).
    ("strategy", "score_exhaustion", "strategy", "score_good", ""),
    (
        "symbol",
        "min_notional",
        "risk",
        "max_order_notional",
        "no order could trade, and a flatten's orders would be under the minimum notional",
    ),
    ("risk", "max_order_notional", "risk", "max_position_notional", ""),
    ("risk", "max_positions", "risk", "max_open_orders", ""),
    ("event_detection", "depth_levels", "feed", "publish_levels", _DETECTOR_SEES),
    ("event_detection", "obi_levels", "feed", "publish_levels", _DETECTOR_SEES),
)
# The entry score's weights: all 0 would leave no score to reach (`trading_engine.scoring`).
_ENTRY_WEIGHTS = (
    "weight_volatility",
    "weight_acceleration",
    "weight_obi",
    "weight_spread",
    "weight_volume_delta",
    "weight_message_velocity",
    "weight_pattern",
    "weight_liquidity",
)


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _exceeds(a: Any, b: Any) -> bool:
    """`a > b`: two decimal strings compared exactly, or two numbers."""
    if isinstance(a, str) and isinstance(b, str):
        return engine_decimal.holds(a) and engine_decimal.holds(b) and Decimal(a) > Decimal(b)
    return _number(a) and _number(b) and a > b


@dataclass(frozen=True)
class SymbolConfig:
    name: str
    order_quantity: Decimal
    quantity_step: Decimal
    min_notional: Decimal


@dataclass(frozen=True)
class EventDetectionConfig:
    """`[event_detection]`; units and meaning in `config/config.toml`."""

    jitter_buffer_ms: int = 1500
    baseline_secs: int = 300
    warmup_secs: int = 60
    volatility_window_secs: int = 10
    volatility_ratio: float = 5.0
    volatility_floor_bps: float = 20.0
    acceleration_span_secs: int = 3
    acceleration_bps_per_s2: float = 8.0
    obi_levels: int = 10
    obi_threshold: float = 0.5
    spread_ratio: float = 4.0
    volume_delta_window_secs: int = 10
    volume_delta_z: float = 4.0
    velocity_window_secs: int = 5
    velocity_ratio: float = 3.0
    velocity_min_per_sec: float = 10.0
    velocity_touch_only: bool = True
    pattern_min_candles: int = 3
    pattern_max_candles: int = 5
    exhaustion_wick_pct: float = 20.0
    exhaustion_wick_growth_pct: float = 10.0
    climax_wick_pct: float = 20.0
    climax_volume_ratio: float = 1.5
    depth_levels: int = 20
    liquidity_min_usd: float = 100000.0
    extreme_imbalance: float = 0.7
    wall_ratio: float = 3.0
    core_quorum: int = 3
    core_quorum_velocity: int = 2
    quorum_needs_price: bool = False
    price_move_sigmas: float = 4.5
    quorum_release_ratio: float = 0.9
    active_confirm_secs: float = 2.0
    active_hold_secs: int = 5
    recovery_confirm_secs: int = 30


@dataclass(frozen=True)
class StrategyConfig:
    """`[strategy]`; units and meaning in `config/config.toml`."""

    entry_fraction: float = 0.2
    exit_fraction: float = 0.8
    range_samples: int = 1000
    signal_range_percentile: float = 50.0
    range_min_samples: int = 5
    entry_max_wait_secs: int = 15
    price_tick: Decimal = Decimal("0.0001")
    volume_multiple: float = 2.0
    volume_window_secs: int = 60
    volume_min_quote: float = 200.0
    weight_volatility: float = 15.0
    weight_acceleration: float = 15.0
    weight_obi: float = 15.0
    weight_spread: float = 10.0
    weight_volume_delta: float = 15.0
    weight_message_velocity: float = 10.0
    weight_pattern: float = 10.0
    weight_liquidity: float = 10.0
    score_excellent: float = 85.0
    score_good: float = 70.0
    score_exhaustion: float = 60.0
    entry_cooldown_secs: int = 5
    loss_cooldown_secs: int = 10
    stop_loss_pct: float = 1.5
    max_hold_secs: int = 20
    exit_on_bearish_candle: bool = True
    gap_exit_pct: float = 0.1
    trailing_stop: bool = False
    trailing_stop_pct: float = 0.5


@dataclass(frozen=True)
class RiskConfig:
    """`[risk]`; the engine enforces `max_order_notional`, `max_open_orders` and `max_positions` too,
    and `max_position_notional` alone (the backtest's venue applies the engine's rules with it)."""

    max_order_notional: Decimal = Decimal("1000")
    max_open_orders: int = 5
    max_position_notional: Decimal = Decimal("3000")
    max_positions: int = 3
    min_edge_pct: float = 0.3
    max_latency_ms: int = 500
    max_spread_ratio: float = 10.0
    min_liquidity_usd: float = 100000.0
    breaker_failures: int = 3
    breaker_open_secs: int = 30
    order_timeout_ms: int = 1000


@dataclass(frozen=True)
class BacktestConfig:
    """`[backtest]`; read by `flashcrash backtest` (units and meaning in `config/config.toml`)."""

    initial_capital: Decimal = Decimal("1000")
    position_fraction: float = 0.0
    order_latency_ms: int = 20
    slippage_bps: float = 0.0
    fill_rule: str = "trade_through"
    book_interval_ms: int = 100
    book_seed: int = 1
    data_gap_secs: int = 300


def _typed(cls: type, table: dict[str, Any]) -> Any:
    """`cls` from its section's table, each value converted to the field's declared type."""
    convert = {"float": float, "Decimal": Decimal, "int": int, "bool": bool, "str": str}
    return cls(**{f.name: convert[str(f.type)](table[f.name]) for f in fields(cls)})


@dataclass(frozen=True)
class ZmqConfig:
    data_endpoint: str
    command_endpoint: str
    response_endpoint: str
    strategy_endpoint: str  # the strategy's StateChange PUB
    strategy_busy_poll_us: int = 0  # the client's spin before it sleeps in the poll (0: never)


@dataclass(frozen=True)
class MonitoringConfig:
    log_level: str
    log_format: str
    health_interval_ms: int
    engine_metrics_port: int
    strategy_metrics_port: int
    watchdog_interval_secs: int
    watchdog_memory_growth_mib: int
    watchdog_clock_drift_ms: int
    watchdog_action: str
    alert_format: str
    alert_min_interval_secs: int
    alert_drawdown_pct: float


@dataclass(frozen=True)
class Config:
    """What the strategy reads. The engine's sections are validated too, but kept as plain tables."""

    symbol: SymbolConfig
    event_detection: EventDetectionConfig
    strategy: StrategyConfig
    risk: RiskConfig
    zmq: ZmqConfig
    monitoring: MonitoringConfig
    initial_capital: Decimal
    report_dir: Path
    raw: dict[str, dict[str, Any]]
    backtest: BacktestConfig = BacktestConfig()


SYNTHETIC_BOOK = "synthetic_book.toml"


def synthetic_book_overlay(path: Path) -> Path:
    """The overlay of values calibrated for the synthetic book of a trade file's replay (the backtest,
    an optimisation, exchange-sim on trades): `synthetic_book.toml` beside the config file at `path`,
    else the repository's."""
    beside = Path(path).parent / SYNTHETIC_BOOK
    return beside if beside.exists() else REPO / "config" / SYNTHETIC_BOOK


def add_synthetic_overlay_flag(parser: argparse.ArgumentParser) -> None:
    """`--synthetic-overlay` / `--no-synthetic-overlay` (`args.synthetic_overlay`, default on)."""
    parser.add_argument(
        "--synthetic-overlay",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=f"on a synthetic book, layer {SYNTHETIC_BOOK} beside the config (values calibrated for it) "
        "over the config and local.toml, before any --overlay (default: on; --no-synthetic-overlay: "
        "the config's values as they are)",
    )


def _schema_beside(path: Path) -> Schema:
    """`schema.toml` beside the config file at `path`, else the repository's."""
    beside = path.parent / "schema.toml"
    return load_schema(beside if beside.exists() else REPO_SCHEMA)


def _layered(
    path: Path, schema: Schema, overlays: list[Path] | None = None, only: str | None = None
) -> dict[str, Any]:
    """The file at `path`, then `local.toml` beside it, then each of `overlays`, merged in that order,
    each layer checked against `schema` on its own, the result checked complete; with `only`, that
    section of each layer alone."""
    local = path.parent / "local.toml"
    table: dict[str, Any] = {}
    for layer in [path, *([local] if local.exists() else []), *(Path(p) for p in overlays or [])]:
        part = read_toml(layer)
        if only is not None:
            part = {k: v for k, v in part.items() if k == only}
        check_layer(schema, part, str(layer))
        merge_layer(table, part)
    check_complete(schema, table)
    return table


def load_zmq(path: Path) -> ZmqConfig:
    """The `[zmq]` section of the configuration at `path` (and `local.toml` beside it), checked alone:
    the engine's addresses, which is all a command to the running engine needs (`flashcrash halt` is
    not refused for a bad value elsewhere in the files)."""
    path = Path(path)
    table = _layered(path, {"zmq": _schema_beside(path)["zmq"]}, only="zmq")
    return _typed(ZmqConfig, table["zmq"])  # type: ignore[no-any-return]


def load(path: Path, overlays: list[Path] | None = None) -> Config:
    """Loads, layers and validates the configuration at `path`: `local.toml` beside it, then each of
    `overlays` in order (e.g. `config/best_params.toml` from `flashcrash optimize --save-best`), each
    layer checked against the schema on its own."""
    path = Path(path)
    table = _layered(path, _schema_beside(path), overlays)
    check_cross_fields(table)
    s, e, st, z, m = (table[k] for k in ("symbol", "event_detection", "strategy", "zmq", "monitoring"))
    try:
        report_dir = Path(table["persistence"]["report_dir"]).expanduser()
    except RuntimeError as e:  # `~user` of no such user (or no home folder)
        shown = _show(table["persistence"]["report_dir"])
        raise ConfigError(f"config error: [persistence] report_dir = {shown}: {e}") from None
    if not report_dir.is_absolute():
        report_dir = REPO / report_dir
    return Config(
        symbol=SymbolConfig(
            s["name"], Decimal(s["order_quantity"]), Decimal(s["quantity_step"]), Decimal(s["min_notional"])
        ),
        event_detection=EventDetectionConfig(
            **{
                f.name: float(e[f.name]) if f.type == "float" else e[f.name]
                for f in fields(EventDetectionConfig)
            }
        ),
        strategy=_typed(StrategyConfig, st),
        risk=_typed(RiskConfig, table["risk"]),
        zmq=_typed(ZmqConfig, z),
        monitoring=_typed(MonitoringConfig, m),
        initial_capital=Decimal(table["backtest"]["initial_capital"]),
        report_dir=report_dir,
        raw=table,
        backtest=_typed(BacktestConfig, table["backtest"]),
    )


def load_synthetic(path: Path, overlays: list[Path] | None = None) -> Config:
    """`load` with the synthetic-book overlay (`synthetic_book_overlay`) before `overlays`: the
    configuration of a replay of a trade file, as `flashcrash backtest` loads it by default."""
    return load(path, [synthetic_book_overlay(path), *(overlays or [])])
