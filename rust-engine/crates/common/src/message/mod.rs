//! Messages of the three ZeroMQ channels, field for field as `docs/PROTOCOL.md` lists them.
//!
//! Each channel has one enum, tagged by a `type` key; fields keep the documented order so that a
//! message re-encodes to the same MessagePack bytes as the golden vectors in `tests/golden/`.

pub mod codec;
pub mod command;
pub mod data;
pub mod order;
pub mod response;

pub use codec::{decode, encode, WireError};
pub use command::*;
pub use data::*;
pub use order::*;
pub use response::*;
