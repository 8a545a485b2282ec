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
