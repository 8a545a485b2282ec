//! An order as the executor tracks it.

use common::message::{
    ErrorCode, ErrorResponse, OrderCanceled, OrderInfo, OrderPlaced, OrderStatus, PlaceOrder,
    Response,
};
use common::Dec;
use serde::{Deserialize, Serialize};

/// A working or finished order: what the venue knows of it (the wire *order map*) and the command
/// that created it here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Order {
    /// Id of the `PlaceOrder` that created it (none for an order known only from the venue).
    pub command_id: Option<String>,
    /// The order as published.
    pub info: OrderInfo,
}

/// An `Error` response.
pub fn error(
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
            command_id: None,
            info,
        }
    }

    /// A new order from its command.
    pub fn new(cmd: &PlaceOrder, exchange_order_id: String, now_ns: u64) -> Self {
        Order {
            command_id: Some(cmd.command_id.clone()),
            info: OrderInfo {
                client_order_id: cmd.client_order_id.clone(),
                exchange_order_id,
                symbol: cmd.symbol.clone(),
                side: cmd.side,
                order_type: cmd.order_type,
                time_in_force: cmd.time_in_force,
                quantity: cmd.quantity,
                price: cmd.price,
                filled_quantity: Dec::ZERO,
                quote_filled: Dec::ZERO,
                status: OrderStatus::New,
                created_ts_ns: now_ns,
                updated_ts_ns: now_ns,
            },
        }
    }

    /// Quantity still to fill.
    pub fn remaining(&self) -> Dec {
        Dec(self.info.quantity.0 - self.info.filled_quantity.0)
    }

    /// True while it can still fill or be canceled.
    pub fn is_open(&self) -> bool {
        !self.info.status.is_terminal()
    }

    /// `OrderPlaced` for this order as the strategy asked for it, with the venue's id and `status`.
    pub fn placed(&self, status: OrderStatus, ts_ns: u64) -> Response {
        let i = &self.info;
        Response::OrderPlaced(OrderPlaced {
            command_id: self.command_id.clone(),
            ts_ns,
            client_order_id: i.client_order_id.clone(),
            exchange_order_id: i.exchange_order_id.clone(),
            symbol: i.symbol.clone(),
            side: i.side,
            order_type: i.order_type,
            time_in_force: i.time_in_force,
            quantity: i.quantity,
            price: i.price,
            status,
        })
    }

    /// `OrderCanceled` for this order, answering `command_id` (none when no command asked for it:
    /// a halt, or the venue canceled it).
    pub fn canceled(&self, command_id: Option<String>, ts_ns: u64) -> Response {
        let i = &self.info;
        Response::OrderCanceled(OrderCanceled {
            command_id,
            ts_ns,
            client_order_id: i.client_order_id.clone(),
            exchange_order_id: i.exchange_order_id.clone(),
            symbol: i.symbol.clone(),
            filled_quantity: Dec(i.filled_quantity.0.normalize()),
            status: OrderStatus::Canceled,
        })
    }
}
