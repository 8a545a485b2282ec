"""Configuration without restart, strategy side: after the engine applies a `ReloadConfig` it publishes
`StateChange` component `config`; the runner then re-reads its own config file (`reload`), and the
thresholds and limits below take effect at once; `flashcrash reload` sends the command
(`engine_command.ask`).

Reloadable (the values the components read at each use, so swapping them is enough):

* `[event_detection]`: every threshold: `volatility_ratio`, `volatility_floor_bps`,
  `acceleration_bps_per_s2`, `obi_levels`, `obi_threshold`, `spread_ratio`, `volume_delta_z`,
  `velocity_ratio`, `velocity_min_per_sec`, `exhaustion_wick_pct`, `exhaustion_wick_growth_pct`,
  `climax_wick_pct`, `climax_volume_ratio`, `depth_levels`, `liquidity_min_usd`, `extreme_imbalance`,
  `wall_ratio`, `warmup_secs`, and the state machine's `core_quorum`, `core_quorum_velocity`,
  `quorum_needs_price`, `price_move_sigmas`, `quorum_release_ratio`, `active_confirm_secs`, `active_hold_secs`,
  `recovery_confirm_secs`;
* `[strategy]`: all but `range_samples` and `volume_window_secs`;
* `[risk]`: all (emergency-stop limits, breaker, order timeout, position and notional limits);
* `[symbol] order_quantity`, `[fees]` (the rates of fills estimated on reconciliation);
* `[monitoring]` `log_level`, `alert_format`, `alert_min_interval_secs`, `alert_drawdown_pct`.

Not reloadable (they size windows and buffers that hold the market seen so far; a change is logged as
needing a restart and the running value stays): `[event_detection]` `jitter_buffer_ms`,
`baseline_secs`, `volatility_window_secs`, `acceleration_span_secs`, `volume_delta_window_secs`,
`velocity_window_secs`, `pattern_min_candles`, `pattern_max_candles`; `[strategy]` `range_samples`,
`volume_window_secs`; and every other key the strategy reads (`[symbol]` `name` and
`quantity_step`, `min_notional`, `[zmq]`, `[persistence]`, `[monitoring]` `log_format`, `health_interval_ms`,
`strategy_metrics_port`): addresses and keys are never changed while running. Keys only the engine
reads are not the strategy's business (the engine reports them).

The apply is atomic: the new file is loaded and validated whole (`config.load`, the schema checks of a
start), every new object is built, and only then are they swapped in; an invalid file (or any other
failure to load it) is logged and nothing changes.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, fields, replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flashcrash import config as config_mod
from flashcrash.config import Config, EventDetectionConfig, MonitoringConfig, RiskConfig, StrategyConfig
from flashcrash.monitoring.logs import level_number
from flashcrash.trading_engine.exits import ExitRules
from flashcrash.trading_engine.money import Quantity
from flashcrash.trading_engine.scoring import Bands, Weights

if TYPE_CHECKING:
    from flashcrash.runner import Runner

log = logging.getLogger(__name__)
NS = 1_000_000_000

FIXED_DETECTION = frozenset(
    {
        "jitter_buffer_ms", "baseline_secs", "volatility_window_secs", "acceleration_span_secs",
        "volume_delta_window_secs", "velocity_window_secs", "pattern_min_candles", "pattern_max_candles",
    }
)  # fmt: skip
FIXED_STRATEGY = frozenset({"range_samples", "volume_window_secs"})
MONITORING_READ = frozenset({"log_level", "log_format", "health_interval_ms", "strategy_metrics_port",
                             "alert_format", "alert_min_interval_secs", "alert_drawdown_pct"})  # fmt: skip
MONITORING_RELOADABLE = frozenset(
    {"log_level", "alert_format", "alert_min_interval_secs", "alert_drawdown_pct"}
)
# Sections the strategy reads but never changes while running (the engine's own are not its business).
RESTART_SECTIONS = ("symbol", "zmq", "persistence")
# Keys of those sections only the engine reads.
ENGINE_ONLY = frozenset({("zmq", "subscriber_wait_ms"), ("zmq", "data_send_buffer_kib")})


@dataclass(frozen=True)
class Change:
    section: str
    key: str
    old: Any
    new: Any
    applied: bool

    def __str__(self) -> str:
        return f"[{self.section}] {self.key} {_show(self.old)} -> {_show(self.new)}"


def _show(v: Any) -> str:
    return repr(v) if isinstance(v, str) else str(v)


def _changes(section: str, old: Any, new: Any, fixed: frozenset[str]) -> list[Change]:
    return [
        Change(section, f.name, getattr(old, f.name), getattr(new, f.name), f.name not in fixed)
        for f in fields(old)
        if getattr(old, f.name) != getattr(new, f.name)
    ]


@dataclass(frozen=True)
class Plan:
    """What a reload will do: the values to swap in, and every change seen (applied or not)."""

    detection: EventDetectionConfig
    strategy: StrategyConfig
    risk: RiskConfig
    quantity: Quantity
    monitoring: MonitoringConfig
    fees: dict[str, Any]
    changes: list[Change]


def plan(current: Config, new: Config) -> Plan:
    """The reloadable part of `new` over `current` (fixed keys keep their running value)."""
    det = _changes("event_detection", current.event_detection, new.event_detection, FIXED_DETECTION)
    st = _changes("strategy", current.strategy, new.strategy, FIXED_STRATEGY)
    risk = _changes("risk", current.risk, new.risk, frozenset())
    mon = [
        c
        for c in _changes(
            "monitoring", current.monitoring, new.monitoring, MONITORING_READ - MONITORING_RELOADABLE
        )
        if c.key in MONITORING_READ
    ]
    old_fees, new_fees = current.raw.get("fees", {}), new.raw.get("fees", {})
    fees = [
        Change("fees", k, old_fees.get(k), new_fees.get(k), True)
        for k in sorted(set(old_fees) | set(new_fees))
        if old_fees.get(k) != new_fees.get(k)
    ]
    rest: list[Change] = []
    for section in RESTART_SECTIONS:
        old_t, new_t = current.raw.get(section, {}), new.raw.get(section, {})
        for key in sorted(set(old_t) | set(new_t)):
            if (
                old_t.get(key) != new_t.get(key)
                and (section, key) != ("symbol", "order_quantity")
                and (section, key) not in ENGINE_ONLY
            ):
                rest.append(Change(section, key, old_t.get(key), new_t.get(key), False))
    qty_change: list[Change] = []
    quantity = Quantity.of(current.symbol.order_quantity)
    if new.symbol.order_quantity != current.symbol.order_quantity:
        q = Quantity.of(new.symbol.order_quantity)
        ok = q is not None
        qty_change.append(
            Change("symbol", "order_quantity", current.symbol.order_quantity, new.symbol.order_quantity, ok)
        )
        if ok:
            quantity = q
    if quantity is None:
        raise config_mod.ConfigError(f"config error: [symbol] order_quantity {new.symbol.order_quantity}")
    detection = replace(current.event_detection, **{c.key: c.new for c in det if c.applied})
    strategy = replace(current.strategy, **{c.key: c.new for c in st if c.applied})
    # The rules between keys hold for what would run: a reloadable key against the running value
    # of its fixed partner (a warm-up above the running baseline would leave four indicators never
    # ready), as the loader holds them at start.
    config_mod.check_cross_fields(
        {
            "event_detection": asdict(detection),
            "strategy": asdict(strategy),
            "feed": current.raw.get("feed", {}),
        }
    )
    return Plan(
        detection,
        strategy,
        new.risk,
        quantity,
        replace(current.monitoring, **{c.key: c.new for c in mon if c.applied}),
        dict(new_fees),
        det + st + risk + qty_change + fees + mon + rest,
    )


def apply(runner: Runner, p: Plan) -> None:
    """Swaps the plan's values into the running components (plain assignments: cannot fail halfway)."""
    d, s, r, m = p.detection, p.strategy, p.risk, p.monitoring
    # Everything built first: nothing below this block can raise.
    rules, weights, bands = ExitRules.from_config(s), Weights.from_config(s), Bands.from_config(s)
    maker = Decimal(str(p.fees.get("maker_rate", "0")))
    taker = Decimal(str(p.fees.get("taker_rate", "0")))
    level = level_number(m.log_level)
    runner.detector.reconfigure(d)
    st = runner.strategy
    st.cfg, st.risk, st.quantity = s, r, p.quantity
    st.rules, st.weights, st.bands = rules, weights, bands
    st.volume.multiple, st.volume.min_quote = s.volume_multiple, s.volume_min_quote
    st.cooldown.entry_ns, st.cooldown.loss_ns = s.entry_cooldown_secs * NS, s.loss_cooldown_secs * NS
    stops = st.stops
    stops.max_latency_us = r.max_latency_ms * 1000.0
    stops.max_spread_ratio, stops.min_liquidity_usd = r.max_spread_ratio, r.min_liquidity_usd
    breaker = runner.orders.breaker
    breaker.max_failures, breaker.open_ns = r.breaker_failures, r.breaker_open_secs * NS
    runner.orders.timeout_ns = r.order_timeout_ms * 1_000_000
    runner.orders.maker_rate, runner.orders.taker_rate = maker, taker
    logging.getLogger().setLevel(level)
    if runner.alerts is not None:
        runner.alerts.fmt, runner.alerts.min_interval_s = m.alert_format, float(m.alert_min_interval_secs)
    runner.cfg = replace(
        runner.cfg,
        event_detection=d,
        strategy=s,
        risk=r,
        monitoring=m,
        symbol=replace(runner.cfg.symbol, order_quantity=p.quantity.value),
        raw={**runner.cfg.raw, "fees": p.fees},
    )


def reload(runner: Runner, path: Path) -> list[Change] | None:
    """Re-reads `path` and applies its thresholds and limits; None (old values kept) when invalid, or
    when reading it failed in any other way: a reload never stops the strategy."""
    try:
        new = config_mod.load(path)
        p = plan(runner.cfg, new)
    except config_mod.ConfigError as e:
        log.error("config reload refused, old values kept: %s", e)
        return None
    except Exception as e:  # a fault of the loader's own, not of the file: logged whole, nothing applied
        log.error("config reload failed, old values kept: %s: %s", type(e).__name__, e, exc_info=True)
        return None
    apply(runner, p)
    for c in p.changes:
        if c.applied:
            log.info("config reload: %s", c)
        else:
            log.warning("config reload: %s not applied (restart required)", c)
    if not p.changes:
        log.info("config reload: no change in %s", path)
    return p.changes
