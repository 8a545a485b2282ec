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

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde::Serialize;

use crate::orders::{Fill, NewOrder, Order, OrderError, OrderKind, OrderSide, Tif};
use crate::rate_limit::{weight, Exceeded};
use crate::server::ApiError;
use crate::signing::{check_timestamp, parse_form, recv_window_ms, rest_payload, timestamp_ms};
use crate::trading::{KeyKind, OrderFault};
use crate::units::{parse_units, Units};
use crate::venue::Venue;

/// Header carrying the API key.
pub const API_KEY_HEADER: &str = "X-MBX-APIKEY";
/// Message of the -1007 answer of the order-reject fault.
pub const TIMEOUT_MSG: &str =
    "Timeout waiting for response from backend server. Send status unknown; execution status unknown.";

type Params = HashMap<String, String>;
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

fn json(body: String) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

fn to_json(v: &impl Serialize) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "{}".to_owned())
}

fn mandatory(name: &str) -> ApiError {
    ApiError::bad_request(
        -1102,
        format!("Mandatory parameter '{name}' was not sent, was empty/null, or malformed."),
    )
}

fn illegal(name: &str, range: &str) -> ApiError {
    ApiError::bad_request(
        -1100,
        format!("Illegal characters found in parameter '{name}'; legal range is '{range}'."),
    )
}

fn not_required(name: &str) -> ApiError {
    ApiError::bad_request(-1106, format!("Parameter '{name}' sent when not required."))
}

fn order_error(e: &OrderError) -> ApiError {
    let (code, msg) = e.code_msg();
    ApiError::bad_request(code, msg)
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

/// The API key check: -2014 for a missing or malformed key, -2015 for an unknown one; the kind
/// of a known one (HMAC or Ed25519).
fn check_key(v: &Venue, headers: &HeaderMap) -> Result<KeyKind, ApiError> {
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
fn params(query: &str, body: &str) -> Result<Params, ApiError> {
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
fn timing(p: &Params) -> Result<(f64, f64), ApiError> {
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
fn signed(
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
fn signed_get(v: &Venue, headers: &HeaderMap, query: Option<&str>) -> Result<Params, ApiError> {
    signed(v, headers, query, &[])
}

fn symbol(v: &Venue, p: &Params, required: bool) -> Result<(), ApiError> {
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

fn client_id(p: &Params, name: &str) -> Result<Option<String>, ApiError> {
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
enum RespType {
    Ack,
    Result,
    Full,
}

/// Parses the parameters of a new order.
fn parse_order(v: &Venue, p: &Params) -> Result<(NewOrder, RespType), ApiError> {
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

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Ack<'a> {
    symbol: &'a str,
    order_id: u64,
    order_list_id: i64,
    client_order_id: &'a str,
    transact_time: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FillJson<'a> {
    price: Units,
    qty: Units,
    commission: Units,
    commission_asset: &'a str,
    trade_id: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OrderResult<'a> {
    symbol: &'a str,
    order_id: u64,
    order_list_id: i64,
    client_order_id: &'a str,
    transact_time: i64,
    price: Units,
    orig_qty: Units,
    executed_qty: Units,
    orig_quote_order_qty: Units,
    cummulative_quote_qty: Units,
    status: &'static str,
    time_in_force: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    side: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    working_time: Option<i64>,
    self_trade_prevention_mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    fills: Option<Vec<FillJson<'a>>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct QueryJson<'a> {
    symbol: &'a str,
    order_id: u64,
    order_list_id: i64,
    client_order_id: &'a str,
    price: Units,
    orig_qty: Units,
    executed_qty: Units,
    cummulative_quote_qty: Units,
    status: &'static str,
    time_in_force: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    side: &'static str,
    stop_price: Units,
    iceberg_qty: Units,
    time: i64,
    update_time: i64,
    is_working: bool,
    working_time: i64,
    orig_quote_order_qty: Units,
    self_trade_prevention_mode: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CancelJson<'a> {
    symbol: &'a str,
    orig_client_order_id: &'a str,
    order_id: u64,
    order_list_id: i64,
    client_order_id: &'a str,
    transact_time: i64,
    price: Units,
    orig_qty: Units,
    executed_qty: Units,
    orig_quote_order_qty: Units,
    cummulative_quote_qty: Units,
    status: &'static str,
    time_in_force: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    side: &'static str,
    self_trade_prevention_mode: &'static str,
}

fn result_json<'a>(
    symbol: &'a str,
    o: &'a Order,
    fills: Option<&'a [Fill]>,
    now: i64,
) -> OrderResult<'a> {
    OrderResult {
        symbol,
        order_id: o.id,
        order_list_id: -1,
        client_order_id: &o.client_id,
        transact_time: now,
        price: Units(o.price),
        orig_qty: Units(o.orig_qty),
        executed_qty: Units(o.executed),
        orig_quote_order_qty: Units(o.orig_quote_qty),
        cummulative_quote_qty: Units(o.cum_quote),
        status: o.status.as_str(),
        time_in_force: o.tif.as_str(),
        kind: o.kind.as_str(),
        side: o.side.as_str(),
        working_time: o.working_time,
        self_trade_prevention_mode: "NONE",
        fills: fills.map(|f| {
            f.iter()
                .map(|f| FillJson {
                    price: Units(f.price),
                    qty: Units(f.qty),
                    commission: Units(f.commission),
                    commission_asset: &f.commission_asset,
                    trade_id: f.trade_id,
                })
                .collect()
        }),
    }
}

fn query_json<'a>(symbol: &'a str, o: &'a Order) -> QueryJson<'a> {
    QueryJson {
        symbol,
        order_id: o.id,
        order_list_id: -1,
        client_order_id: &o.client_id,
        price: Units(o.price),
        orig_qty: Units(o.orig_qty),
        executed_qty: Units(o.executed),
        cummulative_quote_qty: Units(o.cum_quote),
        status: o.status.as_str(),
        time_in_force: o.tif.as_str(),
        kind: o.kind.as_str(),
        side: o.side.as_str(),
        stop_price: Units(0),
        iceberg_qty: Units(0),
        time: o.time,
        update_time: o.update_time,
        is_working: o.working_time.is_some(),
        working_time: o.working_time.unwrap_or(-1),
        orig_quote_order_qty: Units(o.orig_quote_qty),
        self_trade_prevention_mode: "NONE",
    }
}

fn cancel_json<'a>(symbol: &'a str, o: &'a Order, cancel_id: &'a str, now: i64) -> CancelJson<'a> {
    CancelJson {
        symbol,
        orig_client_order_id: &o.client_id,
        order_id: o.id,
        order_list_id: -1,
        client_order_id: cancel_id,
        transact_time: now,
        price: Units(o.price),
        orig_qty: Units(o.orig_qty),
        executed_qty: Units(o.executed),
        orig_quote_order_qty: Units(o.orig_quote_qty),
        cummulative_quote_qty: Units(o.cum_quote),
        status: o.status.as_str(),
        time_in_force: o.tif.as_str(),
        kind: o.kind.as_str(),
        side: o.side.as_str(),
        self_trade_prevention_mode: "NONE",
    }
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
        RespType::Ack => to_json(&Ack {
            symbol: sym,
            order_id: order.id,
            order_list_id: -1,
            client_order_id: &order.client_id,
            transact_time: now,
        }),
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

/// `orderId` / `origClientOrderId`; -1102 when neither is sent.
fn order_ref(p: &Params) -> Result<(Option<u64>, Option<String>), ApiError> {
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

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TradeJson<'a> {
    symbol: &'a str,
    id: u64,
    order_id: u64,
    order_list_id: i64,
    price: Units,
    qty: Units,
    quote_qty: Units,
    commission: Units,
    commission_asset: &'a str,
    time: i64,
    is_buyer: bool,
    is_maker: bool,
    is_best_match: bool,
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
        .map(|t| TradeJson {
            symbol: &v.spec.symbol,
            id: t.fill.trade_id,
            order_id: t.order_id,
            order_list_id: -1,
            price: Units(t.fill.price),
            qty: Units(t.fill.qty),
            quote_qty: Units(crate::matching::mul_floor(t.fill.price, t.fill.qty)),
            commission: Units(t.fill.commission),
            commission_asset: &t.fill.commission_asset,
            time: t.time,
            is_buyer: t.side == OrderSide::Buy,
            is_maker: t.maker,
            is_best_match: true,
        })
        .collect();
    Ok(json(to_json(&list)))
}

async fn start_stream(State(v): State<Arc<Venue>>, headers: HeaderMap) -> ApiResult {
    check_key(&v, &headers)?;
    let key = v.trading.start_listen_key();
    Ok(json(serde_json::json!({ "listenKey": key }).to_string()))
}

fn listen_key_param(q: Option<&str>, body: &[u8]) -> Result<String, ApiError> {
    let p = params(q.unwrap_or(""), std::str::from_utf8(body).unwrap_or(""))?;
    p.get("listenKey")
        .filter(|k| !k.is_empty())
        .cloned()
        .ok_or_else(|| mandatory("listenKey"))
}

fn no_listen_key() -> ApiError {
    ApiError::bad_request(-1125, "This listenKey does not exist.")
}

async fn keep_alive(
    State(v): State<Arc<Venue>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> ApiResult {
    check_key(&v, &headers)?;
    let key = listen_key_param(q.as_deref(), &body)?;
    if !v.trading.keep_alive(&key) {
        return Err(no_listen_key());
    }
    Ok(json("{}".to_owned()))
}

async fn close_stream(
    State(v): State<Arc<Venue>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> ApiResult {
    check_key(&v, &headers)?;
    let key = listen_key_param(q.as_deref(), &body)?;
    if !v.trading.close_listen_key(&key) {
        return Err(no_listen_key());
    }
    Ok(json("{}".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_fixtures::{fixture, keys};
    use crate::units::SCALE;

    fn order() -> Order {
        Order {
            id: 28,
            client_id: "6gCrw2kRUAF9CvJDGP16IP".into(),
            side: OrderSide::Sell,
            kind: OrderKind::Market,
            tif: Tif::Gtc,
            price: 0,
            orig_qty: 10 * SCALE,
            orig_quote_qty: 0,
            executed: 10 * SCALE,
            cum_quote: 10 * SCALE,
            status: crate::orders::Status::Filled,
            time: 1_507_725_176_595,
            update_time: 1_507_725_176_595,
            working_time: Some(1_507_725_176_595),
            locked: 0,
        }
    }

    fn value(v: &impl Serialize) -> serde_json::Value {
        serde_json::from_str(&to_json(v)).unwrap()
    }

    #[test]
    fn responses_match_the_fixtures() {
        let o = order();
        let fills = [Fill {
            price: 4000 * SCALE,
            qty: SCALE,
            commission: 4 * SCALE,
            commission_asset: "USDT".into(),
            trade_id: 56,
        }];
        let full = value(&result_json("BTCUSDT", &o, Some(&fills), 1_507_725_176_595));
        let fx = fixture("order_new_response_full.json");
        assert_eq!(keys(&full), keys(&fx));
        assert_eq!(full["fills"][0], fx["fills"][0]);
        for k in [
            "symbol",
            "orderId",
            "clientOrderId",
            "transactTime",
            "status",
            "type",
            "side",
            "origQty",
        ] {
            assert_eq!(full[k], fx[k], "{k}");
        }
        let result = value(&result_json("BTCUSDT", &o, None, 1));
        assert_eq!(
            keys(&result),
            keys(&fixture("order_new_response_result.json"))
        );
        let ack = value(&Ack {
            symbol: "BTCUSDT",
            order_id: 28,
            order_list_id: -1,
            client_order_id: "6gCrw2kRUAF9CvJDGP16IP",
            transact_time: 1_507_725_176_595,
        });
        assert_eq!(ack, fixture("order_new_response_ack.json"));
        let q = value(&query_json("LTCBTC", &o));
        assert_eq!(keys(&q), keys(&fixture("order_query_response.json")));
        let c = value(&cancel_json("LTCBTC", &o, "cancelMyOrder1", 1));
        assert_eq!(keys(&c), keys(&fixture("order_cancel_response.json")));
    }

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
