//! The real Binance executor (async).
//!
//! * [`RestClient`]: signed REST requests behind the rate limiter and the circuit breaker, with
//!   the server clock kept in sync; credentials from `BINANCE_API_KEY` / `BINANCE_API_SECRET`,
//!   plus an optional Ed25519 key from `BINANCE_ED25519_API_KEY` /
//!   `BINANCE_ED25519_PRIVATE_KEY_PATH` ([`Credentials::from_env`]).
//! * [`RealExecutor`]: `place`, `cancel`, `cancel_all`, `query`, `open_orders` answering with the
//!   paper executor's responses; unknown outcomes are queried, never re-sent; `reconcile` after a
//!   (re)start; `balances` from the balances the user data stream keeps (seeded by
//!   `GET /api/v3/account`).
//! * [`UserStream`]: the user data stream over the WebSocket API (`session.logon` with the
//!   Ed25519 key then `userDataStream.subscribe`, else `userDataStream.subscribe.signature` with
//!   the HMAC key), feeding `executionReport`s and `outboundAccountPosition`s to the executor and
//!   reconciling after every (re)connect.
//!
//! Typical set-up:
//! ```no_run
//! # async fn setup(filters: execution_engine::SymbolFilters, limits: execution_engine::Limits) {
//! use std::sync::Arc;
//! use execution_engine::rate_limit::RateLimiter;
//! use execution_engine::real::*;
//! let client = RestClient::from_env(
//!     RestConfig::new("https://api.binance.com"),
//!     RateLimiter::new(&[], 0),
//! ).expect("credentials");
//! let client = Arc::new(client);
//! client.sync_clock().await.expect("server time");
//! let executor = Arc::new(RealExecutor::new(client, ExecutorConfig::new(filters, limits)));
//! let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
//! let stream = UserStream::spawn(
//!     Arc::clone(&executor),
//!     UserStreamConfig::new("wss://ws-api.binance.com:443"),
//!     tx,
//! );
//! # let _ = (&mut rx, stream);
//! # }
//! ```

mod account_balances;
mod balance_cache;
pub mod client;
pub mod credentials;
mod endpoints;
pub mod error_response;
pub mod executor;
pub mod mapping;
mod tracked;
pub mod user_stream;
mod venue_sync;

pub use client::{ClientInitError, RestAnswer, RestClient, RestConfig, RestError, RestRequest};
pub use credentials::{
    Credentials, CredentialsError, API_KEY_VAR, API_SECRET_VAR, ED25519_API_KEY_VAR,
    ED25519_KEY_PATH_VAR,
};
pub use error_response::error_response;
pub use executor::{ExecutorConfig, RealExecutor};
pub use mapping::{parse_stream_event, ExecutionReport, Fill, StreamEvent};
pub use tracked::ImpossibleFill;
pub use user_stream::{StreamStats, UserStream, UserStreamConfig};
