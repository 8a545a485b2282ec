//! Types shared by every crate of the engine: the ZeroMQ wire messages, the configuration and the
//! clock. Nothing here does network I/O.

/// Configuration: `config/config.toml` + `local.toml`, validated against `config/schema.toml`.
pub mod config;
/// Exact decimal numbers as they travel in commands and responses.
pub mod decimal;
/// Logging set-up shared by the binaries.
pub mod logging;
/// Wire messages of the three ZeroMQ channels (see `docs/PROTOCOL.md`).
pub mod message;
/// Wall-clock time in nanoseconds since the Unix epoch.
pub mod time;

pub use decimal::Dec;
