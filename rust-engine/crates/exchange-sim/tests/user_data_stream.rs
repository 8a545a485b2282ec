//! The user data stream's connections over real sockets, with the client written from the notes:
//! the end of a WebSocket API subscription is told (`eventStreamTerminated`), a listen key is
//! also served on the combined endpoint, and a new order refused `-2010` sends nothing on the
//! stream.

mod client;

use client::{fixture, keys, Api, Ws};
use exchange_sim::clock::Speed;
use exchange_sim::RunningVenue;
use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// A venue on a quiet window of the crash (no replay: nothing fills a resting order).
async fn venue() -> RunningVenue {
    client::start(&client::config(
        "2025-10-10T21:10:00Z",
        "2025-10-10T21:10:10Z",
        Speed::Max,
    ))
    .await
}

/// Sends `req` and reads the next frame.
async fn ask(ws: &mut Ws, req: Value) -> Value {
    ws.send(Message::Text(req.to_string())).await.unwrap();
    client::next_json(ws).await.expect("an answer")
}

/// A WebSocket API connection with the subscription the venue numbered `0`.
async fn subscribed(venue: &RunningVenue) -> Ws {
    let mut ws = client::connect(venue, "/ws-api/v3").await;
    let r = ask(&mut ws, client::subscribe_signature("sub-0")).await;
    assert_eq!(r["result"]["subscriptionId"], 0, "{r}");
    ws
}

/// A resting buy far under the touch (`NEW`, nothing filled).
const RESTING: &str = "side=BUY&type=LIMIT&timeInForce=GTC&quantity=100&price=0.1000";

/// Notes §4.3: "`eventStreamTerminated` is sent when the subscription ends": each subscription
/// that `userDataStream.unsubscribe` ends is told, after the answer, in the shape of the fixture
/// `uds_event_stream_terminated_wrapped.json`; events stop for it, and go on for the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_subscription_ended_is_told_with_event_stream_terminated() {
    let venue = venue().await;
    let api = Api::new(&venue);
    let documented = fixture("uds_event_stream_terminated_wrapped.json");
    let mut ws = subscribed(&venue).await;
    let r = ask(&mut ws, client::subscribe_signature("sub-1")).await;
    assert_eq!(r["result"]["subscriptionId"], 1, "{r}");
    let unsubscribe = |id: &str, params: Value| json!({"id": id, "method": "userDataStream.unsubscribe", "params": params});
    let r = ask(&mut ws, unsubscribe("u0", json!({"subscriptionId": 0}))).await;
    assert_eq!(
        (r["id"].as_str(), r["status"].as_u64()),
        (Some("u0"), Some(200))
    );
    let ended = client::next_json(&mut ws)
        .await
        .expect("the subscription's end");
    assert_eq!(keys(&ended), keys(&documented), "{ended}");
    assert_eq!(keys(&ended["event"]), keys(&documented["event"]), "{ended}");
    assert_eq!(
        (&ended["subscriptionId"], &ended["event"]["e"]),
        (&json!(0), &documented["event"]["e"])
    );
    // Subscription 1 still gets the events; 0 does not.
    let a = api.order(&format!("{RESTING}&newClientOrderId=t-1")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let ev = client::next_json(&mut ws).await.expect("an event");
    assert_eq!(
        (&ev["subscriptionId"], &ev["event"]["c"]),
        (&json!(1), &json!("t-1")),
        "{ev}"
    );
    let ev = client::next_json(&mut ws).await.expect("an event");
    assert_eq!(
        (&ev["subscriptionId"], &ev["event"]["e"]),
        (&json!(1), &json!("outboundAccountPosition")),
        "{ev}"
    );
    // Without a subscription id, every subscription ends.
    let r = ask(&mut ws, unsubscribe("u-all", json!({}))).await;
    assert_eq!(
        (r["id"].as_str(), r["status"].as_u64()),
        (Some("u-all"), Some(200)),
        "{r}"
    );
    let ended = client::next_json(&mut ws)
        .await
        .expect("the subscription's end");
    assert_eq!(
        (&ended["subscriptionId"], &ended["event"]["e"]),
        (&json!(1), &documented["event"]["e"]),
        "{ended}"
    );
    venue.shutdown(std::time::Duration::from_millis(100)).await;
}

/// Notes §4.2: "User Data Streams are accessed at /ws/<listenKey> or /stream?streams=<listenKey>";
/// on the combined endpoint each event comes wrapped as combined streams wrap theirs (§1.1:
/// `{"stream":"<streamName>","data":<rawPayload>}`), the listen key as the stream's name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listen_key_is_served_on_the_combined_endpoint_with_its_events_wrapped() {
    let venue = venue().await;
    let api = Api::new(&venue);
    let key = api.listen_key().await;
    let mut ws = client::connect(&venue, &format!("/stream?streams={key}")).await;
    let a = api.order(&format!("{RESTING}&newClientOrderId=lk-1")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let frame = client::next_json(&mut ws).await.expect("an event");
    assert_eq!(
        keys(&frame),
        keys(&json!({"stream": 0, "data": 0})),
        "{frame}"
    );
    assert_eq!(frame["stream"], key.as_str());
    let raw = fixture("uds_execution_report_raw.json");
    assert_eq!(
        (
            &frame["data"]["e"],
            &frame["data"]["c"],
            &frame["data"]["x"]
        ),
        (&raw["e"], &json!("lk-1"), &json!("NEW")),
        "{frame}"
    );
    venue.shutdown(std::time::Duration::from_millis(100)).await;
}

/// A new order refused `-2010` (insufficient balance, a LIMIT_MAKER that would take) reaches no
/// book and sends no `executionReport`: the notes give `REJECTED` for a cancel-replace's refused
/// new order (§4.4), not for these. The next event on the stream is the next order's `NEW`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_order_refused_2010_sends_nothing_on_the_user_data_stream() {
    let venue = venue().await;
    let api = Api::new(&venue);
    let (_, depth) = client::get(&venue, "/api/v3/depth?symbol=POLUSDT&limit=5").await;
    let ask_price = depth["asks"][0][0].as_str().unwrap().to_owned();
    let mut ws = subscribed(&venue).await;
    let errors = fixture("errors.json");
    for (params, refusal) in [
        (
            "side=BUY&type=LIMIT&timeInForce=GTC&quantity=90000&price=0.2000".to_owned(),
            "insufficient_balance",
        ),
        (
            format!("side=BUY&type=LIMIT_MAKER&quantity=100&price={ask_price}"),
            "limit_maker_would_take",
        ),
    ] {
        let a = api.order(&params).await;
        assert_eq!(
            (a.status, &a.body),
            (400, &errors[refusal]["body"]),
            "{params}"
        );
    }
    let a = api.order(&format!("{RESTING}&newClientOrderId=ok-1")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let ev = client::next_json(&mut ws).await.expect("an event");
    assert_eq!(
        (&ev["event"]["c"], &ev["event"]["x"]),
        (&json!("ok-1"), &json!("NEW")),
        "{ev}"
    );
    venue.shutdown(std::time::Duration::from_millis(100)).await;
}

/// Shutdown closes the user data stream connections as it closes the market-data ones
/// (`tests/endpoints.rs`, `tests/binary.rs`): a close frame 1000 "replay finished" on the
/// WebSocket API and on both listen-key endpoints, and `shutdown` waits for them to go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_every_user_data_stream_with_a_close_frame() {
    let venue = venue().await;
    let api = Api::new(&venue);
    let key = api.listen_key().await;
    let mut streams = [
        subscribed(&venue).await,
        client::connect(&venue, &format!("/ws/{key}")).await,
        client::connect(&venue, &format!("/stream?streams={key}")).await,
    ];
    let shared = std::sync::Arc::clone(&venue.venue);
    venue.shutdown(std::time::Duration::from_secs(2)).await;
    assert_eq!(
        shared
            .stats
            .user_stream_clients
            .load(std::sync::atomic::Ordering::Relaxed),
        0,
        "shutdown waited for the user data streams to close"
    );
    for (i, ws) in streams.iter_mut().enumerate() {
        let close = tokio::time::timeout(std::time::Duration::from_secs(3), async {
            loop {
                match futures_util::StreamExt::next(ws).await {
                    Some(Ok(Message::Close(frame))) => return Ok(frame),
                    Some(Ok(_)) => {}
                    other => return Err(format!("{other:?}")),
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("stream {i}: no close frame in time"))
        .unwrap_or_else(|e| panic!("stream {i}: ended without a close frame: {e}"));
        assert_eq!(
            close
                .as_ref()
                .map(|f| (u16::from(f.code), f.reason.as_ref())),
            Some((1000, "replay finished")),
            "stream {i}"
        );
    }
}
