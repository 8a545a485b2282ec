//! Over real sockets: the engine's feed task against a venue that drops depth events, duplicates and
//! breaks frames, sends NaN/negative prices and hangs up every 2 s, while a minute of the real crash
//! is replayed. Every fault is counted by the engine, its book never crosses, and it ends equal to
//! the venue's authoritative book.

use std::time::Duration;

use common::config::FeedConfig;
use common::message::{DataMessage, HealthMetrics};
use exchange_sim::book::{ModelParams, SCALE};
use exchange_sim::faults::Faults;
use exchange_sim::json::SymbolSpec;
use exchange_sim::replay::{Replay, Speed};
use exchange_sim::{data, server, time};
use feed_handler::binance::snapshot;
use feed_handler::{FeedOutputs, FeedState, FeedTask, SharedBook};
use tokio::sync::{mpsc, watch};

const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../data/binance_trades_2025-10-10_POLUSDT_2045-2145.csv.gz"
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_book_survives_every_fault_and_ends_equal_to_the_venue() {
    let faults = Faults {
        drop_depth: 0.02,
        duplicate: 0.02,
        malformed: 0.01,
        bad_price: 0.01,
        disconnect_every: Some(Duration::from_secs(2)),
    };
    let (h, f) = run_with_faults(faults, "2025-10-10T21:13:30Z", 6.0).await;
    assert!(
        f["dropped"].as_u64().unwrap() > 0 && h.gap_count > 0,
        "gaps: {f} {h:?}"
    );
    assert!(
        f["malformed"].as_u64().unwrap() > 0 && h.malformed_count > 0,
        "{f} {h:?}"
    );
    assert!(
        f["bad_prices"].as_u64().unwrap() > 0 && h.rejected_count > 0,
        "{f} {h:?}"
    );
    assert!(
        f["duplicated"].as_u64().unwrap() > 0 && h.duplicate_count + h.out_of_order_count > 0,
        "{f} {h:?}"
    );
    assert!(
        f["disconnects"].as_u64().unwrap() > 0 && h.reconnect_count > 0,
        "{f} {h:?}"
    );
    assert!(h.resync_count > 1, "{h:?}");
}

/// Reconnect storm: the venue hangs up every second for 30 s of real-time replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_storm_ends_with_a_correct_book() {
    let faults = Faults {
        disconnect_every: Some(Duration::from_secs(1)),
        ..Faults::default()
    };
    let (h, f) = run_with_faults(faults, "2025-10-10T21:13:00Z", 1.0).await;
    assert!(f["disconnects"].as_u64().unwrap() >= 20, "{f}");
    assert!(h.reconnect_count >= 20, "{h:?}");
}

/// Replays 21:12:30 to `end` with `faults`, runs the engine's feed against it, and checks that the
/// book never crosses and ends equal to the venue's. Returns the last health figures and the
/// simulator's fault counts.
async fn run_with_faults(
    faults: Faults,
    end: &str,
    speed: f64,
) -> (HealthMetrics, serde_json::Value) {
    let from = time::parse_utc_us("2025-10-10T21:12:30Z").unwrap();
    let to = time::parse_utc_us(end).unwrap();
    let loaded = data::load(std::path::Path::new(DATA), "POLUSDT", Some(from), Some(to)).unwrap();
    let params = ModelParams {
        tick: 10_000,
        step: SCALE / 10,
        levels: 50,
        base_qty: 500 * SCALE,
        seed: 11,
    };
    let spec = SymbolSpec::new("POLUSDT", 10_000, SCALE / 10, 5 * SCALE);
    let replay = Replay::new(spec, loaded.trades, params, Speed::Factor(speed), true);
    let shared = replay.shared.clone();
    *shared.faults.write().unwrap() = faults;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = listener.local_addr().unwrap();
    let router_state = shared.clone();
    tokio::spawn(async move { axum::serve(listener, server::router(router_state)).await });
    let replay_task = tokio::spawn(replay.run(true));

    let cfg = FeedConfig {
        ws_url: format!("ws://{sim}"),
        backup_ws_url: String::new(),
        rest_url: format!("http://{sim}"),
        snapshot_limit: 5000,
        snapshot_refresh_secs: 1,
        publish_levels: 20,
        max_publish_hz: 100,
        heartbeat_timeout_ms: 1000,
        latency_alert_ms: 500,
        latency_alert_secs: 5,
        reconnect_initial_ms: 20,
        reconnect_max_ms: 100,
    };
    let book = SharedBook::default();
    let (data_tx, mut data_rx) = mpsc::channel(65_536);
    let (trades_tx, mut trades_rx) = mpsc::channel(65_536);
    tokio::spawn(async move { while trades_rx.recv().await.is_some() {} });
    let (state_tx, mut state_rx) = watch::channel(FeedState::Stopped);
    let out = FeedOutputs {
        data: data_tx,
        trades: trades_tx,
        book: book.clone(),
        state: state_tx,
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let feed =
        tokio::spawn(FeedTask::new(cfg, "POLUSDT", Duration::from_millis(200), out).run(stop_rx));

    // Watch health and the book while the replay runs.
    let checker = book.clone();
    let health = tokio::spawn(async move {
        let mut last: Option<HealthMetrics> = None;
        while let Some(msg) = data_rx.recv().await {
            if let DataMessage::HealthMetrics(h) = msg {
                let st = checker.read();
                if st.synced {
                    assert!(
                        !st.book.is_crossed(),
                        "crossed book at {}",
                        st.book.update_id()
                    );
                }
                last = Some(h);
            }
        }
        last
    });
    tokio::time::timeout(Duration::from_secs(90), replay_task)
        .await
        .expect("replay finished")
        .unwrap();

    // The venue stays up after the replay: the engine must settle on its book.
    let http = reqwest::Client::new();
    let body = http
        .get(format!("http://{sim}/sim/book?limit=5000"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let venue = snapshot::parse(&body).unwrap();
    let settled = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            {
                let st = book.read();
                if st.synced
                    && st.book.update_id() == venue.last_update_id
                    && st.book.bids() == &venue.bids[..]
                    && st.book.asks() == &venue.asks[..]
                {
                    return;
                }
            }
            let _ = tokio::time::timeout(Duration::from_millis(200), state_rx.changed()).await;
        }
    })
    .await;
    let stats: serde_json::Value = http
        .get(format!("http://{sim}/sim/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), feed)
        .await
        .unwrap()
        .unwrap();
    let h = health.await.unwrap().expect("health published");
    assert!(
        settled.is_ok(),
        "engine book never equalled the venue's; venue {} engine {}",
        venue.last_update_id,
        book.read().book.update_id()
    );
    (h, stats["faults"].clone())
}
