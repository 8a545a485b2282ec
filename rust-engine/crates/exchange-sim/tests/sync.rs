//! Over real sockets, with a client written from Binance's documentation (not the engine's code):
//! the local-order-book procedure on the venue's diffs reproduces the venue's authoritative book at
//! every update id and at the end, on the 100-ms combined stream and on the 1000-ms raw stream,
//! while a minute of the real POLUSDT crash is replayed as fast as possible; trades arrive in order.

mod client;

use std::time::Duration;

use client::{BookSync, DepthEvent, Outcome, Snapshot};
use exchange_sim::clock::Speed;
use exchange_sim::RunningVenue;
use tokio::time::{timeout, Instant};

const FROM: &str = "2025-10-10T21:10:00Z";
const TO: &str = "2025-10-10T21:11:00Z";

/// Fetches a snapshot until the procedure accepts one.
async fn sync_with_snapshot(venue: &RunningVenue, sync: &mut BookSync) {
    let symbol = venue.venue.spec.symbol.clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    while sync.wants_snapshot() {
        assert!(Instant::now() < deadline, "no usable snapshot");
        let (status, body) =
            client::get(venue, &format!("/api/v3/depth?symbol={symbol}&limit=5000")).await;
        assert_eq!(status, 200);
        if !sync
            .on_snapshot(&Snapshot::parse(&body))
            .expect("snapshot fits the stream")
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Compares the local book with the venue's `/sim/book`, exactly.
async fn assert_equals_venue(venue: &RunningVenue, sync: &BookSync) {
    let (status, body) = client::get(venue, "/sim/book?limit=5000").await;
    assert_eq!(status, 200);
    let local = sync.book().expect("synchronised").snapshot();
    assert_eq!(local, Snapshot::parse(&body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_procedure_reproduces_the_venue_book_on_the_100ms_stream() {
    let venue = client::start(&client::config(FROM, TO, Speed::Max)).await;
    let mut ws = client::connect(
        &venue,
        "/stream?streams=polusdt@depth@100ms/polusdt@aggTrade/polusdt@trade",
    )
    .await;
    let mut sync = BookSync::default();
    let (mut aggs, mut trades) = (Vec::new(), Vec::new());
    let (mut checked, mut last_e) = (0u32, 0i64);
    let mut depth_times = Vec::new();
    let body = timeout(Duration::from_secs(120), async {
        loop {
            let done = client::replay_done(&venue);
            let caught_up = sync.book().is_some_and(|b| b.id == venue.venue.update_id());
            let n = client::trades_sent(&venue);
            if done && caught_up && aggs.len() as u64 == n && trades.len() as u64 == n {
                break;
            }
            let Ok(frame) = client::next_json_within(&mut ws, Duration::from_millis(200)).await
            else {
                continue;
            };
            let frame = frame.expect("the venue closed the stream");
            let data = &frame["data"];
            let e = data["E"].as_i64().unwrap();
            assert!(e >= last_e, "event time went back: {e} < {last_e}");
            last_e = e;
            match frame["stream"].as_str().unwrap() {
                "polusdt@depth@100ms" => {
                    let ev = DepthEvent::parse(data);
                    depth_times.push(ev.event_ms);
                    if let Outcome::Applied(u) = sync.on_event(ev).expect("no gap") {
                        let local = sync.book().unwrap().as_venue_book();
                        assert!(!local.is_crossed(), "crossed at {u}");
                        assert_eq!(
                            venue.venue.checksum_at(u),
                            Some(local.checksum()),
                            "book differs at {u}"
                        );
                        checked += 1;
                    }
                    sync_with_snapshot(&venue, &mut sync).await;
                }
                "polusdt@aggTrade" => aggs.push(data.clone()),
                "polusdt@trade" => trades.push(data.clone()),
                other => panic!("unexpected stream {other}"),
            }
        }
    })
    .await;
    assert!(body.is_ok(), "replay not received in time");
    assert_equals_venue(&venue, &sync).await;
    let (_, stats) = client::get(&venue, "/sim/stats").await;
    let offset = stats["time_offset_ms"].as_i64();
    let summary = venue.replay.await.unwrap();
    assert_eq!(sync.book().unwrap().id, summary.last_update_id);
    assert!(
        checked as u64 > summary.depth_updates / 2,
        "checked {checked} of {}",
        summary.depth_updates
    );

    // Trades: every one, in order, aggregate ids consecutive, f = l = the trade id.
    assert_eq!(aggs.len() as u64, summary.trades);
    assert!(summary.trades > 500, "{}", summary.trades);
    let a0 = aggs[0]["a"].as_u64().unwrap();
    for (k, (agg, tr)) in aggs.iter().zip(&trades).enumerate() {
        assert_eq!(
            agg["a"].as_u64().unwrap(),
            a0 + k as u64,
            "aggregate ids must increase by one"
        );
        assert_eq!(agg["f"], tr["t"]);
        assert_eq!(agg["l"], tr["t"]);
        assert_eq!(
            (&agg["p"], &agg["q"], &agg["m"], &agg["T"]),
            (&tr["p"], &tr["q"], &tr["m"], &tr["T"])
        );
        assert_eq!(agg["s"], "POLUSDT");
        assert_eq!(agg["M"], true);
    }
    let times: Vec<i64> = aggs.iter().map(|a| a["T"].as_i64().unwrap()).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "trade times go back"
    );
    // The first replayed event is stamped "now" (rebased time base).
    let now = exchange_sim::clock::wall_ms();
    assert!(
        (now - times[0]).abs() < 60_000,
        "not rebased: {} vs {now}",
        times[0]
    );
    // `/sim/stats` gives the shift: in whole seconds, taking the first trade back into the window
    // (1760130600000 ms is FROM; the window's first trade is within its first second).
    let offset = offset.expect("time_offset_ms");
    assert_eq!(offset % 1000, 0, "{offset}");
    let recorded = times[0] - offset;
    assert!(
        (1_760_130_600_000..1_760_130_601_000).contains(&recorded),
        "first trade recorded at {recorded}"
    );
    // The depth stream is never quiet for more than 100 ms of event time.
    assert!(
        depth_times.windows(2).all(|w| w[1] - w[0] <= 100),
        "depth stream went quiet"
    );
    venue.venue.close_all();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_procedure_works_on_the_1000ms_raw_stream() {
    let venue = client::start(&client::config(FROM, "2025-10-10T21:10:30Z", Speed::Max)).await;
    let mut ws = client::connect(&venue, "/ws/polusdt@depth").await;
    let mut sync = BookSync::default();
    let mut times = Vec::new();
    let synced = timeout(Duration::from_secs(60), async {
        loop {
            if client::replay_done(&venue)
                && sync.book().is_some_and(|b| b.id == venue.venue.update_id())
            {
                break;
            }
            let Ok(data) = client::next_json_within(&mut ws, Duration::from_millis(200)).await
            else {
                continue;
            };
            let ev = DepthEvent::parse(&data.expect("the venue closed the stream"));
            times.push(ev.event_ms);
            sync.on_event(ev).expect("no gap");
            sync_with_snapshot(&venue, &mut sync).await;
        }
    })
    .await;
    assert!(
        synced.is_ok(),
        "1000-ms stream never caught up with the venue"
    );
    assert_equals_venue(&venue, &sync).await;
    assert!(times.windows(2).all(|w| w[1] - w[0] == 1000), "{times:?}");
    assert!(times.len() >= 25, "{}", times.len());
    venue.venue.close_all();
}

/// The real-L2 source: the bundled recorded Binance spot capture replayed with its own update ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_procedure_works_on_a_recorded_spot_capture() {
    let capture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../data/binance_spot_capture_BTCUSDT_20240808.gz"
    );
    let cfg = exchange_sim::SimConfig {
        format: exchange_sim::config::DataFormat::Capture,
        symbol: "BTCUSDT".into(),
        tick: 1_000_000,
        step: 1_000,
        speed: Speed::Max,
        start: exchange_sim::Start::OnFirstClient,
        history: 100_000,
        ..exchange_sim::SimConfig::new(capture)
    };
    let venue = client::start(&cfg).await;
    let first_id = venue.venue.update_id();
    assert_eq!(first_id, 50_093_239_218, "the capture's snapshot");
    let mut ws = client::connect(&venue, "/stream?streams=btcusdt@depth@100ms/btcusdt@trade").await;
    let mut sync = BookSync::default();
    let mut trades = 0u64;
    let done = timeout(Duration::from_secs(120), async {
        loop {
            let n = client::trades_sent(&venue);
            if client::replay_done(&venue)
                && trades == n
                && sync.book().is_some_and(|b| b.id == venue.venue.update_id())
            {
                break;
            }
            let Ok(frame) = client::next_json_within(&mut ws, Duration::from_millis(200)).await
            else {
                continue;
            };
            let frame = frame.expect("open");
            if frame["stream"] == "btcusdt@trade" {
                trades += 1;
                continue;
            }
            if let Outcome::Applied(u) = sync
                .on_event(DepthEvent::parse(&frame["data"]))
                .expect("no gap")
            {
                let local = sync.book().unwrap().as_venue_book();
                assert_eq!(
                    venue.venue.checksum_at(u),
                    Some(local.checksum()),
                    "book differs at {u}"
                );
            }
            sync_with_snapshot(&venue, &mut sync).await;
        }
    })
    .await;
    assert!(done.is_ok(), "capture replay not received in time");
    assert_equals_venue(&venue, &sync).await;
    assert!(trades > 9000, "{trades}");
    venue.venue.close_all();
}
