//! The user data stream over the WebSocket API (PROTOCOL_NOTES §4.3): connect to
//! `<ws_api_url>/ws-api/v3` and subscribe, one of two documented ways:
//!
//! * with an Ed25519 key ([`RestClient::ed25519_signer`], as Binance serves it today):
//!   `session.logon` (`apiKey`, `recvWindow`, `timestamp`, base64 Ed25519 `signature` of the
//!   params sorted by name), then `userDataStream.subscribe` without params on the authenticated
//!   session;
//! * without one: `userDataStream.subscribe.signature` (`apiKey`, `timestamp`, HMAC `signature`
//!   of the sorted params) with the REST client's HMAC key.
//!
//! Each answer must be `status` 200; the method used is logged at info. Then each wrapped
//! `{"subscriptionId":N,"event":{...}}` `executionReport` becomes responses through
//! [`RealExecutor::on_execution_report`], and each `outboundAccountPosition` updates the balances
//! `QueryBalances` is answered from ([`RealExecutor::on_account_position`]). Those balances are
//! trusted only within one subscription: each subscription, and the end of each, drops them, so
//! the first `QueryBalances` of a subscription asks the venue again.
//!
//! After every successful subscription, the first included, [`RealExecutor::reconcile`] runs, so
//! nothing that happened while disconnected is missed. It runs in a task of its own, which sends
//! its responses itself: the socket is read meanwhile (its requests may wait on the rate limits
//! longer than the venue waits for a pong), and a connection that ends during it does not cut it
//! short (it records the fills and statuses it reports as reported before they are sent, so a cut
//! would lose them for good). Reconciles run one at a time; subscriptions during one are followed
//! by one more. The events that come meanwhile are applied as they come, and each fill is
//! reported once, by trade id, by whichever of the two reports it first. At
//! [`UserStream::shutdown`] a reconcile under way is given [`UserStreamConfig::shutdown_grace`]
//! to finish. A broken
//! connection, a refused logon or subscription or `eventStreamTerminated` leads to a reconnect
//! (logon and subscription again) after an exponential backoff with jitter; a `-1021` refusal
//! (timestamp outside the window) re-learns the server clock first.
//!
//! A user data stream is quiet while nothing trades, so a connection that died without a close
//! (a dropped route, a frozen peer) would look the same as a quiet one. Every
//! [`UserStreamConfig::keepalive`] the stream sends a WebSocket ping frame, which a live peer
//! answers with a pong (RFC 6455 §5.5.2); when no frame at all (pong, the venue's own ping, an
//! event) has come for two of those intervals, the connection is taken as dead and the stream
//! reconnects (and reconciles) as after a close.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::message::Response;
use feed_handler::backoff::Backoff;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

#[cfg(doc)]
use crate::real::client::RestClient;
use crate::real::executor::RealExecutor;
use crate::real::mapping::{parse_stream_event, StreamEvent};
#[cfg(doc)]
use crate::real::tracked::ImpossibleFill;
use crate::signing::{ws_api_payload, Ed25519Signer, Signer};

/// Path of the WebSocket API.
pub const WS_API_PATH: &str = "/ws-api/v3";
/// Method subscribing without a logged-on session (HMAC key).
pub const SUBSCRIBE_METHOD: &str = "userDataStream.subscribe.signature";
/// Method authenticating the session (Ed25519 keys only).
pub const LOGON_METHOD: &str = "session.logon";
/// Method subscribing on an authenticated session (no params).
pub const SESSION_SUBSCRIBE_METHOD: &str = "userDataStream.subscribe";
/// Binance's code for a timestamp outside `recvWindow` or ahead of its clock.
const INVALID_TIMESTAMP: i64 = -1021;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Settings of the user data stream.
#[derive(Debug, Clone)]
pub struct UserStreamConfig {
    /// WebSocket API base, e.g. `wss://ws-api.binance.com:443` ([`WS_API_PATH`] is appended).
    pub ws_api_url: String,
    /// First reconnect delay.
    pub reconnect_initial: Duration,
    /// Largest reconnect delay.
    pub reconnect_max: Duration,
    /// How long to wait for the connection and the subscription's answer.
    pub subscribe_timeout: Duration,
    /// Interval of the keepalive pings; a connection silent for two of them is dropped.
    pub keepalive: Duration,
    /// How long [`UserStream::shutdown`] waits for a reconcile under way to finish and send its
    /// reports before it stops it.
    pub shutdown_grace: Duration,
}

impl UserStreamConfig {
    /// Defaults for `ws_api_url`: reconnect after 0.5 s doubling to 30 s, 10 s to subscribe, a
    /// keepalive ping every 15 s (a dead connection is dropped within 30-45 s), 5 s at shutdown
    /// for a reconcile under way.
    pub fn new(ws_api_url: impl Into<String>) -> Self {
        UserStreamConfig {
            ws_api_url: ws_api_url.into(),
            reconnect_initial: Duration::from_millis(500),
            reconnect_max: Duration::from_secs(30),
            subscribe_timeout: Duration::from_secs(10),
            keepalive: Duration::from_secs(15),
            shutdown_grace: Duration::from_secs(5),
        }
    }

    /// The endpoint connected to.
    pub fn endpoint(&self) -> String {
        format!("{}{WS_API_PATH}", self.ws_api_url.trim_end_matches('/'))
    }
}

/// Counters of a running stream.
#[derive(Debug, Default)]
pub struct StreamStats {
    /// Successful subscriptions (1 + reconnects).
    pub subscriptions: AtomicU64,
    /// `executionReport` events applied (held ones included).
    pub execution_reports: AtomicU64,
    /// `executionReport` events of another symbol than the traded one, ignored (the stream is
    /// per account).
    pub other_symbol: AtomicU64,
    /// Frames dropped as unreadable (not JSON, an `executionReport` or `outboundAccountPosition`
    /// missing a field or with an amount out of range, or an `executionReport` reporting a fill
    /// its order cannot have: above the order's quantity, or adding up past the largest decimal,
    /// [`ImpossibleFill`]): the periodic and reconnect reconciliations recover what they held. A
    /// frame that could not be read at all drops the balances kept (it may have been a balance
    /// change); the next `QueryBalances` asks the venue.
    pub unreadable: AtomicU64,
}

/// A running user data stream: the connection's task and the reconciles' task. Stop it with
/// [`UserStream::shutdown`]; dropping it also stops both tasks, a reconcile under way included.
#[derive(Debug)]
pub struct UserStream {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    reconciler: Option<JoinHandle<()>>,
    shutdown_grace: Duration,
    stats: Arc<StreamStats>,
}

impl Drop for UserStream {
    fn drop(&mut self) {
        for task in [self.task.take(), self.reconciler.take()]
            .into_iter()
            .flatten()
        {
            task.abort();
        }
    }
}

enum SessionEnd {
    /// The receiver of the responses is gone: stop for good.
    ReceiverGone,
    /// The connection ended after a subscription.
    Ended(String),
}

/// Why a session ended before it was subscribed.
#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("connecting to {endpoint}: {reason}")]
    Connect { endpoint: String, reason: String },
    #[error("sending {method}: {reason}")]
    Send {
        method: &'static str,
        reason: String,
    },
    #[error("no answer to {method} within {timeout:?}")]
    NoAnswer {
        method: &'static str,
        timeout: Duration,
    },
    #[error("connection ended before {method} was answered: {reason}")]
    Closed {
        method: &'static str,
        reason: String,
    },
    #[error("{method} refused: status {status}, code {code}: {msg}")]
    Refused {
        method: &'static str,
        status: u64,
        code: i64,
        msg: String,
    },
}

/// How the session authenticates.
#[derive(Clone, Copy)]
enum Auth<'a> {
    /// `session.logon` with the Ed25519 key, then `userDataStream.subscribe`.
    Ed25519(&'a Ed25519Signer),
    /// `userDataStream.subscribe.signature` with the HMAC key.
    Hmac(&'a Signer),
}

impl<'a> Auth<'a> {
    fn of(executor: &'a RealExecutor) -> Self {
        let client = executor.client();
        match client.ed25519_signer() {
            Some(s) => Auth::Ed25519(s),
            None => Auth::Hmac(client.signer()),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Auth::Ed25519(_) => "session.logon (Ed25519) + userDataStream.subscribe",
            Auth::Hmac(_) => "userDataStream.subscribe.signature (HMAC)",
        }
    }
}

impl UserStream {
    /// Starts the stream: responses go to `tx`, each report's in order. The tasks stop at
    /// [`Self::shutdown`] or when `tx`'s receiver is dropped.
    pub fn spawn(
        executor: Arc<RealExecutor>,
        config: UserStreamConfig,
        tx: mpsc::UnboundedSender<Response>,
    ) -> Self {
        let (stop, stop_rx) = watch::channel(false);
        tracing::info!(
            method = Auth::of(&executor).describe(),
            endpoint = %config.endpoint(),
            "user data stream starting"
        );
        let stats = Arc::new(StreamStats::default());
        let (reconcile, requests) = watch::channel(());
        let reconciler = tokio::spawn(reconcile_on_request(
            Arc::clone(&executor),
            tx.clone(),
            requests,
        ));
        let shutdown_grace = config.shutdown_grace;
        let task = tokio::spawn(run(
            executor,
            config,
            tx,
            stop_rx,
            Arc::clone(&stats),
            reconcile,
        ));
        UserStream {
            stop,
            task: Some(task),
            reconciler: Some(reconciler),
            shutdown_grace,
            stats,
        }
    }

    /// The stream's counters.
    pub fn stats(&self) -> &Arc<StreamStats> {
        &self.stats
    }

    /// Successful subscriptions so far.
    pub fn subscriptions(&self) -> u64 {
        self.stats.subscriptions.load(Ordering::SeqCst)
    }

    /// Stops the stream and waits for it: the connection ends at once; a reconcile under way
    /// (and one asked for by a subscription just before) is given
    /// [`UserStreamConfig::shutdown_grace`] to finish and send its reports, then stopped.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        // The connection's task has ended, and with it the requests: the reconciler ends after
        // the reconcile under way.
        if let Some(reconciler) = self.reconciler.take() {
            let abort = reconciler.abort_handle();
            if tokio::time::timeout(self.shutdown_grace, reconciler)
                .await
                .is_err()
            {
                abort.abort();
                tracing::warn!(
                    grace_ms = u64::try_from(self.shutdown_grace.as_millis()).unwrap_or(u64::MAX),
                    "reconcile under way at shutdown stopped: what it found is not reported"
                );
            }
        }
    }
}

/// Runs [`RealExecutor::reconcile`] at each request of the connection's task (one after every
/// subscription), one at a time: requests made while one runs come to one more run after it. It
/// sends the responses to `tx` itself, so that the end of a connection does not cut a reconcile
/// short. Ends once the connection's task is gone (after the reconcile under way and one asked
/// for before it went) or `tx`'s receiver is.
async fn reconcile_on_request(
    executor: Arc<RealExecutor>,
    tx: mpsc::UnboundedSender<Response>,
    mut requests: watch::Receiver<()>,
) {
    while requests.changed().await.is_ok() {
        for r in executor.reconcile().await {
            if tx.send(r).is_err() {
                return;
            }
        }
    }
}

async fn run(
    executor: Arc<RealExecutor>,
    config: UserStreamConfig,
    tx: mpsc::UnboundedSender<Response>,
    mut stop: watch::Receiver<bool>,
    stats: Arc<StreamStats>,
    reconcile: watch::Sender<()>,
) {
    let initial = u64::try_from(config.reconnect_initial.as_millis()).unwrap_or(u64::MAX);
    let max = u64::try_from(config.reconnect_max.as_millis()).unwrap_or(u64::MAX);
    let mut backoff = Backoff::new(initial, max);
    let mut request_id: u64 = 0;
    loop {
        request_id += 1;
        let before = stats.subscriptions.load(Ordering::SeqCst);
        let end = tokio::select! {
            _ = stop.changed() => return,
            () = tx.closed() => return,
            end = session(&executor, &config, &tx, &stats, request_id, &reconcile) => end,
        };
        match end {
            Ok(SessionEnd::ReceiverGone) => return,
            Ok(SessionEnd::Ended(why)) => {
                tracing::warn!(%why, "user data stream ended; reconnecting")
            }
            Err(why) => {
                tracing::warn!(%why, "user data stream failed; reconnecting");
                if matches!(why, SessionError::Refused { code, .. } if code == INVALID_TIMESTAMP) {
                    if let Err(e) = executor.client().sync_clock().await {
                        tracing::warn!(error = %e, "server clock sync failed");
                    }
                }
            }
        }
        if stats.subscriptions.load(Ordering::SeqCst) > before {
            backoff.reset();
        }
        let delay = backoff.next_delay();
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// `userDataStream.subscribe.signature` signed with the HMAC key.
fn subscribe_signature_request(signer: &Signer, timestamp: u64, id: &str) -> String {
    let api_key = signer.api_key_header().1;
    let ts = timestamp.to_string();
    let payload = ws_api_payload(&[("apiKey", api_key), ("timestamp", ts.as_str())]);
    let signature = signer.sign_encoded(&payload, "").signature;
    serde_json::json!({
        "id": id,
        "method": SUBSCRIBE_METHOD,
        "params": {"apiKey": api_key, "timestamp": timestamp, "signature": signature},
    })
    .to_string()
}

/// `session.logon` signed with the Ed25519 key.
fn logon_request(signer: &Ed25519Signer, timestamp: u64, id: &str) -> String {
    serde_json::json!({
        "id": id,
        "method": LOGON_METHOD,
        "params": signer.logon_params(timestamp),
    })
    .to_string()
}

/// `userDataStream.subscribe` on an authenticated session.
fn session_subscribe_request(id: &str) -> String {
    serde_json::json!({"id": id, "method": SESSION_SUBSCRIBE_METHOD}).to_string()
}

/// Sends `text` (request `id` of `method`) and waits for its answer; events before it are
/// skipped (nothing is subscribed yet). `Ok` only for status 200.
async fn request(
    ws: &mut Ws,
    method: &'static str,
    id: &str,
    text: String,
    wait: Duration,
) -> Result<Value, SessionError> {
    ws.send(Message::Text(text))
        .await
        .map_err(|e| SessionError::Send {
            method,
            reason: e.to_string(),
        })?;
    let closed = |reason: String| SessionError::Closed { method, reason };
    let answer = tokio::time::timeout(wait, async {
        while let Some(msg) = ws.next().await {
            match msg.map_err(|e| closed(e.to_string()))? {
                Message::Text(t) => match serde_json::from_str::<Value>(&t) {
                    Ok(v) if v.get("id").and_then(Value::as_str) == Some(id) => return Ok(v),
                    Ok(_) => {}
                    Err(e) => tracing::debug!(error = %e, "unreadable frame before the answer"),
                },
                Message::Close(c) => return Err(closed(format!("closed: {c:?}"))),
                _ => {}
            }
        }
        Err(closed("end of stream".to_owned()))
    })
    .await
    .map_err(|_| SessionError::NoAnswer {
        method,
        timeout: wait,
    })??;
    let status = answer.get("status").and_then(Value::as_u64).unwrap_or(0);
    if status == 200 {
        return Ok(answer);
    }
    let error = answer.get("error");
    Err(SessionError::Refused {
        method,
        status,
        code: error
            .and_then(|e| e.get("code"))
            .and_then(Value::as_i64)
            .unwrap_or(0),
        msg: error
            .and_then(|e| e.get("msg"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
    })
}

/// Authenticates (when logging on) and subscribes on a fresh connection.
async fn subscribe(
    ws: &mut Ws,
    executor: &RealExecutor,
    auth: Auth<'_>,
    wait: Duration,
    n: u64,
) -> Result<(), SessionError> {
    let client = executor.client();
    let id = format!("uds-{n}");
    match auth {
        Auth::Ed25519(signer) => {
            let logon_id = format!("logon-{n}");
            let text = logon_request(signer, client.server_now_ms(), &logon_id);
            request(ws, LOGON_METHOD, &logon_id, text, wait).await?;
            let text = session_subscribe_request(&id);
            request(ws, SESSION_SUBSCRIBE_METHOD, &id, text, wait).await?;
        }
        Auth::Hmac(signer) => {
            let text = subscribe_signature_request(signer, client.server_now_ms(), &id);
            request(ws, SUBSCRIBE_METHOD, &id, text, wait).await?;
        }
    }
    Ok(())
}

/// A subscription of the user data stream, as the executor's balances know it: it drops them when
/// it starts, and when it ends (however the session ends, even cut short by a shutdown).
struct Subscribed<'a>(&'a RealExecutor);

impl<'a> Subscribed<'a> {
    fn new(executor: &'a RealExecutor) -> Self {
        executor.stream_subscribed();
        Subscribed(executor)
    }
}

impl Drop for Subscribed<'_> {
    fn drop(&mut self) {
        self.0.stream_ended();
    }
}

/// One connection: connect, subscribe, ask for a reconcile, then apply the events until the
/// connection ends.
async fn session(
    executor: &RealExecutor,
    config: &UserStreamConfig,
    tx: &mpsc::UnboundedSender<Response>,
    stats: &StreamStats,
    n: u64,
    reconcile: &watch::Sender<()>,
) -> Result<SessionEnd, SessionError> {
    let endpoint = config.endpoint();
    let connect_error = |reason: String| SessionError::Connect {
        endpoint: endpoint.clone(),
        reason,
    };
    let (mut ws, _) = tokio::time::timeout(
        config.subscribe_timeout,
        tokio_tungstenite::connect_async(endpoint.as_str()),
    )
    .await
    .map_err(|_| connect_error("timed out".to_owned()))?
    .map_err(|e| connect_error(e.to_string()))?;
    let auth = Auth::of(executor);
    subscribe(&mut ws, executor, auth, config.subscribe_timeout, n).await?;
    let _subscribed = Subscribed::new(executor);
    stats.subscriptions.fetch_add(1, Ordering::SeqCst);
    tracing::info!(
        %endpoint,
        method = auth.describe(),
        "user data stream subscribed; reconciling"
    );
    // The reconciler runs it while the socket is read (see the module docs).
    reconcile.send_replace(());
    let period = config.keepalive.max(Duration::from_millis(1));
    let mut keepalive = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    let mut last_frame = tokio::time::Instant::now();
    loop {
        let msg = tokio::select! {
            msg = ws.next() => match msg {
                Some(msg) => msg,
                None => break,
            },
            _ = keepalive.tick() => {
                let silent = last_frame.elapsed();
                if silent >= period * 2 {
                    return Ok(SessionEnd::Ended(format!(
                        "no frame for {} ms (keepalive pings every {} ms unanswered)",
                        silent.as_millis(),
                        period.as_millis()
                    )));
                }
                match tokio::time::timeout(period, ws.send(Message::Ping(Vec::new()))).await {
                    Ok(Ok(())) => continue,
                    Ok(Err(e)) => return Ok(SessionEnd::Ended(format!("keepalive ping: {e}"))),
                    Err(_) => return Ok(SessionEnd::Ended("keepalive ping not sent in time".into())),
                }
            }
        };
        last_frame = tokio::time::Instant::now();
        let text = match msg {
            Ok(Message::Text(t)) => t,
            Ok(Message::Close(c)) => return Ok(SessionEnd::Ended(format!("closed: {c:?}"))),
            Ok(_) => continue,
            Err(e) => return Ok(SessionEnd::Ended(e.to_string())),
        };
        match parse_stream_event(&text) {
            Ok(StreamEvent::Execution(report)) if !executor.trades(&report.symbol) => {
                let n = stats.other_symbol.fetch_add(1, Ordering::SeqCst) + 1;
                tracing::info!(
                    symbol = %report.symbol,
                    client_order_id = %report.order_client_id(),
                    other_symbol = n,
                    "executionReport of another symbol ignored"
                );
            }
            Ok(StreamEvent::Execution(report)) => match executor.on_execution_report(&report) {
                Ok(responses) => {
                    stats.execution_reports.fetch_add(1, Ordering::SeqCst);
                    for r in responses {
                        if tx.send(r).is_err() {
                            return Ok(SessionEnd::ReceiverGone);
                        }
                    }
                }
                Err(e) => {
                    let n = stats.unreadable.fetch_add(1, Ordering::SeqCst) + 1;
                    tracing::warn!(
                        client_order_id = %report.order_client_id(),
                        error = %e,
                        unreadable = n,
                        "user data stream frame dropped"
                    );
                }
            },
            Ok(StreamEvent::AccountPosition(position)) => {
                executor.on_account_position(&position);
            }
            Ok(StreamEvent::Terminated) => {
                return Ok(SessionEnd::Ended("eventStreamTerminated".into()))
            }
            Ok(StreamEvent::Other(_)) => {}
            Err(e) => {
                let n = stats.unreadable.fetch_add(1, Ordering::SeqCst) + 1;
                tracing::warn!(error = %e, unreadable = n, "user data stream frame dropped");
                // It may have been a balance change: the balances kept are not trusted any more.
                executor.refresh_balances();
            }
        }
    }
    Ok(SessionEnd::Ended("connection closed".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::{ApiSecret, Ed25519Key, RecvWindow};

    fn json(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    /// The HMAC subscription signs the notes' `session.logon` payload shape (apiKey, timestamp):
    /// the documented known answer.
    #[test]
    fn hmac_subscription_reproduces_the_documented_signature() {
        let signer = Signer::new(
            "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
            ApiSecret::new("NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"),
            RecvWindow::default(),
        );
        let r = json(&subscribe_signature_request(
            &signer,
            1_649_729_878_532,
            "x",
        ));
        assert_eq!(r["method"], SUBSCRIBE_METHOD);
        assert_eq!(r["id"], "x");
        assert_eq!(
            r["params"]["signature"],
            "1cf54395b336b0a9727ef27d5d98987962bc47aca6e13fe978612d0adee066ed"
        );
        assert_eq!(r["params"]["timestamp"], 1_649_729_878_532_u64);
    }

    #[test]
    fn logon_then_subscribe_without_params() {
        let key = Ed25519Key::from_seed(&[7; 32]);
        let signer = Ed25519Signer::new("EDKEY", key.clone(), RecvWindow::default());
        let r = json(&logon_request(&signer, 1_700_000_000_000, "logon-1"));
        assert_eq!(r["method"], "session.logon");
        assert_eq!(r["id"], "logon-1");
        let p = &r["params"];
        assert_eq!(p["apiKey"], "EDKEY");
        assert_eq!(p["recvWindow"], 5_000);
        assert_eq!(
            p["signature"],
            key.sign_base64("apiKey=EDKEY&recvWindow=5000&timestamp=1700000000000")
        );
        let sub = json(&session_subscribe_request("uds-1"));
        assert_eq!(
            sub,
            serde_json::json!({"id": "uds-1", "method": "userDataStream.subscribe"})
        );
        // The documented request has exactly these keys.
        let path = format!(
            "{}/../../../tests/fixtures/binance/wsapi_user_data_stream_subscribe_request.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let documented = json(&std::fs::read_to_string(path).unwrap());
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&sub), keys(&documented));
        let path = format!(
            "{}/../../../tests/fixtures/binance/wsapi_session_logon_request.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let documented = json(&std::fs::read_to_string(path).unwrap());
        assert_eq!(keys(&r), keys(&documented));
        for k in keys(&documented["params"]) {
            assert!(p.get(&k).is_some(), "{k}");
        }
    }
}
