//! An order as the executor tracks it.

use common::message::{OrderInfo, OrderStatus, OrderType, PlaceOrder, Side, TimeInForce};
use common::Dec;

/// A working or finished order.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    /// Id of the `PlaceOrder` that created it.
    pub command_id: String,
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
    /// Filled so far.
    pub filled: Dec,
    /// Sum of price × quantity of the fills.
    pub quote_filled: Dec,
    /// Status.
    pub status: OrderStatus,
    /// Creation time, ns.
    pub created_ts_ns: u64,
    /// Last change, ns.
    pub updated_ts_ns: u64,
}

impl Order {
    /// A new order from its command.
    pub fn new(cmd: &PlaceOrder, exchange_order_id: String, now_ns: u64) -> Self {
        Order {
            command_id: cmd.command_id.clone(),
            client_order_id: cmd.client_order_id.clone(),
            exchange_order_id,
            symbol: cmd.symbol.clone(),
            side: cmd.side,
            order_type: cmd.order_type,
            time_in_force: cmd.time_in_force,
            quantity: cmd.quantity,
            price: cmd.price,
            filled: Dec::ZERO,
            quote_filled: Dec::ZERO,
            status: OrderStatus::New,
            created_ts_ns: now_ns,
            updated_ts_ns: now_ns,
        }
    }

    /// Quantity still to fill.
    pub fn remaining(&self) -> Dec {
        Dec(self.quantity.0 - self.filled.0)
    }

    /// True while it can still fill or be canceled.
    pub fn is_open(&self) -> bool {
        !self.status.is_terminal()
    }

    /// The wire *order map*.
    pub fn info(&self) -> OrderInfo {
        OrderInfo {
            client_order_id: self.client_order_id.clone(),
            exchange_order_id: self.exchange_order_id.clone(),
            symbol: self.symbol.clone(),
            side: self.side,
            order_type: self.order_type,
            time_in_force: self.time_in_force,
            quantity: self.quantity,
            price: self.price,
            filled_quantity: self.filled,
            quote_filled: self.quote_filled,
            status: self.status,
            created_ts_ns: self.created_ts_ns,
            updated_ts_ns: self.updated_ts_ns,
        }
    }
}
