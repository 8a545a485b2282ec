//! Unit tests of the feed task's frame handling and counters (beside it, in their own file).

use super::*;
use crate::binance::MarketEvent;
use crate::book::Level;
use crate::fixed::SCALE;
use crate::sync::Applied;
use crate::verify::Verdict;

/// Settings pointing at nothing: the tests drive the task's handlers directly.
fn cfg() -> FeedConfig {
    FeedConfig {
        ws_url: "ws://127.0.0.1:9".into(),
        backup_ws_url: String::new(),
        rest_url: "http://127.0.0.1:9".into(),
        snapshot_limit: 100,
        snapshot_refresh_secs: 0,
        publish_levels: 10,
        max_publish_hz: 10,
        heartbeat_timeout_ms: 10_000,
        latency_alert_ms: 1_000,
        latency_alert_secs: 10,
        reconnect_initial_ms: 500,
        reconnect_max_ms: 60_000,
        rotate_after_secs: 0,
    }
}

/// A feed task with its outputs, fed frames by hand.
struct Harness {
    task: FeedTask,
    snapshot_task: Option<SnapshotTask>,
    trades: mpsc::Receiver<Trade>,
    _data: mpsc::Receiver<DataMessage>,
    _state: watch::Receiver<FeedState>,
}

impl Harness {
    fn new() -> Self {
        let (data, data_rx) = mpsc::channel(1024);
        let (trades, trades_rx) = mpsc::channel(1024);
        let (state, state_rx) = watch::channel(FeedState::Stopped);
        let out = FeedOutputs {
            data,
            trades,
            book: SharedBook::default(),
            state,
        };
        Harness {
            task: FeedTask::new(cfg(), "BTCUSDT", Duration::from_secs(1), out),
            // A snapshot request that never completes, so buffering sends none.
            snapshot_task: Some(tokio::spawn(std::future::pending())),
            trades: trades_rx,
            _data: data_rx,
            _state: state_rx,
        }
    }

    /// The ids of the trades published so far and not read yet, in order.
    fn published_trade_ids(&mut self) -> Vec<u64> {
        let mut ids = Vec::new();
        while let Ok(t) = self.trades.try_recv() {
            ids.push(t.trade_id);
        }
        ids
    }

    async fn text(&mut self, frame: &str) -> Option<Ended> {
        self.task
            .on_text(frame, now_ns(), &mut self.snapshot_task)
            .await
    }

    /// Buffers `first`, then applies `snap`: the book must be live.
    async fn go_live(&mut self, first: &str, snap: Snapshot) {
        self.text(first).await;
        self.task
            .on_snapshot(Ok(snap), &mut self.snapshot_task)
            .await;
        assert_eq!(self.task.state, FeedState::Live);
        assert!(self.task.out.book.read().synced);
    }
}

/// A combined-stream depth frame (futures when `pu` is given).
fn depth(first: u64, last: u64, pu: Option<u64>, bids: &str, asks: &str) -> String {
    let pu = pu.map_or(String::new(), |pu| format!(r#","pu":{pu}"#));
    format!(
        r#"{{"stream":"btcusdt@depth@100ms","data":{{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":{first},"u":{last}{pu},"b":{bids},"a":{asks}}}}}"#
    )
}

fn trade(id: u64) -> String {
    format!(
        r#"{{"stream":"btcusdt@aggTrade","data":{{"e":"aggTrade","E":1,"s":"BTCUSDT","a":{id},"p":"10.5","q":"1","f":1,"l":1,"T":1,"m":true,"M":true}}}}"#
    )
}

/// A snapshot at `id`: bid 10 ×1, ask 11 ×`ask_qty`.
fn snap(id: u64, ask_qty: u64) -> Snapshot {
    Snapshot {
        last_update_id: id,
        bids: vec![Level {
            price: 10 * SCALE,
            qty: SCALE,
        }],
        asks: vec![Level {
            price: 11 * SCALE,
            qty: ask_qty * SCALE,
        }],
    }
}

/// Each dropped frame is counted once, under its reason: not JSON or no known shape is
/// malformed; a known event with an invalid value (zero price, negative quantity) is rejected.
#[tokio::test]
async fn dropped_frames_are_counted_by_reason() {
    struct Case {
        frame: String,
        malformed: u64,
        rejected: u64,
    }
    let cases = [
        Case {
            frame: "not json".into(),
            malformed: 1,
            rejected: 0,
        },
        Case {
            frame: r#"{"stream":"x","data":5}"#.into(),
            malformed: 1,
            rejected: 0,
        },
        Case {
            frame: depth(1, 2, None, r#"[["0","1"]]"#, "[]"),
            malformed: 0,
            rejected: 1,
        },
        Case {
            frame: depth(1, 2, None, "[]", r#"[["1","NaN"]]"#),
            malformed: 0,
            rejected: 1,
        },
        Case {
            frame: trade(1).replace(r#""q":"1""#, r#""q":"-1""#),
            malformed: 0,
            rejected: 1,
        },
    ];
    for c in cases {
        let mut h = Harness::new();
        h.text(&c.frame).await;
        assert_eq!(
            h.task.counters(),
            Counters {
                malformed: c.malformed,
                rejected: c.rejected,
                ..Counters::default()
            },
            "{}",
            c.frame
        );
        assert!(h.task.sync.is_buffering() && h.task.sync.first_buffered().is_none());
    }
}

/// Live on the spot stream: a duplicate, a stale event and a gap are each counted; the gap
/// also takes the book down for a resync.
#[tokio::test]
async fn spot_duplicate_stale_and_gap_are_counted() {
    let mut h = Harness::new();
    h.go_live(&depth(100, 101, None, "[]", "[]"), snap(100, 1))
        .await;
    h.text(&depth(102, 102, None, r#"[["10","2"]]"#, "[]"))
        .await;
    h.text(&depth(102, 102, None, r#"[["10","2"]]"#, "[]"))
        .await;
    h.text(&depth(100, 101, None, "[]", "[]")).await;
    assert_eq!(h.task.out.book.read().book.update_id(), 102);
    assert_eq!(h.task.state, FeedState::Live);
    h.text(&depth(104, 104, None, "[]", "[]")).await;
    assert_eq!(
        h.task.counters(),
        Counters {
            gaps: 1,
            resyncs: 1,
            duplicates: 1,
            out_of_order: 1,
            ..Counters::default()
        }
    );
    assert_eq!(h.task.state, FeedState::Resyncing);
    assert!(!h.task.out.book.read().synced);
    // The event that revealed the gap starts the new buffer.
    assert_eq!(h.task.sync.first_buffered(), Some(104));
}

/// Live on the futures stream: a `pu` that does not continue the previous `u` is a gap.
#[tokio::test]
async fn futures_pu_mismatch_is_counted_as_a_gap() {
    let mut h = Harness::new();
    h.go_live(&depth(100, 102, Some(99), "[]", "[]"), snap(101, 1))
        .await;
    h.text(&depth(103, 104, Some(101), "[]", "[]")).await;
    assert_eq!(h.task.counters().gaps, 1);
    assert_eq!(h.task.state, FeedState::Resyncing);
}

/// A repeated trade id is a duplicate and a lower one out of order: both are counted and
/// neither is published. A jump (6 to 9) counts the ids between as trades missed.
#[tokio::test]
async fn repeated_and_older_trades_are_counted_not_published() {
    let mut h = Harness::new();
    for id in [5, 5, 4, 6, 9] {
        h.text(&trade(id)).await;
    }
    let published = h.published_trade_ids();
    assert_eq!(published, [5, 6, 9]);
    let c = h.task.counters();
    assert_eq!((c.duplicates, c.out_of_order, c.trades_missed), (1, 1, 2));
}

/// A periodic snapshot that differs from the book once it reaches the snapshot's id is counted
/// as a mismatch and the book takes the snapshot's levels; an equal one counts as a match.
#[tokio::test]
async fn snapshot_check_counts_and_repairs() {
    let mut h = Harness::new();
    h.go_live(&depth(100, 101, None, "[]", "[]"), snap(100, 1))
        .await;
    // The venue's book at 102 has 7 at the ask; the stream (wrongly) says 3.
    let check = h
        .task
        .check
        .offer(snap(102, 7), &mut h.task.out.book.write().book);
    assert_eq!(check, None);
    h.text(&depth(102, 102, None, "[]", r#"[["11","3"]]"#))
        .await;
    assert_eq!(h.task.counters().snapshot_mismatches, 1);
    assert_eq!(
        h.task.out.book.read().book.best_ask(),
        Some(Level {
            price: 11 * SCALE,
            qty: 7 * SCALE
        })
    );
    let check = h
        .task
        .check
        .offer(snap(102, 7), &mut h.task.out.book.write().book);
    assert!(!h.task.on_verdict(check, &mut h.snapshot_task).await);
    let c = h.task.counters();
    assert_eq!((c.snapshot_mismatches, c.snapshot_matches), (1, 1));
}

/// A crossed bid 12 over ask 11 at `id`.
fn crossed_snap(id: u64) -> Snapshot {
    Snapshot {
        bids: vec![Level {
            price: 12 * SCALE,
            qty: SCALE,
        }],
        ..snap(id, 1)
    }
}

/// A periodic snapshot that repairs the book into a crossed one takes the book down for a resync
/// (not synced, `resyncing`, a fresh snapshot asked for), as a corrupt update does: whether the
/// book reaches the snapshot's id with an update or already stands at it.
#[tokio::test]
async fn a_crossed_verification_snapshot_resyncs() {
    // The book reaches the snapshot's id with an update.
    let mut h = Harness::new();
    h.go_live(&depth(100, 101, None, "[]", "[]"), snap(100, 1))
        .await;
    let check = h
        .task
        .check
        .offer(crossed_snap(102), &mut h.task.out.book.write().book);
    assert_eq!(check, None);
    h.text(&depth(102, 102, None, "[]", r#"[["11","3"]]"#))
        .await;
    assert_eq!(h.task.state, FeedState::Resyncing);
    assert!(!h.task.out.book.read().synced);
    assert!(h.task.sync.is_buffering() && h.task.sync.first_buffered().is_none());
    assert!(h.snapshot_task.is_some());
    assert_eq!(
        h.task.counters(),
        Counters {
            resyncs: 1,
            snapshot_mismatches: 1,
            ..Counters::default()
        }
    );
    // The book already stands at the snapshot's id (the periodic check's own path).
    let mut h = Harness::new();
    h.go_live(&depth(100, 101, None, "[]", "[]"), snap(100, 1))
        .await;
    let check = h
        .task
        .check
        .offer(crossed_snap(101), &mut h.task.out.book.write().book);
    assert_eq!(check, Some(Verdict::Corrupt(101)));
    h.snapshot_task = None;
    assert!(h.task.on_verdict(check, &mut h.snapshot_task).await);
    assert_eq!(h.task.state, FeedState::Resyncing);
    assert!(!h.task.out.book.read().synced);
    assert!(h.snapshot_task.is_some());
    assert_eq!(h.task.counters().snapshot_mismatches, 1);
}

/// An event stamped far ahead of the local clock (`E` of a depth event or a trade, `T` of a
/// trade) among events on time is rejected and counted, neither buffered nor published; the
/// trades on time after it are published, the refused ones' ids counted as trades missed.
#[tokio::test]
async fn far_future_events_are_rejected() {
    let far = "4102444800000"; // 2100-01-01
    let mut h = Harness::new();
    let far_depth = depth(1, 2, None, "[]", "[]").replace(r#""E":1"#, &format!(r#""E":{far}"#));
    h.text(&far_depth).await;
    assert!(h.task.sync.is_buffering() && h.task.sync.first_buffered().is_none());
    h.text(&trade(5)).await;
    h.text(&trade(6).replace(r#""E":1"#, &format!(r#""E":{far}"#)))
        .await;
    h.text(&trade(7)).await;
    h.text(&trade(8).replace(r#""T":1"#, &format!(r#""T":{far}"#)))
        .await;
    h.text(&trade(9)).await;
    let published = h.published_trade_ids();
    assert_eq!(published, [5, 7, 9]);
    assert_eq!(
        h.task.counters(),
        Counters {
            rejected: 3,
            trades_missed: 2,
            ..Counters::default()
        }
    );
}

/// A frame of an event type the feed does not subscribe to, or without an event type (a book
/// ticker), is counted as malformed; a subscription answer or `serverShutdown` is not counted.
#[tokio::test]
async fn unknown_events_are_counted_as_malformed() {
    let mut h = Harness::new();
    for frame in [
        r#"{"stream":"btcusdt@kline_1s","data":{"e":"kline","E":1,"s":"BTCUSDT","k":{}}}"#,
        r#"{"stream":"btcusdt@bookTicker","data":{"u":103,"s":"BTCUSDT","b":"10.00","B":"1.5","a":"10.01","A":"1"}}"#,
        r#"{"result":null,"id":1}"#,
        r#"{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":1}}"#,
    ] {
        h.text(frame).await;
    }
    assert_eq!(
        h.task.counters(),
        Counters {
            malformed: 2,
            ..Counters::default()
        }
    );
}

/// The venue's `serverShutdown`, raw or in the combined-stream envelope, ends the connection as a
/// close frame or a heartbeat timeout does (the run loop reconnects); other frames do not.
#[tokio::test]
async fn server_shutdown_ends_the_connection() {
    let mut h = Harness::new();
    assert!(h.text(r#"{"result":null,"id":1}"#).await.is_none());
    assert!(h.text(&trade(1)).await.is_none());
    for frame in [
        r#"{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":1}}"#,
        r#"{"e":"serverShutdown","E":1}"#,
    ] {
        match h.text(frame).await {
            Some(Ended::Dropped(why)) => assert_eq!(why, "venue announced serverShutdown"),
            other => panic!("{frame}: {other:?}"),
        }
    }
    assert_eq!(h.task.counters(), Counters::default());
}

/// A snapshot answered 429 with `Retry-After: 7` pauses every REST request of the feed for 7 s
/// from then: the retry is put off until then (not 500 ms), the verification fetch is skipped
/// meanwhile, and the error carries the status.
#[tokio::test]
async fn a_429_snapshot_answer_waits_retry_after_before_the_next_fetch() {
    let (addr, hits) = crate::rest::tests::serve(
        "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    let mut h = Harness::new();
    h.go_live(&depth(100, 101, None, "[]", "[]"), snap(100, 1))
        .await;
    h.task.cfg.rest_url = format!("http://{addr}");
    let res = h.task.fetch_snapshot(Duration::ZERO).await.unwrap();
    let url = format!("http://{addr}/api/v3/depth?symbol=BTCUSDT&limit=100");
    assert_eq!(
        res,
        Err(RestError::RateLimited {
            url,
            status: 429,
            retry_after: Duration::from_secs(7)
        })
    );
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    let now = 1_760_000_000_000_u64; // the pause's clock, ms
    assert!(h.task.verify_due(now));
    assert_eq!(
        h.task.rest_delay(Duration::from_millis(500), now),
        Duration::from_millis(500)
    );
    h.task.note_rest_error(res.as_ref().unwrap_err(), now);
    assert_eq!(h.task.ip_pause.until_ms(), now + 7_000);
    // The retry after a failure (500 ms) and the too-old refetch (100 ms) wait the 7 s instead.
    assert_eq!(
        h.task.rest_delay(Duration::from_millis(500), now),
        Duration::from_secs(7)
    );
    assert_eq!(
        h.task.rest_delay(Duration::from_millis(100), now),
        Duration::from_secs(7)
    );
    assert!(!h.task.verify_due(now));
    assert!(!h.task.verify_due(now + 6_999));
    let later = now + 7_000;
    assert_eq!(h.task.rest_delay(Duration::ZERO, later), Duration::ZERO);
    assert!(h.task.verify_due(later));
    // A failure that is not a rate limit pauses nothing; a shorter pause does not shorten one.
    h.task.note_rest_error(
        &RestError::Status {
            url: "u".into(),
            status: 500,
            body: String::new(),
        },
        now,
    );
    h.task.note_rest_error(
        &RestError::RateLimited {
            url: "u".into(),
            status: 418,
            retry_after: Duration::from_secs(1),
        },
        now,
    );
    assert_eq!(h.task.ip_pause.until_ms(), now + 7_000);
    // The snapshot handler takes the pause from the error it is given, and asks again later.
    let mut h = Harness::new();
    h.snapshot_task = None;
    let before = h.task.ip_pause.now_ms();
    h.task.on_snapshot(res, &mut h.snapshot_task).await;
    let after = h.task.ip_pause.now_ms();
    let until = h.task.ip_pause.until_ms();
    assert!(until >= before + 7_000 && until <= after + 7_000);
    assert!(h.snapshot_task.is_some());
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// A pause another REST user of the process was told to take (the order executor's 418) holds for
/// the feed sharing it: no snapshot is asked for before it is over, and one the feed is told to
/// take holds for the other.
#[tokio::test]
async fn a_pause_shared_with_the_executor_holds_for_the_feed() {
    let pause = Arc::new(IpPause::default());
    let mut h = Harness::new();
    h.task.ip_pause = Arc::clone(&pause);
    let now = 1_760_000_000_000_u64;
    assert_eq!(h.task.rest_delay(Duration::ZERO, now), Duration::ZERO);
    pause.pause(418, Duration::from_secs(120), now);
    assert_eq!(
        h.task.rest_delay(Duration::from_millis(500), now + 20_000),
        Duration::from_secs(100)
    );
    assert!(!h.task.verify_due(now + 119_999));
    h.task.note_rest_error(
        &RestError::RateLimited {
            url: "u".into(),
            status: 429,
            retry_after: Duration::from_secs(300),
        },
        now,
    );
    assert_eq!(pause.remaining(now), Some((Duration::from_secs(300), 429)));
}

/// Snapshots older than the stream, again and again (a venue whose REST lags its stream in a
/// crash): each next fetch waits twice as long, up to 10 s, instead of every 100 ms (weight 50 a
/// snapshot of 1,000 levels); the book syncing starts the delays over.
#[tokio::test]
async fn snapshots_older_than_the_stream_are_fetched_again_ever_more_slowly() {
    let mut h = Harness::new();
    h.text(&depth(100, 101, None, r#"[["10.0","2"]]"#, "[]"))
        .await;
    let mut ceilings = Vec::new();
    for _ in 0..9 {
        ceilings.push(h.task.snapshot_retry.ceiling_ms());
        h.snapshot_task = None;
        h.task
            .on_snapshot(Ok(snap(90, 1)), &mut h.snapshot_task)
            .await;
        assert_eq!(h.task.state, FeedState::Stopped);
    }
    assert_eq!(
        ceilings,
        [100, 200, 400, 800, 1_600, 3_200, 6_400, 10_000, 10_000]
    );
    h.snapshot_task = None;
    h.go_live(&depth(102, 103, None, "[]", "[]"), snap(101, 1))
        .await;
    // Syncing does not start the delays over (a book that fails right after each sync would be
    // asked for a snapshot every 100 ms); a book that stayed live `STABLE_BOOK` does.
    assert_eq!(h.task.snapshot_retry.ceiling_ms(), 10_000);
    stayed_live(&mut h);
    h.text(&depth(110, 110, None, "[]", "[]")).await; // a gap
    assert_eq!(h.task.state, FeedState::Resyncing);
    assert_eq!(h.task.snapshot_retry.ceiling_ms(), 200);
}

/// Makes the live book look live for `STABLE_BOOK` already.
fn stayed_live(h: &mut Harness) {
    assert!(h.task.live_since.is_some(), "not live");
    h.task.live_since = Instant::now().checked_sub(STABLE_BOOK);
}

/// An event the sync procedure drops after the snapshot (in order, `u` at or below its
/// `lastUpdateId`) is not counted out of order: only an event older than a live book is.
#[tokio::test]
async fn events_dropped_by_the_sync_procedure_are_not_out_of_order() {
    let mut h = Harness::new();
    h.text(&depth(95, 98, None, r#"[["10.0","2"]]"#, "[]"))
        .await;
    h.task
        .on_snapshot(Ok(snap(102, 1)), &mut h.snapshot_task)
        .await;
    h.text(&depth(99, 100, None, r#"[["10.0","2"]]"#, "[]"))
        .await;
    h.text(&depth(101, 103, None, r#"[["10.0","2"]]"#, "[]"))
        .await;
    assert_eq!(h.task.state, FeedState::Live);
    assert_eq!(h.task.counters().out_of_order, 0);
    h.text(&depth(102, 103, None, r#"[["10.0","2"]]"#, "[]"))
        .await;
    assert_eq!(h.task.counters().out_of_order, 1);
}

/// The book published when a snapshot (re)syncs it carries the exchange time of the last event
/// replayed on the snapshot: not 0 at the first sync, not the time of the last event before a
/// gap after a resync (the strategy's guard drops a book stamped 0 or back in time).
#[tokio::test]
async fn a_synced_book_carries_the_time_of_its_last_event() {
    let at = |first: u64, last: u64, ms: u64| {
        depth(first, last, None, r#"[["10.0","2"]]"#, "[]")
            .replace(r#""E":1,"#, &format!(r#""E":{ms},"#))
    };
    let mut h = Harness::new();
    h.text(&at(100, 101, 1_000)).await;
    h.go_live(&at(102, 103, 1_200), snap(101, 1)).await;
    assert_eq!(h.task.out.book.read().exchange_ts_ns, 1_200_000_000);
    h.text(&at(104, 105, 2_000)).await;
    h.text(&at(110, 111, 7_000)).await; // a gap: resync
    assert_eq!(h.task.state, FeedState::Resyncing);
    h.snapshot_task = None;
    h.go_live(&at(112, 113, 7_100), snap(111, 1)).await;
    let st = h.task.out.book.read();
    assert_eq!(
        (st.book.update_id(), st.exchange_ts_ns),
        (113, 7_100_000_000)
    );
}

/// A venue that accepts each connection, serves a synced book for 0.3 s, then drops it: each
/// connection that never stayed up for `STABLE_CONNECTION` is one more failed attempt, so the
/// redials slow down and, after `HALT_AFTER_ATTEMPTS`, the feed reports `halted`. (Resetting the
/// backoff at each snapshot redialled it every `reconnect_initial_ms` forever.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_venue_that_keeps_dropping_synced_connections_is_backed_off_then_halted() {
    use futures_util::SinkExt;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    let body = r#"{"lastUpdateId":101,"bids":[["10.0","1"]],"asks":[["11.0","1"]]}"#;
    let answer: &'static str = Box::leak(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_boxed_str(),
    );
    let (rest, _) = crate::rest::tests::serve(answer).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let conns = Arc::new(AtomicU64::new(0));
    let counted = conns.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let mut ws = tokio_tungstenite::accept_async(s).await.unwrap();
                for id in 101..104u64 {
                    let frame = depth(id, id, None, r#"[["10.0","1"]]"#, "[]");
                    let _ = ws.send(Message::Text(frame)).await;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                let _ = ws.close(None).await;
            });
        }
    });
    let mut c = cfg();
    c.ws_url = format!("ws://{addr}");
    c.rest_url = format!("http://{rest}");
    c.reconnect_initial_ms = 20;
    c.reconnect_max_ms = 200;
    let (data, _data_rx) = mpsc::channel(1024);
    let (trades, _trades_rx) = mpsc::channel(1024);
    let (state, mut state_rx) = watch::channel(FeedState::Stopped);
    let out = FeedOutputs {
        data,
        trades,
        book: SharedBook::default(),
        state,
    };
    let task = FeedTask::new(c, "BTCUSDT", Duration::from_millis(100), out);
    let (stop_tx, stop_rx) = watch::channel(false);
    let feed = tokio::spawn(task.run(stop_rx));
    let mut live = false;
    let halted = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let now = *state_rx.borrow_and_update();
            live |= now == FeedState::Live;
            if now == FeedState::Halted {
                return;
            }
            state_rx.changed().await.unwrap();
        }
    })
    .await;
    let _ = stop_tx.send(true);
    let _ = feed.await;
    let n = conns.load(Ordering::Relaxed);
    assert!(halted.is_ok(), "never halted after {n} connections");
    assert!(
        live,
        "the connections never synced: the test proves nothing"
    );
    let attempts = u64::from(HALT_AFTER_ATTEMPTS);
    assert!((attempts..=attempts + 1).contains(&n), "{n} connections");
}

/// A venue on `127.0.0.1` answering every depth snapshot with `body(current id)`, where the current
/// id is what the test stores (the bodies put the snapshot one update past it, where the venue's
/// book is while its next event is on the way, so that no snapshot is older than the stream's next
/// event); counts the requests.
async fn snapshot_venue(
    body: fn(u64) -> String,
) -> (
    std::net::SocketAddr,
    Arc<std::sync::atomic::AtomicU64>,
    Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let id = Arc::new(AtomicU64::new(100));
    let hits = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (at, count) = (id.clone(), hits.clone());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            count.fetch_add(1, Ordering::SeqCst);
            let body = body(at.load(Ordering::SeqCst));
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(answer.as_bytes()).await;
            let _ = s.shutdown().await;
        }
    });
    (addr, id, hits)
}

/// Feeds the venue's stream (one depth event every 5 ms, bid 10 x2) to the feed for `secs`,
/// handing it each snapshot as it arrives, as the connection loop does; the venue's snapshots
/// stand at the stream's id. Returns whether the book was ever marked synced while crossed.
async fn run_against(h: &mut Harness, id: &std::sync::atomic::AtomicU64, secs: f64) -> bool {
    use std::sync::atomic::Ordering;
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut next = 100u64;
    let mut crossed_synced = false;
    while Instant::now() < deadline {
        next += 1;
        id.store(next, Ordering::SeqCst);
        h.text(&depth(next, next, None, r#"[["10.0","2"]]"#, "[]"))
            .await;
        if h.snapshot_task.as_ref().is_some_and(|t| t.is_finished()) {
            let res = h.snapshot_task.take().unwrap().await.unwrap();
            h.task.on_snapshot(res, &mut h.snapshot_task).await;
        }
        crossed_synced |= {
            let st = h.task.out.book.read();
            st.synced && st.book.is_crossed()
        };
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    crossed_synced
}

/// A venue whose book is crossed at every snapshot (corrupt for as long as it lasts): each sync
/// fails the soundness check, and each resync used to ask for a snapshot at once (40 in 57 ms,
/// weight 50-250 each: the IP's 6,000 a minute gone in seconds, and the 429 pauses the order
/// executor too). Every fetch after the first now waits a delay doubling from 100 ms: at most a
/// handful of requests in 1.5 s, and the book is never published as synced meanwhile.
#[tokio::test]
async fn a_book_corrupt_at_every_sync_fetches_snapshots_ever_more_slowly() {
    let (rest, id, hits) = snapshot_venue(|id| {
        format!(
            r#"{{"lastUpdateId":{},"bids":[["12.0","1"]],"asks":[["11.0","1"]]}}"#,
            id + 1
        )
    })
    .await;
    let mut h = Harness::new();
    h.task.cfg.rest_url = format!("http://{rest}");
    h.snapshot_task = None;
    let crossed_synced = run_against(&mut h, &id, 1.5).await;
    let n = hits.load(std::sync::atomic::Ordering::SeqCst);
    // 0 + [50, 100] + [100, 200] + [200, 400] + [400, 800] ms: 5 by 1.5 s at most.
    assert!((2..=6).contains(&n), "{n} snapshot requests in 1.5 s");
    assert!(!crossed_synced, "a crossed book was published as synced");
    assert_ne!(h.task.state, FeedState::Live);
    assert!(h.task.snapshot_retry.ceiling_ms() >= 800);
}

/// A venue whose book has no asks (one-sided, as in a crash that takes a side): not corrupt. The
/// book syncs on the first snapshot and stays live; it used to be resynced at every event, one
/// snapshot each.
#[tokio::test]
async fn a_one_sided_venue_book_syncs_and_stays_live() {
    let (rest, id, hits) = snapshot_venue(|id| {
        format!(
            r#"{{"lastUpdateId":{},"bids":[["10.0","1"]],"asks":[]}}"#,
            id + 1
        )
    })
    .await;
    let mut h = Harness::new();
    h.task.cfg.rest_url = format!("http://{rest}");
    h.snapshot_task = None;
    run_against(&mut h, &id, 0.5).await;
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(h.task.state, FeedState::Live);
    let st = h.task.out.book.read();
    assert!(st.synced && st.book.is_one_sided());
    assert_eq!(h.task.counters().resyncs, 1);
}

/// Every resync asks for its snapshot through the same delays, whatever its cause: a crossed
/// snapshot at each sync, and a gap right after each sync, each double the delay (they used to
/// fetch at once); a book that then stays live `STABLE_BOOK` starts them over.
#[tokio::test]
async fn every_resync_fetches_its_snapshot_after_a_growing_delay() {
    // Crossed at each sync.
    let mut h = Harness::new();
    let mut ceilings = Vec::new();
    for round in 0..5u64 {
        let id = 101 + 10 * round;
        h.text(&depth(id, id + 1, None, r#"[["10.0","2"]]"#, "[]"))
            .await;
        ceilings.push(h.task.snapshot_retry.ceiling_ms());
        h.snapshot_task = None;
        h.task
            .on_snapshot(Ok(crossed_snap(id)), &mut h.snapshot_task)
            .await;
        assert_eq!(h.task.state, FeedState::Resyncing);
        assert!(!h.task.out.book.read().synced);
        assert!(h.snapshot_task.is_some(), "no snapshot asked for");
    }
    assert_eq!(ceilings, [100, 200, 400, 800, 1_600]);
    // A gap right after each sync.
    let mut h = Harness::new();
    let mut ceilings = Vec::new();
    for round in 0..5u64 {
        let at = 100 + 10 * round;
        h.snapshot_task = None;
        h.go_live(&depth(at, at + 1, None, "[]", "[]"), snap(at, 1))
            .await;
        ceilings.push(h.task.snapshot_retry.ceiling_ms());
        h.text(&depth(at + 5, at + 5, None, "[]", "[]")).await;
        assert_eq!(h.task.state, FeedState::Resyncing);
        assert!(h.snapshot_task.is_some(), "no snapshot asked for");
    }
    assert_eq!(ceilings, [100, 200, 400, 800, 1_600]);
    assert_eq!(h.task.counters().gaps, 5);
    // Live for `STABLE_BOOK`: the next resync is a new incident.
    h.snapshot_task = None;
    h.go_live(&depth(200, 201, None, "[]", "[]"), snap(200, 1))
        .await;
    stayed_live(&mut h);
    h.text(&depth(205, 205, None, "[]", "[]")).await;
    assert_eq!(h.task.snapshot_retry.ceiling_ms(), 200);
}

/// One event continuing the book (`U = id + 1`) with an absurd `u` (2^64 - 1) used to be applied:
/// the book's id jumped to it, every later genuine event was dropped as stale and the book stayed
/// synced and live, frozen. It is now refused (counted rejected) and the book resynced; the events
/// after it are buffered for the next snapshot, and the book syncs on it.
#[tokio::test]
async fn an_event_with_an_absurd_final_id_is_dropped_and_resyncs() {
    let mut h = Harness::new();
    h.go_live(&depth(100, 101, None, "[]", "[]"), snap(100, 1))
        .await;
    h.text(&depth(102, u64::MAX, None, "[]", "[]")).await;
    for id in 103..200u64 {
        h.text(&depth(id, id, None, r#"[["10","5"]]"#, "[]")).await;
    }
    {
        let st = h.task.out.book.read();
        assert!(!st.synced, "a frozen book still marked synced");
    }
    assert_eq!(h.task.state, FeedState::Resyncing);
    assert_eq!(h.task.sync.first_buffered(), Some(103));
    let c = h.task.counters();
    assert_eq!((c.rejected, c.out_of_order), (1, 0));
    h.task
        .on_snapshot(Ok(snap(150, 1)), &mut h.snapshot_task)
        .await;
    assert_eq!(h.task.state, FeedState::Live);
    let st = h.task.out.book.read();
    assert!(st.synced);
    assert_eq!(st.book.update_id(), 199);
    assert_eq!(st.book.best_bid().map(|l| l.qty), Some(5 * SCALE));
}

/// A book that took an id ahead of the stream within the plausible span stays live only until
/// `MAX_STALE_RUN` events in a row are stale: then it is taken down and resynced (it dropped them
/// all and would have stayed frozen).
#[tokio::test]
async fn a_run_of_stale_events_takes_the_book_down() {
    let mut h = Harness::new();
    h.go_live(&depth(100, 101, None, "[]", "[]"), snap(100, 1))
        .await;
    h.text(&depth(102, 500_000, None, "[]", "[]")).await;
    let run = u64::from(crate::sync::MAX_STALE_RUN);
    for id in 103..(103 + run - 1) {
        h.text(&depth(id, id, None, "[]", "[]")).await;
        assert_eq!(h.task.state, FeedState::Live);
    }
    h.text(&depth(102 + run, 102 + run, None, "[]", "[]")).await;
    assert_eq!(h.task.state, FeedState::Resyncing);
    assert!(!h.task.out.book.read().synced);
    assert_eq!(h.task.counters().out_of_order, run);
    assert_eq!(h.task.sync.first_buffered(), Some(102 + run));
}

/// A verification snapshot far behind the live book (the book took a corrupt id) takes the book
/// down for a resync, marked not synced in the lock it was checked under.
#[tokio::test]
async fn a_book_far_ahead_of_the_verification_snapshot_resyncs() {
    let mut h = Harness::new();
    h.go_live(&depth(100, 101, None, "[]", "[]"), snap(100, 1))
        .await;
    h.task
        .out
        .book
        .write()
        .book
        .set_update_id(101 + 2 * crate::sync::MAX_UPDATE_SPAN);
    let verdict = h.task.check_snapshot(snap(101, 1));
    assert!(matches!(
        verdict,
        Some(Verdict::BookAhead { snapshot: 101, .. })
    ));
    assert!(!h.task.out.book.read().synced);
    assert!(h.task.on_verdict(verdict, &mut h.snapshot_task).await);
    assert_eq!(h.task.state, FeedState::Resyncing);
}

/// One trade with an absurd id (2^64 - 2) between genuine ones used to be taken as the last id:
/// the nine genuine trades after it were dropped as stale (until a reconnection) and
/// 18,446,744,073,709,551,603 trades counted missed. It is now dropped as suspect (counted
/// rejected) and the genuine ones are published, nothing counted missed.
#[tokio::test]
async fn a_trade_with_an_absurd_id_does_not_block_the_later_ones() {
    let mut h = Harness::new();
    h.text(&trade(10)).await;
    h.text(&trade(u64::MAX - 1)).await;
    for id in 11..20 {
        h.text(&trade(id)).await;
    }
    let published = h.published_trade_ids();
    assert_eq!(published, (10..20).collect::<Vec<_>>());
    let c = h.task.counters();
    assert_eq!((c.rejected, c.trades_missed, c.out_of_order), (1, 0, 0));
}

/// Events of another symbol (another stream name, `s`, or both) never reach this symbol's book nor
/// are published as its trades: each is dropped and counted rejected. The symbol is compared
/// ignoring case (stream names are lower case).
#[tokio::test]
async fn events_of_another_symbol_are_rejected() {
    let mut h = Harness::new();
    h.go_live(&depth(100, 101, None, "[]", "[]"), snap(100, 1))
        .await;
    let eth_depth = depth(102, 102, None, r#"[["10","42"]]"#, "[]");
    let eth_trade = trade(7);
    let frames = [
        eth_depth.replace("btcusdt@depth", "ethusdt@depth"),
        eth_depth.replace(r#""s":"BTCUSDT""#, r#""s":"ETHUSDT""#),
        eth_depth
            .replace("btcusdt@depth", "ethusdt@depth")
            .replace(r#""s":"BTCUSDT""#, r#""s":"ETHUSDT""#),
        eth_trade.replace("btcusdt@aggTrade", "ethusdt@aggTrade"),
        eth_trade.replace(r#""s":"BTCUSDT""#, r#""s":"ETHUSDT""#),
    ];
    for f in &frames {
        h.text(f).await;
    }
    assert_eq!(
        h.task.out.book.read().book.best_bid().map(|l| l.qty),
        Some(SCALE)
    );
    assert!(
        h.trades.try_recv().is_err(),
        "another symbol's trade published"
    );
    assert_eq!(h.task.counters().rejected, frames.len() as u64);
    // This symbol's, in either case, is taken.
    h.text(&depth(102, 102, None, r#"[["10","42"]]"#, "[]").replace("BTCUSDT", "btcusdt"))
        .await;
    assert_eq!(
        h.task.out.book.read().book.best_bid().map(|l| l.qty),
        Some(42 * SCALE)
    );
    h.text(&trade(7).replace("btcusdt@", "BTCUSDT@")).await;
    assert_eq!(h.trades.try_recv().map(|t| t.trade_id), Ok(7));
    assert_eq!(h.task.counters().rejected, frames.len() as u64);
}

/// A verification snapshot that repairs the book into a crossed one marks it not synced in the
/// same lock as the repair: no reader sees the crossed book marked synced before the resync
/// (it used to be cleared only later, by the resync).
#[tokio::test]
async fn a_corrupt_verification_is_never_visible_as_synced() {
    let mut h = Harness::new();
    h.go_live(&depth(100, 101, None, "[]", "[]"), snap(100, 1))
        .await;
    let verdict = h.task.check_snapshot(crossed_snap(101));
    assert_eq!(verdict, Some(Verdict::Corrupt(101)));
    {
        let st = h.task.out.book.read();
        assert!(st.book.is_crossed());
        assert!(!st.synced, "a crossed book visible as synced");
    }
    assert!(h.task.on_verdict(verdict, &mut h.snapshot_task).await);
}

/// The same on the depth path: the update that reaches a waiting crossed snapshot's id leaves the
/// book not synced in the lock it was applied under.
#[tokio::test]
async fn a_corrupt_check_on_an_update_is_never_visible_as_synced() {
    let mut h = Harness::new();
    h.go_live(&depth(100, 101, None, "[]", "[]"), snap(100, 1))
        .await;
    assert_eq!(h.task.check_snapshot(crossed_snap(102)), None);
    let ev = match crate::binance::parse_frame(&depth(102, 102, None, "[]", r#"[["11","3"]]"#)) {
        Ok(MarketEvent::Depth(ev)) => ev,
        other => panic!("{other:?}"),
    };
    let (outcome, verdict) = h.task.apply_depth(&ev, 1);
    assert_eq!(outcome, Ok(Applied::Applied));
    assert_eq!(verdict, Some(Verdict::Corrupt(102)));
    {
        let st = h.task.out.book.read();
        assert!(st.book.is_crossed());
        assert!(!st.synced, "a crossed book visible as synced");
    }
    assert!(h.task.on_verdict(verdict, &mut h.snapshot_task).await);
    assert_eq!(h.task.state, FeedState::Resyncing);
}

/// `reconnects` counts reconnections, as its name and `reconnect_count` say: dial attempts that
/// fail (here three refused handshakes before the first connection) are not counted; the
/// connection made after the venue closed the first one is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_count_connections_after_the_first_not_failed_dials() {
    use futures_util::SinkExt;
    use std::sync::atomic::{AtomicU64, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let conns = Arc::new(AtomicU64::new(0));
    let counted = conns.clone();
    tokio::spawn(async move {
        let mut dials = 0;
        while let Ok((s, _)) = listener.accept().await {
            dials += 1;
            if dials <= 3 {
                drop(s); // the handshake fails
                continue;
            }
            let n = counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut ws = tokio_tungstenite::accept_async(s).await.unwrap();
                for id in 1..u64::MAX {
                    let _ = ws.send(Message::Text(trade(id))).await;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    // The first connection is closed after 0.4 s.
                    if n == 0 && id == 20 {
                        let _ = ws.close(None).await;
                        return;
                    }
                }
            });
        }
    });
    let mut c = cfg();
    c.ws_url = format!("ws://{addr}");
    c.reconnect_initial_ms = 10;
    c.reconnect_max_ms = 20;
    let (data, mut data_rx) = mpsc::channel(1024);
    let (trades, _trades_rx) = mpsc::channel(1 << 16);
    let (state, _state_rx) = watch::channel(FeedState::Stopped);
    let out = FeedOutputs {
        data,
        trades,
        book: SharedBook::default(),
        state,
    };
    let task = FeedTask::new(c, "BTCUSDT", Duration::from_millis(50), out);
    let (stop_tx, stop_rx) = watch::channel(false);
    let feed = tokio::spawn(task.run(stop_rx));
    // The figures the first and the second connection publish.
    let mut seen = Vec::new();
    let got = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(m) = data_rx.recv().await {
            if let DataMessage::HealthMetrics(h) = m {
                if seen.last() != Some(&h.reconnect_count) {
                    seen.push(h.reconnect_count);
                }
                if conns.load(Ordering::SeqCst) >= 2 && h.reconnect_count >= 1 {
                    return;
                }
            }
        }
    })
    .await;
    let _ = stop_tx.send(true);
    let _ = feed.await;
    assert!(got.is_ok(), "no second connection: {seen:?}");
    assert_eq!(seen, [0, 1]);
}

/// `now_ns()` in ms moved by `skew_ms`: the venue's clock when it is `skew_ms` off the host's.
fn venue_now_ms(skew_ms: i64) -> u64 {
    (now_ns() / 1_000_000).saturating_add_signed(skew_ms)
}

/// A venue clock check answered at once with the venue `skew_ms` off the host.
fn clock_check(skew_ms: i64) -> venue_clock::TimeCheck {
    let now = now_ns();
    venue_clock::TimeCheck {
        samples: vec![crate::venue_time::TimeSample {
            server_ms: (now / 1_000_000).saturating_add_signed(skew_ms),
            sent_local_ns: now,
            round_trip: Duration::ZERO,
        }],
        error: None,
    }
}

/// With the host's clock 800 ms off the venue's either way (learnt from `GET /api/v3/time`), an
/// event the venue stamped 10 ms before it arrives is a latency of about 10 ms: not 810 ms (host
/// ahead) nor an event from the future (host behind). A failed check (here a 429) keeps the
/// offset, and pauses REST requests as a snapshot's 429 does.
#[tokio::test]
async fn latency_is_corrected_by_the_venue_clock_offset() {
    for skew in [800i64, -800] {
        let mut h = Harness::new();
        h.task.on_time(clock_check(skew));
        assert!((skew - 2..=skew).contains(&h.task.venue_clock.offset_ms()));
        let stamp = venue_now_ms(skew) - 10;
        let frame = trade(1)
            .replace(r#""E":1,"#, &format!(r#""E":{stamp},"#))
            .replace(r#""T":1,"#, &format!(r#""T":{stamp},"#));
        h.text(&frame).await;
        assert_eq!(h.task.interval.clock_ahead, 0, "skew {skew}");
        let us = h.task.interval.samples()[0];
        assert!((8_000..100_000).contains(&us), "skew {skew}: {us} µs");
        // A failed check keeps the estimate.
        let before = h.task.venue_clock.offset_ns();
        let now = h.task.ip_pause.now_ms();
        h.task.on_time(venue_clock::TimeCheck {
            samples: Vec::new(),
            error: Some(RestError::RateLimited {
                url: h.task.time_url(),
                status: 429,
                retry_after: Duration::from_secs(7),
            }),
        });
        assert_eq!(h.task.venue_clock.offset_ns(), before);
        assert!(h.task.ip_pause.until_ms() >= now + 7_000);
        assert!(!h.task.time_check_due(now));
    }
}

/// A venue whose clock is `skew_ms` off the host's. REST: `GET /api/v3/time` answers its clock;
/// the depth snapshot (answered after 100 ms) stands at update 101. Stream: every 20 ms a depth
/// event continuing the book and a trade, stamped on its clock 20 ms before they are sent. Returns
/// the WebSocket and REST base URLs and the count of WebSocket connections.
async fn skewed_venue(skew_ms: i64) -> (String, String, Arc<std::sync::atomic::AtomicU64>) {
    use futures_util::SinkExt;
    use std::sync::atomic::{AtomicU64, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rest_addr = rest.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = rest.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]);
                let path = request.split_whitespace().nth(1).unwrap_or("");
                let body = if path.starts_with("/api/v3/time") {
                    format!(r#"{{"serverTime":{}}}"#, venue_now_ms(skew_ms))
                } else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    r#"{"lastUpdateId":101,"bids":[["10.0","1"]],"asks":[["11.0","1"]]}"#.into()
                };
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(answer.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    let ws = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ws_addr = ws.local_addr().unwrap();
    let conns = Arc::new(AtomicU64::new(0));
    let counted = conns.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = ws.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(s).await else {
                    return;
                };
                for id in 101u64.. {
                    let stamp = venue_now_ms(skew_ms) - 20;
                    let e = format!(r#""E":{stamp},"#);
                    let d = depth(id, id, None, r#"[["10.0","1"]]"#, "[]").replace(r#""E":1,"#, &e);
                    let t = trade(id)
                        .replace(r#""E":1,"#, &e)
                        .replace(r#""T":1,"#, &format!(r#""T":{stamp},"#));
                    if ws.send(Message::Text(d)).await.is_err()
                        || ws.send(Message::Text(t)).await.is_err()
                    {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            });
        }
    });
    (
        format!("ws://{ws_addr}"),
        format!("http://{rest_addr}"),
        conns,
    )
}

/// What a feed against [`skewed_venue`] published once live, over `secs`.
struct Observed {
    /// States entered after going live.
    states: Vec<String>,
    /// Mean latencies (µs) of the live health intervals that had samples.
    means_us: Vec<f64>,
    /// Live health intervals.
    live_intervals: usize,
    connections: u64,
    reconnects: u64,
}

/// Runs a feed (health every 100 ms, alarm at a mean over 500 ms for 1 s) against a venue whose
/// clock is `skew_ms` off the host's, for `secs` once live.
async fn run_skewed(skew_ms: i64, secs: u64) -> Observed {
    use std::sync::atomic::Ordering;
    let (ws_url, rest_url, conns) = skewed_venue(skew_ms).await;
    let mut c = cfg();
    c.ws_url = ws_url;
    c.rest_url = rest_url;
    c.latency_alert_ms = 500;
    c.latency_alert_secs = 1;
    c.reconnect_initial_ms = 10;
    c.reconnect_max_ms = 20;
    let (data, mut data_rx) = mpsc::channel(1 << 16);
    let (trades, _trades_rx) = mpsc::channel(1 << 16);
    let (state, _state_rx) = watch::channel(FeedState::Stopped);
    let out = FeedOutputs {
        data,
        trades,
        book: SharedBook::default(),
        state,
    };
    let task = FeedTask::new(c, "BTCUSDT", Duration::from_millis(100), out);
    let (stop_tx, stop_rx) = watch::channel(false);
    let feed = tokio::spawn(task.run(stop_rx));
    let mut seen = Observed {
        states: Vec::new(),
        means_us: Vec::new(),
        live_intervals: 0,
        connections: 0,
        reconnects: 0,
    };
    let went_live = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(m) = data_rx.recv().await {
            if matches!(&m, DataMessage::StateChange(s) if s.current == "live") {
                return;
            }
        }
    })
    .await;
    assert!(went_live.is_ok(), "never live");
    let until = Instant::now() + Duration::from_secs(secs);
    while let Ok(Some(m)) = tokio::time::timeout_at(until, data_rx.recv()).await {
        match m {
            DataMessage::StateChange(s) if s.component == "feed" => seen.states.push(s.current),
            DataMessage::HealthMetrics(h) if h.feed_state == "live" => {
                seen.live_intervals += 1;
                seen.reconnects = h.reconnect_count;
                if h.latency_mean_us > 0.0 {
                    seen.means_us.push(h.latency_mean_us);
                }
            }
            _ => {}
        }
    }
    let _ = stop_tx.send(true);
    let _ = feed.await;
    seen.connections = conns.load(Ordering::SeqCst);
    seen
}

/// The venue's clock 800 ms behind the host's, its events 20 ms old when sent: uncorrected, every
/// latency was about 820 ms, over the 500 ms alarm, and the feed reported `lagging` and reconnected
/// 1 s after going live (with the defaults, 5-6 s: each such connection a failed attempt, then
/// `halted`). Corrected by the offset of `GET /api/v3/time`, the latency is about 20 ms and the
/// feed stays live on its one connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_clock_ahead_of_the_venue_is_not_feed_latency() {
    let seen = run_skewed(-800, 2).await;
    assert_eq!(seen.states, Vec::<String>::new(), "left live");
    assert_eq!((seen.connections, seen.reconnects), (1, 0));
    assert!(
        seen.live_intervals >= 10,
        "{} live intervals",
        seen.live_intervals
    );
    assert!(seen.means_us.len() >= 10, "{:?}", seen.means_us);
    assert!(
        seen.means_us.iter().all(|&us| us < 200_000.0),
        "latency not corrected: {:?} µs",
        seen.means_us
    );
}

/// The venue's clock 800 ms ahead of the host's: uncorrected, every event looked 780 ms in the
/// future and was counted apart, no latency at all was reported (a real delay hidden). Corrected,
/// each live interval reports its latency, about 20 ms; the feed stays live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_clock_behind_the_venue_does_not_hide_latency() {
    let seen = run_skewed(800, 2).await;
    assert_eq!(seen.states, Vec::<String>::new(), "left live");
    assert_eq!((seen.connections, seen.reconnects), (1, 0));
    assert!(
        seen.means_us.len() >= 10,
        "latencies hidden: {} of {} live intervals with samples",
        seen.means_us.len(),
        seen.live_intervals
    );
    assert!(
        seen.means_us
            .iter()
            .all(|&us| (5_000.0..200_000.0).contains(&us)),
        "{:?} µs",
        seen.means_us
    );
}
