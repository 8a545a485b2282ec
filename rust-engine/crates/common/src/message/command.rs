//! Commands (strategy → engine). Each carries a `command_id` echoed by its response.

use serde::{Deserialize, Deserializer, Serialize};

use super::order::{OrderType, Side, TimeInForce};
use crate::Dec;

/// An optional value whose key must still be there (nil when absent): the contract sends every
/// key, and serde alone would read a missing one as `None` (a `PlaceOrder` without its `price` key
/// taken for a market order's nil), where the strategy's decoder refuses it.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    Option::<T>::deserialize(d)
}

/// Place an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaceOrder {
    /// Correlation id.
    pub command_id: String,
    /// Sender time, ns.
    pub ts_ns: u64,
    /// Idempotency key, `^[a-zA-Z0-9-_]{1,36}$` (Binance `newClientOrderId`).
    pub client_order_id: String,
    /// Symbol.
    pub symbol: String,
    /// Side.
    pub side: Side,
    /// Type.
    pub order_type: OrderType,
    /// Time in force (nil for market orders).
    #[serde(deserialize_with = "present")]
    pub time_in_force: Option<TimeInForce>,
    /// Quantity, base units.
    pub quantity: Dec,
    /// Limit price (nil for market orders).
    #[serde(deserialize_with = "present")]
    pub price: Option<Dec>,
}

/// Cancel an order by client order id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelOrder {
    /// Correlation id.
    pub command_id: String,
    /// Sender time, ns.
    pub ts_ns: u64,
    /// Symbol.
    pub symbol: String,
    /// The order's client order id.
    pub client_order_id: String,
}

/// Query one order by client order id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryOrder {
    /// Correlation id.
    pub command_id: String,
    /// Sender time, ns.
    pub ts_ns: u64,
    /// Symbol.
    pub symbol: String,
    /// The order's client order id.
    pub client_order_id: String,
}

/// List open orders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryOpenOrders {
    /// Correlation id.
    pub command_id: String,
    /// Sender time, ns.
    pub ts_ns: u64,
    /// Symbol, or nil for all.
    #[serde(deserialize_with = "present")]
    pub symbol: Option<String>,
}

/// Ask for the account's balances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryBalances {
    /// Correlation id.
    pub command_id: String,
    /// Sender time, ns.
    pub ts_ns: u64,
}

/// Ask for the current book on the data channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSnapshot {
    /// Correlation id.
    pub command_id: String,
    /// Sender time, ns.
    pub ts_ns: u64,
    /// Symbol.
    pub symbol: String,
}

/// Stop the engine cleanly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shutdown {
    /// Correlation id.
    pub command_id: String,
    /// Sender time, ns.
    pub ts_ns: u64,
    /// Why.
    pub reason: String,
}

/// Cancel every open order, optionally flatten the position, and refuse new orders until `Resume`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmergencyHalt {
    /// Correlation id.
    pub command_id: String,
    /// Sender time, ns.
    pub ts_ns: u64,
    /// Why.
    pub reason: String,
    /// Also close the net position the engine's fills built, with a market order.
    pub flatten: bool,
}

/// Lift an `EmergencyHalt` (a halt on a dead feed lifts only when the feed is live again).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resume {
    /// Correlation id.
    pub command_id: String,
    /// Sender time, ns.
    pub ts_ns: u64,
    /// Why.
    pub reason: String,
}

/// Re-read the thresholds and limits of the engine's config file (addresses, keys and modes need a
/// restart). See `docs/PROTOCOL.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReloadConfig {
    /// Correlation id.
    pub command_id: String,
    /// Sender time, ns.
    pub ts_ns: u64,
}

/// Any command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Command {
    /// See [`PlaceOrder`].
    PlaceOrder(PlaceOrder),
    /// See [`CancelOrder`].
    CancelOrder(CancelOrder),
    /// See [`QueryOrder`].
    QueryOrder(QueryOrder),
    /// See [`QueryOpenOrders`].
    QueryOpenOrders(QueryOpenOrders),
    /// See [`QueryBalances`].
    QueryBalances(QueryBalances),
    /// See [`RequestSnapshot`].
    RequestSnapshot(RequestSnapshot),
    /// See [`Shutdown`].
    Shutdown(Shutdown),
    /// See [`EmergencyHalt`].
    EmergencyHalt(EmergencyHalt),
    /// See [`Resume`].
    Resume(Resume),
    /// See [`ReloadConfig`].
    ReloadConfig(ReloadConfig),
}

impl Command {
    /// The command's correlation id.
    pub fn command_id(&self) -> &str {
        match self {
            Command::PlaceOrder(c) => &c.command_id,
            Command::CancelOrder(c) => &c.command_id,
            Command::QueryOrder(c) => &c.command_id,
            Command::QueryOpenOrders(c) => &c.command_id,
            Command::QueryBalances(c) => &c.command_id,
            Command::RequestSnapshot(c) => &c.command_id,
            Command::Shutdown(c) => &c.command_id,
            Command::EmergencyHalt(c) => &c.command_id,
            Command::Resume(c) => &c.command_id,
            Command::ReloadConfig(c) => &c.command_id,
        }
    }
}
