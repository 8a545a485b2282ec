//! The periodic check of the local book against a fresh REST snapshot.
//!
//! A snapshot describes the venue's book at its `lastUpdateId` (L). The local book is compared with
//! it when it stands at exactly L, or right after the event that jumps over L (`U <= L < u`, the
//! usual case with `@depth@100ms` batches): an event gives each level it touches its quantity at
//! `u`, so the snapshot with that event applied is the venue's book at `u`. A book already past L
//! when the snapshot arrives is not checked (unverifiable), unless it is past it by more than
//! [`MAX_UPDATE_SPAN`]: then the book took a corrupt id and must be resynced ([`Verdict::BookAhead`]). A snapshot side of `limit` levels is
//! truncated (the local book may know deeper levels): only its price range is compared. A shorter
//! side is the venue's whole side: every local level of that side is compared. On a mismatch the
//! local book is repaired to the venue's truth (the snapshot, with the event applied) over the
//! compared range, keeping its own levels deeper than a truncated side; a repaired book that is
//! crossed fails the check every update passes ([`check_sound`]) and must be resynced (one with an
//! empty side passes it: the venue allows it).

use crate::binance::{DepthUpdate, Snapshot};
use crate::book::{Level, OrderBook};
use crate::sync::{check_sound, set_levels, MAX_UPDATE_SPAN};

/// Result of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The book equals the snapshot over the snapshot's depth.
    Match,
    /// It did not; the book was reset to the snapshot.
    Repaired,
    /// The book never stood at the snapshot's id.
    Unverifiable,
    /// It did not, and the book reset to the snapshot is crossed: it must be resynced (at the
    /// snapshot's `lastUpdateId`).
    Corrupt(u64),
    /// The book stands more than [`MAX_UPDATE_SPAN`] ids past the snapshot: it took a corrupt id
    /// (and would drop every genuine event as stale): it must be resynced.
    BookAhead {
        /// The book's update id.
        book: u64,
        /// The snapshot's `lastUpdateId`.
        snapshot: u64,
    },
}

/// A snapshot waiting for the book to reach its id.
#[derive(Debug)]
pub struct PendingCheck {
    snapshot: Option<Snapshot>,
    /// Levels a side the snapshots are asked for (`limit`): a side that long may be truncated.
    limit: usize,
}

/// The venue's book at the check: `snap`, with `over` applied (the event that went past its id).
pub fn venue_at(snap: &Snapshot, over: Option<&DepthUpdate>) -> OrderBook {
    let mut venue = OrderBook::default();
    venue.reset(snap.last_update_id, &snap.bids, &snap.asks);
    if let Some(ev) = over {
        set_levels(ev, &mut venue);
    }
    venue
}

/// The compared price range of `snap`, as (lowest bid, highest ask): a side of `limit` levels is
/// truncated, so it ends at its last level; a shorter side is the venue's whole side.
fn range(snap: &Snapshot, limit: usize) -> (u64, u64) {
    let lowest_bid = match snap.bids.last() {
        Some(l) if snap.bids.len() >= limit => l.price,
        _ => 0,
    };
    let highest_ask = match snap.asks.last() {
        Some(l) if snap.asks.len() >= limit => l.price,
        _ => u64::MAX,
    };
    (lowest_bid, highest_ask)
}

/// Whether `book` equals `venue` (see [`venue_at`]) over the range of `snap`: its truncated sides
/// over their prices, its whole sides (shorter than `limit`) whole.
pub fn matches(book: &OrderBook, venue: &OrderBook, snap: &Snapshot, limit: usize) -> bool {
    let (lowest_bid, highest_ask) = range(snap, limit);
    let in_bids = |l: &&Level| l.price >= lowest_bid;
    let in_asks = |l: &&Level| l.price <= highest_ask;
    book.bids()
        .take_while(in_bids)
        .eq(venue.bids().take_while(in_bids))
        && book
            .asks()
            .take_while(in_asks)
            .eq(venue.asks().take_while(in_asks))
}

impl PendingCheck {
    /// No check pending; snapshots are asked for `limit` levels a side.
    pub fn new(limit: usize) -> Self {
        PendingCheck {
            snapshot: None,
            limit,
        }
    }

    /// True while a snapshot waits.
    pub fn is_waiting(&self) -> bool {
        self.snapshot.is_some()
    }

    /// A new snapshot arrived (sorted best first, as the REST API returns it).
    pub fn offer(&mut self, snap: Snapshot, book: &mut OrderBook) -> Option<Verdict> {
        let id = snap.last_update_id;
        if book.update_id().saturating_sub(id) > MAX_UPDATE_SPAN {
            return Some(Verdict::BookAhead {
                book: book.update_id(),
                snapshot: id,
            });
        }
        if book.update_id() > id {
            return Some(Verdict::Unverifiable);
        }
        self.snapshot = Some(snap);
        if book.update_id() < id {
            return None;
        }
        self.decide(book, None)
    }

    /// Called after each update `ev` applied to `book`; returns a verdict once the check is
    /// decided: at the snapshot's id, or after the event that went past it.
    pub fn on_book(&mut self, book: &mut OrderBook, ev: &DepthUpdate) -> Option<Verdict> {
        let id = self.snapshot.as_ref()?.last_update_id;
        if book.update_id() < id {
            return None;
        }
        self.decide(book, (book.update_id() > id).then_some(ev))
    }

    /// The check of `book` against the waiting snapshot, with `over` applied to it (the event that
    /// went past the snapshot's id), or as it is.
    fn decide(&mut self, book: &mut OrderBook, over: Option<&DepthUpdate>) -> Option<Verdict> {
        let snap = self.snapshot.take()?;
        let venue = venue_at(&snap, over);
        if matches(book, &venue, &snap, self.limit) {
            return Some(Verdict::Match);
        }
        // The venue's levels over the range, the book's own deeper ones past a truncated side.
        let (lowest_bid, highest_ask) = range(&snap, self.limit);
        let bids: Vec<Level> = venue
            .bids()
            .take_while(|l| l.price >= lowest_bid)
            .chain(book.bids().skip_while(|l| l.price >= lowest_bid))
            .copied()
            .collect();
        let asks: Vec<Level> = venue
            .asks()
            .take_while(|l| l.price <= highest_ask)
            .chain(book.asks().skip_while(|l| l.price <= highest_ask))
            .copied()
            .collect();
        book.reset(venue.update_id(), &bids, &asks);
        Some(repaired(book, venue.update_id()))
    }

    /// Drops a waiting snapshot (resync, reconnect).
    pub fn clear(&mut self) {
        self.snapshot = None;
    }
}

/// The verdict on a book just repaired to the venue's levels at `id`.
fn repaired(book: &OrderBook, id: u64) -> Verdict {
    if check_sound(book).is_err() {
        Verdict::Corrupt(id)
    } else {
        Verdict::Repaired
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
            let mut p = PendingCheck::new(2);
            assert_eq!(p.offer(c.snap, &mut b), c.first, "case {i}");
        }
    }

    /// A snapshot that differs and is crossed leaves a corrupt book: the verdict says so (the feed
    /// resyncs), never `Repaired`.
    #[test]
    fn a_crossed_snapshot_is_corrupt() {
        for s in [
            Snapshot {
                bids: vec![lv(12, 1), lv(9, 2)],
                ..snap(7, 1)
            },
            Snapshot {
                asks: vec![lv(10, 1)],
                ..snap(7, 1)
            },
        ] {
            let mut b = book(7);
            let mut p = PendingCheck::new(2);
            assert_eq!(
                p.offer(s.clone(), &mut b),
                Some(Verdict::Corrupt(7)),
                "{s:?}"
            );
            assert!(b.is_crossed(), "{s:?}");
            assert!(!p.is_waiting());
        }
    }

    /// A snapshot with an empty side (the venue's book one-sided, as in a crash that takes every
    /// bid) repairs the book to it: one-sided is the venue's truth, not corruption.
    #[test]
    fn a_one_sided_snapshot_repairs_the_book() {
        for s in [
            Snapshot {
                bids: vec![],
                asks: vec![lv(11, 5)],
                ..snap(7, 1)
            },
            Snapshot {
                asks: vec![],
                ..snap(7, 1)
            },
        ] {
            let mut b = book(7);
            let mut p = PendingCheck::new(2);
            assert_eq!(p.offer(s.clone(), &mut b), Some(Verdict::Repaired), "{s:?}");
            assert!(b.is_one_sided() && !b.is_crossed(), "{s:?}");
        }
    }

    /// A book past the snapshot is unverifiable; past it by more than `MAX_UPDATE_SPAN` (it took a
    /// corrupt id), it is ahead of the venue and must be resynced.
    #[test]
    fn a_book_far_past_the_snapshot_is_ahead_of_the_venue() {
        let mut b = book(7 + MAX_UPDATE_SPAN);
        assert_eq!(
            PendingCheck::new(2).offer(snap(7, 1), &mut b),
            Some(Verdict::Unverifiable)
        );
        let mut b = book(8 + MAX_UPDATE_SPAN);
        assert_eq!(
            PendingCheck::new(2).offer(snap(7, 1), &mut b),
            Some(Verdict::BookAhead {
                book: 8 + MAX_UPDATE_SPAN,
                snapshot: 7
            })
        );
    }

    #[test]
    fn waits_for_the_book_then_repairs() {
        let mut b = book(6);
        let mut p = PendingCheck::new(2);
        assert_eq!(p.offer(snap(7, 4), &mut b), None);
        assert!(p.is_waiting());
        b.set(BookSide::Bid, 10, 9); // the local book diverged
        b.set_update_id(7);
        assert_eq!(
            p.on_book(&mut b, &update(7, 7, &[])),
            Some(Verdict::Repaired)
        );
        // Repaired over the snapshot's two levels; the deeper one it did not cover is kept.
        assert_eq!(
            b.bids().copied().collect::<Vec<_>>(),
            [lv(10, 4), lv(9, 2), lv(8, 3)]
        );
        assert!(!p.is_waiting());
        assert_eq!(p.on_book(&mut b, &update(8, 8, &[])), None);
    }

    /// A depth event `first..=last` setting bids `bids`.
    fn update(first: u64, last: u64, bids: &[Level]) -> DepthUpdate {
        DepthUpdate {
            event_ms: 1,
            first_id: first,
            final_id: last,
            prev_final_id: None,
            bids: bids.to_vec(),
            asks: Vec::new(),
        }
    }

    /// The book goes from 6 to 9 in one event (`U = 7`, `u = 9`) over a snapshot taken at 8, as
    /// `@depth@100ms` batches do: the snapshot with the event applied is the venue's book at 9. A
    /// book that agrees matches (also where it only agrees because the event set the level); one
    /// that does not is repaired to it, at 9. A book already past the snapshot is unverifiable.
    #[test]
    fn an_event_over_the_snapshot_id_is_checked_with_the_event_applied() {
        let ev = update(7, 9, &[lv(9, 5)]);
        let apply = |b: &mut OrderBook| {
            b.set(BookSide::Bid, 9, 5);
            b.set_update_id(9);
        };
        let check = |b: &mut OrderBook| {
            let mut p = PendingCheck::new(2);
            assert_eq!(p.offer(snap(8, 1), b), None);
            apply(b);
            let verdict = p.on_book(b, &ev);
            assert!(!p.is_waiting());
            verdict
        };
        let mut same = book(6);
        assert_eq!(check(&mut same), Some(Verdict::Match));
        let mut wrong_where_the_event_sets = book(6);
        wrong_where_the_event_sets.set(BookSide::Bid, 9, 7);
        assert_eq!(check(&mut wrong_where_the_event_sets), Some(Verdict::Match));
        let mut diverged = book(6);
        diverged.set(BookSide::Bid, 10, 7);
        assert_eq!(check(&mut diverged), Some(Verdict::Repaired));
        assert_eq!(diverged.update_id(), 9);
        assert_eq!(
            diverged.bids().copied().collect::<Vec<_>>(),
            [lv(10, 1), lv(9, 5), lv(8, 3)]
        );
        assert_eq!(
            diverged.asks().copied().collect::<Vec<_>>(),
            [lv(11, 1), lv(12, 2), lv(13, 3)]
        );
        let mut past = book(9);
        assert_eq!(
            PendingCheck::new(2).offer(snap(8, 1), &mut past),
            Some(Verdict::Unverifiable)
        );
    }

    /// A side shorter than the limit is the venue's whole side: a local level past it (here a
    /// bid the venue no longer has, under an empty snapshot side, or under a side of one level) is
    /// a mismatch, repaired away.
    #[test]
    fn a_side_shorter_than_the_limit_is_the_whole_side() {
        for bids in [vec![], vec![lv(10, 1)]] {
            let mut b = book(7);
            let s = Snapshot {
                last_update_id: 7,
                bids: bids.clone(),
                asks: vec![lv(11, 1), lv(12, 2)],
            };
            let verdict = PendingCheck::new(2).offer(s, &mut b);
            assert_ne!(verdict, Some(Verdict::Match), "{bids:?}");
            assert_eq!(b.bids().copied().collect::<Vec<_>>(), bids);
        }
    }

    /// A repair keeps what the jumping-over event set deeper than the snapshot's range, and the
    /// deeper levels the book knew.
    #[test]
    fn a_repair_keeps_the_levels_deeper_than_the_snapshot() {
        let mut b = OrderBook::default();
        b.reset(
            6,
            &[lv(10, 1), lv(9, 2)],
            &[lv(11, 1), lv(12, 9), lv(14, 4)],
        );
        let s = Snapshot {
            last_update_id: 8,
            bids: vec![lv(10, 1), lv(9, 2)],
            asks: vec![lv(11, 1), lv(12, 2)],
        };
        let mut p = PendingCheck::new(2);
        assert_eq!(p.offer(s, &mut b), None);
        let ev = update(7, 9, &[lv(8, 5)]);
        set_levels(&ev, &mut b);
        assert_eq!(p.on_book(&mut b, &ev), Some(Verdict::Repaired));
        assert_eq!(
            b.bids().copied().collect::<Vec<_>>(),
            [lv(10, 1), lv(9, 2), lv(8, 5)]
        );
        assert_eq!(
            b.asks().copied().collect::<Vec<_>>(),
            [lv(11, 1), lv(12, 2), lv(14, 4)]
        );
    }

    #[test]
    fn deeper_local_levels_do_not_count_as_a_mismatch() {
        let b = book(7);
        assert!(matches(&b, &venue_at(&snap(7, 1), None), &snap(7, 1), 2));
        let shallow_book = {
            let mut x = OrderBook::default();
            x.reset(7, &[lv(10, 1)], &[lv(11, 1), lv(12, 2)]);
            x
        };
        assert!(!matches(
            &shallow_book,
            &venue_at(&snap(7, 1), None),
            &snap(7, 1),
            2
        ));
    }
}
