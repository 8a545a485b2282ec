//! Over real sockets: the engine's feed task fails over from its primary URL to its backup URL
//! (exchange-sim replaying real trades) when the primary is dead or stalls, and brings the book live
//! there.

use std::time::Duration;

use common::message::DataMessage;
use exchange_sim::faults::Faults;
use feed_handler::{FeedOutputs, FeedTask, SharedBook};
use tokio::sync::{mpsc, watch};

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
    let book = SharedBook::default();
    let (data_tx, mut data_rx) = mpsc::channel(65_536);
    let (trades_tx, mut trades_rx) = mpsc::channel(65_536);
    tokio::spawn(async move { while trades_rx.recv().await.is_some() {} });
    let (state_tx, _state_rx) = watch::channel(feed_handler::FeedState::Stopped);
    let out = FeedOutputs {
        data: data_tx,
        trades: trades_tx,
        book: book.clone(),
        state: state_tx,
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let feed =
        tokio::spawn(FeedTask::new(cfg, "POLUSDT", Duration::from_millis(250), out).run(stop_rx));

    let mut states = Vec::new();
    let live = tokio::time::timeout(Duration::from_secs(20), async {
        let mut seen = 0;
        while let Some(msg) = data_rx.recv().await {
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
    let synced = book.read().synced;
    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), feed)
        .await
        .unwrap()
        .unwrap();
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
