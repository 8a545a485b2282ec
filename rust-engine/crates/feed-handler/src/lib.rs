//! Binance market-data feed handler: WebSocket diff-depth and aggTrade streams, REST snapshot,
//! an L2 book kept by Binance's documented sequence rules, gap → resync, heartbeat, reconnect with
//! backoff, and health figures.

pub mod backoff;
pub mod binance;
pub mod book;
pub mod feed;
pub mod fixed;
pub mod health;
pub mod metrics;
pub mod rest;
pub mod shared;
pub mod sync;
pub mod trade_ids;
pub mod venue_time;

pub use book::OrderBook;
pub use feed::{FeedOutputs, FeedState, FeedTask};
pub use shared::SharedBook;
pub mod verify;
