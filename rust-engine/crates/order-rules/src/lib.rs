//! What an order must satisfy before it is sent or filled, in every mode: the venue's symbol filters
//! ([`filters`]), the per-order checks of the filters and `[risk]` ([`validate`]), and the position
//! limits ([`exposure`]). The engine's paper and real executors apply them, and so does the
//! backtest's simulated venue (through the `flashcrash_native` Python module): one implementation.

pub mod exposure;
pub mod filters;
#[cfg(any(test, feature = "test-fixtures"))]
pub mod fixtures;
pub mod validate;

pub use filters::{MarketLot, MarketNotional, SymbolFilters};
pub use validate::{Limits, Rejection};
