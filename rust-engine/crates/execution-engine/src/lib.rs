//! Execution: the venue's symbol filters, the validation every order passes before anything is
//! sent, the paper executor that fills against the live book, and the real Binance executor
//! ([`real`]).

/// Account balances (`QueryBalances`).
pub mod balances;
/// Binance spot order requests (signed `POST /api/v3/order`, query, cancel) and answers.
pub mod binance_order;
/// Circuit breaker on venue errors: closed, open, half-open.
pub mod breaker;
/// The per-symbol exposure limit.
pub mod exposure;
/// Symbol filters from `GET /api/v3/exchangeInfo`.
pub mod filters;
/// Orders known to the executor.
pub mod order;
/// The paper executor.
pub mod paper;
/// Token buckets from the venue's `rateLimits`, usage headers, `429` back-off and `418` ban.
pub mod rate_limit;
/// The real Binance executor: REST client, executor, user data stream.
pub mod real;
/// HMAC-SHA256 and Ed25519 signing of `SIGNED` requests, the API-key header and the server clock
/// offset.
pub mod signing;
/// Checks on a `PlaceOrder` before it goes anywhere.
pub mod validate;
/// What the executor must do about a Binance error answer.
pub mod venue_error;

pub use filters::SymbolFilters;
pub use paper::PaperExecutor;
pub use validate::{Limits, Rejection};
