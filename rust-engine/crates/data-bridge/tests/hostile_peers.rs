//! Bytes a local peer sends to the command socket before or instead of a ZMTP conversation: a
//! frame declaring a terabyte, a command frame shorter than its name, a command after the
//! handshake. The peer is dropped and the socket goes on receiving; nothing panics (the release
//! engine aborts on a panic) and nothing allocates what a peer declared. And a subscriber of the
//! data PUB that stops reading: the publisher goes on, dropping for it, and counts each drop.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::message::{Command, DataMessage, StateChange};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use zeromq::{PubSocket, PullSocket, PushSocket, Socket, SocketSend, ZmqMessage};

const SAFETY: Duration = Duration::from_secs(10);

/// A ZMTP 3.0 greeting with the NULL mechanism, as a client.
fn greeting() -> Vec<u8> {
    let mut g = vec![0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 3, 0];
    let mut mechanism = b"NULL".to_vec();
    mechanism.resize(20, 0);
    g.extend(mechanism);
    g.push(0); // as-server
    g.resize(64, 0);
    g
}

/// A READY command frame with no properties.
fn ready() -> Vec<u8> {
    ready_with(&[])
}

/// A READY command frame with these (name, value) properties.
fn ready_with(properties: &[(&str, &str)]) -> Vec<u8> {
    let mut body = vec![5];
    body.extend(b"READY");
    for (name, value) in properties {
        body.push(name.len() as u8);
        body.extend(name.as_bytes());
        body.extend((value.len() as u32).to_be_bytes());
        body.extend(value.as_bytes());
    }
    let mut frame = vec![0x04, body.len() as u8];
    frame.extend(body);
    frame
}

fn query(command_id: &str) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Query<'a> {
        r#type: &'a str,
        command_id: &'a str,
        ts_ns: u64,
        symbol: &'a str,
    }
    rmp_serde::to_vec_named(&Query {
        r#type: "QueryOpenOrders",
        command_id,
        ts_ns: 1,
        symbol: "POLUSDT",
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bytes_drop_their_peer_and_the_socket_goes_on() {
    let panics = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&panics);
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        seen.fetch_add(1, Ordering::SeqCst);
        default(info);
    }));

    let mut pull = PullSocket::new();
    let endpoint = pull.bind("tcp://127.0.0.1:0").await.unwrap();
    let addr = endpoint.to_string().trim_start_matches("tcp://").to_owned();
    let (cmd_tx, mut cmd_rx) = mpsc::channel::<Command>(8);
    let (resp_tx, _resp_rx) = mpsc::channel(8);
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(data_bridge::commands::run(pull, cmd_tx, resp_tx, stop_rx));

    let long_frame = [vec![0x02], (1u64 << 40).to_be_bytes().to_vec()].concat();
    let short_command = vec![0x04, 0x01, 0xff];
    let second_ready = [ready(), ready()].concat();
    for junk in [long_frame, short_command, second_ready] {
        let mut peer = TcpStream::connect(&addr).await.unwrap();
        peer.write_all(&greeting()).await.unwrap();
        let mut theirs = [0u8; 64];
        tokio::time::timeout(SAFETY, peer.read_exact(&mut theirs))
            .await
            .unwrap()
            .unwrap();
        peer.write_all(&junk).await.unwrap();
        let mut rest = Vec::new();
        // The socket hangs up on the peer (or, for a second READY, ignores it).
        let _ = tokio::time::timeout(Duration::from_millis(500), peer.read_to_end(&mut rest)).await;
    }

    let mut push = PushSocket::new();
    push.connect(&endpoint.to_string()).await.unwrap();
    push.send(ZmqMessage::from(query("after"))).await.unwrap();
    let cmd = tokio::time::timeout(SAFETY, cmd_rx.recv())
        .await
        .expect("the command socket stopped receiving")
        .unwrap();
    assert_eq!(cmd.command_id(), "after");
    stop_tx.send(true).unwrap();
    tokio::time::timeout(SAFETY, task).await.unwrap().unwrap();
    assert_eq!(
        panics.load(Ordering::SeqCst),
        0,
        "a peer's bytes made the socket panic"
    );
}

/// A peer connects to the data PUB by hand, subscribes to everything, reads until the first message
/// arrives, then reads no more. Megabytes later its queue is full: the publisher neither blocks nor
/// fails; every message is still handed to the socket, and the ones lost for the stalled peer are
/// counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_stops_reading_gets_drops_that_are_counted() {
    let mut socket = PubSocket::new();
    let endpoint = socket.bind("tcp://127.0.0.1:0").await.unwrap();
    let addr = endpoint.to_string().trim_start_matches("tcp://").to_owned();
    let (tx, rx) = mpsc::channel(1024);
    let feed = data_bridge::publisher::BookFeed {
        book: feed_handler::SharedBook::default(),
        symbol: "POLUSDT".into(),
        levels: 5,
        max_hz: 10,
    };
    let publisher = tokio::spawn(data_bridge::publisher::run(socket, rx, feed));

    let mut peer = TcpStream::connect(&addr).await.unwrap();
    peer.write_all(&greeting()).await.unwrap();
    peer.write_all(&ready_with(&[("Socket-Type", "SUB")]))
        .await
        .unwrap();
    peer.write_all(&[0x00, 0x01, 0x01]).await.unwrap(); // a message frame: subscribe to ""
    let state = |n: u64| {
        DataMessage::StateChange(StateChange {
            ts_ns: n,
            component: "feed".into(),
            previous: "live".into(),
            current: "live".into(),
            reason: "x".repeat(1_000),
        })
    };
    // Until the subscription has reached the publisher: its greeting and READY, then a message.
    let mut seen = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    let mut sent = 0u64;
    while seen <= 64 + 64 {
        sent += 1;
        assert!(sent < 1_000, "the subscriber never received a message");
        tx.send(state(sent)).await.unwrap();
        if let Ok(n) = tokio::time::timeout(Duration::from_millis(20), peer.read(&mut buf)).await {
            seen += n.unwrap();
        }
    }
    // 40 MB for a peer that reads nothing: more than the kernel's buffers and the socket's queue.
    for n in 0..40_000 {
        tx.send(state(sent + n)).await.unwrap();
    }
    sent += 40_000;
    drop(tx);
    let stats = tokio::time::timeout(SAFETY * 3, publisher)
        .await
        .expect("the publisher blocked on a stalled subscriber")
        .unwrap();
    assert_eq!(stats.messages, sent, "{stats:?}");
    assert!(stats.dropped > 0, "nothing counted as dropped: {stats:?}");
    assert!(stats.dropped < sent, "{stats:?}");
    drop(peer);
}
