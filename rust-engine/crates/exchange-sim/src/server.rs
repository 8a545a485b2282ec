//! The endpoints, as Binance spot serves them (binance-spot-api-docs `web-socket-streams.md`,
//! `rest-api.md`):
//!
//! * WebSocket `/ws/<stream>` (raw payloads) and `/stream?streams=<a>/<b>` (each payload wrapped as
//!   `{"stream":"<name>","data":{...}}`); an unknown stream name is refused with HTTP 400;
//! * `GET /api/v3/depth?symbol=&limit=`, `/api/v3/exchangeInfo[?symbol=]`, `/api/v3/time`,
//!   `/api/v3/ping`;
//! * the order API and listen-key endpoints ([`crate::order_api`]), the WebSocket API at
//!   `/ws-api/v3` and listen-key streams at `/ws/<listenKey>` and `/stream?streams=<listenKey>`
//!   ([`crate::user_stream`]);
//! * for tests: `GET /sim/book?limit=[&update_id=]` (the authoritative book, now or at an update id
//!   still remembered) and `GET /sim/stats`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::connection;
use crate::exchange_info::exchange_info;
use crate::stream::Subscriptions;
use crate::venue::Venue;
use crate::wire;

/// Levels returned by `/api/v3/depth` without `limit` (Binance: 100).
pub const DEFAULT_DEPTH_LIMIT: usize = 100;
/// Most levels returned (Binance: 5000).
pub const MAX_DEPTH_LIMIT: usize = 5000;

type Params = Query<HashMap<String, String>>;

/// The router for `venue`.
pub fn router(venue: Arc<Venue>) -> Router {
    Router::new()
        .route("/ws/:stream", get(raw_stream))
        .route("/stream", get(combined_stream))
        .route("/ws-api/v3", get(ws_api))
        .route("/api/v3/depth", get(depth))
        .route("/api/v3/exchangeInfo", get(info))
        .route("/api/v3/time", get(time))
        .route("/api/v3/ping", get(|| async { json_ok("{}".to_owned()) }))
        .route("/sim/book", get(sim_book))
        .route("/sim/orders", get(sim_orders))
        .route(
            "/sim/stats",
            get(|State(v): State<Arc<Venue>>| async move { json_ok(v.stats_json()) }),
        )
        .merge(crate::order_api::routes())
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, -1000, "Unknown endpoint.") })
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&venue),
            crate::order_api::limits,
        ))
        .with_state(venue)
}

fn json_ok(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A Binance-style error answer: HTTP status and `{"code":..,"msg":..}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: i64,
    pub(crate) msg: Cow<'static, str>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: i64, msg: impl Into<Cow<'static, str>>) -> Self {
        ApiError {
            status,
            code,
            msg: msg.into(),
        }
    }

    pub(crate) fn bad_request(code: i64, msg: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, msg)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            wire::error(self.code, &self.msg),
        )
            .into_response()
    }
}

/// The upgrade extractor's outcome: checked only after the stream names, so that an unknown stream
/// is refused with Binance's JSON even on a plain HTTP request.
type Upgrade = Result<WebSocketUpgrade, WebSocketUpgradeRejection>;

async fn raw_stream(
    ws: Upgrade,
    Path(name): Path<String>,
    State(v): State<Arc<Venue>>,
) -> Response {
    if v.trading.listen_key_valid(&name) {
        return listen_key_stream(ws, v, name, false);
    }
    upgrade(ws, v, std::iter::once(name.as_str()), false)
}

async fn ws_api(ws: Upgrade, State(v): State<Arc<Venue>>) -> Response {
    match ws {
        Ok(ws) => ws.on_upgrade(move |socket| crate::user_stream::serve_ws_api(socket, v)),
        Err(rejection) => rejection.into_response(),
    }
}

async fn combined_stream(ws: Upgrade, Query(q): Params, State(v): State<Arc<Venue>>) -> Response {
    let names = q.get("streams").map(String::as_str).unwrap_or("");
    if v.trading.listen_key_valid(names) {
        return listen_key_stream(ws, v, names.to_owned(), true);
    }
    upgrade(ws, v, names.split('/').filter(|n| !n.is_empty()), true)
}

/// The user data stream of listen key `key` (notes §4.2: "User Data Streams are accessed at
/// /ws/<listenKey> or /stream?streams=<listenKey>"), its events wrapped as
/// `{"stream":<key>,"data":..}` when `combined`. A listen key is not combined with market streams.
fn listen_key_stream(ws: Upgrade, venue: Arc<Venue>, key: String, combined: bool) -> Response {
    // Subscribed before the handshake completes: no event after it is missed.
    let rx = venue.trading.subscribe();
    match ws {
        Ok(ws) => ws.on_upgrade(move |socket| {
            crate::user_stream::serve_listen_key(socket, venue, key, rx, combined)
        }),
        Err(rejection) => rejection.into_response(),
    }
}

fn upgrade<'a>(
    ws: Upgrade,
    venue: Arc<Venue>,
    names: impl Iterator<Item = &'a str>,
    combined: bool,
) -> Response {
    let subs = match Subscriptions::parse(names, &venue.symbol_lower) {
        Ok(subs) => subs,
        Err(e) => return ApiError::bad_request(2, e.to_string()).into_response(),
    };
    if venue.refuses_connection() {
        tracing::info!("fault: connection refused");
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            -1001,
            "Internal error; unable to process your request. Please try again.",
        )
        .into_response();
    }
    match ws {
        Ok(ws) => ws.on_upgrade(move |socket| connection::serve(socket, venue, subs, combined)),
        Err(rejection) => rejection.into_response(),
    }
}

/// Checks `symbol` (when given) against the venue's.
fn check_symbol(
    q: &HashMap<String, String>,
    venue: &Venue,
    required: bool,
) -> Result<(), ApiError> {
    match q.get("symbol") {
        Some(s) if *s == venue.spec.symbol => Ok(()),
        Some(_) => Err(ApiError::bad_request(-1121, "Invalid symbol.")),
        None if required => Err(ApiError::bad_request(
            -1102,
            "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
        )),
        None => Ok(()),
    }
}

/// `limit`: default 100, at most 5000 (more is capped, as Binance does).
fn limit(q: &HashMap<String, String>) -> Result<usize, ApiError> {
    match q.get("limit").map(|l| l.parse::<usize>()) {
        None => Ok(DEFAULT_DEPTH_LIMIT),
        Some(Ok(l)) if l > 0 => Ok(l.min(MAX_DEPTH_LIMIT)),
        Some(_) => Err(ApiError::bad_request(
            -1100,
            "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'.",
        )),
    }
}

async fn depth(Query(q): Params, State(v): State<Arc<Venue>>) -> Result<Response, ApiError> {
    check_symbol(&q, &v, true)?;
    Ok(json_ok(v.client_depth_json(limit(&q)?)))
}

async fn sim_book(Query(q): Params, State(v): State<Arc<Venue>>) -> Result<Response, ApiError> {
    let n = limit(&q)?;
    let Some(id) = q.get("update_id") else {
        return Ok(json_ok(v.depth_json(n)));
    };
    let book = id
        .parse::<u64>()
        .ok()
        .and_then(|id| v.book_at(id))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                -1,
                "update_id is not a remembered book state.",
            )
        })?;
    Ok(json_ok(wire::depth_snapshot(&book, n)))
}

/// Every order the account ever placed, oldest first (a test's view: one entry per venue order,
/// so a duplicate is visible).
async fn sim_orders(State(v): State<Arc<Venue>>) -> Response {
    let ex = v.trading.exchange();
    let orders: Vec<serde_json::Value> = ex
        .orders()
        .map(|o| {
            serde_json::json!({
                "orderId": o.id,
                "clientOrderId": o.client_id,
                "side": o.side.as_str(),
                "type": o.kind.as_str(),
                "status": o.status.as_str(),
                "origQty": crate::units::format_units(o.orig_qty),
                "executedQty": crate::units::format_units(o.executed),
                "time": o.time,
            })
        })
        .collect();
    json_ok(serde_json::Value::Array(orders).to_string())
}

async fn info(Query(q): Params, State(v): State<Arc<Venue>>) -> Result<Response, ApiError> {
    check_symbol(&q, &v, false)?;
    Ok(json_ok(exchange_info(
        &v.spec,
        v.server_time_ms(),
        &v.trading.rate.limits,
    )))
}

async fn time(State(v): State<Arc<Venue>>) -> Response {
    json_ok(format!("{{\"serverTime\":{}}}", v.server_time_ms()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn limits() {
        assert_eq!(limit(&q(&[])), Ok(100));
        assert_eq!(limit(&q(&[("limit", "5")])), Ok(5));
        assert_eq!(limit(&q(&[("limit", "9999")])), Ok(5000));
        for bad in ["0", "-1", "x", ""] {
            assert_eq!(
                limit(&q(&[("limit", bad)])).map_err(|e| e.code),
                Err(-1100),
                "{bad}"
            );
        }
    }
}
