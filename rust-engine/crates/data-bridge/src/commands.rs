//! Command PULL: decodes each payload into a [`Command`]; a payload that does not decode is counted,
//! logged, and answered with `Error` (code `MALFORMED`) when its `command_id` can be read.

use common::message::{decode, Command, ErrorCode, ErrorResponse, Response};
use common::time::now_ns;
use serde::Deserialize;
use tokio::sync::{mpsc, watch};
use tracing::warn;
use zeromq::{PullSocket, Socket, SocketRecv};

/// Binds the command PULL socket.
///
/// # Errors
/// The endpoint cannot be bound.
pub async fn bind(endpoint: &str) -> zeromq::ZmqResult<PullSocket> {
    let mut socket = PullSocket::new();
    socket.bind(endpoint).await?;
    Ok(socket)
}

#[derive(Deserialize)]
struct IdOnly {
    command_id: Option<String>,
}

/// A payload that is not a command: the error to answer with, if any.
pub fn reject(payload: &[u8], why: &str) -> Option<Response> {
    let id = rmp_serde::from_slice::<IdOnly>(payload).ok()?.command_id?;
    Some(Response::Error(ErrorResponse {
        command_id: Some(id),
        ts_ns: now_ns(),
        code: ErrorCode::Malformed,
        field: None,
        message: format!("command not understood: {why}"),
    }))
}

/// Receives commands until `shutdown` or until the command consumer goes away.
/// Returns the number of malformed payloads.
pub async fn run(
    mut socket: PullSocket,
    commands: mpsc::Sender<Command>,
    responses: mpsc::Sender<Response>,
    mut shutdown: watch::Receiver<bool>,
) -> u64 {
    let mut malformed = 0u64;
    loop {
        let msg = tokio::select! {
            m = socket.recv() => m,
            _ = shutdown.changed() => break,
        };
        let msg = match msg {
            Ok(m) => m,
            Err(e) => {
                warn!(error = %e, "command socket error");
                continue;
            }
        };
        // One frame expected; a multi-frame message is judged by its last frame.
        let Some(payload) = msg.iter().last() else {
            continue;
        };
        match decode::<Command>(payload) {
            Ok(cmd) => {
                if commands.send(cmd).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                malformed += 1;
                warn!(error = %e, frames = msg.len(), bytes = payload.len(), malformed, "malformed command dropped");
                if let Some(r) = reject(payload, &e.to_string()) {
                    let _ = responses.send(r).await;
                }
            }
        }
    }
    let _ = socket.close().await;
    malformed
}
