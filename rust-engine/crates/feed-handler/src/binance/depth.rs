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

/// The event as sent; `L` is how a side's levels are read: string pairs ([`parse`]) or straight
/// into [`Level`]s ([`parse_direct`]).
#[derive(Deserialize)]
struct Wire<L> {
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
    b: L,
    a: L,
}

impl<L> Wire<L> {
    /// The validated event (`U <= u`), each side's levels read by `side`.
    fn update(
        self,
        side: impl Fn(L) -> Result<Vec<Level>, ParseError>,
    ) -> Result<DepthUpdate, ParseError> {
        if self.first_id > self.final_id {
            return Err(ParseError::Rejected {
                field: "U",
                value: format!("U {} > u {}", self.first_id, self.final_id),
            });
        }
        Ok(DepthUpdate {
            event_ms: self.event_ms,
            first_id: self.first_id,
            final_id: self.final_id,
            prev_final_id: self.pu,
            bids: side(self.b)?,
            asks: side(self.a)?,
        })
    }
}

/// One price/quantity pair: the price must be positive, the quantity non-negative.
fn level(p: &str, q: &str) -> Result<Level, ParseError> {
    let price = parse_units(p)
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
}

/// Parses price/quantity pairs ([`level`] each).
pub(crate) fn levels(pairs: &[(&str, &str)]) -> Result<Vec<Level>, ParseError> {
    pairs.iter().map(|&(p, q)| level(p, q)).collect()
}

/// Levels read straight into [`Level`]s ([`level`] each), for the one-pass path: no list of string
/// pairs in between.
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
                    out.push(level(p, q).map_err(A::Error::custom)?);
                }
                Ok(DirectLevels(out))
            }
        }
        d.deserialize_seq(Pairs)
    }
}

/// The one-pass path's parse: `Some` exactly when [`parse`] would return `Ok`, with the same
/// event (same fields, same checks; only the errors are left to [`parse`]).
pub(super) fn parse_direct(payload: &str) -> Option<DepthUpdate> {
    let w: Wire<DirectLevels> = serde_json::from_str(payload).ok()?;
    w.update(|side| Ok(side.0)).ok()
}

pub(super) fn parse(payload: &str) -> Result<DepthUpdate, ParseError> {
    let w: Wire<Vec<(&str, &str)>> = serde_json::from_str(payload).map_err(super::malformed)?;
    w.update(|pairs| levels(&pairs))
}
