//! The user data stream's listen-key endpoints, `POST`/`PUT`/`DELETE /api/v3/userDataStream`:
//! API key only, the `listenKey` in the query string or the body.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;

use super::request::{check_key, mandatory, params};
use super::responses::json;
use super::ApiResult;
use crate::server::ApiError;
use crate::venue::Venue;

pub(super) async fn start_stream(State(v): State<Arc<Venue>>, headers: HeaderMap) -> ApiResult {
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

pub(super) async fn keep_alive(
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

pub(super) async fn close_stream(
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
