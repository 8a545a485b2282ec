//! The periodic check of the local book against a fresh REST snapshot.
//!
//! A snapshot describes the venue's book at its `lastUpdateId`. The local book can be compared with
//! it only when it stands at exactly that id: if the book is already past it, or an event jumps over
//! it (`U <= id < u`), the check is skipped and counted as unverifiable. Only the snapshot's depth is
//! compared (a snapshot is truncated at `limit` levels; the local book may know deeper levels). On a
//! mismatch the local book is repaired from the snapshot, which is the venue's truth at that id; a
//! repaired book that is crossed or one-sided fails the check every update passes
//! ([`check_sound`]) and must be resynced.

use crate::binance::Snapshot;
use crate::book::{Level, Levels, OrderBook};
use crate::sync::check_sound;

/// Result of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The book equals the snapshot over the snapshot's depth.
    Match,
    /// It did not; the book was reset to the snapshot.
    Repaired,
    /// The book never stood at the snapshot's id.
    Unverifiable,
    /// It did not, and the book reset to the snapshot is crossed or one-sided: it must be resynced
    /// (at the snapshot's `lastUpdateId`).
    Corrupt(u64),
}

/// A snapshot waiting for the book to reach its id.
#[derive(Debug, Default)]
pub struct PendingCheck {
    snapshot: Option<Snapshot>,
}

fn same_prefix(book: Levels<'_>, snap: &[Level], levels: usize) -> bool {
    book.len() >= levels.min(snap.len()) && book.zip(snap.iter()).take(levels).all(|(a, b)| a == b)
}

/// Compares the top of the book with the snapshot (which must be sorted best first).
pub fn matches(book: &OrderBook, snap: &Snapshot) -> bool {
    same_prefix(book.bids(), &snap.bids, snap.bids.len())
        && same_prefix(book.asks(), &snap.asks, snap.asks.len())
}

impl PendingCheck {
    /// True while a snapshot waits.
    pub fn is_waiting(&self) -> bool {
        self.snapshot.is_some()
    }

    /// A new snapshot arrived (sorted best first, as the REST API returns it).
    pub fn offer(&mut self, snap: Snapshot, book: &mut OrderBook) -> Option<Verdict> {
        self.snapshot = Some(snap);
        self.on_book(book)
    }

    /// Called after each applied update; returns a verdict once the check is decided.
    pub fn on_book(&mut self, book: &mut OrderBook) -> Option<Verdict> {
        let id = self.snapshot.as_ref()?.last_update_id;
        if book.update_id() < id {
            return None;
        }
        let snap = self.snapshot.take()?;
        if book.update_id() > id {
            return Some(Verdict::Unverifiable);
        }
        if matches(book, &snap) {
            return Some(Verdict::Match);
        }
        book.reset(snap.last_update_id, &snap.bids, &snap.asks);
        if check_sound(book).is_err() {
            return Some(Verdict::Corrupt(snap.last_update_id));
        }
        Some(Verdict::Repaired)
    }

    /// Drops a waiting snapshot (resync, reconnect).
    pub fn clear(&mut self) {
        self.snapshot = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::BookSide;

    fn lv(price: u64, qty: u64) -> Level {
        Level { price, qty }
    }

    fn book(id: u64) -> OrderBook {
        let mut b = OrderBook::default();
        b.reset(
            id,
            &[lv(10, 1), lv(9, 2), lv(8, 3)],
            &[lv(11, 1), lv(12, 2), lv(13, 3)],
        );
        b
    }

    fn snap(id: u64, bid10: u64) -> Snapshot {
        Snapshot {
            last_update_id: id,
            bids: vec![lv(10, bid10), lv(9, 2)],
            asks: vec![lv(11, 1), lv(12, 2)],
        }
    }

    #[test]
    fn verdicts() {
        struct Case {
            book_id: u64,
            snap: Snapshot,
            first: Option<Verdict>,
        }
        let cases = [
            Case {
                book_id: 7,
                snap: snap(7, 1),
                first: Some(Verdict::Match),
            },
            Case {
                book_id: 7,
                snap: snap(7, 5),
                first: Some(Verdict::Repaired),
            },
            Case {
                book_id: 7,
                snap: Snapshot {
                    asks: vec![lv(11, 1), lv(12, 9)],
                    ..snap(7, 1)
                },
                first: Some(Verdict::Repaired),
            },
            Case {
                book_id: 7,
                snap: Snapshot {
                    asks: vec![lv(11, 1), lv(13, 3)],
                    ..snap(7, 1)
                },
                first: Some(Verdict::Repaired),
            },
            Case {
                book_id: 8,
                snap: snap(7, 1),
                first: Some(Verdict::Unverifiable),
            },
            Case {
                book_id: 6,
                snap: snap(7, 1),
                first: None,
            },
        ];
        for (i, c) in cases.into_iter().enumerate() {
            let mut b = book(c.book_id);
            let mut p = PendingCheck::default();
            assert_eq!(p.offer(c.snap, &mut b), c.first, "case {i}");
        }
    }

    /// A snapshot that differs and is crossed, or has an empty side, leaves a corrupt book: the
    /// verdict says so (the feed resyncs), never `Repaired`.
    #[test]
    fn a_crossed_or_one_sided_snapshot_is_corrupt() {
        for s in [
            Snapshot {
                bids: vec![lv(12, 1), lv(9, 2)],
                ..snap(7, 1)
            },
            Snapshot {
                asks: vec![lv(10, 1)],
                ..snap(7, 1)
            },
            Snapshot {
                bids: vec![],
                asks: vec![lv(11, 5)],
                ..snap(7, 1)
            },
        ] {
            let mut b = book(7);
            let mut p = PendingCheck::default();
            assert_eq!(
                p.offer(s.clone(), &mut b),
                Some(Verdict::Corrupt(7)),
                "{s:?}"
            );
            assert!(b.is_crossed() || b.is_one_sided(), "{s:?}");
            assert!(!p.is_waiting());
        }
    }

    #[test]
    fn waits_for_the_book_then_repairs() {
        let mut b = book(6);
        let mut p = PendingCheck::default();
        assert_eq!(p.offer(snap(7, 4), &mut b), None);
        assert!(p.is_waiting());
        b.set(BookSide::Bid, 10, 9); // the local book diverged
        b.set_update_id(7);
        assert_eq!(p.on_book(&mut b), Some(Verdict::Repaired));
        assert_eq!(b.bids().copied().collect::<Vec<_>>(), [lv(10, 4), lv(9, 2)]);
        assert!(!p.is_waiting());
        assert_eq!(p.on_book(&mut b), None);
    }

    #[test]
    fn deeper_local_levels_do_not_count_as_a_mismatch() {
        let b = book(7);
        assert!(matches(&b, &snap(7, 1)));
        let shallow_book = {
            let mut x = OrderBook::default();
            x.reset(7, &[lv(10, 1)], &[lv(11, 1), lv(12, 2)]);
            x
        };
        assert!(!matches(&shallow_book, &snap(7, 1)));
    }
}
