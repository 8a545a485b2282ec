//! The `Error` response for a failed REST request: the wire code and the field it names.

use common::message::{ErrorCode, Response};

use crate::order::error;
use crate::rate_limit::Denied;
use crate::real::client::RestError;
use crate::venue_error::{RejectReason, VenueAction};

fn snake_field(param: &str) -> String {
    match param {
        "newClientOrderId" | "origClientOrderId" => "client_order_id".into(),
        "timeInForce" => "time_in_force".into(),
        "type" => "order_type".into(),
        other => other.to_owned(),
    }
}

/// The command's field a `-1013` "Filter failure: <FILTER>" is about: the price for the price
/// filters (`PRICE_FILTER`, `PERCENT_PRICE`, `PERCENT_PRICE_BY_SIDE`: the price is off the tick or
/// too far from the average price), none for the count filters (`MAX_NUM_ORDERS`, ...: too many
/// open orders, no field of this order), the quantity for the others (`LOT_SIZE`,
/// `MARKET_LOT_SIZE`, `MIN_NOTIONAL`, `NOTIONAL`, ...).
fn filter_field(filter: &str) -> Option<&'static str> {
    match filter {
        "PRICE_FILTER" | "PERCENT_PRICE" | "PERCENT_PRICE_BY_SIDE" => Some("price"),
        f if f.starts_with("MAX_NUM_") || f.starts_with("EXCHANGE_MAX_NUM_") => None,
        _ => Some("quantity"),
    }
}

/// The `Error` response for a failed request.
pub fn error_response(command_id: Option<&str>, e: &RestError, now: u64) -> Response {
    use ErrorCode as C;
    let msg = e.to_string();
    let (code, field) = match e {
        RestError::Throttled(Denied::TradingStopped { .. } | Denied::Banned { .. }) => {
            (C::Halted, None)
        }
        RestError::CircuitOpen(_) => (C::Halted, None),
        RestError::Expired => (C::Validation, Some("ts_ns".to_owned())),
        RestError::Throttled(_) | RestError::Decode { .. } | RestError::Build(_) => {
            (C::Venue, None)
        }
        RestError::Venue(v) => match &v.action {
            VenueAction::Reject(RejectReason::Filter(f)) => {
                (C::Venue, filter_field(f).map(str::to_owned))
            }
            VenueAction::Reject(RejectReason::DuplicateClientOrderId) => {
                (C::DuplicateOrder, Some("client_order_id".to_owned()))
            }
            VenueAction::Reject(RejectReason::UnknownOrder) => {
                (C::UnknownOrder, Some("client_order_id".to_owned()))
            }
            VenueAction::Reject(RejectReason::BadParameter(p)) => {
                (C::Validation, p.as_deref().map(snake_field))
            }
            VenueAction::Reject(RejectReason::BadSymbol) => (C::Venue, Some("symbol".to_owned())),
            VenueAction::StopTrading(_) => (C::Halted, None),
            _ => (C::Venue, None),
        },
    };
    error(command_id, now, code, field.as_deref(), msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::venue_error::classify;
    use common::message::ErrorResponse;

    fn answer(status: u16, code: i64, msg: &str) -> ErrorResponse {
        let body = serde_json::json!({ "code": code, "msg": msg }).to_string();
        match error_response(Some("c-1"), &RestError::Venue(classify(status, &body)), 7) {
            Response::Error(e) => e,
            other => panic!("expected an Error, got {other:?}"),
        }
    }

    /// Each Binance rejection maps to its wire `ErrorCode` and names the offending field in the
    /// command's own (snake_case) spelling: a duplicate client order id (`-2010`) is
    /// `DUPLICATE_ORDER`, a price filter failure (`PRICE_FILTER`, `PERCENT_PRICE`,
    /// `PERCENT_PRICE_BY_SIDE`) names `price`, a count filter (`MAX_NUM_ORDERS`) no field and other
    /// filters `quantity`, a bad parameter (`-1100..`) is `VALIDATION` naming the parameter, bad
    /// credentials halt.
    #[test]
    fn venue_rejections_map_to_codes_and_fields() {
        let cases: [(u16, i64, &str, ErrorCode, Option<&str>); 13] = [
            (400, -2010, "Duplicate order sent.", ErrorCode::DuplicateOrder, Some("client_order_id")),
            (400, -1013, "Filter failure: PRICE_FILTER", ErrorCode::Venue, Some("price")),
            (400, -1013, "Filter failure: PERCENT_PRICE", ErrorCode::Venue, Some("price")),
            (400, -1013, "Filter failure: PERCENT_PRICE_BY_SIDE", ErrorCode::Venue, Some("price")),
            (400, -1013, "Filter failure: MAX_NUM_ORDERS", ErrorCode::Venue, None),
            (400, -1022, "Signature for this request is not valid.", ErrorCode::Halted, None),
            (400, -1013, "Filter failure: LOT_SIZE", ErrorCode::Venue, Some("quantity")),
            (400, -1013, "Filter failure: NOTIONAL", ErrorCode::Venue, Some("quantity")),
            (
                400,
                -1100,
                "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[a-zA-Z0-9-_]{1,36}$'.",
                ErrorCode::Validation,
                Some("client_order_id"),
            ),
            (
                400,
                -1102,
                "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed.",
                ErrorCode::Validation,
                Some("time_in_force"),
            ),
            (400, -2010, "Account has insufficient balance for requested action.", ErrorCode::Venue, None),
            (400, -2013, "Order does not exist.", ErrorCode::UnknownOrder, Some("client_order_id")),
            (401, -2015, "Invalid API-key, IP, or permissions for action.", ErrorCode::Halted, None),
        ];
        for (status, code, msg, want_code, want_field) in cases {
            let e = answer(status, code, msg);
            assert_eq!(
                (e.code, e.field.as_deref()),
                (want_code, want_field),
                "{code} {msg}"
            );
            assert_eq!(e.command_id.as_deref(), Some("c-1"));
            assert!(e.message.contains(&code.to_string()), "{}", e.message);
        }
    }
}
