//! Over real sockets: the engine's feed task fails over from its primary URL to its backup URL
//! (exchange-sim replaying real trades) when the primary is dead or stalls, and brings the book live
//! there.

use std::time::Duration;

use common::message::DataMessage;
use exchange_sim::faults::Faults;

mod support;

/// Runs the feed task on `primary` then `backup` (WebSocket base URLs; REST at `rest`) until it has
/// been live `lives` times; returns every state change (state, reason) and whether the book was in
/// sync at the end.
async fn run_until_live(
    primary: String,
    backup: String,
    rest: std::net::SocketAddr,
    lives: usize,
) -> (Vec<(String, String)>, bool) {
    let cfg = support::feed_config(primary, backup, rest);
    let mut feed = support::spawn_feed(cfg, Duration::from_millis(250));

    let mut states = Vec::new();
    let live = tokio::time::timeout(Duration::from_secs(20), async {
        let mut seen = 0;
        while let Some(msg) = feed.data.recv().await {
            if let DataMessage::StateChange(s) = msg {
                states.push((s.current.clone(), s.reason.clone()));
                if s.current == "live" {
                    seen += 1;
                    if seen == lives {
                        return;
                    }
                }
            }
        }
    })
    .await;
    assert!(live.is_ok(), "not live {lives} time(s): {states:?}");
    let synced = feed.book.read().synced;
    feed.stop().await;
    (states, synced)
}

#[tokio::test]
async fn dead_primary_fails_over_to_backup() {
    let sim = support::start_sim(
        "2025-10-10T21:12:30Z",
        "2025-10-10T21:13:30Z",
        5.0,
        Faults::default(),
    )
    .await;
    let sim = sim.addr;
    // A port with nothing listening.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (states, synced) =
        run_until_live(format!("ws://{dead}"), format!("ws://{sim}"), sim, 1).await;
    assert!(synced);
    let failover = format!("next attempt: ws://{sim}/stream");
    assert!(
        states.iter().any(|(st, r)| st == "reconnecting"
            && r.contains("connect failed")
            && r.contains(&failover)),
        "{states:?}"
    );
}

/// A TCP relay to `target` on a free loopback port: it forwards both ways, then from `silent_after`
/// after its first connection it drops what `target` sends (the client's connection stays open and
/// silent, as a stalled primary feed's does).
async fn stalling_relay(
    target: std::net::SocketAddr,
    silent_after: Duration,
) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut silent_at: Option<tokio::time::Instant> = None;
        while let Ok((client, _)) = listener.accept().await {
            let at = *silent_at.get_or_insert_with(|| tokio::time::Instant::now() + silent_after);
            let Ok(upstream) = tokio::net::TcpStream::connect(target).await else {
                continue;
            };
            let (mut client_rd, mut client_wr) = client.into_split();
            let (mut up_rd, mut up_wr) = upstream.into_split();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65_536];
                while let Ok(n) = client_rd.read(&mut buf).await {
                    if n == 0 || up_wr.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65_536];
                while let Ok(n) = up_rd.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    if tokio::time::Instant::now() < at
                        && client_wr.write_all(&buf[..n]).await.is_err()
                    {
                        break;
                    }
                }
                // Upstream gone: the client's side (owned here) stays open and silent until the
                // test ends.
                std::future::pending::<()>().await;
            });
        }
    });
    addr
}

/// The primary stays connected but goes silent (a relay that stops forwarding the venue's frames 2 s
/// after the first connection): the heartbeat takes it for dead and the next attempt goes to the
/// backup URL (the venue itself), where the book is live again.
#[tokio::test]
async fn stalled_primary_fails_over_to_backup() {
    let sim = support::start_sim(
        "2025-10-10T21:12:30Z",
        "2025-10-10T21:14:30Z",
        2.0,
        Faults::default(),
    )
    .await;
    let sim = sim.addr;
    let primary = stalling_relay(sim, Duration::from_secs(2)).await;
    let (states, synced) =
        run_until_live(format!("ws://{primary}"), format!("ws://{sim}"), sim, 2).await;
    assert!(synced);
    let failover = format!("next attempt: ws://{sim}/stream");
    assert!(
        states.iter().any(|(st, r)| st == "reconnecting"
            && r.contains("no message for 1000 ms")
            && r.contains(&failover)),
        "{states:?}"
    );
}
