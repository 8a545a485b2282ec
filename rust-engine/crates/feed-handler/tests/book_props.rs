//! Property test: random depth-diff streams, delivered with drops (gaps), duplicates and swaps,
//! applied by `BookSync` + `OrderBook` versus a plain reference model (two `BTreeMap`s). Whenever the
//! engine's book is live it equals the reference at the same update id, and it never crosses.

use std::collections::BTreeMap;

use feed_handler::binance::{DepthUpdate, Snapshot};
use feed_handler::book::{Level, OrderBook};
use feed_handler::sync::{BookSync, SnapshotOutcome};
use proptest::prelude::*;

#[derive(Clone, Debug, Default, PartialEq)]
struct Reference {
    bids: BTreeMap<u64, u64>,
    asks: BTreeMap<u64, u64>,
}

impl Reference {
    fn apply(&mut self, ev: &DepthUpdate) {
        for l in &ev.bids {
            if l.qty == 0 {
                self.bids.remove(&l.price);
            } else {
                self.bids.insert(l.price, l.qty);
            }
        }
        for l in &ev.asks {
            if l.qty == 0 {
                self.asks.remove(&l.price);
            } else {
                self.asks.insert(l.price, l.qty);
            }
        }
    }

    fn snapshot(&self, id: u64) -> Snapshot {
        Snapshot {
            last_update_id: id,
            bids: self
                .bids
                .iter()
                .map(|(&price, &qty)| Level { price, qty })
                .collect(),
            asks: self
                .asks
                .iter()
                .map(|(&price, &qty)| Level { price, qty })
                .collect(),
        }
    }

    fn equals(&self, book: &OrderBook) -> bool {
        let bids: Vec<(u64, u64)> = self.bids.iter().rev().map(|(&p, &q)| (p, q)).collect();
        let asks: Vec<(u64, u64)> = self.asks.iter().map(|(&p, &q)| (p, q)).collect();
        let got_b: Vec<(u64, u64)> = book.bids().map(|l| (l.price, l.qty)).collect();
        let got_a: Vec<(u64, u64)> = book.asks().map(|l| (l.price, l.qty)).collect();
        bids == got_b && asks == got_a
    }
}

/// One event's level changes: bids on prices 1..=40, asks on 61..=100, so the true book never crosses;
/// a base level on each side is never removed, so it is never one-sided.
/// `(price, qty)` level changes of one side.
type Changes = Vec<(u64, u64)>;

fn event_changes() -> impl Strategy<Value = (Changes, Changes)> {
    (
        prop::collection::vec((1u64..=39, 0u64..4), 0..5),
        prop::collection::vec((62u64..=100, 0u64..4), 0..5),
    )
}

#[derive(Clone, Debug)]
enum Delivery {
    Normal,
    Drop,
    Duplicate,
    SwapWithNext,
}

fn delivery() -> impl Strategy<Value = Delivery> {
    prop_oneof![
        16 => Just(Delivery::Normal),
        1 => Just(Delivery::Drop),
        1 => Just(Delivery::Duplicate),
        1 => Just(Delivery::SwapWithNext),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn book_equals_reference_whenever_live(
        changes in prop::collection::vec(event_changes(), 1..120),
        deliveries in prop::collection::vec(delivery(), 120),
        snapshot_after in 0usize..10,
    ) {
        // The true stream and the reference state after each event.
        let mut reference = Reference::default();
        reference.bids.insert(40, 1);
        reference.asks.insert(61, 1);
        let mut history: BTreeMap<u64, Reference> = BTreeMap::new();
        let mut next_id = 1000u64;
        history.insert(next_id - 1, reference.clone());
        let mut stream = Vec::new();
        for (bids, asks) in &changes {
            let n = (bids.len() + asks.len()).max(1) as u64;
            let ev = DepthUpdate {
                event_ms: next_id,
                first_id: next_id,
                final_id: next_id + n - 1,
                prev_final_id: None,
                bids: bids.iter().map(|&(price, qty)| Level { price, qty }).collect(),
                asks: asks.iter().map(|&(price, qty)| Level { price, qty }).collect(),
            };
            next_id += n;
            reference.apply(&ev);
            history.insert(ev.final_id, reference.clone());
            stream.push(ev);
        }
        // What the network delivers.
        let mut delivered = Vec::new();
        let mut i = 0;
        while i < stream.len() {
            match deliveries[i % deliveries.len()] {
                Delivery::Normal => delivered.push(stream[i].clone()),
                Delivery::Drop => {}
                Delivery::Duplicate => { delivered.push(stream[i].clone()); delivered.push(stream[i].clone()); }
                Delivery::SwapWithNext if i + 1 < stream.len() => {
                    delivered.push(stream[i + 1].clone());
                    delivered.push(stream[i].clone());
                    i += 1;
                }
                Delivery::SwapWithNext => delivered.push(stream[i].clone()),
            }
            i += 1;
        }

        let mut book = OrderBook::default();
        let mut sync = BookSync::new();
        let mut buffered = 0usize;
        let mut newest_seen = 0u64;
        let mut checked = 0usize;
        for ev in &delivered {
            newest_seen = newest_seen.max(ev.final_id);
            if sync.on_event(ev, &mut book).is_err() {
                sync.restart();
                buffered = 0;
                let _ = sync.on_event(ev, &mut book);
            }
            if sync.is_buffering() {
                buffered += 1;
                if buffered > snapshot_after {
                    // The venue's snapshot is the true book at the newest id it has produced.
                    let (&id, state) = history.range(..=newest_seen).next_back().unwrap();
                    match sync.on_snapshot(&state.snapshot(id), &mut book) {
                        Ok(SnapshotOutcome::TooOld { .. }) | Ok(SnapshotOutcome::Waiting) | Ok(SnapshotOutcome::Synced { .. }) => {}
                        Err(_) => { sync.restart(); buffered = 0; }
                    }
                }
            }
            if sync.is_live() {
                let id = book.update_id();
                let expected = history.get(&id);
                prop_assert!(expected.is_some(), "live at an id the venue never produced: {}", id);
                prop_assert!(expected.unwrap().equals(&book), "book differs from the venue at {}", id);
                prop_assert!(!book.is_crossed());
                checked += 1;
            }
        }
        // A clean delivery goes live once its snapshot is taken and one event follows it: the
        // checks above are not all skipped.
        let clean = (0..stream.len()).all(|i| matches!(deliveries[i % deliveries.len()], Delivery::Normal));
        if clean && delivered.len() >= snapshot_after + 2 {
            prop_assert!(checked > 0, "never live on a clean delivery of {} events", delivered.len());
        }
    }
}
