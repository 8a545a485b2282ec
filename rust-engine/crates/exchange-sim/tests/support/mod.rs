//! Set-up shared by the integration tests: a simulator replaying a window of the real POLUSDT crash
//! on a free loopback port, and a feed configuration pointing at it.

#![allow(dead_code)] // each test uses a part

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::config::FeedConfig;
use exchange_sim::book::{ModelParams, SCALE};
use exchange_sim::faults::Faults;
use exchange_sim::json::SymbolSpec;
use exchange_sim::replay::{Replay, Shared, Speed};
use exchange_sim::{data, server, time};
use tokio::task::JoinHandle;

const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../data/binance_trades_2025-10-10_POLUSDT_2045-2145.csv.gz"
);

/// A running simulator.
pub struct Sim {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its shared state.
    pub shared: Arc<Shared>,
    /// The replay, started when the first client connects; ends with `(trades, depth updates, last id)`.
    pub replay: JoinHandle<(u64, u64, u64)>,
}

/// Starts a simulator replaying `[from, to)` (UTC) of the bundled data at `speed` with `faults`.
pub async fn start_sim(from: &str, to: &str, speed: f64, faults: Faults) -> Sim {
    let from = time::parse_utc_us(from).unwrap();
    let to = time::parse_utc_us(to).unwrap();
    let loaded = data::load(std::path::Path::new(DATA), "POLUSDT", Some(from), Some(to)).unwrap();
    assert!(
        loaded.trades.len() > 100,
        "{} trades in the window",
        loaded.trades.len()
    );
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
    let addr = listener.local_addr().unwrap();
    let state = shared.clone();
    tokio::spawn(async move { axum::serve(listener, server::router(state)).await });
    Sim {
        addr,
        shared,
        replay: tokio::spawn(replay.run(true)),
    }
}

/// A feed configuration on `ws` with the simulator's REST API at `sim`, quick to reconnect.
pub fn feed_config(ws: String, backup: String, sim: SocketAddr) -> FeedConfig {
    FeedConfig {
        ws_url: ws,
        backup_ws_url: backup,
        rest_url: format!("http://{sim}"),
        snapshot_limit: 5000,
        snapshot_refresh_secs: 1,
        publish_levels: 20,
        max_publish_hz: 100,
        heartbeat_timeout_ms: 1000,
        latency_alert_ms: 500,
        latency_alert_secs: 5,
        reconnect_initial_ms: 20,
        reconnect_max_ms: 200,
    }
}

/// The simulator's authoritative book, parsed as a snapshot.
pub async fn venue_book(sim: SocketAddr) -> feed_handler::binance::Snapshot {
    let body = reqwest::get(format!("http://{sim}/sim/book?limit=5000"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    feed_handler::binance::snapshot::parse(&body).unwrap()
}

/// A bounded wait used by the tests.
pub const WAIT: Duration = Duration::from_secs(20);
