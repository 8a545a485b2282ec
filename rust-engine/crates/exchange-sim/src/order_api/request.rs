//! Reading and checking a request as Binance does: its parameters (query string and body), the
//! API key, the `SIGNED` checks (`timestamp`, `recvWindow`, `signature`), `symbol`, DECIMAL and
//! client-id parameters, a new order's parameters and the order a query or a cancel refers to;
//! each failure is Binance's error.

use std::collections::HashMap;

use axum::http::{HeaderMap, StatusCode};

use super::API_KEY_HEADER;
use crate::orders::{NewOrder, OrderError, OrderKind, OrderSide, Tif};
use crate::server::ApiError;
use crate::signing::{check_timestamp, parse_form, recv_window_ms, rest_payload, timestamp_ms};
use crate::trading::KeyKind;
use crate::units::parse_units;
use crate::venue::Venue;

/// A request's parameters, by name.
pub(super) type Params = HashMap<String, String>;

pub(super) fn mandatory(name: &str) -> ApiError {
    ApiError::bad_request(
        -1102,
        format!("Mandatory parameter '{name}' was not sent, was empty/null, or malformed."),
    )
}

pub(super) fn illegal(name: &str, range: &str) -> ApiError {
    ApiError::bad_request(
        -1100,
        format!("Illegal characters found in parameter '{name}'; legal range is '{range}'."),
    )
}

fn not_required(name: &str) -> ApiError {
    ApiError::bad_request(-1106, format!("Parameter '{name}' sent when not required."))
}

pub(super) fn order_error(e: &OrderError) -> ApiError {
    let (code, msg) = e.code_msg();
    ApiError::bad_request(code, msg)
}

/// The API key check: -2014 for a missing or malformed key, -2015 for an unknown one; the kind
/// of a known one (HMAC or Ed25519).
pub(super) fn check_key(v: &Venue, headers: &HeaderMap) -> Result<KeyKind, ApiError> {
    let key = headers
        .get(API_KEY_HEADER)
        .and_then(|k| k.to_str().ok())
        .unwrap_or("");
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            -2014,
            "API-key format invalid.",
        ));
    }
    v.trading.key_kind(key).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            -2015,
            "Invalid API-key, IP, or permissions for action.",
        )
    })
}

/// Parameters of the query string and the body (the query string wins). A parameter given twice
/// in one of them is refused, as Binance refuses it (`-1101`): the last copy would silently win.
pub(super) fn params(query: &str, body: &str) -> Result<Params, ApiError> {
    let mut p = Params::new();
    for source in [body, query] {
        let mut seen = std::collections::HashSet::new();
        for (k, v) in parse_form(source) {
            if !seen.insert(k.clone()) {
                return Err(ApiError::bad_request(
                    -1101,
                    "Duplicate values for a parameter detected.",
                ));
            }
            p.insert(k, v);
        }
    }
    Ok(p)
}

/// A `SIGNED` request's `timestamp` and `recvWindow` (ms).
pub(super) fn timing(p: &Params) -> Result<(f64, f64), ApiError> {
    let ts = p
        .get("timestamp")
        .and_then(|t| timestamp_ms(t))
        .ok_or_else(|| mandatory("timestamp"))?;
    let window = recv_window_ms(p.get("recvWindow").map(String::as_str)).map_err(|too_big| {
        if too_big {
            ApiError::bad_request(-1131, "recvWindow must be less than 60000.")
        } else {
            illegal("recvWindow", "^[0-9]{1,20}(\\.[0-9]{1,3})?$")
        }
    })?;
    Ok((ts, window))
}

/// Checks a `SIGNED` request; returns its parameters.
pub(super) fn signed(
    v: &Venue,
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
) -> Result<Params, ApiError> {
    let kind = check_key(v, headers)?;
    let query = query.unwrap_or("");
    let body = std::str::from_utf8(body).map_err(|_| illegal("body", "UTF-8"))?;
    let p = params(query, body)?;
    let (ts, window) = timing(&p)?;
    let (payload, sig) = rest_payload(query, body);
    let sig = sig
        .filter(|s| !s.is_empty())
        .ok_or_else(|| mandatory("signature"))?;
    if !v.trading.verify_signature(kind, payload.as_bytes(), &sig) {
        return Err(ApiError::bad_request(
            -1022,
            "Signature for this request is not valid.",
        ));
    }
    check_timestamp(ts, window, v.server_time_ms())
        .map_err(|e| ApiError::bad_request(-1021, e.msg()))?;
    Ok(p)
}

/// Checks a `SIGNED` `GET` request: its parameters are its query string's alone ("For `GET`
/// endpoints, parameters must be sent as a `query string`"; a body is not read).
pub(super) fn signed_get(
    v: &Venue,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Params, ApiError> {
    signed(v, headers, query, &[])
}

pub(super) fn symbol(v: &Venue, p: &Params, required: bool) -> Result<(), ApiError> {
    match p.get("symbol").map(String::as_str) {
        Some(s) if s == v.spec.symbol => Ok(()),
        Some("") | None if required => Err(mandatory("symbol")),
        None => Ok(()),
        Some(_) => Err(ApiError::bad_request(-1121, "Invalid symbol.")),
    }
}

/// A DECIMAL parameter: `None` when absent; -1100 when not a plain decimal; a value with more than
/// 8 significant decimals fails `filter`.
fn decimal(p: &Params, name: &str, filter: &'static str) -> Result<Option<u64>, ApiError> {
    let Some(text) = p.get(name) else {
        return Ok(None);
    };
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let plain = (1..=20).contains(&int.len())
        && frac.len() <= 20
        && !(text.contains('.') && frac.is_empty())
        && int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit());
    if !plain {
        return Err(illegal(name, "^([0-9]{1,20})(\\.[0-9]{1,20})?$"));
    }
    parse_units(text)
        .map(Some)
        .ok_or_else(|| order_error(&OrderError::Filter(filter)))
}

pub(super) fn client_id(p: &Params, name: &str) -> Result<Option<String>, ApiError> {
    match p.get(name) {
        None => Ok(None),
        Some(c)
            if (1..=36).contains(&c.len())
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Ok(Some(c.clone()))
        }
        Some(_) => Err(illegal(name, "^[a-zA-Z0-9-_]{1,36}$")),
    }
}

/// `newOrderRespType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RespType {
    Ack,
    Result,
    Full,
}

/// Parses the parameters of a new order.
pub(super) fn parse_order(v: &Venue, p: &Params) -> Result<(NewOrder, RespType), ApiError> {
    symbol(v, p, true)?;
    let side = match p.get("side").map(String::as_str) {
        None | Some("") => return Err(mandatory("side")),
        Some("BUY") => OrderSide::Buy,
        Some("SELL") => OrderSide::Sell,
        Some(_) => return Err(illegal("side", "BUY, SELL")),
    };
    let kind = match p.get("type").map(String::as_str) {
        None | Some("") => return Err(mandatory("type")),
        Some("LIMIT") => OrderKind::Limit,
        Some("MARKET") => OrderKind::Market,
        Some("LIMIT_MAKER") => OrderKind::LimitMaker,
        Some(_) => return Err(illegal("type", "LIMIT, MARKET, LIMIT_MAKER")),
    };
    let tif = match p.get("timeInForce").map(String::as_str) {
        None => None,
        Some("GTC") => Some(Tif::Gtc),
        Some("IOC") => Some(Tif::Ioc),
        Some("FOK") => Some(Tif::Fok),
        Some(_) => return Err(illegal("timeInForce", "GTC, IOC, FOK")),
    };
    let qty = decimal(p, "quantity", "LOT_SIZE")?;
    let quote_qty = decimal(p, "quoteOrderQty", "NOTIONAL")?;
    let price = decimal(p, "price", "PRICE_FILTER")?;
    match kind {
        OrderKind::Limit | OrderKind::LimitMaker => {
            if kind == OrderKind::Limit && tif.is_none() {
                return Err(mandatory("timeInForce"));
            }
            if kind == OrderKind::LimitMaker && tif.is_some() {
                return Err(not_required("timeInForce"));
            }
            if qty.is_none() {
                return Err(mandatory("quantity"));
            }
            if price.is_none() {
                return Err(mandatory("price"));
            }
            if quote_qty.is_some() {
                return Err(not_required("quoteOrderQty"));
            }
        }
        OrderKind::Market => {
            if tif.is_some() {
                return Err(not_required("timeInForce"));
            }
            if price.is_some() {
                return Err(not_required("price"));
            }
            match (qty, quote_qty) {
                (None, None) => return Err(ApiError::bad_request(
                    -1102,
                    "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
                )),
                (Some(_), Some(_)) => return Err(not_required("quoteOrderQty")),
                _ => {}
            }
        }
    }
    let resp = match p.get("newOrderRespType").map(String::as_str) {
        None => match kind {
            OrderKind::Market | OrderKind::Limit => RespType::Full,
            OrderKind::LimitMaker => RespType::Ack,
        },
        Some("ACK") => RespType::Ack,
        Some("RESULT") => RespType::Result,
        Some("FULL") => RespType::Full,
        Some(_) => return Err(illegal("newOrderRespType", "ACK, RESULT, FULL")),
    };
    let client_id = match client_id(p, "newClientOrderId")? {
        Some(c) => c,
        None => v.trading.random_id(22),
    };
    Ok((
        NewOrder {
            side,
            kind,
            tif,
            qty,
            quote_qty,
            price,
            client_id,
        },
        resp,
    ))
}

/// `orderId` / `origClientOrderId`; -1102 when neither is sent.
pub(super) fn order_ref(p: &Params) -> Result<(Option<u64>, Option<String>), ApiError> {
    let id = match p.get("orderId") {
        None => None,
        Some(t) => Some(
            t.parse::<u64>()
                .map_err(|_| illegal("orderId", "^[0-9]{1,20}$"))?,
        ),
    };
    let cid = p
        .get("origClientOrderId")
        .cloned()
        .filter(|c| !c.is_empty());
    if id.is_none() && cid.is_none() {
        return Err(ApiError::bad_request(
            -1102,
            "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
        ));
    }
    Ok((id, cid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_follow_binance_rules() {
        let p = |v: &str| -> Params { [("quantity".to_owned(), v.to_owned())].into() };
        assert_eq!(
            decimal(&p("1.5"), "quantity", "LOT_SIZE").unwrap(),
            Some(150_000_000)
        );
        for bad in ["1e-3", "-1", "1.", ".5", "", "abc"] {
            assert_eq!(
                decimal(&p(bad), "quantity", "LOT_SIZE").unwrap_err().code,
                -1100,
                "{bad}"
            );
        }
        assert_eq!(
            decimal(&p("0.000000001"), "quantity", "LOT_SIZE")
                .unwrap_err()
                .code,
            -1013
        );
    }
}
