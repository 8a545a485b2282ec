//! Responses (engine → strategy), published as `["resp", payload]`.

use serde::{Deserialize, Serialize};

use super::order::{Liquidity, OrderStatus, OrderType, Side, TimeInForce};
use crate::Dec;

/// An order as the engine knows it (the *order map* of the protocol).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderInfo {
    /// Client order id.
    pub client_order_id: String,
    /// Venue order id.
    pub exchange_order_id: String,
    /// Symbol.
    pub symbol: String,
    /// Side.
    pub side: Side,
    /// Type.
    pub order_type: OrderType,
    /// Time in force.
    pub time_in_force: Option<TimeInForce>,
    /// Ordered quantity.
    pub quantity: Dec,
    /// Limit price.
    pub price: Option<Dec>,
    /// Filled quantity.
    pub filled_quantity: Dec,
    /// Sum of price × quantity of the fills.
    pub quote_filled: Dec,
    /// Status.
    pub status: OrderStatus,
    /// Creation time, ns.
    pub created_ts_ns: u64,
    /// Last change, ns.
    pub updated_ts_ns: u64,
}

/// The order was accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderPlaced {
    /// Id of the `PlaceOrder`.
    pub command_id: Option<String>,
    /// Engine time, ns.
    pub ts_ns: u64,
    /// Client order id.
    pub client_order_id: String,
    /// Venue order id.
    pub exchange_order_id: String,
    /// Symbol.
    pub symbol: String,
    /// Side.
    pub side: Side,
    /// Type.
    pub order_type: OrderType,
    /// Time in force.
    pub time_in_force: Option<TimeInForce>,
    /// Quantity.
    pub quantity: Dec,
    /// Limit price.
    pub price: Option<Dec>,
    /// Status at acceptance.
    pub status: OrderStatus,
}

/// The order was canceled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderCanceled {
    /// Id of the `CancelOrder`.
    pub command_id: Option<String>,
    /// Engine time, ns.
    pub ts_ns: u64,
    /// Client order id.
    pub client_order_id: String,
    /// Venue order id.
    pub exchange_order_id: String,
    /// Symbol.
    pub symbol: String,
    /// Quantity filled before the cancel.
    pub filled_quantity: Dec,
    /// `CANCELED`.
    pub status: OrderStatus,
}

/// Answer to `QueryOrder`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderStatusReport {
    /// Id of the `QueryOrder`.
    pub command_id: Option<String>,
    /// Engine time, ns.
    pub ts_ns: u64,
    /// The order.
    pub order: OrderInfo,
}

/// Answer to `QueryOpenOrders`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenOrders {
    /// Id of the `QueryOpenOrders`.
    pub command_id: Option<String>,
    /// Engine time, ns.
    pub ts_ns: u64,
    /// Symbol asked for, or nil.
    pub symbol: Option<String>,
    /// Open orders.
    pub orders: Vec<OrderInfo>,
    /// The engine's net position in its symbol's base asset (signed), with every fill it published
    /// before this answer counted: what the strategy's positions must add up to. Nil from a venue
    /// without the engine's core (the backtest's).
    pub net_position: Option<Dec>,
}

/// One asset of the account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetBalance {
    /// Asset, e.g. `USDT`.
    pub asset: String,
    /// Available.
    pub free: Dec,
    /// Held by open orders.
    pub locked: Dec,
}

/// Answer to `QueryBalances`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Balances {
    /// Id of the `QueryBalances`.
    pub command_id: Option<String>,
    /// Engine time, ns.
    pub ts_ns: u64,
    /// The traded symbol's base and quote assets, then any other non-zero balance.
    pub balances: Vec<AssetBalance>,
}

/// A fill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderExecution {
    /// Id of the `PlaceOrder` that created the order.
    pub command_id: Option<String>,
    /// Fill time, ns.
    pub ts_ns: u64,
    /// Client order id.
    pub client_order_id: String,
    /// Venue order id.
    pub exchange_order_id: String,
    /// Symbol.
    pub symbol: String,
    /// Side.
    pub side: Side,
    /// Trade id of the fill.
    pub trade_id: u64,
    /// Fill price.
    pub last_price: Dec,
    /// Fill quantity.
    pub last_quantity: Dec,
    /// Filled so far.
    pub cumulative_quantity: Dec,
    /// Ordered quantity.
    pub order_quantity: Dec,
    /// `PARTIALLY_FILLED` or `FILLED`.
    pub status: OrderStatus,
    /// Maker or taker.
    pub liquidity: Liquidity,
    /// Fee charged for this fill.
    pub fee: Dec,
    /// Asset of the fee.
    pub fee_asset: String,
}

/// Error codes of the `Error` response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// Undecodable command.
    Malformed,
    /// A field breaks a rule.
    Validation,
    /// No such order.
    UnknownOrder,
    /// Client order id already used.
    DuplicateOrder,
    /// No live book.
    NotSynced,
    /// Engine refuses new orders.
    Halted,
    /// The venue rejected the request.
    Venue,
    /// A new order's outcome could not be learnt (the venue did not answer, nor its queries): it
    /// may be live at the venue. `QueryOrder` asks the venue again; the engine's next reconcile
    /// settles it.
    UnknownOutcome,
}

/// A command failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorResponse {
    /// Id of the failed command, nil if unreadable.
    pub command_id: Option<String>,
    /// Engine time, ns.
    pub ts_ns: u64,
    /// Class of error.
    pub code: ErrorCode,
    /// The offending field.
    pub field: Option<String>,
    /// Human-readable explanation.
    pub message: String,
}

/// A command succeeded (commands without a richer answer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Success {
    /// Id of the command.
    pub command_id: Option<String>,
    /// Engine time, ns.
    pub ts_ns: u64,
    /// What was done.
    pub message: String,
}

/// Any response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Response {
    /// See [`OrderPlaced`].
    OrderPlaced(OrderPlaced),
    /// See [`OrderCanceled`].
    OrderCanceled(OrderCanceled),
    /// See [`OrderStatusReport`].
    OrderStatus(OrderStatusReport),
    /// See [`OpenOrders`].
    OpenOrders(OpenOrders),
    /// See [`Balances`].
    Balances(Balances),
    /// See [`OrderExecution`].
    OrderExecution(OrderExecution),
    /// See [`ErrorResponse`].
    Error(ErrorResponse),
    /// See [`Success`].
    Success(Success),
}

/// Topic frame of every response.
pub const RESPONSE_TOPIC: &str = "resp";
