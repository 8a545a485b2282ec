use super::*;
use crate::binance::{parse_frame, snapshot, MarketEvent};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../../../tests/fixtures/binance/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn depth(v: &Value) -> DepthUpdate {
    match parse_frame(&v.to_string()).unwrap() {
        MarketEvent::Depth(d) => d,
        other => panic!("{other:?}"),
    }
}

fn levels(v: &Value) -> Vec<(u64, u64)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                crate::fixed::parse_units(l[0].as_str().unwrap()).unwrap(),
                crate::fixed::parse_units(l[1].as_str().unwrap()).unwrap(),
            )
        })
        .collect()
}

fn book_levels(b: crate::book::Levels<'_>) -> Vec<(u64, u64)> {
    b.map(|l| (l.price, l.qty)).collect()
}

#[test]
fn spot_scenario_from_the_documented_rules() {
    let s = fixture("spot_orderbook_sync_scenario_synthetic.json");
    let snap = snapshot::parse(&s["snapshot"].to_string()).unwrap();
    let ev: Vec<DepthUpdate> = s["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| depth(&e["event"]))
        .collect();
    let mut book = OrderBook::default();
    let mut sync = BookSync::new();

    // retry case: a snapshot older than the first buffered event is refused.
    sync.on_event(&ev[0], &mut book).unwrap();
    let old = Snapshot {
        last_update_id: 90,
        bids: snap.bids.clone(),
        asks: snap.asks.clone(),
    };
    assert_eq!(
        sync.on_snapshot(&old, &mut book).unwrap(),
        SnapshotOutcome::TooOld {
            last_update_id: 90,
            first_buffered: 95
        }
    );
    for e in &ev[1..3] {
        assert_eq!(sync.on_event(e, &mut book).unwrap(), Applied::Buffered);
    }
    // e1, e2 discarded; e3 bridges 102 and applies.
    assert_eq!(
        sync.on_snapshot(&snap, &mut book).unwrap(),
        SnapshotOutcome::Synced {
            replayed: 1,
            event_ms: ev[2].event_ms
        }
    );
    assert_eq!(book.update_id(), 103);
    assert_eq!(sync.on_event(&ev[3], &mut book).unwrap(), Applied::Applied);
    assert_eq!(sync.on_event(&ev[4], &mut book).unwrap(), Applied::Applied);
    assert_eq!(sync.on_event(&ev[5], &mut book).unwrap(), Applied::Stale);
    let want = &s["expected_book_after_e6"];
    assert_eq!(book.update_id(), 107);
    assert_eq!(book_levels(book.bids()), levels(&want["bids"]));
    assert_eq!(book_levels(book.asks()), levels(&want["asks"]));
    assert!(matches!(
        sync.on_event(&ev[6], &mut book),
        Err(Resync::Gap { expected: 108, .. })
    ));
}

#[test]
fn futures_scenario_uses_pu() {
    let s = fixture("futures_orderbook_sync_scenario_synthetic.json");
    let snap = snapshot::parse(&s["snapshot"].to_string()).unwrap();
    let ev: Vec<DepthUpdate> = s["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| depth(&e["event"]))
        .collect();
    let mut book = OrderBook::default();
    let mut sync = BookSync::new();
    for e in &ev[..3] {
        sync.on_event(e, &mut book).unwrap();
    }
    assert_eq!(
        sync.on_snapshot(&snap, &mut book).unwrap(),
        SnapshotOutcome::Synced {
            replayed: 1,
            event_ms: ev[2].event_ms
        }
    );
    assert_eq!(sync.on_event(&ev[3], &mut book).unwrap(), Applied::Applied);
    let want = &s["expected_book_after_f4"];
    assert_eq!(book.update_id(), 108);
    assert_eq!(book_levels(book.bids()), levels(&want["bids"]));
    assert_eq!(book_levels(book.asks()), levels(&want["asks"]));
    assert!(matches!(
        sync.on_event(&ev[4], &mut book),
        Err(Resync::PrevMismatch {
            pu: 109,
            previous: 108
        })
    ));
}

#[test]
fn duplicate_of_last_event_is_counted_as_duplicate() {
    let mut book = OrderBook::default();
    let mut sync = BookSync::new();
    let mk = |u0, u1, bid| DepthUpdate {
        event_ms: 1,
        first_id: u0,
        final_id: u1,
        prev_final_id: None,
        bids: vec![crate::book::Level { price: bid, qty: 1 }],
        asks: vec![crate::book::Level {
            price: 1000,
            qty: 1,
        }],
    };
    sync.on_event(&mk(10, 12, 5), &mut book).unwrap();
    let snap = Snapshot {
        last_update_id: 11,
        bids: vec![],
        asks: vec![],
    };
    assert_eq!(
        sync.on_snapshot(&snap, &mut book).unwrap(),
        SnapshotOutcome::Synced {
            replayed: 1,
            event_ms: 1
        }
    );
    assert_eq!(
        sync.on_event(&mk(10, 12, 5), &mut book).unwrap(),
        Applied::Duplicate
    );
    assert_eq!(
        sync.on_event(&mk(13, 13, 6), &mut book).unwrap(),
        Applied::Applied
    );
    // An update that crosses the book is corruption.
    assert!(matches!(
        sync.on_event(&mk(14, 14, 2000), &mut book),
        Err(Resync::Corrupt(14))
    ));
}

/// An event with no levels (the book keeps its snapshot levels).
fn ev(first_id: u64, final_id: u64, prev_final_id: Option<u64>) -> DepthUpdate {
    DepthUpdate {
        event_ms: 1,
        first_id,
        final_id,
        prev_final_id,
        bids: vec![],
        asks: vec![],
    }
}

/// A snapshot at `id` with one bid (10) and one ask (20).
fn snap_at(id: u64) -> Snapshot {
    Snapshot {
        last_update_id: id,
        bids: vec![crate::book::Level { price: 10, qty: 1 }],
        asks: vec![crate::book::Level { price: 20, qty: 1 }],
    }
}

/// The first event after a snapshot (id 102) is dropped, applied or a gap by the venue's rule:
/// spot drops `u <= id` and needs `U <= id+1 <= u`; futures drops `u < id` and needs
/// `U <= id <= u`.
#[test]
fn first_event_after_the_snapshot_follows_the_bridging_rule() {
    struct Case {
        name: &'static str,
        ev: DepthUpdate,
        expected: Result<Applied, Resync>,
    }
    let gap = |expected, first, last| {
        Err(Resync::Gap {
            expected,
            first,
            last,
        })
    };
    let cases = [
        Case {
            name: "spot u == id is before the snapshot",
            ev: ev(95, 102, None),
            expected: Ok(Applied::BeforeSnapshot),
        },
        Case {
            name: "spot U <= id+1 <= u",
            ev: ev(102, 103, None),
            expected: Ok(Applied::Applied),
        },
        Case {
            name: "spot U == id+1",
            ev: ev(103, 103, None),
            expected: Ok(Applied::Applied),
        },
        Case {
            name: "spot U == id+2 misses id+1",
            ev: ev(104, 105, None),
            expected: gap(103, 104, 105),
        },
        Case {
            name: "futures u < id is before the snapshot",
            ev: ev(100, 101, Some(99)),
            expected: Ok(Applied::BeforeSnapshot),
        },
        Case {
            name: "futures u == id bridges",
            ev: ev(100, 102, Some(99)),
            expected: Ok(Applied::Applied),
        },
        Case {
            name: "futures U == id",
            ev: ev(102, 105, Some(101)),
            expected: Ok(Applied::Applied),
        },
        Case {
            name: "futures U == id+1 does not bridge",
            ev: ev(103, 105, Some(102)),
            expected: gap(102, 103, 105),
        },
    ];
    for c in cases {
        let mut book = OrderBook::default();
        let mut sync = BookSync::new();
        assert_eq!(
            sync.on_snapshot(&snap_at(102), &mut book),
            Ok(SnapshotOutcome::Waiting),
            "{}",
            c.name
        );
        assert_eq!(sync.on_event(&c.ev, &mut book), c.expected, "{}", c.name);
        assert_eq!(
            sync.is_live(),
            c.expected == Ok(Applied::Applied),
            "{}",
            c.name
        );
    }
}

/// Once live (spot), `U == id+1` continues the book and `U == id+2` is a gap.
#[test]
fn live_spot_gap_is_any_missing_id() {
    let mut book = OrderBook::default();
    let mut sync = BookSync::new();
    sync.on_snapshot(&snap_at(102), &mut book).unwrap();
    assert_eq!(
        sync.on_event(&ev(103, 103, None), &mut book),
        Ok(Applied::Applied)
    );
    assert_eq!(
        sync.on_event(&ev(104, 106, None), &mut book),
        Ok(Applied::Applied)
    );
    assert_eq!(
        sync.on_event(&ev(108, 108, None), &mut book),
        Err(Resync::Gap {
            expected: 107,
            first: 108,
            last: 108
        })
    );
}

/// An update that empties a side leaves a sound book: Binance allows a one-sided book, and a crash
/// can take a whole side for real (calling it corrupt resynced for as long as it lasted, a snapshot
/// per event). A crossing one is still corrupt.
#[test]
fn an_emptied_side_is_not_corruption() {
    let mut book = OrderBook::default();
    let mut sync = BookSync::new();
    sync.on_snapshot(&snap_at(102), &mut book).unwrap();
    let mut remove_ask = ev(103, 103, None);
    remove_ask.asks = vec![crate::book::Level { price: 20, qty: 0 }];
    assert_eq!(sync.on_event(&remove_ask, &mut book), Ok(Applied::Applied));
    assert!(book.is_one_sided());
    let mut remove_bid = ev(104, 104, None);
    remove_bid.bids = vec![crate::book::Level { price: 10, qty: 0 }];
    assert_eq!(sync.on_event(&remove_bid, &mut book), Ok(Applied::Applied));
    assert_eq!(book.depth(), (0, 0));
    let mut cross = ev(105, 105, None);
    cross.bids = vec![crate::book::Level { price: 30, qty: 1 }];
    cross.asks = vec![crate::book::Level { price: 25, qty: 1 }];
    assert_eq!(sync.on_event(&cross, &mut book), Err(Resync::Corrupt(105)));
}

/// A live event whose `U` continues the book but whose `u` is absurd (here 2^64 - 1) is
/// implausible: refused, the book keeps its id (taken, it froze the book: every later event
/// stale). So is one spanning more than `MAX_UPDATE_SPAN` ids, one far below the book, and one far
/// past the event buffered before it; up to the bound an event is taken.
#[test]
fn implausible_update_ids_are_refused() {
    let implausible = |first, last, reference| {
        Err(Resync::Implausible {
            first,
            last,
            reference,
        })
    };
    let mut book = OrderBook::default();
    let mut sync = BookSync::new();
    sync.on_snapshot(&snap_at(101), &mut book).unwrap();
    assert_eq!(
        sync.on_event(&ev(102, u64::MAX, None), &mut book),
        implausible(102, u64::MAX, 101)
    );
    assert_eq!(book.update_id(), 101);
    let mut sync = BookSync::new();
    sync.on_snapshot(&snap_at(101), &mut book).unwrap();
    assert_eq!(
        sync.on_event(&ev(102, 102, None), &mut book),
        Ok(Applied::Applied)
    );
    let far = 102 + MAX_UPDATE_SPAN;
    assert_eq!(
        sync.on_event(&ev(103, far + 1, None), &mut book),
        implausible(103, far + 1, 102)
    );
    assert_eq!(
        sync.on_event(&ev(103, far, None), &mut book),
        Ok(Applied::Applied)
    );
    assert_eq!(
        sync.on_event(&ev(50, 101, None), &mut book),
        implausible(50, 101, far)
    );
    // Buffering: a span too wide, or an event far past the one before it.
    let mut sync = BookSync::new();
    assert_eq!(
        sync.on_event(&ev(1, 2 + MAX_UPDATE_SPAN, None), &mut book),
        implausible(1, 2 + MAX_UPDATE_SPAN, 1)
    );
    assert_eq!(
        sync.on_event(&ev(1, 2, None), &mut book),
        Ok(Applied::Buffered)
    );
    assert_eq!(
        sync.on_event(&ev(u64::MAX - 1, u64::MAX - 1, None), &mut book),
        implausible(u64::MAX - 1, u64::MAX - 1, 2)
    );
}

/// A snapshot implausibly far behind the first buffered event (a corrupt first event would make
/// every snapshot "too old" for ever) or far past the last one is refused: resync.
#[test]
fn a_snapshot_implausibly_far_from_the_buffer_is_refused() {
    let mut book = OrderBook::default();
    let mut sync = BookSync::new();
    let far = 5 * MAX_UPDATE_SPAN;
    sync.on_event(&ev(far, far, None), &mut book).unwrap();
    assert!(matches!(
        sync.on_snapshot(&snap_at(100), &mut book),
        Err(Resync::Implausible { reference: 100, .. })
    ));
    let mut sync = BookSync::new();
    sync.on_event(&ev(100, 101, None), &mut book).unwrap();
    assert!(matches!(
        sync.on_snapshot(&snap_at(far), &mut book),
        Err(Resync::Implausible { reference, .. }) if reference == far
    ));
    // Buffered events far before a late snapshot (a rate-limit pause) are only dropped.
    let mut sync = BookSync::new();
    let m = MAX_UPDATE_SPAN;
    for (first, last) in [(100, 100), (101, 100 + m), (101 + m, 100 + 2 * m)] {
        assert_eq!(
            sync.on_event(&ev(first, last, None), &mut book),
            Ok(Applied::Buffered)
        );
    }
    assert_eq!(
        sync.on_snapshot(&snap_at(90 + 2 * m), &mut book),
        Ok(SnapshotOutcome::Synced {
            replayed: 1,
            event_ms: 1
        })
    );
}

/// A book that took an id ahead of the stream (within the bound) drops the genuine events as stale;
/// after `MAX_STALE_RUN` of them in a row it asks for a resync instead of staying frozen. Stale
/// events between applied ones (reordering) do not add up.
#[test]
fn a_run_of_stale_events_resyncs() {
    let mut book = OrderBook::default();
    let mut sync = BookSync::new();
    sync.on_snapshot(&snap_at(101), &mut book).unwrap();
    assert_eq!(
        sync.on_event(&ev(102, 103, None), &mut book),
        Ok(Applied::Applied)
    );
    for i in 0..(2 * MAX_STALE_RUN as u64) {
        assert_eq!(
            sync.on_event(&ev(103 + 2 * i, 104 + 2 * i, None), &mut book),
            Ok(Applied::Applied)
        );
        assert_eq!(
            sync.on_event(&ev(103, 103, None), &mut book),
            Ok(Applied::Stale)
        );
    }
    let ahead = book.update_id() + 500_000;
    assert_eq!(
        sync.on_event(&ev(book.update_id() + 1, ahead, None), &mut book),
        Ok(Applied::Applied)
    );
    for id in 1..MAX_STALE_RUN as u64 {
        let id = ahead - 400_000 + id;
        assert_eq!(
            sync.on_event(&ev(id, id, None), &mut book),
            Ok(Applied::Stale)
        );
    }
    let id = ahead - 400_000 + u64::from(MAX_STALE_RUN);
    assert_eq!(
        sync.on_event(&ev(id, id, None), &mut book),
        Err(Resync::StaleRun(MAX_STALE_RUN))
    );
}

/// A snapshot is too old only when its id is strictly below the first buffered `U`; one equal
/// to it is used.
#[test]
fn snapshot_equal_to_the_first_buffered_id_is_not_too_old() {
    let mut book = OrderBook::default();
    let mut sync = BookSync::new();
    sync.on_event(&ev(100, 101, None), &mut book).unwrap();
    assert_eq!(
        sync.on_snapshot(&snap_at(99), &mut book),
        Ok(SnapshotOutcome::TooOld {
            last_update_id: 99,
            first_buffered: 100
        })
    );
    assert_eq!(
        sync.on_snapshot(&snap_at(100), &mut book),
        Ok(SnapshotOutcome::Synced {
            replayed: 1,
            event_ms: 1
        })
    );
    assert!(sync.is_live());
    assert_eq!(book.update_id(), 101);
}

/// A snapshot newer than every buffered event is kept, but the book is not live until an event
/// bridges it.
#[test]
fn snapshot_past_every_buffered_event_waits_for_the_stream() {
    let mut book = OrderBook::default();
    let mut sync = BookSync::new();
    sync.on_event(&ev(95, 98, None), &mut book).unwrap();
    sync.on_event(&ev(99, 100, None), &mut book).unwrap();
    assert_eq!(
        sync.on_snapshot(&snap_at(102), &mut book),
        Ok(SnapshotOutcome::Waiting)
    );
    assert!(!sync.is_live() && !sync.is_buffering());
    assert_eq!(book.update_id(), 102);
    assert_eq!(
        sync.on_event(&ev(101, 103, None), &mut book),
        Ok(Applied::Applied)
    );
    assert!(sync.is_live());
}

/// The buffer holds at most `MAX_BUFFERED` events; one more asks for a resync.
#[test]
fn buffer_overflow_asks_for_a_resync() {
    let mut book = OrderBook::default();
    let mut sync = BookSync::new();
    for i in 0..MAX_BUFFERED as u64 {
        assert_eq!(
            sync.on_event(&ev(i + 1, i + 1, None), &mut book),
            Ok(Applied::Buffered)
        );
    }
    let next = MAX_BUFFERED as u64 + 1;
    assert_eq!(
        sync.on_event(&ev(next, next, None), &mut book),
        Err(Resync::Overflow(MAX_BUFFERED))
    );
}

/// A live book at `id` (spot), for the hand-over tests.
fn live_at(id: u64, futures: bool) -> (BookSync, OrderBook) {
    let mut book = OrderBook::default();
    let mut sync = BookSync::new();
    let pu = futures.then_some(id - 2);
    sync.on_event(&ev(id - 1, id, pu), &mut book).unwrap();
    sync.on_snapshot(&snap_at(id - 1), &mut book).unwrap();
    assert!(sync.is_live() && book.update_id() == id);
    (sync, book)
}

/// After a hand-over to a new connection the events the book holds are overlap (expected, not
/// counted as stale), and the first one past the book continues it when it bridges the book's id:
/// on spot `U <= id+1 <= u`, on futures `pu` equal to the id (or `U <= id <= u`).
#[test]
fn a_handed_over_book_drops_the_overlap_and_continues() {
    for (name, futures, next) in [
        ("spot, next event", false, ev(101, 103, None)),
        (
            "spot, an event straddling the book",
            false,
            ev(99, 103, None),
        ),
        ("futures, pu = id", true, ev(101, 103, Some(100))),
        ("futures, straddling", true, ev(98, 103, Some(97))),
    ] {
        let (mut sync, mut book) = live_at(100, futures);
        assert!(sync.hand_over(), "{name}");
        assert!(!sync.is_live(), "{name}");
        let pu = futures.then_some(0);
        for u in 100 - u64::from(MAX_STALE_RUN) + 2..=100 {
            assert_eq!(
                sync.on_event(&ev(u, u, pu), &mut book),
                Ok(Applied::Overlap),
                "{name}: u = {u}"
            );
        }
        assert_eq!(
            sync.on_event(&next, &mut book),
            Ok(Applied::Applied),
            "{name}"
        );
        assert!(sync.is_live(), "{name}");
        assert_eq!(book.update_id(), 103, "{name}");
    }
}

/// A new connection whose first event past the book leaves ids out means events were missed in
/// the change: a gap, resynced, never applied.
#[test]
fn a_handed_over_book_meeting_a_gap_resyncs() {
    let (mut sync, mut book) = live_at(100, false);
    assert!(sync.hand_over());
    assert_eq!(
        sync.on_event(&ev(102, 104, None), &mut book),
        Err(Resync::Gap {
            expected: 101,
            first: 102,
            last: 104
        })
    );
    let (mut sync, mut book) = live_at(100, true);
    assert!(sync.hand_over());
    assert!(sync.on_event(&ev(102, 104, Some(101)), &mut book).is_err());
    assert_eq!(book.update_id(), 100);
}

/// A new connection that never gets past the book (it is behind it) is resynced after
/// `MAX_STALE_RUN` events in a row, as a live book meeting a stale run: the book is not left frozen.
#[test]
fn a_new_stream_stuck_behind_a_handed_over_book_resyncs() {
    let (mut sync, mut book) = live_at(100, false);
    assert!(sync.hand_over());
    for _ in 1..MAX_STALE_RUN {
        assert_eq!(
            sync.on_event(&ev(90, 90, None), &mut book),
            Ok(Applied::Overlap)
        );
    }
    assert_eq!(
        sync.on_event(&ev(90, 90, None), &mut book),
        Err(Resync::StaleRun(MAX_STALE_RUN))
    );
}

/// Only a live book is handed over: one still syncing starts again with the new connection.
#[test]
fn only_a_live_book_is_handed_over() {
    let mut book = OrderBook::default();
    let mut sync = BookSync::new();
    sync.on_event(&ev(5, 6, None), &mut book).unwrap();
    assert!(!sync.hand_over());
    assert!(sync.is_buffering());
}
