//! `aggTrade` and `trade` events.

use std::borrow::Cow;

use common::message::Aggressor;
use serde::Deserialize;

use super::ParseError;
use crate::fixed::parse_units;

/// A validated trade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeEvent {
    /// Trade time `T`, ms.
    pub trade_ms: u64,
    /// Event time `E`, ms.
    pub event_ms: u64,
    /// Aggregate trade id `a` (or trade id `t`).
    pub trade_id: u64,
    /// Price units.
    pub price: u64,
    /// Quantity units.
    pub qty: u64,
    /// Taker side (`m` = buyer is maker ⇒ the taker sold).
    pub aggressor: Aggressor,
}

#[derive(Deserialize)]
struct Wire<'a> {
    /// The event type, read (and checked) by the caller; declared so that a second `e` is refused
    /// here as it is by the caller's peek.
    #[serde(default, rename = "e")]
    _kind: Option<serde::de::IgnoredAny>,
    /// The symbol, checked against the feed's ([`super::check_symbol`]).
    #[serde(borrow, default, rename = "s")]
    symbol: Option<Cow<'a, str>>,
    #[serde(rename = "E")]
    event_ms: u64,
    #[serde(rename = "T")]
    trade_ms: u64,
    #[serde(default)]
    a: Option<u64>,
    #[serde(default)]
    t: Option<u64>,
    p: &'a str,
    q: &'a str,
    m: bool,
}

/// Parses a trade event; with `symbol`, one of another symbol is rejected.
pub(super) fn parse(payload: &str, symbol: Option<&str>) -> Result<TradeEvent, ParseError> {
    let w: Wire = serde_json::from_str(payload).map_err(super::malformed)?;
    super::check_symbol(w.symbol.as_deref(), symbol)?;
    let trade_id =
        w.a.or(w.t)
            .ok_or_else(|| ParseError::Malformed("trade without id".into()))?;
    let price = parse_units(w.p)
        .ok()
        .filter(|&v| v > 0)
        .ok_or_else(|| ParseError::Rejected {
            field: "price",
            value: w.p.into(),
        })?;
    let qty = parse_units(w.q)
        .ok()
        .filter(|&v| v > 0)
        .ok_or_else(|| ParseError::Rejected {
            field: "quantity",
            value: w.q.into(),
        })?;
    Ok(TradeEvent {
        trade_ms: w.trade_ms,
        event_ms: w.event_ms,
        trade_id,
        price,
        qty,
        aggressor: if w.m { Aggressor::Sell } else { Aggressor::Buy },
    })
}
