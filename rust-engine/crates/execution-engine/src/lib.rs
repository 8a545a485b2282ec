//! Execution: the venue's symbol filters, the validation every order passes before anything is
//! sent, and the paper executor that fills against the live book.

/// Symbol filters from `GET /api/v3/exchangeInfo`.
pub mod filters;
/// Orders known to the executor.
pub mod order;
/// The paper executor.
pub mod paper;
/// Checks on a `PlaceOrder` before it goes anywhere.
pub mod validate;

pub use filters::SymbolFilters;
pub use paper::PaperExecutor;
pub use validate::{Limits, Rejection};
