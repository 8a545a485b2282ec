//! Execution: the order rules of crate `order_rules` (the venue's symbol filters, the validation
//! every order passes before anything is sent, the position limits), the paper executor of crate `paper_executor` on the live book, and the real Binance executor
//! ([`real`]).

pub mod balances;
pub mod binance_order;
pub mod breaker;
pub mod rate_limit;
pub mod real;
pub mod signing;
pub mod venue_error;

#[cfg(any(test, feature = "test-fixtures"))]
pub use order_rules::fixtures;
pub use order_rules::{exposure, filters, validate, Limits, Rejection, SymbolFilters};
pub use paper_executor::{account, order, paper, PaperAccount, PaperExecutor};
