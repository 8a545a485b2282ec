//! `depthUpdate`: a diff of absolute level quantities between update ids `U` and `u` (futures also
//! carry `pu`, the previous event's `u`).

use serde::de::{Deserializer, Error as _, SeqAccess, Visitor};
use serde::Deserialize;

use super::ParseError;
use crate::book::Level;
use crate::fixed::parse_units;

/// A validated depth diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepthUpdate {
    /// Event time `E`, ms.
    pub event_ms: u64,
    /// First update id `U`.
    pub first_id: u64,
    /// Final update id `u`.
    pub final_id: u64,
    /// Futures `pu`: final id of the previous event.
    pub prev_final_id: Option<u64>,
    /// Bid levels to set (quantity 0 removes).
    pub bids: Vec<Level>,
    /// Ask levels to set (quantity 0 removes).
    pub asks: Vec<Level>,
}

#[derive(Deserialize)]
struct Wire<'a> {
    /// The event type, read (and checked) by the caller; declared so that a second `e` is refused
    /// here as it is by the caller's peek.
    #[serde(default, rename = "e")]
    _kind: Option<serde::de::IgnoredAny>,
    #[serde(rename = "E")]
    event_ms: u64,
    #[serde(rename = "U")]
    first_id: u64,
    #[serde(rename = "u")]
    final_id: u64,
    #[serde(default)]
    pu: Option<u64>,
    #[serde(borrow)]
    b: Vec<(&'a str, &'a str)>,
    #[serde(borrow)]
    a: Vec<(&'a str, &'a str)>,
}

/// Parses price/quantity pairs: the price must be positive, the quantity non-negative.
pub(crate) fn levels(pairs: &[(&str, &str)]) -> Result<Vec<Level>, ParseError> {
    pairs
        .iter()
        .map(|&(p, q)| {
            let price =
                parse_units(p)
                    .ok()
                    .filter(|&v| v > 0)
                    .ok_or_else(|| ParseError::Rejected {
                        field: "price",
                        value: p.into(),
                    })?;
            let qty = parse_units(q).map_err(|_| ParseError::Rejected {
                field: "quantity",
                value: q.into(),
            })?;
            Ok(Level { price, qty })
        })
        .collect()
}

/// Levels read straight into [`Level`]s, for the one-pass path: no list of string pairs in
/// between; a price that is not positive or a quantity that does not parse fails the parse (the
/// general path then says why).
struct DirectLevels(Vec<Level>);

impl<'de> Deserialize<'de> for DirectLevels {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Pairs;
        impl<'de> Visitor<'de> for Pairs {
            type Value = DirectLevels;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of [price, quantity] string pairs")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<DirectLevels, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some((p, q)) = seq.next_element::<(&'de str, &'de str)>()? {
                    let price = parse_units(p)
                        .ok()
                        .filter(|&v| v > 0)
                        .ok_or_else(|| A::Error::custom("invalid price"))?;
                    let qty = parse_units(q).map_err(|_| A::Error::custom("invalid quantity"))?;
                    out.push(Level { price, qty });
                }
                Ok(DirectLevels(out))
            }
        }
        d.deserialize_seq(Pairs)
    }
}

/// [`Wire`] with the levels read directly.
#[derive(Deserialize)]
struct DirectWire {
    #[serde(default, rename = "e")]
    _kind: Option<serde::de::IgnoredAny>,
    #[serde(rename = "E")]
    event_ms: u64,
    #[serde(rename = "U")]
    first_id: u64,
    #[serde(rename = "u")]
    final_id: u64,
    #[serde(default)]
    pu: Option<u64>,
    b: DirectLevels,
    a: DirectLevels,
}

/// The one-pass path's parse: `Some` exactly when [`parse`] would return `Ok`, with the same
/// event (same fields, same checks; only the errors are left to [`parse`]).
pub(super) fn parse_direct(payload: &str) -> Option<DepthUpdate> {
    let w: DirectWire = serde_json::from_str(payload).ok()?;
    if w.first_id > w.final_id {
        return None;
    }
    Some(DepthUpdate {
        event_ms: w.event_ms,
        first_id: w.first_id,
        final_id: w.final_id,
        prev_final_id: w.pu,
        bids: w.b.0,
        asks: w.a.0,
    })
}

pub(super) fn parse(payload: &str) -> Result<DepthUpdate, ParseError> {
    let w: Wire = serde_json::from_str(payload).map_err(super::malformed)?;
    if w.first_id > w.final_id {
        return Err(ParseError::Rejected {
            field: "U",
            value: format!("U {} > u {}", w.first_id, w.final_id),
        });
    }
    Ok(DepthUpdate {
        event_ms: w.event_ms,
        first_id: w.first_id,
        final_id: w.final_id,
        prev_final_id: w.pu,
        bids: levels(&w.b)?,
        asks: levels(&w.a)?,
    })
}
