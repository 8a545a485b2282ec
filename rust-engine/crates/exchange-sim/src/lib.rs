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

/// Binance public trade files (`aggTrades`, `trades`; plain, gzip or zip) loading and validation.
pub mod binance_csv;
/// The authoritative L2 book and its diff arithmetic.
pub mod book;
/// Raw Binance WebSocket captures (real L2) as an event source.
pub mod capture;
/// The command line.
pub mod cli;
/// Replay speed, time base and the pacing of event time.
pub mod clock;
/// The venue's validated configuration.
pub mod config;
/// One WebSocket connection.
pub mod connection;
/// Merging 100-ms updates into the 1000-ms `@depth` stream.
pub mod depth_batch;
/// Start-up errors.
pub mod error;
/// The listed symbol and `exchangeInfo`.
pub mod exchange_info;
/// Fault injection per connection.
pub mod faults;
/// The authoritative book with a bounded history of past states.
pub mod history;
/// Line reading of recorded files, gzip or plain.
pub mod input;
/// Starting a venue from a configuration.
pub mod launch;
/// The account, its orders and the matching model.
pub mod matching;
/// The synthetic book model.
pub mod model;
/// The signed order API and the listen-key endpoints.
pub mod order_api;
/// Binance's REST rate limits.
pub mod rate_limit;
/// The replay loop.
pub mod replay;
/// Fault settings from the command line and scenario files.
pub mod scenario;
/// HTTP and WebSocket endpoints.
pub mod server;
/// Verifying signed requests.
pub mod signing;
/// Event sources: the trait a replayable data set implements.
pub mod source;
/// Stream names and subscriptions.
pub mod stream;
/// Recorded trades plus the synthetic book, as an event source.
pub mod synthetic;
/// UTC times given on the command line.
pub mod time;
/// Tardis-style trade CSV loading and validation.
pub mod trades_csv;
/// The trading side: account, user data stream, listen keys, rate limiter, order faults.
pub mod trading;
/// Fixed-point prices and quantities.
pub mod units;
/// The user data stream: WebSocket API subscriptions and listen-key streams.
pub mod user_stream;
/// Shared venue state: book, fan-out, counters.
pub mod venue;
/// Binance JSON payloads.
pub mod wire;

#[cfg(test)]
mod test_fixtures;

pub use config::SimConfig;
pub use launch::{launch, RunningVenue};
pub use replay::{ReplaySummary, Start};
pub use venue::Venue;
