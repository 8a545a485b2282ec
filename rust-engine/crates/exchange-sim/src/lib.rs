//! `exchange-sim`: a Binance-compatible venue on loopback. It replays recorded **real** market data
//! with the same WebSocket streams and REST endpoints as Binance spot, so a client connects to it
//! exactly as to Binance (only the base URLs differ). The recorded data holds trades only; the venue
//! derives a synthetic L2 book around the traded price (model in `docs/EXCHANGE_SIM.md`) and numbers
//! its diffs as Binance numbers its updates, so Binance's documented local-order-book procedure
//! reproduces the venue's book exactly.
//!
//! Flow: [`trades_csv`] (or [`binance_csv`]) → [`synthetic::SyntheticSource`] (or [`capture::CaptureSource`] for recorded
//! L2; both are [`source::EventSource`]s) →
//! [`replay::Replay`] (clock, authoritative book, fan-out) → [`venue::Venue`] → [`server`] and
//! [`connection`].

#![warn(missing_docs)]

pub mod avg_price;
pub mod binance_csv;
pub mod book;
pub mod capture;
pub mod cli;
pub mod clock;
pub mod config;
pub mod connection;
pub mod depth_batch;
pub mod error;
pub mod exchange_info;
pub mod faults;
pub mod history;
pub mod input;
pub mod launch;
pub mod matching;
pub mod model;
pub mod order_api;
pub mod orders;
pub mod rate_limit;
pub mod replay;
pub mod scenario;
pub mod server;
pub mod signing;
pub mod source;
pub mod stream;
pub mod synthetic;
pub mod time;
pub mod trades_csv;
pub mod trading;
pub mod units;
pub mod user_stream;
pub mod venue;
pub mod wire;

#[cfg(test)]
mod log_capture;
#[cfg(test)]
mod test_fixtures;

pub use config::SimConfig;
pub use launch::{launch, RunningVenue};
pub use replay::{ReplaySummary, Start};
pub use venue::Venue;
