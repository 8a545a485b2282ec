//! Over real sockets: the engine's feed task with a dead primary URL fails over to the backup URL
//! (exchange-sim replaying real trades) and brings the book live there.

use std::time::Duration;

use common::config::FeedConfig;
use common::message::DataMessage;
use exchange_sim::book::{ModelParams, SCALE};
use exchange_sim::json::SymbolSpec;
use exchange_sim::replay::{Replay, Speed};
use exchange_sim::{data, server, time};
use feed_handler::{FeedOutputs, FeedTask, SharedBook};
use tokio::sync::{mpsc, watch};

const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../data/binance_trades_2025-10-10_POLUSDT_2045-2145.csv.gz"
);

#[tokio::test]
async fn dead_primary_fails_over_to_backup() {
    let from = time::parse_utc_us("2025-10-10T21:12:30Z").unwrap();
    let to = time::parse_utc_us("2025-10-10T21:13:30Z").unwrap();
    let loaded = data::load(std::path::Path::new(DATA), "POLUSDT", Some(from), Some(to)).unwrap();
    let params = ModelParams {
        tick: 10_000,
        step: SCALE / 10,
        levels: 50,
        base_qty: 500 * SCALE,
        seed: 7,
    };
    let spec = SymbolSpec::new("POLUSDT", 10_000, SCALE / 10, 5 * SCALE);
    let replay = Replay::new(spec, loaded.trades, params, Speed::Factor(5.0), true);
    let shared = replay.shared.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, server::router(shared)).await });
    tokio::spawn(replay.run(true));
    // A port with nothing listening.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();

    let cfg = FeedConfig {
        ws_url: format!("ws://{dead}"),
        backup_ws_url: format!("ws://{sim}"),
        rest_url: format!("http://{sim}"),
        snapshot_limit: 1000,
        snapshot_refresh_secs: 1,
        publish_levels: 20,
        max_publish_hz: 100,
        heartbeat_timeout_ms: 1000,
        latency_alert_ms: 500,
        latency_alert_secs: 5,
        reconnect_initial_ms: 50,
        reconnect_max_ms: 200,
    };
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
