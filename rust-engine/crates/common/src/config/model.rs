//! Typed configuration sections. Values are already checked against the schema when these are built.

use serde::Deserialize;

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
}

/// `[symbol]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SymbolConfig {
    /// Venue symbol, upper case.
    pub name: String,
    /// Order size, base units.
    pub order_quantity: Dec,
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
}

/// `[event_detection]` (read by the strategy).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventDetectionConfig {
    /// Drop that triggers, percent.
    pub drop_pct: f64,
    /// Window of the drop, s.
    pub drop_window_secs: u64,
    /// Quiet time before recovery, s.
    pub recovery_secs: u64,
}

/// `[strategy]` (read by the strategy).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategyConfig {
    /// Take profit, percent.
    pub take_profit_pct: f64,
    /// Stop loss, percent.
    pub stop_loss_pct: f64,
    /// Maximum hold, s.
    pub max_hold_secs: u64,
    /// Pause after an exit, s.
    pub cooldown_secs: u64,
}

/// `[risk]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskConfig {
    /// Largest notional of one order.
    pub max_order_notional: Dec,
    /// Most open orders at once.
    pub max_open_orders: usize,
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
}

/// `[backtest]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BacktestConfig {
    /// Starting equity.
    pub initial_capital: Dec,
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
    let get = |s: &str, k: &str| {
        table
            .get(s)
            .and_then(|t| t.get(k))
            .and_then(|v| v.as_integer())
    };
    if let (Some(initial), Some(max)) = (
        get("feed", "reconnect_initial_ms"),
        get("feed", "reconnect_max_ms"),
    ) {
        if initial > max {
            return Err(ConfigError(format!(
                "config error: [feed] reconnect_initial_ms = {initial} must not exceed [feed] reconnect_max_ms = {max}"
            )));
        }
    }
    Ok(())
}
