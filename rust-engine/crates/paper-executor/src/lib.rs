//! The paper executor ([`paper`]): the answers a venue would give to order commands, fills against
//! the book an order meets ([`Depth`]) and against the market's trades, with the orders as the
//! executors track them ([`order`]), and its account as saved and restored ([`account`]). The
//! engine's paper mode fills with it on its live book, and the backtest's simulated venue on its
//! synthetic or recorded book: one implementation.

pub mod account;
pub mod order;
mod order_list;
pub mod paper;

pub use account::PaperAccount;
pub use order_list::FINISHED_IN_MEMORY;
pub use paper::{Depth, Fees, FillRule, PaperExecutor};
