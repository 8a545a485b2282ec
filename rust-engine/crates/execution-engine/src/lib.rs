//! Execution: the venue's symbol filters, the validation every order passes before anything is
//! sent, the paper executor that fills against the live book, and the real Binance executor
//! ([`real`]).

pub mod balances;
pub mod binance_order;
pub mod breaker;
pub mod exposure;
pub mod filters;
#[cfg(any(test, feature = "test-fixtures"))]
pub mod fixtures;
pub mod order;
pub mod paper;
pub mod rate_limit;
pub mod real;
pub mod signing;
pub mod validate;
pub mod venue_error;

pub use filters::SymbolFilters;
pub use paper::PaperExecutor;
pub use validate::{Limits, Rejection};
