"""Search spaces: which `[strategy]`, `[event_detection]` and `[risk]` keys a study tunes, and over
which ranges. Every range lies inside the key's range in `config/schema.toml` (`check_space`, run
before a study starts and in the tests), and a trial's values reach the strategy only through the
config loader's own checks (`overlay.trial_config`).

Pairs of keys the strategy reads together get ranges that cannot cross: `entry_fraction` stays below
`exit_fraction`, and `score_exhaustion` at most `score_good` (at most `score_excellent` = 55 in
`config/synthetic_book.toml`, the overlay every trial replays with, so the design's band order holds).
The shipped configuration with that overlay is a point of every space (`baseline`): a new study
tries it first, and the search starts from what is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import optuna

from flashcrash.config import Config, Rule, Schema


@dataclass(frozen=True)
class Param:
    """One tuned key: `low`..`high` (both included) on a grid of `step`; `kind` is the schema type
    (`int`, `float` or `bool`; a bool ignores the bounds)."""

    section: str
    key: str
    kind: str
    low: float = 0
    high: float = 1
    step: float | None = None

    @property
    def name(self) -> str:
        """The trial's parameter name, `section.key`."""
        return f"{self.section}.{self.key}"

    def distribution(self) -> optuna.distributions.BaseDistribution:
        if self.kind == "bool":
            return optuna.distributions.CategoricalDistribution([False, True])
        if self.kind == "int":
            return optuna.distributions.IntDistribution(
                int(self.low), int(self.high), step=int(self.step or 1)
            )
        return optuna.distributions.FloatDistribution(self.low, self.high, step=self.step)

    def suggest(self, trial: optuna.Trial) -> Any:
        if self.kind == "bool":
            return trial.suggest_categorical(self.name, [False, True])
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=int(self.step or 1))
        value = trial.suggest_float(self.name, self.low, self.high, step=self.step)
        # A step grid lands on values like 0.30000000000000004: keep the TOML readable.
        return round(value, 10)

    def contains(self, value: Any) -> bool:
        """Whether the trial could be given `value`: inside the bounds and on the grid."""
        if self.kind == "bool":
            return isinstance(value, bool)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not self.low <= value <= self.high
        ):
            return False
        n = (value - self.low) / (self.step or 1)
        return abs(n - round(n)) < 1e-9


@dataclass(frozen=True)
class Space:
    name: str
    params: tuple[Param, ...]

    def sample(self, trial: optuna.Trial) -> dict[str, dict[str, Any]]:
        """The trial's values as a config overlay table, `{section: {key: value}}`."""
        table: dict[str, dict[str, Any]] = {}
        for p in self.params:
            table.setdefault(p.section, {})[p.key] = p.suggest(trial)
        return table

    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def baseline(self, cfg: Config) -> dict[str, Any]:
        """The values of `cfg` for the space's keys, as trial parameters (for `enqueue_trial`); the
        keys whose value is off the space's grid are left out (the sampler draws them)."""
        out: dict[str, Any] = {}
        for p in self.params:
            v = getattr(getattr(cfg, p.section), p.key)
            if p.contains(v):
                out[p.name] = v
        return out


class SpaceError(Exception):
    """A search space that leaves the schema; the message names the key."""


def _p(
    section: str, key: str, kind: str, low: float = 0, high: float = 1, step: float | None = None
) -> Param:
    return Param(section, key, kind, low, high, step)


QUICK = Space(
    "quick",
    (
        _p("strategy", "entry_fraction", "float", 0.05, 0.45, 0.05),
        _p("strategy", "exit_fraction", "float", 0.55, 0.95, 0.05),
        _p("strategy", "stop_loss_pct", "float", 0.5, 4.0, 0.25),
        _p("strategy", "max_hold_secs", "int", 5, 60, 5),
        _p("strategy", "score_good", "float", 30.0, 55.0, 5.0),
        _p("event_detection", "volatility_floor_bps", "float", 10.0, 40.0, 5.0),
    ),
)
"""`--mode quick`: the six keys that move a backtest of the bundled crash most: where the entry and
the target sit in the rebound's range, the stop, the hold limit, the entry score, and how steep a
market must be to wake the detector.

| key | range (step) |
|---|---|
| [strategy] entry_fraction | 0.05 - 0.45 (0.05) |
| [strategy] exit_fraction | 0.55 - 0.95 (0.05) |
| [strategy] stop_loss_pct | 0.5 - 4.0 (0.25) |
| [strategy] max_hold_secs | 5 - 60 (5) |
| [strategy] score_good | 30 - 55 (5) |
| [event_detection] volatility_floor_bps | 10 - 40 (5) |
"""

FULL = Space(
    "full",
    (
        *QUICK.params,
        _p("strategy", "score_exhaustion", "float", 10.0, 30.0, 5.0),
        _p("strategy", "signal_range_percentile", "float", 0.0, 90.0, 10.0),
        _p("strategy", "volume_multiple", "float", 0.5, 3.0, 0.25),
        _p("strategy", "entry_cooldown_secs", "int", 0, 30, 5),
        _p("strategy", "loss_cooldown_secs", "int", 0, 60, 10),
        _p("strategy", "entry_max_wait_secs", "int", 5, 60, 5),
        _p("strategy", "gap_exit_pct", "float", 0.05, 1.0, 0.05),
        _p("strategy", "exit_on_bearish_candle", "bool"),
        _p("strategy", "trailing_stop", "bool"),
        _p("strategy", "trailing_stop_pct", "float", 0.1, 3.0, 0.1),
        _p("event_detection", "volatility_ratio", "float", 2.0, 10.0, 0.5),
        _p("event_detection", "acceleration_bps_per_s2", "float", 2.0, 20.0, 1.0),
        _p("event_detection", "core_quorum", "int", 2, 4),
        _p("event_detection", "active_confirm_secs", "float", 0.5, 5.0, 0.5),
        _p("event_detection", "active_hold_secs", "int", 2, 20),
        _p("event_detection", "recovery_confirm_secs", "int", 10, 90, 10),
        _p("risk", "min_edge_pct", "float", 0.1, 1.0, 0.1),
        _p("risk", "max_positions", "int", 1, 5),
        _p("risk", "max_spread_ratio", "float", 5.0, 40.0, 5.0),
    ),
)
"""`--mode random` and `--mode bayesian`: the quick keys plus these.

| key | range (step) |
|---|---|
| [strategy] score_exhaustion | 10 - 30 (5) |
| [strategy] signal_range_percentile | 0 - 90 (10) |
| [strategy] volume_multiple | 0.5 - 3.0 (0.25) |
| [strategy] entry_cooldown_secs | 0 - 30 (5) |
| [strategy] loss_cooldown_secs | 0 - 60 (10) |
| [strategy] entry_max_wait_secs | 5 - 60 (5) |
| [strategy] gap_exit_pct | 0.05 - 1.0 (0.05) |
| [strategy] exit_on_bearish_candle | false, true |
| [strategy] trailing_stop | false, true |
| [strategy] trailing_stop_pct | 0.1 - 3.0 (0.1) |
| [event_detection] volatility_ratio | 2 - 10 (0.5) |
| [event_detection] acceleration_bps_per_s2 | 2 - 20 (1) |
| [event_detection] core_quorum | 2 - 4 |
| [event_detection] active_confirm_secs | 0.5 - 5 (0.5) |
| [event_detection] active_hold_secs | 2 - 20 |
| [event_detection] recovery_confirm_secs | 10 - 90 (10) |
| [risk] min_edge_pct | 0.1 - 1.0 (0.1) |
| [risk] max_positions | 1 - 5 |
| [risk] max_spread_ratio | 5 - 40 (5) |
"""

SPACES = {"quick": QUICK, "random": FULL, "bayesian": FULL}


def _inside(p: Param, rule: Rule) -> bool:
    if rule.kind != p.kind:
        return False
    if p.kind == "bool":
        return True
    return rule.accepts(p.low if p.kind == "float" else int(p.low)) and rule.accepts(
        p.high if p.kind == "float" else int(p.high)
    )


def check_space(space: Space, schema: Schema) -> None:
    """Raises `SpaceError` naming the first key whose type or bounds leave `schema`."""
    for p in space.params:
        rule = schema.get(p.section, {}).get(p.key)
        if rule is None:
            raise SpaceError(f"search space {space.name}: [{p.section}] {p.key} is not a config key")
        if not _inside(p, rule):
            raise SpaceError(
                f"search space {space.name}: [{p.section}] {p.key} {p.kind} {p.low}..{p.high}: "
                f"the schema allows {rule.allowed()}"
            )
