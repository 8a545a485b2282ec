//! Types shared by every crate of the engine: the ZeroMQ wire messages, the configuration and the
//! clock. Nothing here does network I/O.

pub mod config;
pub mod decimal;
pub mod logging;
pub mod message;
pub mod time;

pub use decimal::Dec;
