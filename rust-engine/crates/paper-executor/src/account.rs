//! The paper account as it is saved and restored (the engine keeps it in its position file in paper
//! mode): the executor's open orders, its latest finished ones, its totals and counters, so a paper
//! venue restarted from it rests, fills and answers as before.

use common::Dec;
use serde::{Deserialize, Serialize};

use crate::order::Order;
use crate::order_list::OrderList;
use crate::paper::PaperExecutor;

/// Finished orders an account keeps ([`PaperAccount`]) beside its open ones: a restarted engine
/// still answers the queries and refuses the reuse of their client order ids.
pub const KEPT_FINISHED_ORDERS: usize = 20;

/// The paper account as saved (the engine's position file, paper mode) and restored: its open
/// orders and the latest finished ones, its totals, and its counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaperAccount {
    /// The open orders and the latest [`KEPT_FINISHED_ORDERS`] finished ones, oldest first.
    pub orders: Vec<Order>,
    /// The number of the next order (its exchange order id `PAPER-<n>`).
    pub next_order: u64,
    /// The next fill's trade id.
    pub next_trade_id: u64,
    /// Base asset, free + locked.
    pub base_total: Dec,
    /// Quote asset, free + locked.
    pub quote_total: Dec,
}

/// Why a saved account cannot be restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    /// An order of another symbol.
    #[error("order {client_order_id} is of {symbol}, this executor trades {expected}")]
    OtherSymbol {
        /// The order.
        client_order_id: String,
        /// Its symbol.
        symbol: String,
        /// The executor's.
        expected: String,
    },
    /// Two orders with one client order id.
    #[error("client order id {0} appears twice")]
    Duplicate(String),
}

impl PaperExecutor {
    /// The account to save: the open orders, the latest finished ones, the totals and counters.
    pub fn account(&self) -> PaperAccount {
        PaperAccount {
            orders: self.orders.latest(KEPT_FINISHED_ORDERS),
            next_order: self.next_order,
            next_trade_id: self.next_trade_id,
            base_total: Dec(self.base_total),
            quote_total: Dec(self.quote_total),
        }
    }

    /// This executor with `account` (saved by [`Self::account`]) in place of its own: its orders
    /// rest again and fill as before the restart.
    ///
    /// # Errors
    /// An order of another symbol, or a client order id twice.
    pub fn restore(mut self, account: PaperAccount) -> Result<Self, RestoreError> {
        let expected = &self.filters().symbol;
        if let Some(o) = account.orders.iter().find(|o| o.info.symbol != *expected) {
            return Err(RestoreError::OtherSymbol {
                client_order_id: o.info.client_order_id.clone(),
                symbol: o.info.symbol.clone(),
                expected: expected.clone(),
            });
        }
        self.orders = OrderList::of(account.orders).map_err(RestoreError::Duplicate)?;
        self.next_order = account.next_order;
        self.next_trade_id = account.next_trade_id;
        self.base_total = account.base_total.0;
        self.quote_total = account.quote_total.0;
        Ok(self)
    }
}

#[cfg(test)]
#[path = "account_tests.rs"]
mod tests;
