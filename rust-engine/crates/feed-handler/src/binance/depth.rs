//! `depthUpdate`: a diff of absolute level quantities between update ids `U` and `u` (futures also
//! carry `pu`, the previous event's `u`).

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
