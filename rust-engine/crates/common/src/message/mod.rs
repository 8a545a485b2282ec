//! Messages of the three ZeroMQ channels, field for field as `docs/PROTOCOL.md` lists them.
//!
//! Each channel has one enum, tagged by a `type` key; fields keep the documented order so that a
//! message re-encodes to the same MessagePack bytes as the golden vectors in `tests/golden/`.

/// Encoding and decoding of payloads, with the error type for bad input.
pub mod codec;
/// Commands (strategy → engine, PULL channel).
pub mod command;
/// Market data and engine status (engine → strategy, data PUB channel).
pub mod data;
/// Order enumerations shared by commands and responses.
pub mod order;
/// Responses (engine → strategy, responses PUB channel).
pub mod response;

pub use codec::{decode, encode, WireError};
pub use command::*;
pub use data::*;
pub use order::*;
pub use response::*;
