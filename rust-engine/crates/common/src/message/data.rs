//! Data-channel messages (engine → strategy), published as `[topic, payload]`.

use serde::{Deserialize, Serialize};

use super::order::Aggressor;

/// Top levels of the engine's book after an applied update. Prices and quantities are float64.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderBookSnapshot {
    /// Symbol, upper case.
    pub symbol: String,
    /// Event time of the last applied depth update, ns.
    pub exchange_ts_ns: u64,
    /// Engine receive time of that update, ns.
    pub local_ts_ns: u64,
    /// Book update id.
    pub update_id: u64,
    /// `[price, qty]`, best (highest) first.
    pub bids: Vec<[f64; 2]>,
    /// `[price, qty]`, best (lowest) first.
    pub asks: Vec<[f64; 2]>,
}

/// One market trade (Binance `aggTrade`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trade {
    /// Symbol, upper case.
    pub symbol: String,
    /// Trade time, ns.
    pub exchange_ts_ns: u64,
    /// Engine receive time, ns.
    pub local_ts_ns: u64,
    /// Aggregate trade id.
    pub trade_id: u64,
    /// Price.
    pub price: f64,
    /// Quantity, base units.
    pub quantity: f64,
    /// Taker side.
    pub aggressor: Aggressor,
}

/// Feed health, published every `monitoring.health_interval_ms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthMetrics {
    /// Time of the measurement, ns.
    pub ts_ns: u64,
    /// Symbol of the feed.
    pub symbol: String,
    /// Feed state (`FeedState` spelling).
    pub feed_state: String,
    /// Feed messages per second over the last interval.
    pub msgs_per_sec: f64,
    /// Mean latency (receive − event time) over the last interval, µs.
    pub latency_mean_us: f64,
    /// Median latency, µs.
    pub latency_p50_us: f64,
    /// 99th percentile latency, µs.
    pub latency_p99_us: f64,
    /// Sequence gaps since start.
    pub gap_count: u64,
    /// Resyncs from a fresh snapshot since start.
    pub resync_count: u64,
    /// WebSocket reconnections since start.
    pub reconnect_count: u64,
    /// Bid levels in the local book.
    pub bid_levels: u64,
    /// Ask levels in the local book.
    pub ask_levels: u64,
    /// Age of the last REST snapshot, ms.
    pub snapshot_age_ms: u64,
    /// Frames that were not valid JSON or not a known event.
    pub malformed_count: u64,
    /// Events rejected for invalid prices or quantities, or a time more than a minute in the future.
    pub rejected_count: u64,
    /// Stale events dropped.
    pub out_of_order_count: u64,
    /// Duplicate events dropped.
    pub duplicate_count: u64,
    /// Trades not published since start: jumps in the aggregate trade ids (trades missed while
    /// disconnected, lost on the way, or refused as malformed or invalid).
    pub trades_missed_count: u64,
    /// Periodic snapshot checks that found the book different (each one repaired).
    pub snapshot_mismatch_count: u64,
    /// When this engine's feed started, ns: the same for the engine's whole life, so a new value
    /// tells a subscriber that the engine restarted (and forgot what it held), however fast.
    pub started_ts_ns: u64,
}

/// A component changed state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateChange {
    /// Time of the change, ns.
    pub ts_ns: u64,
    /// `feed` or `engine`.
    pub component: String,
    /// State before.
    pub previous: String,
    /// State after.
    pub current: String,
    /// Why.
    pub reason: String,
}

/// Any message of the data channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum DataMessage {
    /// Book snapshot, topic `book.<SYMBOL>`.
    OrderBookSnapshot(OrderBookSnapshot),
    /// Trade, topic `trade.<SYMBOL>`.
    Trade(Trade),
    /// Health, topic `health`.
    HealthMetrics(HealthMetrics),
    /// State change, topic `state`.
    StateChange(StateChange),
}

/// The ZeroMQ topic of `symbol`'s trades, `trade.<SYMBOL>`.
pub fn trade_topic(symbol: &str) -> String {
    format!("trade.{symbol}")
}

impl DataMessage {
    /// The ZeroMQ topic frame of this message.
    pub fn topic(&self) -> String {
        match self {
            DataMessage::OrderBookSnapshot(m) => format!("book.{}", m.symbol),
            DataMessage::Trade(m) => trade_topic(&m.symbol),
            DataMessage::HealthMetrics(_) => "health".to_owned(),
            DataMessage::StateChange(_) => "state".to_owned(),
        }
    }
}
