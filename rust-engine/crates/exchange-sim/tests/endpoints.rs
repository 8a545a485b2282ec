//! Over real sockets: the REST endpoints answer in Binance's shapes (compared with the fixtures),
//! errors are Binance-like, unknown streams are refused, pings are answered with the same payload,
//! and with `--wait-for-client` nothing moves before the first WebSocket client.

mod client;

use std::time::Duration;

use client::{fixture, keys};
use exchange_sim::clock::Speed;
use exchange_sim::venue::INITIAL_UPDATE_ID;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_shapes_errors_and_the_book_before_the_replay() {
    let venue = client::start(&client::config(
        "2025-10-10T21:10:00Z",
        "2025-10-10T21:10:10Z",
        Speed::Factor(1.0),
    ))
    .await;

    // Nothing moves before the first WebSocket client.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, stats) = client::get(&venue, "/sim/stats").await;
    for k in [
        "trades_sent",
        "depth_updates_sent",
        "clients",
        "replay_done",
        "event_time_ms",
    ] {
        assert!(stats.get(k).is_some(), "stats lack {k}: {stats}");
    }
    assert_eq!(
        (
            stats["trades_sent"].as_u64(),
            stats["replay_done"].as_bool()
        ),
        (Some(0), Some(false))
    );
    assert_eq!(stats["clients"], 0);

    // Depth: Binance's shape; 200 levels a side by default, top `limit` served.
    let (status, depth) = client::get(&venue, "/api/v3/depth?symbol=POLUSDT").await;
    assert_eq!(status, 200);
    assert_eq!(
        keys(&depth),
        keys(&fixture("spot_rest_depth_snapshot.json"))
    );
    assert_eq!(depth["lastUpdateId"].as_u64(), Some(INITIAL_UPDATE_ID));
    assert_eq!(depth["bids"].as_array().unwrap().len(), 100);
    let (_, five) = client::get(&venue, "/api/v3/depth?symbol=POLUSDT&limit=5").await;
    assert_eq!(five["asks"].as_array().unwrap().len(), 5);
    assert_eq!(five["bids"][0], depth["bids"][0]);
    let (_, all) = client::get(&venue, "/api/v3/depth?symbol=POLUSDT&limit=6000").await;
    assert_eq!(all["asks"].as_array().unwrap().len(), 200);
    let price = all["bids"][0][0].as_str().unwrap();
    assert_eq!(
        price.split('.').nth(1).map(str::len),
        Some(8),
        "8 decimals: {price}"
    );
    let best_bid = client::units(price);
    let best_ask = client::units(all["asks"][0][0].as_str().unwrap());
    assert!(best_bid < best_ask);
    let (_, sim) = client::get(&venue, "/sim/book?limit=5000").await;
    assert_eq!(sim, all);
    let (status, at) = client::get(
        &venue,
        &format!("/sim/book?limit=5000&update_id={INITIAL_UPDATE_ID}"),
    )
    .await;
    assert_eq!((status, &at), (200, &all));
    let (status, _) = client::get(&venue, "/sim/book?update_id=12").await;
    assert_eq!(status, 404);

    // Errors, Binance-like.
    let (status, err) = client::get(&venue, "/api/v3/depth?symbol=BTCUSDT").await;
    assert_eq!(
        (status, err),
        (
            400,
            fixture("errors.json")["generic_example"]["body"].clone()
        )
    );
    let (status, err) = client::get(&venue, "/api/v3/depth").await;
    assert_eq!((status, err["code"].as_i64()), (400, Some(-1102)));
    let (status, err) = client::get(&venue, "/api/v3/depth?symbol=POLUSDT&limit=abc").await;
    assert_eq!((status, err["code"].as_i64()), (400, Some(-1100)));
    let (status, err) = client::get(&venue, "/api/v3/exchangeInfo?symbol=ETHUSDT").await;
    assert_eq!((status, err["code"].as_i64()), (400, Some(-1121)));

    // exchangeInfo, time, ping.
    for path in [
        "/api/v3/exchangeInfo",
        "/api/v3/exchangeInfo?symbol=POLUSDT",
    ] {
        let (status, info) = client::get(&venue, path).await;
        assert_eq!(status, 200);
        let theirs = fixture("exchange_info_btcusdt_nautilus_2021.json");
        assert_eq!(keys(&info), keys(&theirs));
        assert!(keys(&info["symbols"][0]).is_superset(&keys(&theirs["symbols"][0])));
        assert_eq!(info["symbols"][0]["symbol"], "POLUSDT");
        assert_eq!(info["symbols"][0]["baseAsset"], "POL");
        assert_eq!(info["symbols"][0]["quoteAsset"], "USDT");
    }
    let (status, t) = client::get(&venue, "/api/v3/time").await;
    assert_eq!(status, 200);
    assert_eq!(keys(&t), keys(&fixture("server_time_response.json")));
    let drift = t["serverTime"].as_i64().unwrap() - exchange_sim::clock::wall_ms();
    assert!(
        drift.abs() < 1_000,
        "rebased serverTime is the wall clock to the half second (whole-second rebase): {drift}"
    );
    let (status, ping) = client::get(&venue, "/api/v3/ping").await;
    assert_eq!((status, ping), (200, fixture("ping_response.json")));

    // Unknown streams are refused with HTTP 400 before any upgrade.
    for path in [
        "/ws/polusdt@kline_1m",
        "/ws/btcusdt@trade",
        "/stream?streams=polusdt@trade/polusdt@bookTicker",
        "/stream?streams=",
        "/stream",
    ] {
        let url = format!("ws://{}{path}", venue.addr);
        let err = timeout(client::STEP, tokio_tungstenite::connect_async(url))
            .await
            .unwrap()
            .unwrap_err();
        match err {
            tokio_tungstenite::tungstenite::Error::Http(resp) => {
                assert_eq!(resp.status(), 400, "{path}");
                let body: Value =
                    serde_json::from_slice(resp.body().as_deref().unwrap_or(b"{}")).unwrap();
                assert_eq!(body["code"], 2, "{path}: {body}");
                assert!(
                    body["msg"].as_str().unwrap().starts_with("Invalid request"),
                    "{body}"
                );
            }
            other => panic!("{path}: {other}"),
        }
    }

    // The first client starts the replay; a ping is answered with the same payload.
    let mut ws = client::connect(&venue, "/ws/polusdt@depth@100ms").await;
    ws.send(Message::Ping(b"are you there".to_vec()))
        .await
        .unwrap();
    let pong = timeout(client::STEP, async {
        loop {
            match ws.next().await.unwrap().unwrap() {
                Message::Pong(p) => return p,
                Message::Text(t) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    assert_eq!(keys(&v), keys(&fixture("spot_ws_depth_update.json")));
                }
                other => panic!("{other:?}"),
            }
        }
    })
    .await
    .expect("pong in time");
    assert_eq!(pong, b"are you there");
    let (_, stats) = client::get(&venue, "/sim/stats").await;
    assert_eq!(stats["clients"], 1);
    let started = timeout(client::STEP, async {
        loop {
            let (_, s) = client::get(&venue, "/sim/stats").await;
            if s["depth_updates_sent"].as_u64() > Some(0) {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        started.is_ok(),
        "the replay did not start with the first client"
    );

    // Closing: a close frame, code 1000.
    venue.venue.close_all();
    let close = timeout(client::STEP, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(f))) => return f,
                Some(Ok(_)) => {}
                other => panic!("{other:?}"),
            }
        }
    })
    .await
    .expect("close frame in time");
    assert_eq!(close.map(|f| u16::from(f.code)), Some(1000));
}
