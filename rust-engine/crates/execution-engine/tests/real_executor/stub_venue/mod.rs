//! A stub Binance venue on a free loopback port: REST answers scripted per method and path
//! (fixture-shaped bodies), HMAC verification of every signed request with the documented rules
//! (query string ++ body, `signature` last and unsigned, `X-MBX-APIKEY`), `GET /api/v3/time`
//! with a configurable clock offset, and a WebSocket API endpoint for the user data stream.
//! The server task is aborted when the [`Stub`] is dropped.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

pub const API_KEY: &str = "stubApiKey0123456789";
pub const SECRET: &str = "stubSecretKey9876543210";

pub fn hmac_hex(secret: &str, payload: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(payload.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Canned {
    pub status: u16,
    pub body: String,
    pub headers: Vec<(String, String)>,
    pub delay: Duration,
}

impl Canned {
    pub fn ok(body: impl Into<String>) -> Self {
        Canned {
            status: 200,
            body: body.into(),
            headers: vec![("x-mbx-used-weight-1m".into(), "1".into())],
            delay: Duration::ZERO,
        }
    }

    pub fn err(status: u16, code: i64, msg: &str) -> Self {
        Canned {
            status,
            body: serde_json::json!({"code": code, "msg": msg}).to_string(),
            headers: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }

    pub fn delayed(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
}

/// A request the stub received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub api_key: Option<String>,
    /// `Some(true)` when a signature was present and valid.
    pub signature_ok: Option<bool>,
    pub at: Instant,
    /// The stub's clock (`serverTime`) when it arrived, ms.
    pub venue_ms: u64,
}

impl Seen {
    pub fn param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == name).then(|| v.to_owned())
        })
    }
}

#[derive(Debug, Clone)]
pub enum WsCmd {
    Send(String),
    Close,
    /// The connections open now stop reading (so they answer no ping) and stay open: a peer that
    /// died without closing.
    Freeze,
}

#[derive(Default)]
pub struct StubState {
    queued: HashMap<(String, String), VecDeque<Canned>>,
    fallback: HashMap<(String, String), Canned>,
    pub seen: Vec<Seen>,
    pub server_time_offset_ms: i64,
    /// How long `GET /api/v3/time` waits before reading the clock (a venue that reads it late
    /// in the round trip).
    pub time_read_delay: Duration,
    /// Subscription requests received, with whether their signature verified.
    pub ws_subscribes: Vec<(serde_json::Value, bool)>,
}

type Shared = Arc<Mutex<StubState>>;

#[derive(Clone)]
struct AppState {
    state: Shared,
    ws: broadcast::Sender<WsCmd>,
}

pub struct Stub {
    pub addr: SocketAddr,
    state: Shared,
    ws: broadcast::Sender<WsCmd>,
    task: JoinHandle<()>,
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Stub {
    pub async fn start() -> Stub {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state: Shared = Arc::default();
        let (ws, _) = broadcast::channel(64);
        let app = Router::new()
            .route("/ws-api/v3", get(ws_handler))
            .fallback(rest)
            .with_state(AppState {
                state: Arc::clone(&state),
                ws: ws.clone(),
            });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Stub {
            addr,
            state,
            ws,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    pub fn state(&self) -> MutexGuard<'_, StubState> {
        self.state.lock().unwrap()
    }

    /// Queues `answer` for the next `method path` request.
    pub fn push(&self, method: &str, path: &str, answer: Canned) {
        self.state()
            .queued
            .entry((method.into(), path.into()))
            .or_default()
            .push_back(answer);
    }

    /// The answer once the queue of `method path` is empty.
    pub fn fallback(&self, method: &str, path: &str, answer: Canned) {
        self.state()
            .fallback
            .insert((method.into(), path.into()), answer);
    }

    pub fn seen(&self, method: &str, path: &str) -> Vec<Seen> {
        self.state()
            .seen
            .iter()
            .filter(|s| s.method == method && s.path == path)
            .cloned()
            .collect()
    }

    pub fn count(&self, method: &str, path: &str) -> usize {
        self.seen(method, path).len()
    }

    pub fn set_time_offset(&self, ms: i64) {
        self.state().server_time_offset_ms = ms;
    }

    pub fn ws_send(&self, text: &str) {
        let _ = self.ws.send(WsCmd::Send(text.into()));
    }

    pub fn ws_freeze(&self) {
        let _ = self.ws.send(WsCmd::Freeze);
    }

    pub fn ws_close(&self) {
        let _ = self.ws.send(WsCmd::Close);
    }
}

/// Checks the signature of a `SIGNED` request: the payload is the query string without the
/// trailing `&signature=...`, plus the (empty) body.
fn verify(query: &str) -> Option<bool> {
    let idx = query.rfind("signature=")?;
    let payload = query[..idx].trim_end_matches('&');
    let sig = &query[idx + "signature=".len()..];
    Some(!sig.contains('&') && hmac_hex(SECRET, payload).eq_ignore_ascii_case(sig))
}

async fn rest(
    State(app): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or("").to_owned();
    let api_key = headers
        .get("x-mbx-apikey")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let signature_ok = verify(&query);
    if path == "/api/v3/time" {
        let delay = app.state.lock().unwrap().time_read_delay;
        tokio::time::sleep(delay).await;
    }
    let canned = {
        let mut st = app.state.lock().unwrap();
        let venue_ms = now_ms().saturating_add_signed(st.server_time_offset_ms);
        st.seen.push(Seen {
            method: method.to_string(),
            path: path.clone(),
            query: query.clone(),
            api_key: api_key.clone(),
            signature_ok,
            at: Instant::now(),
            venue_ms,
        });
        let key = (method.to_string(), path.clone());
        if signature_ok == Some(false)
            || (signature_ok.is_some() && api_key.as_deref() != Some(API_KEY))
        {
            Some(Canned::err(
                400,
                -1022,
                "Signature for this request is not valid.",
            ))
        } else if let Some(c) = st.queued.get_mut(&key).and_then(VecDeque::pop_front) {
            Some(c)
        } else if let Some(c) = st.fallback.get(&key) {
            Some(c.clone())
        } else if path == "/api/v3/time" {
            let t = now_ms() as i64 + st.server_time_offset_ms;
            Some(Canned::ok(format!("{{\"serverTime\":{t}}}")))
        } else {
            None
        }
    };
    let Some(c) = canned else {
        return (
            StatusCode::NOT_FOUND,
            "{\"code\":-1,\"msg\":\"not scripted\"}",
        )
            .into_response();
    };
    if !c.delay.is_zero() {
        tokio::time::sleep(c.delay).await;
    }
    let mut resp = (
        StatusCode::from_u16(c.status).unwrap(),
        [("content-type", "application/json")],
        c.body,
    )
        .into_response();
    for (k, v) in c.headers {
        resp.headers_mut().insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    resp
}

async fn ws_handler(State(app): State<AppState>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| ws_session(app, socket))
}

async fn ws_session(app: AppState, mut socket: WebSocket) {
    let mut cmds = app.ws.subscribe();
    // The subscription request.
    let Some(Ok(Message::Text(text))) = socket.recv().await else {
        return;
    };
    let req: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let params = &req["params"];
    let api_key = params["apiKey"].as_str().unwrap_or("");
    let ts = params["timestamp"].as_u64().unwrap_or(0);
    let sig = params["signature"].as_str().unwrap_or("");
    // WS API rule: every param but `signature`, sorted by name, `k=v` joined by `&`.
    let payload = format!("apiKey={api_key}&timestamp={ts}");
    let ok = req["method"] == "userDataStream.subscribe.signature"
        && api_key == API_KEY
        && hmac_hex(SECRET, &payload) == sig;
    app.state
        .lock()
        .unwrap()
        .ws_subscribes
        .push((req.clone(), ok));
    let answer = if ok {
        serde_json::json!({"id": req["id"], "status": 200, "result": {"subscriptionId": 0}})
    } else {
        serde_json::json!({"id": req["id"], "status": 400, "error": {"code": -1022, "msg": "Signature for this request is not valid."}})
    };
    if socket
        .send(Message::Text(answer.to_string()))
        .await
        .is_err()
        || !ok
    {
        return;
    }
    loop {
        tokio::select! {
            cmd = cmds.recv() => match cmd {
                Ok(WsCmd::Send(t)) => {
                    if socket.send(Message::Text(t)).await.is_err() {
                        return;
                    }
                }
                Ok(WsCmd::Close) | Err(_) => {
                    let _ = socket.send(Message::Close(None)).await;
                    return;
                }
                Ok(WsCmd::Freeze) => {
                    // Held open, never read again, until the stub stops.
                    std::future::pending::<()>().await;
                }
            },
            msg = socket.recv() => match msg {
                Some(Ok(_)) => {}
                _ => return,
            },
        }
    }
}

/// Waits (bounded) until `cond` holds.
pub async fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
