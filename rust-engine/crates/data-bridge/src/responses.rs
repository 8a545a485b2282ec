//! Response PUB: every response as `["resp", payload]`. A subscriber whose queue is full misses the
//! response (ZeroMQ's rule, as on the data channel): each miss is counted
//! ([`ResponseStats::dropped`]) and logged as the data publisher logs its drops (at the first, on
//! doubling, at most every [`crate::publisher::DROP_LOG_EVERY`]).

use bytes::Bytes;
use common::message::{encode, Response, RESPONSE_TOPIC};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info, warn};
use zeromq::{PubSocket, Socket, SocketSend};

use crate::framed;
use crate::publisher::DropLog;

/// Binds the response PUB socket.
///
/// # Errors
/// The endpoint cannot be bound.
pub async fn bind(endpoint: &str) -> zeromq::ZmqResult<PubSocket> {
    let mut socket = PubSocket::new();
    socket.bind(endpoint).await?;
    Ok(socket)
}

/// Counts of what the response publisher did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ResponseStats {
    /// Responses queued for at least one subscriber.
    pub sent: u64,
    /// Responses missed by a subscriber whose queue was full or whose connection failed (one per
    /// subscriber that missed one).
    pub dropped: u64,
    /// Responses published while no subscriber subscribed to them (nobody to queue them for).
    pub unheard: u64,
}

/// Publishes responses until every sender is dropped, then closes the socket. Returns how many
/// were queued for at least one subscriber ([`ResponseStats::sent`]).
pub async fn run(socket: PubSocket, rx: mpsc::Receiver<Response>) -> u64 {
    run_counted(socket, rx).await.sent
}

/// [`run`], returning every count.
pub async fn run_counted(mut socket: PubSocket, mut rx: mpsc::Receiver<Response>) -> ResponseStats {
    let mut stats = ResponseStats::default();
    let mut drops = DropLog::default();
    while let Some(r) = rx.recv().await {
        match encode(&r) {
            Ok(payload) => {
                let (queued, dropped) = (socket.queued(), socket.dropped());
                let result = socket
                    .send(framed(
                        Bytes::from_static(RESPONSE_TOPIC.as_bytes()),
                        payload.into(),
                    ))
                    .await;
                if let Err(e) = result {
                    warn!(error = %e, "response publish failed");
                    continue;
                }
                // `send` is Ok also when it dropped for a full subscriber: what the socket counted
                // tells what happened.
                let queued = socket.queued() - queued;
                let dropped = socket.dropped() - dropped;
                if queued > 0 {
                    stats.sent += 1;
                }
                if dropped > 0 {
                    stats.dropped += dropped;
                    if drops.due(stats.dropped, Instant::now()) {
                        warn!(
                            dropped = stats.dropped,
                            "a subscriber's queue was full: responses dropped for it"
                        );
                    }
                }
                if queued == 0 && dropped == 0 {
                    stats.unheard += 1;
                    debug!(
                        unheard = stats.unheard,
                        "response published with no subscriber"
                    );
                }
            }
            Err(e) => warn!(error = %e, "response not encodable"),
        }
    }
    tokio::time::sleep(crate::publisher::LINGER).await;
    info!(
        sent = stats.sent,
        dropped = stats.dropped,
        unheard = stats.unheard,
        "response publisher stopped"
    );
    let _ = socket.close().await;
    stats
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::message::{ErrorCode, ErrorResponse};
    use std::time::Duration;
    use zeromq::{SocketRecv, SubSocket};

    fn response(n: u64) -> Response {
        Response::Error(ErrorResponse {
            command_id: Some(format!("c-{n}")),
            ts_ns: n,
            code: ErrorCode::Malformed,
            field: None,
            message: "x".into(),
        })
    }

    /// Every response goes out as two frames: the `resp` topic, then the MessagePack of
    /// `common::message::encode`; `run` returns how many were sent once its senders are gone.
    #[tokio::test]
    async fn responses_go_out_under_the_resp_topic() {
        let mut socket = PubSocket::new();
        let endpoint = socket.bind("tcp://127.0.0.1:0").await.unwrap();
        let mut sub = SubSocket::new();
        sub.subscribe("").await.unwrap();
        sub.connect(&endpoint.to_string()).await.unwrap();
        let (tx, rx) = mpsc::channel(8);
        let publisher = tokio::spawn(run(socket, rx));
        // PUB drops until the subscription arrives: send until one gets through.
        let mut n = 0;
        let msg = loop {
            n += 1;
            assert!(n < 200, "the subscriber never received anything");
            tx.send(response(n)).await.unwrap();
            if let Ok(m) = tokio::time::timeout(Duration::from_millis(50), sub.recv()).await {
                break m.unwrap();
            }
        };
        let frames = msg.into_vec();
        assert_eq!(frames.len(), 2);
        assert_eq!(&frames[0][..], RESPONSE_TOPIC.as_bytes());
        let got: Response = common::message::decode(&frames[1]).unwrap();
        let Response::Error(e) = &got else {
            panic!("{got:?}")
        };
        assert_eq!(
            frames[1].to_vec(),
            encode(&response(e.ts_ns)).unwrap(),
            "payload as encode() writes it"
        );
        drop(tx);
        let sent = tokio::time::timeout(Duration::from_secs(5), publisher)
            .await
            .unwrap()
            .unwrap();
        // Only what reached a subscriber's queue: not the ones sent before the subscription.
        assert!((1..=n).contains(&sent), "{sent} of {n}");
    }
}
