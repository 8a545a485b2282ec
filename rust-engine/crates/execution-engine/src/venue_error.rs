//! What the executor must do about a Binance error answer: the HTTP status plus the
//! `{"code": .., "msg": ..}` body (binance-spot-api-docs `errors.md`, `rest-api.md`
//! "HTTP Return Codes").
//!
//! * `4XX` are the sender's fault: the order was **not** placed; reject it (do not re-send the
//!   same request) — except `-1021` (clock skew: resync the server clock, then a re-send is safe
//!   because the request never reached the matching engine).
//! * `429` (and `-1003`/`-1015`) means back off for `Retry-After`; `418` means the IP is banned:
//!   stop trading and alert.
//! * `5XX`, `-1007` ("Send status unknown; execution status unknown") and transport timeouts:
//!   the outcome is **unknown** and could have been a success; query the order by its client
//!   order id, never re-send it.
//! * Bad credentials or signature (`-1022`, `-2014`, `-2015`) will fail every request: stop
//!   trading and alert.

use serde::Deserialize;

/// Why an order or cancel was refused; the request was not executed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RejectReason {
    /// `-1013` `"Filter failure: <FILTER>"` (the filter's name, e.g. `LOT_SIZE`).
    Filter(String),
    /// `-1121` invalid symbol.
    BadSymbol,
    /// `-2010` "Account has insufficient balance for requested action."
    InsufficientBalance,
    /// `-2010` "Duplicate order sent.": the client order id is in use by an open order.
    DuplicateClientOrderId,
    /// `-2010` "Order would immediately match and take." (`LIMIT_MAKER`).
    WouldTakeLiquidity,
    /// `-2010` "Market is closed."
    MarketClosed,
    /// `-2011` "Unknown order sent." / `-2013` "Order does not exist." / `-2026` archived.
    UnknownOrder,
    /// `-2011` "Order was not canceled due to cancel restrictions."
    CancelRestricted,
    /// `-1100..=-1199` (illegal characters, missing or malformed parameters): the parameter
    /// named in the message, when one is.
    BadParameter(Option<String>),
    /// `403`: blocked by the venue's web application firewall.
    Forbidden,
    /// Any other `4XX`.
    Other,
}

/// Why the request should be tried again later; it was not executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryReason {
    /// `429` or `-1003`/`-1015`: back off for `Retry-After` seconds.
    RateLimited,
    /// `-1021`: the timestamp is outside `recvWindow` or ahead of the server; resync the
    /// server clock first.
    ClockSkew,
}

/// Why trading must stop (an alert for a human).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// `418`: the IP is banned until `Retry-After`.
    IpBanned,
    /// `-1022`, `-2014`, `-2015`: signature, API key format, key, IP or permissions rejected.
    Credentials,
}

/// What the executor must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VenueAction {
    /// Not executed and re-sending will not help: report the rejection.
    Reject(RejectReason),
    /// Not executed: try again later.
    RetryLater(RetryReason),
    /// The outcome is unknown: query by client order id, never re-send.
    UnknownOutcome,
    /// Stop trading and raise an alert.
    StopTrading(StopReason),
}

/// A classified error answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("HTTP {http_status}, code {code:?}: {msg} → {action:?}")]
pub struct VenueError {
    /// HTTP status (0 when no answer arrived).
    pub http_status: u16,
    /// Binance error code, when the body carried one.
    pub code: Option<i64>,
    /// Message (the body itself, truncated, when it was not Binance's JSON).
    pub msg: String,
    /// What to do.
    pub action: VenueAction,
}

impl VenueError {
    /// True for faults of the venue (unknown outcomes, rate limits) that feed a circuit breaker;
    /// rejections of a bad request are the sender's fault and do not.
    pub fn is_venue_fault(&self) -> bool {
        matches!(
            self.action,
            VenueAction::UnknownOutcome | VenueAction::RetryLater(RetryReason::RateLimited)
        )
    }
}

#[derive(Deserialize)]
struct Body {
    code: i64,
    #[serde(default)]
    msg: String,
}

/// Longest non-JSON body kept in [`VenueError::msg`], characters.
const MAX_RAW_MSG: usize = 200;

/// Classifies an error answer from its HTTP status and body. The status decides first (`418`,
/// `429`, `5XX`/`409` → unknown), then the code and message.
pub fn classify(http_status: u16, body: &str) -> VenueError {
    let (code, msg) = match serde_json::from_str::<Body>(body) {
        Ok(b) => (Some(b.code), b.msg),
        Err(_) => (None, body.chars().take(MAX_RAW_MSG).collect()),
    };
    let action = action_for(http_status, code, &msg);
    VenueError {
        http_status,
        code,
        msg,
        action,
    }
}

/// The request timed out or the connection broke before an answer: outcome unknown.
pub fn transport_failure(detail: &str) -> VenueError {
    VenueError {
        http_status: 0,
        code: None,
        msg: detail.chars().take(MAX_RAW_MSG).collect(),
        action: VenueAction::UnknownOutcome,
    }
}

fn action_for(status: u16, code: Option<i64>, msg: &str) -> VenueAction {
    use RejectReason as R;
    let lower = msg.to_ascii_lowercase();
    if status == 418 {
        return VenueAction::StopTrading(StopReason::IpBanned);
    }
    if status == 429 {
        return VenueAction::RetryLater(RetryReason::RateLimited);
    }
    // 5XX, 409 (cancelReplace partial success), no answer, -1007 and anything saying the
    // status is unknown: it may have executed.
    if status >= 500
        || status == 409
        || status == 0
        || code == Some(-1007)
        || lower.contains("status unknown")
    {
        return VenueAction::UnknownOutcome;
    }
    if code == Some(-1003) && lower.contains("banned") {
        return VenueAction::StopTrading(StopReason::IpBanned);
    }
    if matches!(code, Some(-1003 | -1015)) {
        return VenueAction::RetryLater(RetryReason::RateLimited);
    }
    let Some(code) = code else {
        return match status {
            403 => VenueAction::Reject(R::Forbidden),
            400..=499 => VenueAction::Reject(R::Other),
            // A non-error status without a Binance body is not an answer we understand.
            _ => VenueAction::UnknownOutcome,
        };
    };
    match code {
        -1021 => VenueAction::RetryLater(RetryReason::ClockSkew),
        -1022 | -2014 | -2015 => VenueAction::StopTrading(StopReason::Credentials),
        -1013 => match msg.strip_prefix("Filter failure: ") {
            Some(filter) => VenueAction::Reject(R::Filter(filter.trim().to_owned())),
            None => VenueAction::Reject(R::Other),
        },
        -1121 => VenueAction::Reject(R::BadSymbol),
        -1199..=-1100 => VenueAction::Reject(R::BadParameter(quoted_parameter(msg))),
        -2013 | -2026 => VenueAction::Reject(R::UnknownOrder),
        -1010 | -2010 | -2011 | -2038 => VenueAction::Reject(order_message(&lower)),
        _ if status == 403 => VenueAction::Reject(R::Forbidden),
        _ => VenueAction::Reject(R::Other),
    }
}

/// The messages of `-1010`, `-2010`, `-2011`, `-2038` (`errors.md`).
fn order_message(lower: &str) -> RejectReason {
    use RejectReason as R;
    if lower.contains("insufficient balance") {
        R::InsufficientBalance
    } else if lower.contains("duplicate order") {
        R::DuplicateClientOrderId
    } else if lower.contains("immediately match and take") {
        R::WouldTakeLiquidity
    } else if lower.contains("market is closed") {
        R::MarketClosed
    } else if lower.contains("unknown order") {
        R::UnknownOrder
    } else if lower.contains("cancel restrictions") {
        R::CancelRestricted
    } else {
        R::Other
    }
}

/// The parameter in `... parameter 'quantity' ...`.
fn quoted_parameter(msg: &str) -> Option<String> {
    let rest = &msg[msg.find("parameter '")? + "parameter '".len()..];
    Some(rest[..rest.find('\'')?].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    use RejectReason as R;
    use VenueAction as A;

    fn fixture() -> serde_json::Map<String, Value> {
        let path = format!(
            "{}/../../../tests/fixtures/binance/errors.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn expected(name: &str) -> VenueAction {
        match name {
            "generic_example" => A::Reject(R::BadSymbol),
            "timestamp_outside_recv_window" | "timestamp_ahead_of_server" => {
                A::RetryLater(RetryReason::ClockSkew)
            }
            "invalid_signature" | "invalid_api_key" => A::StopTrading(StopReason::Credentials),
            "insufficient_balance" => A::Reject(R::InsufficientBalance),
            "duplicate_client_order_id" => A::Reject(R::DuplicateClientOrderId),
            "limit_maker_would_take" => A::Reject(R::WouldTakeLiquidity),
            "cancel_unknown_order" | "query_unknown_order" => A::Reject(R::UnknownOrder),
            "cancel_restrictions" => A::Reject(R::CancelRestricted),
            "filter_price" => A::Reject(R::Filter("PRICE_FILTER".into())),
            "filter_lot_size" => A::Reject(R::Filter("LOT_SIZE".into())),
            "filter_min_notional" => A::Reject(R::Filter("MIN_NOTIONAL".into())),
            "filter_notional" => A::Reject(R::Filter("NOTIONAL".into())),
            "illegal_client_order_id" => {
                A::Reject(R::BadParameter(Some("newClientOrderId".into())))
            }
            "illegal_quantity_format" => A::Reject(R::BadParameter(Some("quantity".into()))),
            "too_many_requests_weight" | "too_many_orders" => {
                A::RetryLater(RetryReason::RateLimited)
            }
            "ip_banned" => A::StopTrading(StopReason::IpBanned),
            "backend_timeout_unknown_status" => A::UnknownOutcome,
            other => panic!("errors.json entry {other} has no expectation"),
        }
    }

    #[test]
    fn every_fixture_entry() {
        let mut checked = 0;
        for (name, entry) in fixture() {
            if name.starts_with('_') {
                continue;
            }
            let status = u16::try_from(entry["http_status"].as_u64().unwrap()).unwrap();
            let body = entry["body"].to_string();
            let e = classify(status, &body);
            assert_eq!(e.action, expected(&name), "{name}");
            assert_eq!(e.code, entry["body"]["code"].as_i64(), "{name}");
            assert_eq!(e.msg, entry["body"]["msg"].as_str().unwrap(), "{name}");
            checked += 1;
        }
        assert_eq!(checked, 21);
    }

    #[test]
    fn venue_faults_feed_the_breaker() {
        assert!(classify(500, "").is_venue_fault());
        assert!(classify(429, r#"{"code":-1003,"msg":"x"}"#).is_venue_fault());
        assert!(
            !classify(400, r#"{"code":-1013,"msg":"Filter failure: LOT_SIZE"}"#).is_venue_fault()
        );
        assert!(!classify(418, "").is_venue_fault());
    }

    #[test]
    fn statuses_without_a_binance_body() {
        assert_eq!(
            classify(502, "<html>Bad Gateway</html>").action,
            A::UnknownOutcome
        );
        assert_eq!(classify(503, "").action, A::UnknownOutcome);
        assert_eq!(classify(409, "{}").action, A::UnknownOutcome);
        assert_eq!(
            classify(403, "<html>WAF</html>").action,
            A::Reject(R::Forbidden)
        );
        assert_eq!(classify(404, "").action, A::Reject(R::Other));
        assert_eq!(
            classify(429, "").action,
            A::RetryLater(RetryReason::RateLimited)
        );
        assert_eq!(
            classify(418, "").action,
            A::StopTrading(StopReason::IpBanned)
        );
        let t = transport_failure("read timed out after 10 s");
        assert_eq!((t.http_status, t.action), (0, A::UnknownOutcome));
        let long = "x".repeat(1_000);
        assert_eq!(classify(400, &long).msg.len(), MAX_RAW_MSG);
    }

    #[test]
    fn timeout_code_is_unknown_whatever_the_status() {
        let body = r#"{"code":-1007,"msg":"Timeout waiting for response from backend server. Send status unknown; execution status unknown."}"#;
        for status in [200, 400, 500, 504] {
            assert_eq!(classify(status, body).action, A::UnknownOutcome, "{status}");
        }
    }

    proptest! {
        #[test]
        fn random_bodies_never_panic(status in any::<u16>(), body in any::<String>()) {
            let _ = classify(status, &body);
        }

        #[test]
        fn random_codes_and_messages_never_panic(
            status in any::<u16>(),
            code in any::<i64>(),
            msg in any::<String>(),
        ) {
            let body = serde_json::json!({"code": code, "msg": msg}).to_string();
            let e = classify(status, &body);
            prop_assert_eq!(e.code, Some(code));
            prop_assert_eq!(e.msg, msg);
        }

        #[test]
        fn fivexx_is_always_unknown(status in 500u16..600, code in any::<i64>(), msg in "[ -~]{0,40}") {
            let body = serde_json::json!({"code": code, "msg": msg}).to_string();
            prop_assert_eq!(classify(status, &body).action, A::UnknownOutcome);
        }
    }
}
