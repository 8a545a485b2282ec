//! MessagePack encoding (maps with named keys, in declaration order) and strict decoding.

use serde::{de::DeserializeOwned, Serialize};

/// A payload that could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// Not MessagePack, not a map, unknown `type`, missing/extra/mistyped key.
    #[error("malformed payload: {0}")]
    Malformed(String),
    /// Decoded, but a value breaks a rule (NaN price, negative quantity, ...).
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Encoding failed (a bug: every message type is encodable).
    #[error("encode failed: {0}")]
    Encode(#[from] rmp_serde::encode::Error),
}

impl WireError {
    /// Short label for counters and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            WireError::Malformed(_) => "malformed",
            WireError::Invalid { .. } => "invalid",
            WireError::Encode(_) => "encode",
        }
    }
}

/// Encodes a message as a MessagePack map with named keys.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, WireError> {
    Ok(rmp_serde::to_vec_named(msg)?)
}

/// Encodes into a reused buffer (cleared first), for hot paths.
pub fn encode_into<T: Serialize>(msg: &T, buf: &mut Vec<u8>) -> Result<(), WireError> {
    buf.clear();
    msg.serialize(&mut rmp_serde::Serializer::new(buf).with_struct_map())?;
    Ok(())
}

/// The deepest nesting of arrays and maps a payload may have: every message of the protocol is
/// at most 4 deep (a book's levels), and a deeper payload is malformed before it is walked (a
/// kilobyte nested a thousand deep overflowed a debug build's stack through the tagged enums).
pub const MAX_DEPTH: usize = 16;

/// Decodes a payload; the caller validates values with the message's own `validate`.
pub fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, WireError> {
    let mut de = rmp_serde::Deserializer::from_read_ref(payload);
    de.set_max_depth(MAX_DEPTH);
    T::deserialize(&mut de).map_err(|e| WireError::Malformed(e.to_string()))
}
