//! Endpoints, as Binance spot serves them: WebSocket `/ws/<stream>` and
//! `/stream?streams=<a>/<b>` (payloads wrapped as `{"stream":..,"data":..}`), REST `/api/v3/depth`,
//! `/api/v3/exchangeInfo`, `/api/v3/time`, `/api/v3/ping`; plus `/sim/book` and `/sim/stats` for tests.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::sync::broadcast::error::RecvError;
use tracing::{info, warn};

use crate::faults::{Action, Injector};
use crate::json;
use crate::replay::{wall_ms, Frame, Shared};

/// Interval of the server's ping frames (Binance spot: 20 s).
pub const PING_INTERVAL: Duration = Duration::from_secs(20);

/// The router.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/ws/:stream", get(raw_stream))
        .route("/stream", get(combined_stream))
        .route("/api/v3/depth", get(depth))
        .route("/api/v3/exchangeInfo", get(exchange_info))
        .route(
            "/api/v3/time",
            get(|| async { json_ok(format!("{{\"serverTime\":{}}}", wall_ms())) }),
        )
        .route("/api/v3/ping", get(|| async { json_ok("{}".into()) }))
        .route("/sim/book", get(depth))
        .route("/sim/stats", get(stats))
        .with_state(shared)
}

fn json_ok(body: String) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

fn binance_error(code: i64, msg: &str) -> Response {
    let body = serde_json::json!({"code": code, "msg": msg}).to_string();
    (
        StatusCode::BAD_REQUEST,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// Which payloads a stream name selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Depth,
    AggTrade,
    Trade,
}

fn parse_stream(name: &str, symbol_lower: &str) -> Option<Kind> {
    let (sym, rest) = name.split_once('@')?;
    if sym != symbol_lower {
        return None;
    }
    match rest {
        "depth@100ms" => Some(Kind::Depth),
        "aggTrade" => Some(Kind::AggTrade),
        "trade" => Some(Kind::Trade),
        _ => None,
    }
}

/// The streams asked for, or the first unknown name.
fn streams(shared: &Shared, names: &[&str]) -> Result<Vec<(String, Kind)>, String> {
    let lower = shared.spec.symbol.to_lowercase();
    names
        .iter()
        .map(|n| {
            parse_stream(n, &lower)
                .map(|k| ((*n).to_owned(), k))
                .ok_or_else(|| (*n).to_owned())
        })
        .collect()
}

fn unknown_stream(name: &str) -> Response {
    binance_error(2, &format!("Invalid request: unknown stream {name:?}"))
}

async fn raw_stream(
    ws: WebSocketUpgrade,
    Path(name): Path<String>,
    State(s): State<Arc<Shared>>,
) -> Response {
    match streams(&s, &[name.as_str()]) {
        Ok(list) => ws.on_upgrade(move |socket| serve(socket, s, list, false)),
        Err(name) => unknown_stream(&name),
    }
}

async fn combined_stream(
    ws: WebSocketUpgrade,
    Query(q): Query<HashMap<String, String>>,
    State(s): State<Arc<Shared>>,
) -> Response {
    let names: Vec<&str> = q
        .get("streams")
        .map(|v| v.split('/').collect())
        .unwrap_or_default();
    if names.is_empty() {
        return binance_error(2, "Invalid request: no streams");
    }
    match streams(&s, &names) {
        Ok(list) => ws.on_upgrade(move |socket| serve(socket, s, list, true)),
        Err(name) => unknown_stream(&name),
    }
}

async fn serve(mut socket: WebSocket, s: Arc<Shared>, wanted: Vec<(String, Kind)>, combined: bool) {
    let mut rx = s.events.subscribe();
    let n = s.stats.clients.fetch_add(1, Ordering::Relaxed) + 1;
    s.client_seen.send_replace(true);
    info!(clients = n, streams = ?wanted.iter().map(|w| &w.0).collect::<Vec<_>>(), "client connected");
    let faults = *s.faults.read().unwrap_or_else(|e| e.into_inner());
    let conn = s.connections.fetch_add(1, Ordering::Relaxed);
    let mut inject = Injector::new(faults, s.seed, conn);
    if faults.any() {
        info!(conn, ?faults, "injecting faults into this connection");
    }
    let lifetime = inject
        .lifetime()
        .unwrap_or(Duration::from_secs(u64::MAX / 4));
    let close_at = tokio::time::Instant::now() + lifetime;
    let mut ping = tokio::time::interval(PING_INTERVAL);
    ping.tick().await;
    loop {
        tokio::select! {
            frame = rx.recv() => {
                let frame = match frame {
                    Ok(f) => f,
                    Err(RecvError::Lagged(missed)) => {
                        s.stats.clients_dropped.fetch_add(1, Ordering::Relaxed);
                        warn!(missed, "client too slow: disconnected");
                        break;
                    }
                    Err(RecvError::Closed) => break,
                };
                let (kind, payload) = match &*frame {
                    Frame::Depth(p) => (Kind::Depth, p),
                    Frame::AggTrade(p) => (Kind::AggTrade, p),
                    Frame::Trade(p) => (Kind::Trade, p),
                    Frame::End => {
                        let _ = socket.send(Message::Close(None)).await;
                        break;
                    }
                };
                let Some((name, _)) = wanted.iter().find(|w| w.1 == kind) else { continue };
                let text = if combined {
                    format!("{{\"stream\":\"{name}\",\"data\":{payload}}}")
                } else {
                    payload.clone()
                };
                let is_trade = matches!(kind, Kind::AggTrade | Kind::Trade);
                let Action::Send { text, twice } = inject.apply(text, kind == Kind::Depth, is_trade, &s.fault_counts) else {
                    continue;
                };
                if twice && socket.send(Message::Text(text.clone())).await.is_err() {
                    break;
                }
                if socket.send(Message::Text(text)).await.is_err() {
                    break;
                }
            }
            _ = tokio::time::sleep_until(close_at) => {
                s.fault_counts.disconnects.fetch_add(1, Ordering::Relaxed);
                info!(conn, "fault: closing the connection");
                let _ = socket.send(Message::Close(None)).await;
                break;
            }
            _ = ping.tick() => {
                if socket.send(Message::Ping(Vec::new())).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    let n = s.stats.clients.fetch_sub(1, Ordering::Relaxed) - 1;
    info!(clients = n, "client disconnected");
}

async fn depth(Query(q): Query<HashMap<String, String>>, State(s): State<Arc<Shared>>) -> Response {
    if q.get("symbol").is_some_and(|sym| *sym != s.spec.symbol) {
        return binance_error(-1121, "Invalid symbol.");
    }
    let limit = match q.get("limit").map(|l| l.parse::<usize>()) {
        None => 100,
        Some(Ok(l)) if l > 0 => l.min(5000),
        Some(_) => return binance_error(-1100, "Illegal characters found in parameter 'limit'."),
    };
    let body = json::depth_snapshot(&s.book(), limit);
    json_ok(body)
}

async fn exchange_info(
    Query(q): Query<HashMap<String, String>>,
    State(s): State<Arc<Shared>>,
) -> Response {
    if q.get("symbol").is_some_and(|sym| *sym != s.spec.symbol) {
        return binance_error(-1121, "Invalid symbol.");
    }
    json_ok(json::exchange_info(&s.spec, wall_ms()))
}

async fn stats(State(s): State<Arc<Shared>>) -> Response {
    let st = &s.stats;
    let body = serde_json::json!({
        "trades_sent": st.trades_sent.load(Ordering::Relaxed),
        "depth_updates_sent": st.depth_updates_sent.load(Ordering::Relaxed),
        "clients": st.clients.load(Ordering::Relaxed),
        "clients_dropped": st.clients_dropped.load(Ordering::Relaxed),
        "replay_done": st.replay_done.load(Ordering::Relaxed),
        "event_time_ms": st.event_time_ms.load(Ordering::Relaxed),
        "last_update_id": s.book().update_id,
        "faults": {
            "dropped": s.fault_counts.dropped.load(Ordering::Relaxed),
            "duplicated": s.fault_counts.duplicated.load(Ordering::Relaxed),
            "malformed": s.fault_counts.malformed.load(Ordering::Relaxed),
            "bad_prices": s.fault_counts.bad_prices.load(Ordering::Relaxed),
            "disconnects": s.fault_counts.disconnects.load(Ordering::Relaxed),
        },
    });
    json_ok(body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names() {
        assert_eq!(
            parse_stream("polusdt@depth@100ms", "polusdt"),
            Some(Kind::Depth)
        );
        assert_eq!(
            parse_stream("polusdt@aggTrade", "polusdt"),
            Some(Kind::AggTrade)
        );
        assert_eq!(parse_stream("polusdt@trade", "polusdt"), Some(Kind::Trade));
        assert_eq!(parse_stream("btcusdt@trade", "polusdt"), None);
        assert_eq!(parse_stream("polusdt@kline_1m", "polusdt"), None);
        assert_eq!(parse_stream("POLUSDT@trade", "polusdt"), None);
    }
}
