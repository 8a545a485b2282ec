//! Over real sockets: a client that stops reading cannot make the venue's memory grow nor stop the
//! replay for long. Its queue is bounded; when it overflows (or the socket accepts nothing for
//! `SEND_TIMEOUT`) the venue disconnects it, as Binance does, and a client that keeps reading still
//! receives every event.

mod client;

use std::time::Duration;

use client::{BookSync, DepthEvent, Outcome, Snapshot};
use exchange_sim::clock::Speed;
use tokio::net::TcpSocket;
use tokio::time::timeout;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_is_disconnected_and_the_others_get_everything() {
    let cfg = exchange_sim::SimConfig {
        queue_capacity: 256,
        ..client::config("2025-10-10T21:12:00Z", "2025-10-10T21:14:00Z", Speed::Max)
    };
    let venue = client::start(&cfg).await;

    // The healthy client connects first (starting the replay), reads everything and keeps a book.
    let mut ws = client::connect(
        &venue,
        "/stream?streams=polusdt@depth@100ms/polusdt@aggTrade",
    )
    .await;
    // The stalled client: a tiny receive window, and it never reads.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = timeout(client::STEP, socket.connect(venue.addr))
        .await
        .unwrap()
        .unwrap();
    let url = format!(
        "ws://{}/stream?streams=polusdt@depth@100ms/polusdt@trade/polusdt@aggTrade",
        venue.addr
    );
    let (_stalled, _) = timeout(client::STEP, tokio_tungstenite::client_async(url, stream))
        .await
        .unwrap()
        .unwrap();
    assert!(
        !client::replay_done(&venue),
        "the replay ended before the stalled client joined"
    );

    let mut sync = BookSync::default();
    let mut aggs = 0u64;
    // Aggregate ids are consecutive: where one is skipped, what was expected and what came.
    let (mut last_agg, mut skips): (Option<u64>, Vec<(u64, u64)>) = (None, Vec::new());
    let finished = timeout(Duration::from_secs(40), async {
        loop {
            let n = client::trades_sent(&venue);
            if client::replay_done(&venue)
                && aggs == n
                && sync.book().is_some_and(|b| b.id == venue.venue.update_id())
            {
                break;
            }
            let Ok(frame) = client::next_json_within(&mut ws, Duration::from_millis(200)).await
            else {
                continue;
            };
            let frame = frame.expect("the healthy client must not be disconnected");
            if frame["stream"] == "polusdt@aggTrade" {
                aggs += 1;
                let id = frame["data"]["a"].as_u64().expect("aggregate id");
                if let Some(expected) = last_agg.map(|a| a + 1).filter(|&e| e != id) {
                    skips.push((expected, id));
                }
                last_agg = Some(id);
                continue;
            }
            let applied = sync
                .on_event(DepthEvent::parse(&frame["data"]))
                .expect("no gap");
            if applied == Outcome::Buffered {
                let (_, body) =
                    client::get(&venue, "/api/v3/depth?symbol=POLUSDT&limit=5000").await;
                sync.on_snapshot(&Snapshot::parse(&body))
                    .expect("snapshot fits");
            }
        }
    })
    .await;
    if finished.is_err() {
        let (_, stats) = client::get(&venue, "/sim/stats").await;
        panic!(
            "the healthy client did not get the whole replay: {stats}; got {aggs} trades (last \
             aggregate id {last_agg:?}, skipped (expected, got): {skips:?}), book {:?}",
            sync.book().map(|b| b.id)
        );
    }

    assert!(skips.is_empty(), "aggregate trades out of order: {skips:?}");
    let (_, stats) = client::get(&venue, "/sim/stats").await;
    assert!(stats["clients_dropped"].as_u64() >= Some(1), "{stats}");
    assert_eq!(
        stats["clients"], 1,
        "only the healthy client is left: {stats}"
    );
    let (_, book) = client::get(&venue, "/sim/book?limit=5000").await;
    assert_eq!(sync.book().unwrap().snapshot(), Snapshot::parse(&book));
    venue.venue.close_all();
}
