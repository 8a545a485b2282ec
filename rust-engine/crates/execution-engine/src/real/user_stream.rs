//! The user data stream over the WebSocket API (PROTOCOL_NOTES §4.3): connect to
//! `<ws_api_url>/ws-api/v3`, send `userDataStream.subscribe.signature` (`apiKey`, `timestamp`,
//! HMAC `signature` of the sorted params), then turn each wrapped `executionReport` into
//! responses through [`RealExecutor::on_execution_report`].
//!
//! After every successful subscription, the first included, [`RealExecutor::reconcile`] runs and
//! its responses are published before the events that queued meanwhile, so nothing that
//! happened while disconnected is missed (fills are reported once each by trade id). A broken
//! connection, a refused subscription or `eventStreamTerminated` leads to a reconnect after an
//! exponential backoff with jitter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::message::Response;
use feed_handler::backoff::Backoff;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use crate::real::executor::RealExecutor;
use crate::real::mapping::{parse_stream_event, StreamEvent};
use crate::signing::ws_api_payload;

/// Path of the WebSocket API.
pub const WS_API_PATH: &str = "/ws-api/v3";
/// Method subscribing without a logged-on session.
pub const SUBSCRIBE_METHOD: &str = "userDataStream.subscribe.signature";

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
}

impl UserStreamConfig {
    /// Defaults for `ws_api_url`: reconnect after 0.5 s doubling to 30 s, 10 s to subscribe.
    pub fn new(ws_api_url: impl Into<String>) -> Self {
        UserStreamConfig {
            ws_api_url: ws_api_url.into(),
            reconnect_initial: Duration::from_millis(500),
            reconnect_max: Duration::from_secs(30),
            subscribe_timeout: Duration::from_secs(10),
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
    /// `executionReport` events applied.
    pub execution_reports: AtomicU64,
}

/// A running user data stream task. Stop it with [`UserStream::shutdown`]; dropping it also
/// stops the task.
#[derive(Debug)]
pub struct UserStream {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    stats: Arc<StreamStats>,
}

impl Drop for UserStream {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
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

impl UserStream {
    /// Starts the stream: responses go to `tx`, in order. The task stops at
    /// [`Self::shutdown`] or when `tx`'s receiver is dropped.
    pub fn spawn(
        executor: Arc<RealExecutor>,
        config: UserStreamConfig,
        tx: mpsc::UnboundedSender<Response>,
    ) -> Self {
        let (stop, stop_rx) = watch::channel(false);
        let stats = Arc::new(StreamStats::default());
        let task = tokio::spawn(run(executor, config, tx, stop_rx, Arc::clone(&stats)));
        UserStream {
            stop,
            task: Some(task),
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

    /// Stops the task and waits for it.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

async fn run(
    executor: Arc<RealExecutor>,
    config: UserStreamConfig,
    tx: mpsc::UnboundedSender<Response>,
    mut stop: watch::Receiver<bool>,
    stats: Arc<StreamStats>,
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
            end = session(&executor, &config, &tx, &stats, request_id) => end,
        };
        match end {
            Ok(SessionEnd::ReceiverGone) => return,
            Ok(SessionEnd::Ended(why)) => {
                tracing::warn!(%why, "user data stream ended; reconnecting")
            }
            Err(why) => tracing::warn!(%why, "user data stream failed; reconnecting"),
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

fn subscribe_request(executor: &RealExecutor, id: u64) -> String {
    let client = executor.client();
    let signer = client.signer();
    let api_key = signer.api_key_header().1.to_owned();
    let timestamp = client.server_now_ms();
    let ts = timestamp.to_string();
    let payload = ws_api_payload(&[("apiKey", api_key.as_str()), ("timestamp", ts.as_str())]);
    let signature = signer.sign_encoded(&payload, "").signature;
    serde_json::json!({
        "id": format!("uds-{id}"),
        "method": SUBSCRIBE_METHOD,
        "params": {"apiKey": api_key, "timestamp": timestamp, "signature": signature},
    })
    .to_string()
}

async fn session(
    executor: &RealExecutor,
    config: &UserStreamConfig,
    tx: &mpsc::UnboundedSender<Response>,
    stats: &StreamStats,
    id: u64,
) -> Result<SessionEnd, String> {
    let endpoint = config.endpoint();
    let (mut ws, _) = tokio::time::timeout(
        config.subscribe_timeout,
        tokio_tungstenite::connect_async(endpoint.as_str()),
    )
    .await
    .map_err(|_| format!("connecting to {endpoint} timed out"))?
    .map_err(|e| format!("connecting to {endpoint}: {e}"))?;
    ws.send(Message::Text(subscribe_request(executor, id)))
        .await
        .map_err(|e| format!("sending the subscription: {e}"))?;
    let want = format!("uds-{id}");
    let answer = tokio::time::timeout(config.subscribe_timeout, async {
        while let Some(msg) = ws.next().await {
            match msg.map_err(|e| e.to_string())? {
                Message::Text(t) => {
                    let v: serde_json::Value =
                        serde_json::from_str(&t).map_err(|e| format!("bad frame: {e}"))?;
                    if v.get("id").and_then(|i| i.as_str()) == Some(want.as_str()) {
                        return Ok(v);
                    }
                }
                Message::Close(c) => return Err(format!("closed before subscribing: {c:?}")),
                _ => {}
            }
        }
        Err("connection ended before subscribing".to_owned())
    })
    .await
    .map_err(|_| "no answer to the subscription".to_owned())??;
    if answer.get("status").and_then(|s| s.as_u64()) != Some(200) {
        return Err(format!("subscription refused: {answer}"));
    }
    stats.subscriptions.fetch_add(1, Ordering::SeqCst);
    tracing::info!(%endpoint, "user data stream subscribed; reconciling");
    for r in executor.reconcile().await {
        if tx.send(r).is_err() {
            return Ok(SessionEnd::ReceiverGone);
        }
    }
    while let Some(msg) = ws.next().await {
        let text = match msg {
            Ok(Message::Text(t)) => t,
            Ok(Message::Close(c)) => return Ok(SessionEnd::Ended(format!("closed: {c:?}"))),
            Ok(_) => continue,
            Err(e) => return Ok(SessionEnd::Ended(e.to_string())),
        };
        match parse_stream_event(&text) {
            Ok(StreamEvent::Execution(report)) => {
                stats.execution_reports.fetch_add(1, Ordering::SeqCst);
                for r in executor.on_execution_report(&report) {
                    if tx.send(r).is_err() {
                        return Ok(SessionEnd::ReceiverGone);
                    }
                }
            }
            Ok(StreamEvent::Terminated) => {
                return Ok(SessionEnd::Ended("eventStreamTerminated".into()))
            }
            Ok(StreamEvent::Other(_)) => {}
            Err(e) => tracing::debug!(error = %e, "user data stream frame ignored"),
        }
    }
    Ok(SessionEnd::Ended("connection closed".into()))
}
