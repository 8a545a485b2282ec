//! Typed configuration sections. Values are already checked against the schema when these are built.

use serde::Deserialize;

use super::schema::{show, Fault, NotAbove};
use super::ConfigError;
use crate::Dec;

/// Execution mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionMode {
    /// Fill against the engine's own book.
    Paper,
    /// Send orders to the venue.
    Real,
}

/// `[execution]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutionConfig {
    /// Paper or real.
    pub mode: ExecutionMode,
    /// Venue REST base URL for orders.
    pub rest_url: String,
    /// `recvWindow` of signed requests, ms.
    pub recv_window_ms: u64,
    /// WebSocket API base URL of the user data stream (real mode).
    pub ws_api_url: String,
    /// Real mode is confirmed (the `--confirm-real` flag does the same).
    pub confirm_real: bool,
    /// The engine's own halt (dead feed) also flattens its net position.
    pub flatten_on_halt: bool,
    /// Paper mode: which market trades fill a resting limit order.
    pub paper_fill: PaperFill,
    /// Real mode: seconds between reconciliations with the venue (0 = only on stream connects).
    pub reconcile_secs: u64,
}

/// Paper mode: which market trades fill a resting limit order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaperFill {
    /// Only a trade strictly beyond the order's price.
    TradeThrough,
    /// Also a trade at the price.
    Touch,
}

/// `[symbol]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SymbolConfig {
    /// Venue symbol, upper case.
    pub name: String,
    /// Order size, base units.
    pub order_quantity: Dec,
    /// Quantity grid: the venue's step or a multiple of it.
    pub quantity_step: Dec,
    /// Smallest notional of an order: the venue's `NOTIONAL` minimum or more.
    pub min_notional: Dec,
}

/// `[feed]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    /// WebSocket base URL.
    pub ws_url: String,
    /// Backup WebSocket base URL, empty for none.
    pub backup_ws_url: String,
    /// REST base URL.
    pub rest_url: String,
    /// Levels of the REST snapshot.
    pub snapshot_limit: u32,
    /// Period of the snapshot check, s (0 = off).
    pub snapshot_refresh_secs: u64,
    /// Levels per side published.
    pub publish_levels: usize,
    /// Most book snapshots published per second.
    pub max_publish_hz: u32,
    /// Silence that means a dead feed, ms.
    pub heartbeat_timeout_ms: u64,
    /// Mean latency that counts as lagging, ms.
    pub latency_alert_ms: u64,
    /// How long lagging must last before a reconnect, s.
    pub latency_alert_secs: u64,
    /// First reconnect delay, ms.
    pub reconnect_initial_ms: u64,
    /// Largest reconnect delay, ms.
    pub reconnect_max_ms: u64,
    /// Age of a connection at which a new one takes the stream over, s (0 = never).
    pub rotate_after_secs: u64,
}

/// `[event_detection]` (read by the strategy; the engine only parses it). Units as in `config.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventDetectionConfig {
    /// Jitter buffer, ms of event time: events wait this long and then reach the indicators in time order; an event older than the newest one by more than this is dropped and counted.
    pub jitter_buffer_ms: u64,
    /// Baseline window, s: the market as it was before the last few seconds (volatility, spread, volume delta, message velocity).
    pub baseline_secs: u64,
    /// Seconds of baseline an indicator needs before it is ready (and may fire).
    pub warmup_secs: u64,
    /// Volatility: standard deviation of the 1-second log returns of the last this many seconds
    pub volatility_window_secs: u64,
    /// fires at this many times its baseline
    pub volatility_ratio: f64,
    /// and at least this much, basis points per second (absolute floor).
    pub volatility_floor_bps: f64,
    /// Acceleration: second difference of the 1-second log close over steps of this many seconds
    pub acceleration_span_secs: u64,
    /// fires when its size reaches this, basis points per second squared.
    pub acceleration_bps_per_s2: f64,
    /// Order book imbalance (bid - ask)/(bid + ask) of the quantities of the top this many levels
    pub obi_levels: u64,
    /// fires when its size reaches this (0 to 1).
    pub obi_threshold: f64,
    /// Spread: relative spread (ask - bid)/mid fires at this many times its baseline.
    pub spread_ratio: f64,
    /// Volume delta: aggressive buy minus sell notional of the last this many seconds
    pub volume_delta_window_secs: u64,
    /// fires when its z-score against the baseline reaches this size.
    pub volume_delta_z: f64,
    /// Message velocity: book and trade messages per second over the last this many seconds
    pub velocity_window_secs: u64,
    /// spike at this many times the baseline rate
    pub velocity_ratio: f64,
    /// and at least this many messages per second.
    pub velocity_min_per_sec: f64,
    /// Message velocity counts every trade and only the books that moved the best bid or ask price (true), or every book (false).
    pub velocity_touch_only: bool,
    /// Candle patterns on consecutive 1-second candles: from this many candles
    pub pattern_min_candles: u64,
    /// to this many.
    pub pattern_max_candles: u64,
    /// Selling exhaustion: bearish candles whose lower wick is over this percent of the range
    pub exhaustion_wick_pct: f64,
    /// growing by over this percent a candle, with shrinking bodies.
    pub exhaustion_wick_growth_pct: f64,
    /// Buying climax: bullish candles whose upper wick is over this percent of the range
    pub climax_wick_pct: f64,
    /// the last with over this many times the mean volume of the ones before it.
    pub climax_volume_ratio: f64,
    /// Order book depth: levels a side counted for liquidity, extreme imbalance and walls.
    pub depth_levels: u64,
    /// Liquidity is sufficient from this much bid + ask notional, quote currency (USD).
    pub liquidity_min_usd: f64,
    /// Depth imbalance |bid - ask|/(bid + ask) of notional counted as extreme over this.
    pub extreme_imbalance: f64,
    /// A level is a wall when its quantity is over this many times the median of its side.
    pub wall_ratio: f64,
    /// ACTIVE when at least this many of the five core indicators (volatility, acceleration, OBI, spread, volume delta) fire together
    pub core_quorum: u64,
    /// or this many during a message-velocity spike
    pub core_quorum_velocity: u64,
    /// counting only when the price moves: volatility or acceleration is among them, or the price moved `price_move_sigmas` (a crash is a move of the price).
    pub quorum_needs_price: bool,
    /// The price moved: the sum of the last `volatility_window_secs` 1-second returns reaches this many baseline sigmas (0: off).
    pub price_move_sigmas: f64,
    /// A core indicator that fired keeps its quorum vote while its reading stays at this share of its threshold (1: off).
    pub quorum_release_ratio: f64,
    /// The quorum must hold for more than this many seconds for ACTIVE; SLEEP -> ALERT when volatility or acceleration fires.
    pub active_confirm_secs: f64,
    /// ACTIVE -> RECOVERY when the quorum has been lost for this many seconds.
    pub active_hold_secs: u64,
    /// RECOVERY -> SLEEP and ALERT -> SLEEP after this many seconds without a core indicator firing.
    pub recovery_confirm_secs: u64,
}

/// `[strategy]` (read by the strategy; the engine only parses it).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategyConfig {
    /// Entry limit price: local low + this fraction of the local range.
    pub entry_fraction: f64,
    /// Target (resting limit sell): local low + this fraction of the local range.
    pub exit_fraction: f64,
    /// Most 1-second candle ranges kept in the rolling distribution.
    pub range_samples: u64,
    /// Percentile of the distribution the signal candle's range must reach (0 = off).
    pub signal_range_percentile: f64,
    /// Samples the distribution needs before the percentile applies.
    pub range_min_samples: u64,
    /// Longest wait of a resting entry, s (event time).
    pub entry_max_wait_secs: u64,
    /// Price grid of limit prices (the venue's tick size).
    pub price_tick: Dec,
    /// Signal candle volume over this many times the rolling average volume per second.
    pub volume_multiple: f64,
    /// Window of that average, s.
    pub volume_window_secs: u64,
    /// Smallest signal candle notional, quote currency.
    pub volume_min_quote: f64,
    /// Score weight of volatility.
    pub weight_volatility: f64,
    /// Score weight of acceleration.
    pub weight_acceleration: f64,
    /// Score weight of order book imbalance.
    pub weight_obi: f64,
    /// Score weight of spread.
    pub weight_spread: f64,
    /// Score weight of volume delta.
    pub weight_volume_delta: f64,
    /// Score weight of message velocity.
    pub weight_message_velocity: f64,
    /// Score weight of the candle pattern.
    pub weight_pattern: f64,
    /// Score weight of liquidity.
    pub weight_liquidity: f64,
    /// Lowest excellent score.
    pub score_excellent: f64,
    /// Lowest good (accepted) score.
    pub score_good: f64,
    /// Lowest accepted score with a selling-exhaustion pattern.
    pub score_exhaustion: f64,
    /// From one entry to the next, s.
    pub entry_cooldown_secs: u64,
    /// From a losing exit to the next entry, s.
    pub loss_cooldown_secs: u64,
    /// Stop loss, percent below entry.
    pub stop_loss_pct: f64,
    /// Maximum hold, s.
    pub max_hold_secs: u64,
    /// Exit on a bearish 1-second candle.
    pub exit_on_bearish_candle: bool,
    /// Exit on a gap against the position over this percent.
    pub gap_exit_pct: f64,
    /// Trailing stop on or off.
    pub trailing_stop: bool,
    /// Trailing stop distance from the highest price since entry, percent.
    pub trailing_stop_pct: f64,
}

/// `[risk]` (`max_order_notional`, `max_open_orders`, `max_position_notional`, `max_positions` and
/// `max_entry_delay_ms` are enforced by the engine; the rest is read by the strategy).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskConfig {
    /// Largest notional of one order.
    pub max_order_notional: Dec,
    /// Most open orders at once.
    pub max_open_orders: usize,
    /// Largest exposure to the symbol (position plus open orders plus the new one), quote currency.
    pub max_position_notional: Dec,
    /// Most positions at once.
    pub max_positions: u64,
    /// Smallest entry-to-target distance, percent.
    pub min_edge_pct: f64,
    /// Feed latency that stops entries, ms.
    pub max_latency_ms: u64,
    /// Spread over its baseline that stops entries.
    pub max_spread_ratio: f64,
    /// Liquidity under which entries stop, quote currency.
    pub min_liquidity_usd: f64,
    /// Failures in a row that open the circuit breaker.
    pub breaker_failures: u64,
    /// Time the breaker stays open, s.
    pub breaker_open_secs: u64,
    /// Command timeout before a query, ms.
    pub order_timeout_ms: u64,
    /// Longest wait of a buy in the real executor's queue before it is refused, ms.
    pub max_entry_delay_ms: u64,
}

/// `[zmq]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZmqConfig {
    /// Data PUB.
    pub data_endpoint: String,
    /// Command PULL.
    pub command_endpoint: String,
    /// Response PUB.
    pub response_endpoint: String,
    /// The strategy's StateChange PUB (bound by the strategy; the engine does not use it).
    pub strategy_endpoint: String,
    /// The strategy's busy polling while its detector is awake, µs (the engine does not use it).
    pub strategy_busy_poll_us: u64,
    /// At start, the longest wait for a subscriber of the symbol's trades before the feed opens, ms
    /// (0: no wait).
    pub subscriber_wait_ms: u64,
    /// Each data subscriber's send buffer in the engine, KiB: a message that finds this much
    /// waiting for a subscriber is dropped for it.
    pub data_send_buffer_kib: u64,
}

/// `[backtest]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BacktestConfig {
    /// Starting equity.
    pub initial_capital: Dec,
    /// Backtest only: entry size as a fraction of equity (0 = `[symbol] order_quantity`).
    pub position_fraction: f64,
    /// Backtest only: one-way order latency, ms of event time.
    pub order_latency_ms: u64,
    /// Backtest only: extra adverse slippage on taker fills, basis points.
    pub slippage_bps: f64,
    /// Backtest only: which market trades fill a resting limit order.
    pub fill_rule: PaperFill,
    /// Backtest only: ms of event time between synthetic books published to the detector.
    pub book_interval_ms: u64,
    /// Backtest only: seed of the synthetic book's noise.
    pub book_seed: u64,
    /// Backtest only: a silence of the trades longer than this (s) is a recording gap (0 = never).
    pub data_gap_secs: u64,
}

/// `[fees]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeesConfig {
    /// Maker fee rate.
    pub maker_rate: Dec,
    /// Taker fee rate.
    pub taker_rate: Dec,
}

/// `[persistence]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersistenceConfig {
    /// Folder of reports.
    pub report_dir: String,
    /// SQLite database of the strategy (written by the strategy only).
    pub db_path: String,
    /// Folder of the engine's net position file in real mode (written by the engine only).
    pub engine_position_dir: String,
    /// Period of component snapshots, s.
    pub snapshot_interval_secs: u64,
    /// Writes waiting for the strategy's database writer.
    pub queue_size: usize,
}

/// `[monitoring]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitoringConfig {
    /// Log level.
    pub log_level: String,
    /// `text` or `json`.
    pub log_format: String,
    /// HealthMetrics interval, ms.
    pub health_interval_ms: u64,
    /// Engine Prometheus port on loopback (0 = off).
    pub engine_metrics_port: u16,
    /// Strategy Prometheus port on loopback (0 = off; read by the strategy).
    pub strategy_metrics_port: u16,
    /// Watchdog period, s.
    pub watchdog_interval_secs: u64,
    /// Resident memory growth over the first reading that raises the watchdog, MiB.
    pub watchdog_memory_growth_mib: u64,
    /// Clock drift against the venue's server time that raises the watchdog, ms.
    pub watchdog_clock_drift_ms: u64,
    /// `alert` or `halt`.
    pub watchdog_action: String,
    /// `slack` or `discord` (read by the strategy).
    pub alert_format: String,
    /// Least seconds between two alerts (read by the strategy).
    pub alert_min_interval_secs: u64,
    /// Drawdown alert, percent of the initial capital (read by the strategy).
    pub alert_drawdown_pct: f64,
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[execution]`
    pub execution: ExecutionConfig,
    /// `[symbol]`
    pub symbol: SymbolConfig,
    /// `[feed]`
    pub feed: FeedConfig,
    /// `[event_detection]`
    pub event_detection: EventDetectionConfig,
    /// `[strategy]`
    pub strategy: StrategyConfig,
    /// `[risk]`
    pub risk: RiskConfig,
    /// `[zmq]`
    pub zmq: ZmqConfig,
    /// `[backtest]`
    pub backtest: BacktestConfig,
    /// `[fees]`
    pub fees: FeesConfig,
    /// `[persistence]`
    pub persistence: PersistenceConfig,
    /// `[monitoring]`
    pub monitoring: MonitoringConfig,
}

/// Rules between keys that the per-key schema cannot express.
pub(super) fn check_cross_fields(table: &toml::Table) -> Result<(), ConfigError> {
    let dec = |s: &str, k: &str| {
        table
            .get(s)
            .and_then(|t| t.get(k))
            .and_then(|v| v.as_str())
            .and_then(|v| v.parse::<Dec>().ok())
    };
    if let (Some(quantity), Some(step)) = (
        dec("symbol", "order_quantity"),
        dec("symbol", "quantity_step"),
    ) {
        if !quantity.is_multiple_of(step) {
            return Err(ConfigError(format!(
                "config error: [symbol] order_quantity = {quantity} must be a multiple of [symbol] quantity_step = {step}"
            )));
        }
    }
    let get = |s: &str, k: &str| table.get(s).and_then(|t| t.get(k));
    for rule in &NOT_ABOVE {
        if let (Some(a), Some(b)) = (get(rule.low.0, rule.low.1), get(rule.high.0, rule.high.1)) {
            if exceeds(a, b) {
                return Err(Fault::Exceeds {
                    rule,
                    low_value: show(a),
                    high_value: show(b),
                }
                .into());
            }
        }
    }
    if let (Some(fraction), Some(positions)) = (
        get("backtest", "position_fraction"),
        get("risk", "max_positions"),
    ) {
        if matches!((num(fraction), num(positions)), (Some(f), Some(n)) if f * n > 1.0) {
            return Err(ConfigError(format!(
                "config error: [backtest] position_fraction = {} times [risk] max_positions = {} is over 1: the later entries could not be paid for (the paper venue refuses them, and each refusal counts against the circuit breaker)",
                show(fraction),
                show(positions)
            )));
        }
    }
    if let (Some(entry), Some(exit)) = (
        get("strategy", "entry_fraction"),
        get("strategy", "exit_fraction"),
    ) {
        if matches!((num(entry), num(exit)), (Some(x), Some(y)) if x >= y) {
            return Err(ConfigError(format!(
                "config error: [strategy] entry_fraction = {} must be below [strategy] exit_fraction = {} (the target would not be above the entry)",
                show(entry),
                show(exit)
            )));
        }
    }
    let weights: Option<Vec<(&str, &toml::Value)>> = ENTRY_WEIGHTS
        .iter()
        .map(|k| get("strategy", k).map(|v| (*k, v)))
        .collect();
    if let Some(weights) = weights {
        let values: Option<Vec<f64>> = weights.iter().map(|(_, v)| num(v)).collect();
        if values.is_some_and(|w| !w.iter().any(|w| *w > 0.0)) {
            let shown: Vec<String> = weights
                .iter()
                .map(|(k, v)| format!("{k} = {}", show(v)))
                .collect();
            return Err(ConfigError(format!(
                "config error: [strategy] {}: at least one entry score weight must be above 0",
                shown.join(", ")
            )));
        }
    }
    Ok(())
}

/// A number as the schema allows it: a float, or an integer where a float is expected.
fn num(v: &toml::Value) -> Option<f64> {
    v.as_float().or(v.as_integer().map(|i| i as f64))
}

/// `a > b`: two decimal strings compared exactly, or two numbers (a float, or an integer where a
/// float is expected).
fn exceeds(a: &toml::Value, b: &toml::Value) -> bool {
    let dec = |v: &toml::Value| v.as_str().and_then(|s| s.parse::<Dec>().ok());
    match (dec(a), dec(b)) {
        (Some(x), Some(y)) => x > y,
        _ => matches!((num(a), num(b)), (Some(x), Some(y)) if x > y),
    }
}

/// Why `[event_detection]` levels must not exceed `[feed] publish_levels`.
const DETECTOR_SEES: &str = "the detector sees only the published levels";

/// `[low.0] low.1` must not exceed `[high.0] high.1`.
const fn not_above(
    low: (&'static str, &'static str),
    high: (&'static str, &'static str),
    why: &'static str,
) -> NotAbove {
    NotAbove { low, high, why }
}

/// Pairs of keys whose first must not exceed its second, checked in order.
static NOT_ABOVE: [NotAbove; 11] = [
    not_above(
        ("feed", "reconnect_initial_ms"),
        ("feed", "reconnect_max_ms"),
        "",
    ),
    not_above(
        ("event_detection", "warmup_secs"),
        ("event_detection", "baseline_secs"),
        "",
    ),
    not_above(
        ("event_detection", "pattern_min_candles"),
        ("event_detection", "pattern_max_candles"),
        "",
    ),
    not_above(
        ("strategy", "range_min_samples"),
        ("strategy", "range_samples"),
        "",
    ),
    not_above(
        ("strategy", "score_good"),
        ("strategy", "score_excellent"),
        "",
    ),
    // A selling exhaustion lowers the acceptance threshold to score_exhaustion: above score_good
    // it would raise it.
    not_above(
        ("strategy", "score_exhaustion"),
        ("strategy", "score_good"),
        "",
    ),
    not_above(
        ("symbol", "min_notional"),
        ("risk", "max_order_notional"),
        "no order could trade, and a flatten's orders would be under the minimum notional",
    ),
    not_above(
        ("risk", "max_order_notional"),
        ("risk", "max_position_notional"),
        "",
    ),
    not_above(("risk", "max_positions"), ("risk", "max_open_orders"), ""),
    not_above(
        ("event_detection", "depth_levels"),
        ("feed", "publish_levels"),
        DETECTOR_SEES,
    ),
    not_above(
        ("event_detection", "obi_levels"),
        ("feed", "publish_levels"),
        DETECTOR_SEES,
    ),
];

/// The entry score's weights: all 0 would leave no score to reach.
const ENTRY_WEIGHTS: [&str; 8] = [
    "weight_volatility",
    "weight_acceleration",
    "weight_obi",
    "weight_spread",
    "weight_volume_delta",
    "weight_message_velocity",
    "weight_pattern",
    "weight_liquidity",
];
