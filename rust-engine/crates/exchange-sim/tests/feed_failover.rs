//! Over real sockets: the engine's feed task with a dead primary URL fails over to the backup URL
//! (exchange-sim replaying real trades) and brings the book live there.

use std::time::Duration;

use common::message::DataMessage;
use exchange_sim::faults::Faults;
use feed_handler::{FeedOutputs, FeedTask, SharedBook};
use tokio::sync::{mpsc, watch};

mod support;

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

    let cfg = support::feed_config(format!("ws://{dead}"), format!("ws://{sim}"), sim);
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
        while let Some(msg) = data_rx.recv().await {
            if let DataMessage::StateChange(s) = msg {
                states.push((s.current.clone(), s.reason.clone()));
                if s.current == "live" {
                    return;
                }
            }
        }
    })
    .await;
    assert!(live.is_ok(), "never live: {states:?}");
    assert!(book.read().synced);
    let failover = format!("next attempt: ws://{sim}/stream");
    assert!(
        states.iter().any(|(st, r)| st == "reconnecting"
            && r.contains("connect failed")
            && r.contains(&failover)),
        "{states:?}"
    );
    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), feed)
        .await
        .unwrap()
        .unwrap();
}
