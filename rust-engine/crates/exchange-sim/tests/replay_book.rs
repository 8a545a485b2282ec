//! Over real sockets: a client follows Binance's local-order-book procedure (the engine's own
//! `BookSync`) on the simulator's combined stream and REST snapshot while a minute of the real
//! POLUSDT crash is replayed; at the end its book equals the simulator's authoritative book, and
//! aggregate trade ids only increase.

use std::time::Duration;

use exchange_sim::faults::Faults;
use feed_handler::binance::{parse_frame, snapshot, MarketEvent};
use feed_handler::book::OrderBook;
use feed_handler::sync::BookSync;
use futures_util::StreamExt;
use tokio::time::timeout;

mod support;

#[tokio::test]
async fn client_book_equals_venue_book_after_real_replay() {
    let sim = support::start_sim(
        "2025-10-10T21:12:30Z",
        "2025-10-10T21:13:30Z",
        20.0,
        Faults::default(),
    )
    .await;
    let (addr, replay_task) = (sim.addr, sim.replay);
    let url = format!("ws://{addr}/stream?streams=polusdt@depth@100ms/polusdt@aggTrade");
    let (mut ws, _) = timeout(
        Duration::from_secs(5),
        tokio_tungstenite::connect_async(url),
    )
    .await
    .unwrap()
    .unwrap();
    let http = reqwest::Client::new();
    let mut book = OrderBook::default();
    let mut sync = BookSync::new();
    let mut last_agg = 0u64;
    let mut trades = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !replay_task.is_finished() || sync.is_buffering() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "replay did not finish"
        );
        let Ok(Some(Ok(msg))) = timeout(Duration::from_millis(500), ws.next()).await else {
            continue;
        };
        let Ok(text) = msg.into_text() else { continue };
        match parse_frame(&text).unwrap() {
            MarketEvent::Depth(ev) => {
                sync.on_event(&ev, &mut book)
                    .expect("the simulator's stream has no gap");
                if sync.is_buffering() {
                    let body = http
                        .get(format!(
                            "http://{addr}/api/v3/depth?symbol=POLUSDT&limit=5000"
                        ))
                        .send()
                        .await
                        .unwrap()
                        .text()
                        .await
                        .unwrap();
                    sync.on_snapshot(&snapshot::parse(&body).unwrap(), &mut book)
                        .unwrap();
                }
            }
            MarketEvent::Trade(t) => {
                assert!(t.trade_id > last_agg, "aggTrade ids must increase");
                last_agg = t.trade_id;
                trades += 1;
            }
            MarketEvent::Other => {}
        }
    }
    // Drain what is still in flight, then compare with the venue's book at the same update id.
    while let Ok(Some(Ok(msg))) = timeout(Duration::from_millis(300), ws.next()).await {
        if let Ok(MarketEvent::Depth(ev)) = parse_frame(&msg.into_text().unwrap_or_default()) {
            sync.on_event(&ev, &mut book).unwrap();
        }
    }
    let venue = support::venue_book(addr).await;
    assert!(sync.is_live());
    assert_eq!(book.update_id(), venue.last_update_id);
    assert_eq!(book.bids().copied().collect::<Vec<_>>(), venue.bids);
    assert_eq!(book.asks().copied().collect::<Vec<_>>(), venue.asks);
    assert!(trades > 1000, "{trades}");
}
