//! `depthUpdate`: a diff of absolute level quantities between update ids `U` and `u` (futures also
//! carry `pu`, the previous event's `u`).

use std::borrow::Cow;

use serde::Deserialize;

use super::scan::Cursor;
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

/// The event as sent; `L` is how a side's levels are read: string pairs ([`parse`]) or already
/// [`Level`]s ([`parse_direct`]).
#[derive(Deserialize)]
struct Wire<'a, L> {
    /// The event type, read (and checked) by the caller; declared so that a second `e` is refused
    /// here as it is by the caller's peek.
    #[serde(default, rename = "e")]
    _kind: Option<serde::de::IgnoredAny>,
    /// The symbol, checked against the feed's ([`super::check_symbol`]).
    #[serde(borrow, default, rename = "s")]
    symbol: Option<Cow<'a, str>>,
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

impl<L> Wire<'_, L> {
    /// The validated event (`U <= u`, the symbol `symbol` when one is given), each side's levels
    /// read by `side`.
    fn update(
        self,
        symbol: Option<&str>,
        side: impl Fn(L) -> Result<Vec<Level>, ParseError>,
    ) -> Result<DepthUpdate, ParseError> {
        super::check_symbol(self.symbol.as_deref(), symbol)?;
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

/// The one-pass path's parse of an event written as Binance writes it (the keys of the spot or
/// futures event, once each, in any order; no whitespace; no escapes): `Some` only when [`parse`]
/// would return `Ok` with the same event; any other frame (another symbol's included) is left to
/// [`parse`].
pub(super) fn parse_direct(payload: &str, want: Option<&str>) -> Option<DepthUpdate> {
    let mut c = Cursor::new(payload);
    let (mut event_ms, mut first_id, mut final_id, mut pu, mut b, mut a) =
        (None, None, None, None, None, None);
    // Keys read and not kept (the symbol is checked).
    let (mut kind, mut symbol, mut trade_ms) = (false, false, false);
    c.expect(b'{')?;
    loop {
        // Each arm refuses a second copy of its key, as the derived `Deserialize` does.
        match c.key()? {
            b"e" if !kind => {
                kind = true;
                c.plain_str()?;
            }
            b"s" if !symbol => {
                symbol = true;
                let s = c.plain_str()?;
                if want.is_some_and(|w| !s.eq_ignore_ascii_case(w.as_bytes())) {
                    return None;
                }
            }
            b"T" if !trade_ms => {
                trade_ms = true;
                c.u64()?;
            }
            b"E" if event_ms.is_none() => event_ms = Some(c.u64()?),
            b"U" if first_id.is_none() => first_id = Some(c.u64()?),
            b"u" if final_id.is_none() => final_id = Some(c.u64()?),
            b"pu" if pu.is_none() => pu = Some(c.u64()?),
            b"b" if b.is_none() => b = Some(c.levels()?),
            b"a" if a.is_none() => a = Some(c.levels()?),
            _ => return None,
        }
        if c.eat(b'}') {
            break;
        }
        c.expect(b',')?;
    }
    if !c.at_end() {
        return None;
    }
    let w = Wire {
        _kind: None,
        symbol: None,
        event_ms: event_ms?,
        first_id: first_id?,
        final_id: final_id?,
        pu,
        b: b?,
        a: a?,
    };
    w.update(None, Ok).ok()
}

/// Parses a depth event; with `symbol`, one of another symbol is rejected.
pub(super) fn parse(payload: &str, symbol: Option<&str>) -> Result<DepthUpdate, ParseError> {
    let w: Wire<Vec<(&str, &str)>> = serde_json::from_str(payload).map_err(super::malformed)?;
    w.update(symbol, |pairs| levels(&pairs))
}
