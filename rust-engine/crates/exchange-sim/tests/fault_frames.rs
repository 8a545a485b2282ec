//! Over real sockets, with a plain WebSocket client (not the engine): what the per-connection faults
//! do to the frames and connections a client sees, one fault at a time, so a fault that is counted
//! but not applied shows.

use std::sync::atomic::Ordering;
use std::time::Duration;

use exchange_sim::clock::Speed;
use exchange_sim::connection::Keepalive;
use exchange_sim::faults::{Faults, Scheduled, TimedFault};
use futures_util::StreamExt;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

mod client;

/// A replay of two minutes of the crash at 20 times real time with `faults`.
fn config(faults: Faults) -> exchange_sim::SimConfig {
    exchange_sim::SimConfig {
        faults,
        ..client::config(
            "2025-10-10T21:12:30Z",
            "2025-10-10T21:14:30Z",
            Speed::Factor(20.0),
        )
    }
}

/// `--duplicate 1`: every frame reaches the client twice in a row, and the next frame is a new
/// trade (not sent a third time).
#[tokio::test]
async fn duplicate_sends_every_frame_twice_in_a_row() {
    let venue = client::start(&config(Faults {
        duplicate: 1.0,
        ..Faults::default()
    }))
    .await;
    let mut ws = client::connect(&venue, "/ws/polusdt@aggTrade").await;
    let mut last_id = None;
    for _ in 0..20 {
        let first = client::next_json(&mut ws).await.expect("a trade");
        let second = client::next_json(&mut ws).await.expect("its duplicate");
        assert_eq!(first, second, "a frame and its copy");
        let id = first["a"].as_u64().unwrap();
        assert!(last_id.is_none_or(|l| id > l), "{id} after {last_id:?}");
        last_id = Some(id);
    }
    assert!(venue.venue.fault_counts.duplicated.load(Ordering::Relaxed) >= 20);
}

/// `--disconnect-every` with `--refuse-reconnects`: the venue closes the connection (close frame,
/// reason `fault injection`) and then refuses a reconnect with HTTP 503, counted as refused.
#[tokio::test]
async fn a_hang_up_by_disconnect_every_refuses_reconnects() {
    let venue = client::start(&config(Faults {
        disconnect_every: Some(Duration::from_millis(300)),
        refuse_reconnects: Some(Duration::from_secs(600)),
        ..Faults::default()
    }))
    .await;
    let mut ws = client::connect(&venue, "/ws/polusdt@aggTrade").await;
    let reason = timeout(client::STEP, async {
        while let Some(msg) = ws.next().await {
            if let Message::Close(frame) = msg.expect("a frame") {
                return frame.map(|f| f.reason.to_string());
            }
        }
        None
    })
    .await
    .expect("closed in time");
    assert_eq!(reason.as_deref(), Some("fault injection"));
    let url = format!("ws://{}/ws/polusdt@aggTrade", venue.addr);
    match timeout(client::STEP, tokio_tungstenite::connect_async(url))
        .await
        .expect("an answer in time")
    {
        Err(WsError::Http(resp)) => assert_eq!(resp.status().as_u16(), 503),
        other => panic!("reconnect not refused: {:?}", other.map(|_| ())),
    }
    let counts = &venue.venue.fault_counts;
    assert_eq!(counts.disconnects.load(Ordering::Relaxed), 1);
    assert_eq!(counts.refused.load(Ordering::Relaxed), 1);
}

/// A scheduled stall sends nothing at all for its length, neither data nor the keepalive pings
/// (due every 50 ms here), and then delivers what it held back.
#[tokio::test]
async fn a_stall_sends_neither_data_nor_pings_then_resumes() {
    let cfg = exchange_sim::SimConfig {
        keepalive: Keepalive {
            ping_every: Duration::from_millis(50),
            pong_within: Duration::from_secs(600),
        },
        schedule: vec![Scheduled {
            at: Duration::from_secs(1),
            fault: TimedFault::Stall(Duration::from_secs(4)),
        }],
        ..config(Faults::default())
    };
    let venue = client::start(&cfg).await;
    let mut control = venue.venue.control.subscribe();
    let mut ws = client::connect(&venue, "/ws/polusdt@aggTrade").await;
    let until = timeout(client::STEP, async {
        loop {
            control.changed().await.unwrap();
            if let Some(t) = control.borrow_and_update().stalled_until {
                return t;
            }
        }
    })
    .await
    .expect("the stall starts");
    // What was sent before the stall: let it arrive, then drain it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    while let Ok(Some(msg)) = timeout(Duration::from_millis(20), ws.next()).await {
        msg.expect("a frame");
    }
    let quiet_until = until - Duration::from_secs(1);
    assert!(tokio::time::Instant::now() < quiet_until);
    if let Ok(msg) = tokio::time::timeout_at(quiet_until, ws.next()).await {
        panic!("a frame during the stall: {msg:?}");
    }
    let resumed = client::next_json(&mut ws)
        .await
        .expect("a trade after the stall");
    assert_eq!(resumed["e"], "aggTrade");
    assert!(tokio::time::Instant::now() >= until);
}

/// What a client that ignores a `serverShutdown` sees until the venue closes its connection: the
/// text frames as JSON, and the close frame's code and reason.
async fn frames_until_closed(
    ws: &mut client::Ws,
) -> (Vec<serde_json::Value>, Option<(u16, String)>) {
    let mut frames = Vec::new();
    loop {
        let msg = timeout(client::STEP, ws.next())
            .await
            .expect("a frame in time");
        match msg {
            None => return (frames, None),
            Some(msg) => match msg.expect("a frame") {
                Message::Text(t) => frames.push(serde_json::from_str(&t).expect("JSON")),
                Message::Close(f) => {
                    return (frames, f.map(|f| (u16::from(f.code), f.reason.to_string())))
                }
                _ => {}
            },
        }
    }
}

/// A scheduled `serverShutdown`: every market-data client is sent the event once, exactly as
/// Binance sends it (raw on `/ws/<stream>`, in the combined-stream envelope on `/stream`), stamped
/// on the stream's clock; a client that stays is closed after the grace (1001 "server shutdown").
/// A new connection is served, and is neither told nor closed.
#[tokio::test]
async fn a_server_shutdown_is_announced_then_the_connections_are_closed() {
    let cfg = exchange_sim::SimConfig {
        schedule: vec![Scheduled {
            at: Duration::from_secs(1),
            fault: TimedFault::ServerShutdown(Duration::from_millis(700)),
        }],
        ..config(Faults::default())
    };
    let venue = client::start(&cfg).await;
    let mut raw = client::connect(&venue, "/ws/polusdt@aggTrade").await;
    let mut wrapped = client::connect(&venue, "/stream?streams=polusdt@aggTrade").await;
    let mut stamps = Vec::new();
    for (ws, combined) in [(&mut raw, false), (&mut wrapped, true)] {
        let (frames, close) = frames_until_closed(ws).await;
        assert_eq!(
            close,
            Some((1001, "server shutdown".to_owned())),
            "combined: {combined}"
        );
        let data = |f: &serde_json::Value| {
            if combined {
                f["data"].clone()
            } else {
                f.clone()
            }
        };
        let told: Vec<usize> = (0..frames.len())
            .filter(|&i| data(&frames[i])["e"] == "serverShutdown")
            .collect();
        assert_eq!(told.len(), 1, "combined: {combined}: {frames:?}");
        let event = &frames[told[0]];
        let e_ms = data(event)["E"].as_i64().expect("E in ms");
        let expected = if combined {
            serde_json::json!({"stream": "!serverShutdown", "data": {"e": "serverShutdown", "E": e_ms}})
        } else {
            serde_json::json!({"e": "serverShutdown", "E": e_ms})
        };
        assert_eq!(event, &expected);
        let first_trade = data(&frames[0]);
        assert_eq!(first_trade["e"], "aggTrade", "{frames:?}");
        assert!(first_trade["E"].as_i64().unwrap() <= e_ms, "{frames:?}");
        stamps.push(e_ms);
    }
    let counts = &venue.venue.fault_counts;
    assert_eq!(counts.server_shutdowns.load(Ordering::Relaxed), 2);
    assert_eq!(counts.disconnects.load(Ordering::Relaxed), 2);
    // A reconnect is served past the grace, with the stream's events only, stamped after the
    // announcement.
    let mut again = client::connect(&venue, "/ws/polusdt@aggTrade").await;
    let until = tokio::time::Instant::now() + Duration::from_millis(1_500);
    let mut trades = 0;
    while let Ok(frame) = tokio::time::timeout_at(until, client::next_json(&mut again)).await {
        let frame = frame.expect("the new connection stays open");
        assert_eq!(frame["e"], "aggTrade", "{frame}");
        assert!(
            frame["E"].as_i64().unwrap() >= stamps[0],
            "{frame} {stamps:?}"
        );
        trades += 1;
    }
    assert!(trades > 0);
    assert_eq!(counts.server_shutdowns.load(Ordering::Relaxed), 2);
    assert_eq!(counts.disconnects.load(Ordering::Relaxed), 2);
}

/// `--latency-ms`: every frame the replay emitted reaches the client before the venue's close at
/// the end of the replay, the last ones included (they were dropped with the frames still waiting
/// out their latency).
#[tokio::test]
async fn delayed_frames_are_delivered_before_the_close_at_the_end() {
    let venue = client::start(&exchange_sim::SimConfig {
        faults: Faults {
            latency: Duration::from_millis(1_500),
            ..Faults::default()
        },
        ..client::config(
            "2025-10-10T21:10:00Z",
            "2025-10-10T21:10:10Z",
            Speed::Factor(20.0),
        )
    })
    .await;
    let mut ws = client::connect(&venue, "/ws/polusdt@aggTrade").await;
    let (mut received, mut closing) = (0u64, false);
    loop {
        match client::next_json_within(&mut ws, Duration::from_millis(100)).await {
            Ok(Some(_)) => received += 1,
            Ok(None) => break,
            // The replay over, the venue closes every connection (as `--exit-at-end` does), its
            // last frames still waiting out their latency.
            Err(()) if client::replay_done(&venue) && !closing => {
                closing = true;
                venue.venue.close_all();
            }
            Err(()) => {}
        }
    }
    assert!(closing);
    let sent = client::trades_sent(&venue);
    assert!(sent > 10, "{sent}");
    assert_eq!(received, sent);
}

/// Connects one raw client to a venue running `cfg` (one scheduled `serverShutdown` with `grace`)
/// and checks what it sees: the event arrives, then — no sooner than the grace after it — the close
/// 1001 "server shutdown"; the event is counted once, the close once.
async fn the_event_reaches_the_client_before_the_close(
    cfg: exchange_sim::SimConfig,
    grace: Duration,
) {
    let venue = client::start(&cfg).await;
    let mut ws = client::connect(&venue, "/ws/polusdt@aggTrade").await;
    let mut told_at = None;
    let close = loop {
        let msg = timeout(client::STEP, ws.next())
            .await
            .expect("a frame in time");
        match msg.map(|m| m.expect("a frame")) {
            None => break None,
            Some(Message::Text(t)) => {
                let frame: serde_json::Value = serde_json::from_str(&t).expect("JSON");
                if frame["e"] == "serverShutdown" {
                    assert!(told_at.is_none(), "told twice");
                    told_at = Some(tokio::time::Instant::now());
                }
            }
            Some(Message::Close(f)) => {
                break f.map(|f| (u16::from(f.code), f.reason.to_string()));
            }
            Some(_) => {}
        }
    };
    assert_eq!(close, Some((1001, "server shutdown".to_owned())));
    let told_at = told_at.expect("the serverShutdown event before the close");
    // The grace runs from the event's sending: allow for its trip to the client.
    let waited = told_at.elapsed();
    assert!(
        waited + Duration::from_millis(100) >= grace,
        "closed {waited:?} after the event, grace {grace:?}"
    );
    let counts = &venue.venue.fault_counts;
    assert_eq!(counts.server_shutdowns.load(Ordering::Relaxed), 1);
    assert_eq!(counts.disconnects.load(Ordering::Relaxed), 1);
}

/// A `serverShutdown` announced during a stall goes out when the stall ends, like every frame, and
/// its grace starts then: the client is told before it is closed (it used to be closed at the end
/// of the grace counted from the announcement, still stalled, never told, and counted as told).
#[tokio::test]
async fn a_server_shutdown_during_a_stall_is_sent_before_the_close() {
    let grace = Duration::from_millis(500);
    let cfg = exchange_sim::SimConfig {
        schedule: vec![
            Scheduled {
                at: Duration::from_secs(1),
                fault: TimedFault::Stall(Duration::from_secs(2)),
            },
            Scheduled {
                at: Duration::from_millis(1_500),
                fault: TimedFault::ServerShutdown(grace),
            },
        ],
        ..config(Faults::default())
    };
    the_event_reaches_the_client_before_the_close(cfg, grace).await;
}

/// With `--latency-ms` longer than the grace, the `serverShutdown` event is delayed like every
/// frame and its grace starts when it goes out: the client is told before it is closed.
#[tokio::test]
async fn a_delayed_server_shutdown_is_sent_before_the_close() {
    let grace = Duration::from_millis(300);
    let cfg = exchange_sim::SimConfig {
        schedule: vec![Scheduled {
            at: Duration::from_secs(1),
            fault: TimedFault::ServerShutdown(grace),
        }],
        ..config(Faults {
            latency: Duration::from_millis(1_500),
            ..Faults::default()
        })
    };
    the_event_reaches_the_client_before_the_close(cfg, grace).await;
}
