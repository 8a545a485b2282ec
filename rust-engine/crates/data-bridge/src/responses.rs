//! Response PUB: every response as `["resp", payload]`.

use bytes::Bytes;
use common::message::{encode, Response, RESPONSE_TOPIC};
use tokio::sync::mpsc;
use tracing::warn;
use zeromq::{PubSocket, Socket, SocketSend};

use crate::framed;

/// Binds the response PUB socket.
///
/// # Errors
/// The endpoint cannot be bound.
pub async fn bind(endpoint: &str) -> zeromq::ZmqResult<PubSocket> {
    let mut socket = PubSocket::new();
    socket.bind(endpoint).await?;
    Ok(socket)
}

/// Publishes responses until every sender is dropped, then closes the socket.
pub async fn run(mut socket: PubSocket, mut rx: mpsc::Receiver<Response>) -> u64 {
    let mut sent = 0;
    while let Some(r) = rx.recv().await {
        match encode(&r) {
            Ok(payload) => match socket
                .send(framed(
                    Bytes::from_static(RESPONSE_TOPIC.as_bytes()),
                    payload.into(),
                ))
                .await
            {
                Ok(()) => sent += 1,
                Err(e) => warn!(error = %e, "response publish failed"),
            },
            Err(e) => warn!(error = %e, "response not encodable"),
        }
    }
    tokio::time::sleep(crate::publisher::LINGER).await;
    let _ = socket.close().await;
    sent
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
        assert_eq!(sent, n);
    }
}
