//! Binance market-data feed handler: WebSocket diff-depth and aggTrade streams, REST snapshot,
//! an L2 book kept by Binance's documented sequence rules, gap → resync, heartbeat, reconnect with
//! backoff, and health figures.

/// Reconnect delays.
pub mod backoff;
/// Binance message formats (depth diffs, trades, snapshots) and their parsing.
pub mod binance;
/// The L2 order book on integer prices and quantities.
pub mod book;
/// The async feed task: connection, sync, health, publishing hooks.
pub mod feed;
/// Fixed-point prices and quantities parsed from Binance decimal strings.
pub mod fixed;
/// Latency and message-rate figures for `HealthMetrics`.
pub mod health;
/// Prometheus figures of the feed, and the time of its last message.
pub mod metrics;
/// The book shared with the publisher and the paper executor.
pub mod shared;
/// Binance's snapshot + diff sequencing rules.
pub mod sync;

pub use book::OrderBook;
pub use feed::{FeedOutputs, FeedState, FeedTask};
pub use shared::SharedBook;
/// The periodic check of the book against a fresh snapshot.
pub mod verify;
