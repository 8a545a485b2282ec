//! An order as the executor tracks it.

use common::message::{
    ErrorCode, ErrorResponse, OrderInfo, OrderStatus, OrderType, PlaceOrder, Response, Side,
    TimeInForce,
};
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

/// An `Error` response.
pub(crate) fn error(
    command_id: Option<&str>,
    now: u64,
    code: ErrorCode,
    field: Option<&str>,
    message: String,
) -> Response {
    Response::Error(ErrorResponse {
        command_id: command_id.map(str::to_owned),
        ts_ns: now,
        code,
        field: field.map(str::to_owned),
        message,
    })
}

impl Order {
    /// An order known only from the venue's view of it (no command created it here).
    pub fn from_info(info: OrderInfo) -> Self {
        Order {
            command_id: String::new(),
            client_order_id: info.client_order_id,
            exchange_order_id: info.exchange_order_id,
            symbol: info.symbol,
            side: info.side,
            order_type: info.order_type,
            time_in_force: info.time_in_force,
            quantity: info.quantity,
            price: info.price,
            filled: info.filled_quantity,
            quote_filled: info.quote_filled,
            status: info.status,
            created_ts_ns: info.created_ts_ns,
            updated_ts_ns: info.updated_ts_ns,
        }
    }

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
