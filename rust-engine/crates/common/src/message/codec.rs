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
///
/// The payload is checked before serde sees it ([`check_shape`]): one MessagePack map, nothing
/// after it, and no bin or ext value anywhere (serde would take a bin as a string, and the tagged
/// enums would take an array as the fields in their declared order).
pub fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, WireError> {
    check_shape(payload).map_err(WireError::Malformed)?;
    let mut de = rmp_serde::Deserializer::from_read_ref(payload);
    de.set_max_depth(MAX_DEPTH);
    T::deserialize(&mut de).map_err(|e| WireError::Malformed(e.to_string()))
}

/// Checks that `payload` is exactly one MessagePack map (fixmap, map16 or map32) whose keys and
/// values hold no bin and no ext value (strings are str, never bin: `docs/PROTOCOL.md`), with no
/// byte after it. Walks the payload without recursion or allocation.
///
/// # Errors
/// The reason, for [`WireError::Malformed`].
pub fn check_shape(payload: &[u8]) -> Result<(), String> {
    match payload.first() {
        Some(0x80..=0x8f | 0xde | 0xdf) => {}
        Some(b) => return Err(format!("not a map (first byte 0x{b:02x})")),
        None => return Err("empty payload".to_owned()),
    }
    let mut at = 0usize;
    // Values still to read: one (the map) to begin with. A container adds its items; each item
    // takes at least a byte, so a declared count larger than the payload ends at its end.
    let mut pending: u64 = 1;
    while pending > 0 {
        let Some(&marker) = payload.get(at) else {
            return Err("payload cut short".to_owned());
        };
        at += 1;
        pending -= 1;
        // (bytes after the marker holding a length, bytes of data, items it holds)
        let (len_bytes, data, items): (usize, u64, u64) = match marker {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, 0, 0),
            0x80..=0x8f => (0, 0, 2 * u64::from(marker & 0x0f)),
            0x90..=0x9f => (0, 0, u64::from(marker & 0x0f)),
            0xa0..=0xbf => (0, u64::from(marker & 0x1f), 0),
            0xc4..=0xc9 | 0xd4..=0xd8 => {
                let kind = if marker <= 0xc6 { "bin" } else { "ext" };
                return Err(format!("a {kind} value at byte {}: not accepted", at - 1));
            }
            0xc1 => return Err(format!("never-used byte 0xc1 at byte {}", at - 1)),
            0xca | 0xce | 0xd2 => (0, 4, 0),
            0xcb | 0xcf | 0xd3 => (0, 8, 0),
            0xcc | 0xd0 => (0, 1, 0),
            0xcd | 0xd1 => (0, 2, 0),
            0xd9 => (1, 0, 0),
            0xda => (2, 0, 0),
            0xdb => (4, 0, 0),
            0xdc => (2, 0, 0),
            0xdd => (4, 0, 0),
            0xde => (2, 0, 0),
            0xdf => (4, 0, 0),
        };
        let (data, items) = if len_bytes == 0 {
            (data, items)
        } else {
            let Some(bytes) = payload.get(at..at + len_bytes) else {
                return Err("payload cut short".to_owned());
            };
            at += len_bytes;
            let n = bytes.iter().fold(0u64, |n, b| n << 8 | u64::from(*b));
            match marker {
                0xd9..=0xdb => (n, 0),
                0xdc | 0xdd => (0, n),
                _ => (0, 2 * n), // a map: keys and values
            }
        };
        let end = u64::try_from(at).unwrap_or(u64::MAX).saturating_add(data);
        if end > payload.len() as u64 {
            return Err("payload cut short".to_owned());
        }
        at = end as usize;
        pending += items;
    }
    if at != payload.len() {
        return Err(format!(
            "{} bytes after the map (at byte {at})",
            payload.len() - at
        ));
    }
    Ok(())
}
