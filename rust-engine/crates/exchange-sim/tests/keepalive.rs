//! Binance's keepalive over real sockets: the venue pings every connection, market data and user
//! data alike, and closes one that does not answer a ping in time; the engine's feed answers and
//! keeps its connection.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use exchange_sim::connection::Keepalive;
use exchange_sim::SimConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod client;
mod support;

/// Pings every 100 ms, each to be answered within 400 ms.
const FAST: Keepalive = Keepalive {
    ping_every: Duration::from_millis(100),
    pong_within: Duration::from_millis(400),
};

fn fast_sim() -> SimConfig {
    SimConfig {
        keepalive: FAST,
        ..support::sim_config("2025-10-10T21:12:30Z", "2025-10-10T21:14:30Z", 1.0)
    }
}

/// A client that completes the WebSocket handshake on `path` and then reads and discards
/// everything (so it never sends a pong): true when the venue closed the connection within 5 s.
async fn never_pongs(addr: SocketAddr, path: &str) -> bool {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 65_536];
    let mut received = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n.min(64)]),
            }
        }
    })
    .await;
    assert!(
        received.starts_with(b"HTTP/1.1 101"),
        "{path}: {:?}",
        String::from_utf8_lossy(&received)
    );
    closed.is_ok()
}

/// A client that never answers a ping is closed by the venue once its first ping goes unanswered.
#[tokio::test]
async fn a_client_that_never_answers_a_ping_is_disconnected() {
    let sim = support::launch_sim(fast_sim()).await;
    assert!(
        never_pongs(sim.addr, "/ws/polusdt@aggTrade").await,
        "the venue kept a client that never answers pings"
    );
    assert_eq!(sim.venue.stats.pong_timeouts.load(Ordering::Relaxed), 1);
}

/// User data connections are kept alive as market data ones (notes §1.1: "The WebSocket server
/// will send a `ping frame` every 20 seconds. If the WebSocket server does not receive a `pong
/// frame` back from the connection within a minute the connection will be disconnected."): a
/// WebSocket API connection and a listen key's, raw or combined, that never answer a ping are
/// closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_data_clients_that_never_answer_a_ping_are_disconnected() {
    let sim = support::launch_sim(fast_sim()).await;
    let key = client::Api::new(&sim).listen_key().await;
    let paths = [
        "/ws-api/v3".to_owned(),
        format!("/ws/{key}"),
        format!("/stream?streams={key}"),
    ];
    for (i, path) in paths.iter().enumerate() {
        assert!(
            never_pongs(sim.addr, path).await,
            "the venue kept a client of {path} that never answers pings"
        );
        assert_eq!(
            sim.venue.stats.pong_timeouts.load(Ordering::Relaxed),
            i as u64 + 1,
            "{path}"
        );
    }
}

/// The engine's feed task answers every ping: over 3 s (about 30 pings, each due within 400 ms) it
/// keeps its one connection.
#[tokio::test]
async fn the_feed_answers_pings_and_keeps_its_connection() {
    let sim = support::launch_sim(fast_sim()).await;
    let cfg = support::feed_config(format!("ws://{}", sim.addr), String::new(), sim.addr);
    let (feed, health) = support::spawn_feed(cfg, Duration::from_millis(250)).last_health();
    tokio::time::sleep(Duration::from_secs(3)).await;
    feed.stop().await;
    let h = health.await.unwrap().health.expect("health metrics");
    assert_eq!(h.feed_state, "live", "{h:?}");
    assert_eq!(h.reconnect_count, 0, "{h:?}");
    assert_eq!(sim.venue.stats.pong_timeouts.load(Ordering::Relaxed), 0);
}
