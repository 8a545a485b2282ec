//! Binance spot's order API (binance-spot-api-docs `rest-api.md` "Trading endpoints", "Account
//! endpoints", "User data stream endpoints"), checked as Binance checks it:
//!
//! * `POST /api/v3/order`, `POST /api/v3/order/test`, `GET`/`DELETE /api/v3/order`,
//!   `GET`/`DELETE /api/v3/openOrders`, `GET /api/v3/account`: `SIGNED` (API key in
//!   `X-MBX-APIKEY`, `timestamp`, optional `recvWindow`, HMAC-SHA256 `signature` over the query
//!   string ++ body as sent; [`crate::signing`]); parameters in the query string, the
//!   form-encoded body or both (the query string wins);
//! * `POST`/`PUT`/`DELETE /api/v3/userDataStream`: API key only;
//! * every answer carries the rate-limit headers ([`crate::rate_limit`]), added by `limits`.
//!
//! The routes and the order and account handlers are here; reading and checking a request in
//! `request`, the JSON answers' shapes in `responses`, the listen-key endpoints in `listen_key`.

mod listen_key;
mod request;
mod responses;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

use crate::orders::OrderError;
use crate::rate_limit::{weight, Exceeded};
use crate::server::ApiError;
use crate::trading::OrderFault;
use crate::units::Units;
use crate::venue::Venue;
use listen_key::{close_stream, keep_alive, start_stream};
use request::{
    client_id, illegal, order_error, order_ref, parse_order, signed, signed_get, symbol, timing,
    Params, RespType,
};
use responses::{
    ack_json, cancel_json, json, query_json, result_json, to_json, trade_json, CancelJson,
    QueryJson, TradeJson,
};

/// Header carrying the API key.
pub const API_KEY_HEADER: &str = "X-MBX-APIKEY";
/// Message of the -1007 answer of the order-reject fault.
pub const TIMEOUT_MSG: &str =
    "Timeout waiting for response from backend server. Send status unknown; execution status unknown.";

type ApiResult = Result<Response, ApiError>;

/// The order API's routes.
pub(crate) fn routes() -> Router<Arc<Venue>> {
    Router::new()
        .route(
            "/api/v3/order",
            post(new_order).get(query_order).delete(cancel_order),
        )
        .route("/api/v3/order/test", post(test_order))
        .route(
            "/api/v3/openOrders",
            axum::routing::get(open_orders).delete(cancel_open_orders),
        )
        .route("/api/v3/account", axum::routing::get(account))
        .route("/api/v3/myTrades", axum::routing::get(my_trades))
        .route(
            "/api/v3/userDataStream",
            post(start_stream).put(keep_alive).delete(close_stream),
        )
}

fn too_many(e: Exceeded) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
    let mut r = ApiError::new(status, e.code, e.msg).into_response();
    if let Ok(v) = HeaderValue::from_str(&e.retry_after.to_string()) {
        r.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
    }
    r
}

/// Counts every request's weight and adds the rate-limit headers to every answer; over the
/// weight limit the answer is 429 / -1003 with `Retry-After`, and 418 / -1003 while the IP is
/// banned for ignoring one ([`crate::rate_limit`]).
pub(crate) async fn limits(State(v): State<Arc<Venue>>, req: Request, next: Next) -> Response {
    let w = weight(
        req.method().as_str(),
        req.uri().path(),
        req.uri().query().unwrap_or(""),
    );
    let mut resp = match v.trading.rate.add_weight(w, v.rate_clock_ms()) {
        Ok(()) => next.run(req).await,
        Err(e) => too_many(e),
    };
    let u = v.trading.rate.usage(v.rate_clock_ms());
    let h = resp.headers_mut();
    for (name, value) in [
        ("x-mbx-used-weight", u.weight),
        ("x-mbx-used-weight-1m", u.weight),
        ("x-mbx-order-count-10s", u.orders_10s),
        ("x-mbx-order-count-1d", u.orders_day),
    ] {
        h.insert(HeaderName::from_static(name), HeaderValue::from(value));
    }
    resp
}

async fn order_latency(v: &Venue) {
    let d = v.trading.faults.latency;
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}

/// The `--order-latency-ms` wait of a request for the matching engine, then Binance's second
/// look at the request's `recvWindow` before it is forwarded there: one that expired meanwhile is
/// refused `-1021`, never executed late.
async fn to_matching_engine(v: &Venue, p: &Params) -> Result<(), ApiError> {
    order_latency(v).await;
    let (ts, window) = timing(p)?;
    if v.server_time_ms() as f64 - ts > window {
        return Err(ApiError::bad_request(
            -1021,
            "Timestamp for this request is outside of the recvWindow.",
        ));
    }
    Ok(())
}

async fn new_order(
    State(v): State<Arc<Venue>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> ApiResult {
    let p = signed(&v, &headers, q.as_deref(), &body)?;
    let (req, resp) = parse_order(&v, &p)?;
    if let Err(e) = v.trading.rate.add_order(v.rate_clock_ms()) {
        return Ok(too_many(e));
    }
    to_matching_engine(&v, &p).await?;
    let now = v.server_time_ms();
    let book = v.book();
    let placed = v.trading.place(&req, &book, now, v.event_time_ms());
    match v.trading.draw_fault() {
        OrderFault::None => {}
        OrderFault::Timeout => {
            tracing::info!(client_id = %req.client_id, "fault: order placed, answer withheld");
            std::future::pending::<()>().await;
        }
        OrderFault::Reject => {
            tracing::info!(client_id = %req.client_id, "fault: order placed, answered -1007");
            // Binance's body for it comes with HTTP 500 (fixtures/errors.json).
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                -1007,
                TIMEOUT_MSG,
            ));
        }
    }
    let (order, fills) = placed.map_err(|e| order_error(&e))?;
    let sym = &v.spec.symbol;
    Ok(json(match resp {
        RespType::Ack => to_json(&ack_json(sym, &order, now)),
        RespType::Result => to_json(&result_json(sym, &order, None, now)),
        RespType::Full => to_json(&result_json(sym, &order, Some(&fills), now)),
    }))
}

async fn test_order(
    State(v): State<Arc<Venue>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> ApiResult {
    let p = signed(&v, &headers, q.as_deref(), &body)?;
    let (req, _) = parse_order(&v, &p)?;
    order_latency(&v).await;
    let book = v.book();
    v.trading
        .exchange()
        .check_filters(&req, &book, v.event_time_ms())
        .map_err(|e| order_error(&e))?;
    Ok(json("{}".to_owned()))
}

async fn query_order(
    State(v): State<Arc<Venue>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let p = signed_get(&v, &headers, q.as_deref())?;
    symbol(&v, &p, true)?;
    let (id, cid) = order_ref(&p)?;
    order_latency(&v).await;
    let x = v.trading.exchange();
    let o = x
        .find(id, cid.as_deref())
        .ok_or_else(|| order_error(&OrderError::NoSuchOrder))?;
    Ok(json(to_json(&query_json(&v.spec.symbol, o))))
}

async fn cancel_order(
    State(v): State<Arc<Venue>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> ApiResult {
    let p = signed(&v, &headers, q.as_deref(), &body)?;
    symbol(&v, &p, true)?;
    let (id, cid) = order_ref(&p)?;
    let cancel_id = match client_id(&p, "newClientOrderId")? {
        Some(c) => c,
        None => v.trading.random_id(22),
    };
    to_matching_engine(&v, &p).await?;
    let now = v.server_time_ms();
    let o = v
        .trading
        .cancel(id, cid.as_deref(), cancel_id.clone(), now)
        .map_err(|e| order_error(&e))?;
    Ok(json(to_json(&cancel_json(
        &v.spec.symbol,
        &o,
        &cancel_id,
        now,
    ))))
}

async fn open_orders(
    State(v): State<Arc<Venue>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let p = signed_get(&v, &headers, q.as_deref())?;
    symbol(&v, &p, false)?;
    order_latency(&v).await;
    let open = v.trading.exchange().open_orders();
    let list: Vec<QueryJson<'_>> = open.iter().map(|o| query_json(&v.spec.symbol, o)).collect();
    Ok(json(to_json(&list)))
}

async fn cancel_open_orders(
    State(v): State<Arc<Venue>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> ApiResult {
    let p = signed(&v, &headers, q.as_deref(), &body)?;
    symbol(&v, &p, true)?;
    to_matching_engine(&v, &p).await?;
    let now = v.server_time_ms();
    let canceled = v.trading.cancel_all(now);
    if canceled.is_empty() {
        return Err(order_error(&OrderError::UnknownOrder));
    }
    let list: Vec<CancelJson<'_>> = canceled
        .iter()
        .map(|(o, cid)| cancel_json(&v.spec.symbol, o, cid, now))
        .collect();
    Ok(json(to_json(&list)))
}

async fn account(
    State(v): State<Arc<Venue>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let _ = signed_get(&v, &headers, q.as_deref())?;
    order_latency(&v).await;
    let x = v.trading.exchange();
    let bips = |f: u64| f / (crate::units::SCALE / 10_000);
    let balances: Vec<serde_json::Value> = x
        .balances()
        .iter()
        .map(|(a, b)| serde_json::json!({"asset": a, "free": Units(b.free), "locked": Units(b.locked)}))
        .collect();
    Ok(json(
        serde_json::json!({
            "makerCommission": bips(x.maker_fee),
            "takerCommission": bips(x.taker_fee),
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {
                "maker": Units(x.maker_fee),
                "taker": Units(x.taker_fee),
                "buyer": Units(0),
                "seller": Units(0),
            },
            "canTrade": true,
            "canWithdraw": true,
            "canDeposit": true,
            "brokered": false,
            "requireSelfTradePrevention": false,
            "preventSor": false,
            "updateTime": x.update_time,
            "accountType": "SPOT",
            "balances": balances,
            "permissions": ["SPOT"],
            "uid": 1,
        })
        .to_string(),
    ))
}

/// `GET /api/v3/myTrades`: `symbol`, optional `orderId`, `fromId`, `limit` (default 500, at most
/// 1000), oldest first.
async fn my_trades(
    State(v): State<Arc<Venue>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let p = signed_get(&v, &headers, q.as_deref())?;
    symbol(&v, &p, true)?;
    let num = |name: &str| -> Result<Option<u64>, ApiError> {
        p.get(name)
            .map(|t| t.parse::<u64>().map_err(|_| illegal(name, "^[0-9]{1,20}$")))
            .transpose()
    };
    let order_id = num("orderId")?;
    let from_id = num("fromId")?;
    let limit = num("limit")?.unwrap_or(500).clamp(1, 1000) as usize;
    order_latency(&v).await;
    let x = v.trading.exchange();
    let chosen: Vec<_> = x
        .trades()
        .iter()
        .filter(|t| order_id.is_none_or(|id| t.order_id == id))
        .filter(|t| from_id.is_none_or(|id| t.fill.trade_id >= id))
        .collect();
    // From `fromId` on, the first `limit`; without it, the most recent `limit` (oldest first).
    let skip = if from_id.is_some() {
        0
    } else {
        chosen.len().saturating_sub(limit)
    };
    let list: Vec<TradeJson<'_>> = chosen
        .into_iter()
        .skip(skip)
        .take(limit)
        .map(|t| trade_json(&v.spec.symbol, t))
        .collect();
    Ok(json(to_json(&list)))
}
