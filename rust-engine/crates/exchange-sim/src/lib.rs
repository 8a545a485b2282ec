//! `exchange-sim`: a Binance-compatible venue on loopback. It replays recorded real trades with the
//! same WebSocket streams and REST endpoints as Binance spot, and derives a synthetic L2 book around
//! the traded price (model in `docs/EXCHANGE_SIM.md`) whose diffs carry Binance's update ids.

/// The synthetic L2 book and its diffs.
pub mod book;
/// Loading and validating recorded trades.
pub mod data;
/// Faults injected per connection.
pub mod faults;
/// Binance JSON shapes of events and REST answers.
pub mod json;
/// The replay clock and event loop.
pub mod replay;
/// HTTP and WebSocket endpoints.
pub mod server;
/// UTC times given on the command line.
pub mod time;
