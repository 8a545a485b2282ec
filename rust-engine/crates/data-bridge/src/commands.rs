//! Command PULL: decodes each payload into a [`Command`]. A payload that does not decode, or a
//! command whose `command_id` is empty (its responses could not carry it back), is counted, logged
//! and answered with `Error` (code `MALFORMED`), with its `command_id` when one can be read. A
//! payload longer than [`MAX_COMMAND_LEN`] is refused before it is decoded (counted and logged as
//! malformed, not answered); a peer sending a message past `zeromq::MAX_MESSAGE_LEN` bytes or
//! `zeromq::MAX_MESSAGE_FRAMES` frames is disconnected by the socket before it is buffered.

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

/// The longest command payload decoded: every command of the protocol is well under a kilobyte; a
/// longer payload is malformed without being decoded.
pub const MAX_COMMAND_LEN: usize = 64 * 1024;

#[derive(Deserialize)]
struct IdOnly {
    command_id: Option<String>,
}

/// A payload refused as a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Not a command (bad MessagePack, unknown type, a missing or invalid field), with the
    /// `command_id` it carries when one can be read.
    Undecodable {
        /// The decoder's reason.
        reason: String,
        /// The payload's `command_id`, when readable and not empty.
        command_id: Option<String>,
    },
    /// A command whose `command_id` is empty: its responses could not carry it back.
    EmptyCommandId,
    /// A payload longer than [`MAX_COMMAND_LEN`], not decoded (so not answered).
    TooLong {
        /// Its length in bytes.
        bytes: usize,
    },
}

impl Refused {
    /// The reason, for the log.
    pub fn reason(&self) -> String {
        match self {
            Refused::Undecodable { reason, .. } => reason.clone(),
            Refused::EmptyCommandId => {
                "command_id is empty: every command needs an id for its responses".to_owned()
            }
            Refused::TooLong { bytes } => {
                format!("payload of {bytes} bytes, longer than the {MAX_COMMAND_LEN} accepted")
            }
        }
    }

    /// The `Error` (code `MALFORMED`) to answer with: none for an undecodable payload without a
    /// readable `command_id` (nobody could match the answer).
    pub fn answer(&self) -> Option<Response> {
        let (command_id, field, message) = match self {
            Refused::Undecodable {
                command_id: None, ..
            }
            | Refused::TooLong { .. } => return None,
            Refused::Undecodable { reason, command_id } => (
                command_id.clone(),
                None,
                format!("command not understood: {reason}"),
            ),
            Refused::EmptyCommandId => (None, Some("command_id".to_owned()), self.reason()),
        };
        Some(Response::Error(ErrorResponse {
            command_id,
            ts_ns: now_ns(),
            code: ErrorCode::Malformed,
            field,
            message,
        }))
    }
}

/// Decodes one command payload.
///
/// # Errors
/// The payload is longer than [`MAX_COMMAND_LEN`], is not a command, or its `command_id` is empty.
pub fn parse(payload: &[u8]) -> Result<Command, Refused> {
    if payload.len() > MAX_COMMAND_LEN {
        return Err(Refused::TooLong {
            bytes: payload.len(),
        });
    }
    match decode::<Command>(payload) {
        Ok(cmd) if cmd.command_id().is_empty() => Err(Refused::EmptyCommandId),
        Ok(cmd) => Ok(cmd),
        Err(e) => Err(Refused::Undecodable {
            reason: e.to_string(),
            command_id: decode::<IdOnly>(payload)
                .ok()
                .and_then(|x| x.command_id)
                .filter(|id| !id.is_empty()),
        }),
    }
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
        match parse(payload) {
            Ok(cmd) => {
                if commands.send(cmd).await.is_err() {
                    break;
                }
            }
            Err(refused) => {
                malformed += 1;
                warn!(error = %refused.reason(), frames = msg.len(), bytes = payload.len(), malformed, "malformed command dropped");
                if let Some(r) = refused.answer() {
                    let _ = responses.send(r).await;
                }
            }
        }
    }
    let _ = socket.close().await;
    malformed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    #[derive(Serialize)]
    struct Query<'a> {
        r#type: &'a str,
        command_id: &'a str,
        ts_ns: u64,
        symbol: &'a str,
    }

    fn query(command_id: &str) -> Vec<u8> {
        let q = Query {
            r#type: "QueryOpenOrders",
            command_id,
            ts_ns: 1,
            symbol: "POLUSDT",
        };
        rmp_serde::to_vec_named(&q).unwrap()
    }

    fn answer(r: &Refused) -> ErrorResponse {
        match r.answer() {
            Some(Response::Error(e)) => e,
            other => panic!("expected an Error, got {other:?}"),
        }
    }

    #[test]
    fn a_command_with_an_id_is_accepted() {
        let cmd = parse(&query("q-1")).unwrap();
        assert_eq!(cmd.command_id(), "q-1");
    }

    #[test]
    fn an_empty_command_id_is_refused_naming_the_field() {
        let refused = parse(&query("")).unwrap_err();
        assert_eq!(refused, Refused::EmptyCommandId);
        let e = answer(&refused);
        assert_eq!(e.code, ErrorCode::Malformed);
        assert_eq!(e.field.as_deref(), Some("command_id"));
        assert_eq!(e.command_id, None);
        assert!(e.message.contains("command_id is empty"), "{}", e.message);
    }

    /// A `PlaceOrder` with its `command_id` and nothing else: undecodable, but its id readable.
    fn place_order_missing_fields(command_id: &str) -> Vec<u8> {
        #[derive(Serialize)]
        struct Bad<'a> {
            r#type: &'a str,
            command_id: &'a str,
        }
        rmp_serde::to_vec_named(&Bad {
            r#type: "PlaceOrder",
            command_id,
        })
        .unwrap()
    }

    #[test]
    fn an_undecodable_command_is_answered_with_its_id_when_it_has_one() {
        let payload = place_order_missing_fields("bad-1");
        let e = answer(&parse(&payload).unwrap_err());
        assert_eq!(e.command_id.as_deref(), Some("bad-1"));
        assert!(
            e.message.starts_with("command not understood: "),
            "{}",
            e.message
        );
        let none = parse(b"\xc1 not msgpack").unwrap_err();
        assert!(none.answer().is_none() && !none.reason().is_empty());
    }

    /// A payload over `MAX_COMMAND_LEN` is refused before it is decoded, and not answered; one of
    /// exactly that length is decoded.
    #[test]
    fn a_payload_over_the_limit_is_refused_undecoded() {
        let mut payload = query("long-1");
        payload[0] += 1; // one more key: "pad", a string filling up to the limit
        payload.extend(b"\xa3pad\xdb");
        let head = payload.len() + 4;
        payload.extend(((MAX_COMMAND_LEN - head) as u32).to_be_bytes());
        payload.resize(MAX_COMMAND_LEN, b' ');
        assert!(matches!(parse(&payload), Err(Refused::Undecodable { .. })));
        payload.push(b' ');
        let refused = parse(&payload).unwrap_err();
        assert_eq!(
            refused,
            Refused::TooLong {
                bytes: MAX_COMMAND_LEN + 1
            }
        );
        assert!(refused.answer().is_none());
        assert!(
            refused.reason().contains("longer than"),
            "{}",
            refused.reason()
        );
    }

    /// An undecodable payload whose `command_id` is empty is treated as having none: it is
    /// refused without an answer (an empty id could not be matched by anyone).
    #[test]
    fn an_undecodable_command_with_an_empty_id_gets_no_answer() {
        let payload = place_order_missing_fields("");
        let refused = parse(&payload).unwrap_err();
        assert!(
            matches!(
                &refused,
                Refused::Undecodable {
                    command_id: None,
                    ..
                }
            ),
            "{refused:?}"
        );
        assert!(refused.answer().is_none());
    }

    /// The receive loop over a real PULL socket: a multi-frame message is judged by its last
    /// frame, a malformed payload with an id is answered `MALFORMED` on the response channel and
    /// counted, the loop goes on after it, and the count is returned at shutdown.
    /// A command nested a thousand deep (a kilobyte) is malformed, refused with its id, and
    /// never walks the stack down: parsed on a thread with tokio's 2 MiB worker stack.
    #[test]
    fn a_deeply_nested_payload_is_refused_not_a_stack_overflow() {
        let mut payload = vec![0x83]; // a map of 3
        for (k, v) in [("type", "PlaceOrder"), ("command_id", "x")] {
            payload.push(0xa0 | k.len() as u8);
            payload.extend(k.as_bytes());
            payload.push(0xa0 | v.len() as u8);
            payload.extend(v.as_bytes());
        }
        payload.push(0xa4);
        payload.extend(b"junk");
        payload.extend(std::iter::repeat_n(0x91, 1000)); // [[[...
        payload.push(0xc0); // nil
        let refused = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || parse(&payload))
            .unwrap()
            .join()
            .expect("the parse overflowed its stack");
        match refused {
            Err(Refused::Undecodable { reason, .. }) => {
                assert!(reason.contains("depth"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn run_forwards_commands_answers_and_counts_malformed_ones() {
        use bytes::Bytes;
        use std::time::Duration;
        use zeromq::{PushSocket, SocketSend, ZmqMessage};

        const SAFETY: Duration = Duration::from_secs(10);
        let mut pull = PullSocket::new();
        let endpoint = pull.bind("tcp://127.0.0.1:0").await.unwrap();
        let mut push = PushSocket::new();
        push.connect(&endpoint.to_string()).await.unwrap();
        let (cmd_tx, mut cmd_rx) = mpsc::channel(8);
        let (resp_tx, mut resp_rx) = mpsc::channel(8);
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run(pull, cmd_tx, resp_tx, stop_rx));

        let multi = ZmqMessage::try_from(vec![
            Bytes::from_static(b"\xc1 not msgpack"),
            Bytes::from(query("q-multi")),
        ])
        .unwrap();
        push.send(multi).await.unwrap();
        let cmd = tokio::time::timeout(SAFETY, cmd_rx.recv())
            .await
            .expect("the multi-frame command never arrived")
            .unwrap();
        assert_eq!(cmd.command_id(), "q-multi");

        let bad = place_order_missing_fields("bad-7");
        push.send(ZmqMessage::from(bad)).await.unwrap();
        let answer = tokio::time::timeout(SAFETY, resp_rx.recv())
            .await
            .expect("the malformed command was not answered")
            .unwrap();
        match answer {
            Response::Error(e) => {
                assert_eq!(e.code, ErrorCode::Malformed);
                assert_eq!(e.command_id.as_deref(), Some("bad-7"));
            }
            other => panic!("expected an Error, got {other:?}"),
        }

        push.send(ZmqMessage::from(query("q-2"))).await.unwrap();
        let cmd = tokio::time::timeout(SAFETY, cmd_rx.recv())
            .await
            .expect("the command after the malformed one never arrived")
            .unwrap();
        assert_eq!(cmd.command_id(), "q-2");

        stop_tx.send(true).unwrap();
        let malformed = tokio::time::timeout(SAFETY, task).await.unwrap().unwrap();
        assert_eq!(malformed, 1);
        assert!(
            resp_rx.try_recv().is_err(),
            "only the malformed one is answered"
        );
    }
}
