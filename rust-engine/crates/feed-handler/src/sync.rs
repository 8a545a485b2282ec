//! Binance's procedure for a local order book, as a type with no I/O.
//!
//! Spot (binance-spot-api-docs `web-socket-streams.md`, "How to manage a local order book correctly",
//! text corrected on 2025-11-12):
//! 1. Buffer the diff events; note `U` of the first.
//! 2. Fetch a snapshot. If its `lastUpdateId` < that first `U`, fetch again.
//! 3. Discard buffered events with `u <= lastUpdateId`; the first remaining one has
//!    `U <= lastUpdateId + 1 <= u`.
//! 4. Apply: ignore an event with `u` < the book's id; if `U` > the book's id + 1 events were missed:
//!    restart from the beginning; otherwise set each level (0 removes) and set the book's id to `u`.
//!
//! USD-M futures (events carry `pu`): drop `u < lastUpdateId`; the first applied event has
//! `U <= lastUpdateId <= u`; afterwards each event's `pu` must equal the previous event's `u`.
//!
//! Beyond the venue's rules, a book that is crossed or has an empty side after an update is treated
//! as corrupt and resynced.

use std::collections::VecDeque;

use crate::binance::{DepthUpdate, Snapshot};
use crate::book::{BookSide, OrderBook};

/// Most events buffered while waiting for a snapshot; more means the snapshot is hopelessly late.
pub const MAX_BUFFERED: usize = 50_000;

/// What happened to one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Buffered until the snapshot arrives.
    Buffered,
    /// Applied to the book.
    Applied,
    /// Older than the book: ignored (out of order).
    Stale,
    /// Same ids as the last applied event: ignored.
    Duplicate,
}

/// The book can no longer be trusted: discard it and start again from a fresh snapshot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Resync {
    /// Events were missed.
    #[error("gap: expected update {expected}, got U={first} u={last}")]
    Gap {
        /// First id that would continue the book.
        expected: u64,
        /// `U` of the event.
        first: u64,
        /// `u` of the event.
        last: u64,
    },
    /// Futures: `pu` does not continue the previous `u`.
    #[error("gap: pu {pu} != previous u {previous}")]
    PrevMismatch {
        /// `pu` of the event.
        pu: u64,
        /// `u` of the previous event.
        previous: u64,
    },
    /// The book crossed or a side emptied after an update.
    #[error("corrupt book after update {0}: crossed or one-sided")]
    Corrupt(u64),
    /// The buffer overflowed before a snapshot arrived.
    #[error("buffer overflow: {0} events without a snapshot")]
    Overflow(usize),
}

/// Outcome of offering a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotOutcome {
    /// The book is live; `replayed` buffered events were applied.
    Synced {
        /// Buffered events applied on top of the snapshot.
        replayed: usize,
    },
    /// The snapshot is older than the first buffered event: fetch another.
    TooOld {
        /// The snapshot's `lastUpdateId`.
        last_update_id: u64,
        /// `U` of the first buffered event.
        first_buffered: u64,
    },
    /// No event buffered yet: keep the snapshot and wait for the stream.
    Waiting,
}

#[derive(Debug)]
enum State {
    Buffering(VecDeque<DepthUpdate>),
    /// Snapshot loaded, waiting for the first event that bridges it.
    Bridging,
    Live,
}

/// The sequencing state of one book.
#[derive(Debug)]
pub struct BookSync {
    state: State,
    last_first_id: u64,
}

impl Default for BookSync {
    fn default() -> Self {
        Self::new()
    }
}

impl BookSync {
    /// Starts buffering.
    pub fn new() -> Self {
        BookSync {
            state: State::Buffering(VecDeque::new()),
            last_first_id: 0,
        }
    }

    /// Back to buffering, dropping everything.
    pub fn restart(&mut self) {
        self.state = State::Buffering(VecDeque::new());
        self.last_first_id = 0;
    }

    /// True once events are being applied to the book.
    pub fn is_live(&self) -> bool {
        matches!(self.state, State::Live)
    }

    /// True while waiting for a snapshot.
    pub fn is_buffering(&self) -> bool {
        matches!(self.state, State::Buffering(_))
    }

    /// `U` of the first buffered event.
    pub fn first_buffered(&self) -> Option<u64> {
        match &self.state {
            State::Buffering(b) => b.front().map(|e| e.first_id),
            _ => None,
        }
    }

    /// Offers a diff event.
    ///
    /// # Errors
    /// [`Resync`] when the book must be rebuilt from a fresh snapshot (the caller calls [`restart`](Self::restart)).
    pub fn on_event(&mut self, ev: &DepthUpdate, book: &mut OrderBook) -> Result<Applied, Resync> {
        match &mut self.state {
            State::Buffering(buf) => {
                if buf.len() >= MAX_BUFFERED {
                    return Err(Resync::Overflow(buf.len()));
                }
                buf.push_back(ev.clone());
                Ok(Applied::Buffered)
            }
            State::Bridging => {
                let id = book.update_id();
                if drop_before_snapshot(ev, id) {
                    return Ok(Applied::Stale);
                }
                check_bridges(ev, id)?;
                self.state = State::Live;
                self.apply(ev, book)?;
                Ok(Applied::Applied)
            }
            State::Live => {
                let id = book.update_id();
                if ev.final_id == id && ev.first_id == self.last_first_id {
                    return Ok(Applied::Duplicate);
                }
                if ev.final_id <= id {
                    return Ok(Applied::Stale);
                }
                match ev.prev_final_id {
                    Some(pu) if pu != id => {
                        return Err(Resync::PrevMismatch { pu, previous: id });
                    }
                    Some(_) => {}
                    None if ev.first_id > id + 1 => {
                        return Err(Resync::Gap {
                            expected: id + 1,
                            first: ev.first_id,
                            last: ev.final_id,
                        });
                    }
                    None => {}
                }
                self.apply(ev, book)?;
                Ok(Applied::Applied)
            }
        }
    }

    /// Offers a REST snapshot; replays the buffered events on top of it.
    ///
    /// # Errors
    /// [`Resync`] when the buffered events do not continue the snapshot.
    pub fn on_snapshot(
        &mut self,
        snap: &Snapshot,
        book: &mut OrderBook,
    ) -> Result<SnapshotOutcome, Resync> {
        let State::Buffering(buf) = &mut self.state else {
            return Ok(SnapshotOutcome::Waiting);
        };
        if let Some(first) = buf.front() {
            if snap.last_update_id < first.first_id {
                return Ok(SnapshotOutcome::TooOld {
                    last_update_id: snap.last_update_id,
                    first_buffered: first.first_id,
                });
            }
        }
        let buffered = std::mem::take(buf);
        book.reset(snap.last_update_id, &snap.bids, &snap.asks);
        self.state = State::Bridging;
        let mut replayed = 0;
        for ev in buffered {
            if self.on_event(&ev, book)? == Applied::Applied {
                replayed += 1;
            }
        }
        if replayed == 0 {
            return Ok(SnapshotOutcome::Waiting);
        }
        Ok(SnapshotOutcome::Synced { replayed })
    }

    fn apply(&mut self, ev: &DepthUpdate, book: &mut OrderBook) -> Result<(), Resync> {
        for l in &ev.bids {
            book.set(BookSide::Bid, l.price, l.qty);
        }
        for l in &ev.asks {
            book.set(BookSide::Ask, l.price, l.qty);
        }
        book.set_update_id(ev.final_id);
        self.last_first_id = ev.first_id;
        if book.is_crossed() || book.is_one_sided() {
            return Err(Resync::Corrupt(ev.final_id));
        }
        Ok(())
    }
}

/// Events entirely before the snapshot are dropped (spot: `u <= id`; futures: `u < id`).
fn drop_before_snapshot(ev: &DepthUpdate, id: u64) -> bool {
    match ev.prev_final_id {
        Some(_) => ev.final_id < id,
        None => ev.final_id <= id,
    }
}

/// The first applied event must bridge the snapshot (spot: `U <= id+1 <= u`; futures: `U <= id <= u`).
fn check_bridges(ev: &DepthUpdate, id: u64) -> Result<(), Resync> {
    let target = if ev.prev_final_id.is_some() {
        id
    } else {
        id + 1
    };
    if ev.first_id <= target && target <= ev.final_id {
        Ok(())
    } else {
        Err(Resync::Gap {
            expected: target,
            first: ev.first_id,
            last: ev.final_id,
        })
    }
}

#[cfg(test)]
mod tests {
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
            SnapshotOutcome::Synced { replayed: 1 }
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
            SnapshotOutcome::Synced { replayed: 1 }
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
            SnapshotOutcome::Synced { replayed: 1 }
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
                name: "spot u == id is stale",
                ev: ev(95, 102, None),
                expected: Ok(Applied::Stale),
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
                name: "futures u < id is stale",
                ev: ev(100, 101, Some(99)),
                expected: Ok(Applied::Stale),
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

    /// An update that empties a side makes the book corrupt (resync), as a crossed one does.
    #[test]
    fn an_emptied_side_is_corruption() {
        let mut book = OrderBook::default();
        let mut sync = BookSync::new();
        sync.on_snapshot(&snap_at(102), &mut book).unwrap();
        let mut remove_ask = ev(103, 103, None);
        remove_ask.asks = vec![crate::book::Level { price: 20, qty: 0 }];
        assert_eq!(
            sync.on_event(&remove_ask, &mut book),
            Err(Resync::Corrupt(103))
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
            Ok(SnapshotOutcome::Synced { replayed: 1 })
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
}
