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

/// The `Error` response for a failed request.
pub fn error_response(command_id: Option<&str>, e: &RestError, now: u64) -> Response {
    use ErrorCode as C;
    let msg = e.to_string();
    let (code, field) = match e {
        RestError::Throttled(Denied::TradingStopped { .. } | Denied::Banned { .. }) => {
            (C::Halted, None)
        }
        RestError::CircuitOpen(_) => (C::Halted, None),
        RestError::Throttled(_) | RestError::Decode { .. } | RestError::Build(_) => {
            (C::Venue, None)
        }
        RestError::Venue(v) => match &v.action {
            VenueAction::Reject(RejectReason::Filter(f)) => (
                C::Venue,
                Some(
                    if f == "PRICE_FILTER" {
                        "price"
                    } else {
                        "quantity"
                    }
                    .to_owned(),
                ),
            ),
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
