//! The venue's authoritative L2 book: price levels keyed by integer prices (10⁻⁸ units), a Binance
//! update id, and the diff arithmetic that moves it from one state to the next.
//!
//! A [`Diff`] holds absolute quantities, as Binance's `depthUpdate` does: quantity 0 removes the
//! level, and removing a level that is not there is a no-op.

use std::collections::BTreeMap;

/// One price level: price and quantity in units (quantity 0 in a diff removes the level).
pub type Level = (u64, u64);

/// Which side of the book.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// Bids (buy orders).
    Bid,
    /// Asks (sell orders).
    Ask,
}

/// Level changes with absolute quantities, each side best price first.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Diff {
    /// Bid changes, highest price first.
    pub bids: Vec<Level>,
    /// Ask changes, lowest price first.
    pub asks: Vec<Level>,
}

impl Diff {
    /// Number of level changes; a synthetic update advances the update id by this much.
    pub fn len(&self) -> usize {
        self.bids.len() + self.asks.len()
    }

    /// True when nothing changes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The previous quantities of the levels a diff touched (0 = the level was absent), to undo it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Undo {
    /// Previous bid levels.
    pub bids: Vec<Level>,
    /// Previous ask levels.
    pub asks: Vec<Level>,
}

/// An L2 book with its update id.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Book {
    /// Price → quantity.
    pub bids: BTreeMap<u64, u64>,
    /// Price → quantity.
    pub asks: BTreeMap<u64, u64>,
    /// Binance `lastUpdateId`: the `u` of the last diff applied.
    pub update_id: u64,
}

impl Book {
    /// An empty book at `update_id`.
    pub fn empty(update_id: u64) -> Self {
        Book {
            update_id,
            ..Book::default()
        }
    }

    /// Top `n` bids (highest first) and asks (lowest first).
    pub fn top(&self, n: usize) -> (Vec<Level>, Vec<Level>) {
        let bids = self
            .bids
            .iter()
            .rev()
            .take(n)
            .map(|(&p, &q)| (p, q))
            .collect();
        let asks = self.asks.iter().take(n).map(|(&p, &q)| (p, q)).collect();
        (bids, asks)
    }

    /// Best bid and best ask prices.
    pub fn touch(&self) -> (Option<u64>, Option<u64>) {
        (
            self.bids.keys().next_back().copied(),
            self.asks.keys().next().copied(),
        )
    }

    /// True when the best bid is at or above the best ask.
    pub fn is_crossed(&self) -> bool {
        matches!(self.touch(), (Some(b), Some(a)) if b >= a)
    }

    /// The changes that turn this book into `target` (update ids are not compared).
    pub fn diff_to(&self, target: &Book) -> Diff {
        Diff {
            bids: side_diff(&self.bids, &target.bids, Side::Bid),
            asks: side_diff(&self.asks, &target.asks, Side::Ask),
        }
    }

    /// Applies absolute level changes and sets the update id to `update_id`; returns what undoes them.
    pub fn apply(&mut self, diff: &Diff, update_id: u64) -> Undo {
        let undo = Undo {
            bids: apply_side(&mut self.bids, &diff.bids),
            asks: apply_side(&mut self.asks, &diff.asks),
        };
        self.update_id = update_id;
        undo
    }

    /// Reverts [`Book::apply`], restoring `update_id`.
    pub fn revert(&mut self, undo: &Undo, update_id: u64) {
        // Last change first, in case a diff named a price twice.
        for (levels, changes) in [(&mut self.bids, &undo.bids), (&mut self.asks, &undo.asks)] {
            for &(p, q) in changes.iter().rev() {
                if q == 0 {
                    levels.remove(&p);
                } else {
                    levels.insert(p, q);
                }
            }
        }
        self.update_id = update_id;
    }

    /// FNV-1a checksum of every level and the update id: equal books, equal checksums.
    pub fn checksum(&self) -> u64 {
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |x: u64| {
            for b in x.to_le_bytes() {
                h = (h ^ u64::from(b)).wrapping_mul(PRIME);
            }
        };
        eat(self.update_id);
        for (side, levels) in [(1, &self.bids), (2, &self.asks)] {
            eat(side);
            eat(levels.len() as u64);
            for (&p, &q) in levels {
                eat(p);
                eat(q);
            }
        }
        h
    }
}

fn apply_side(levels: &mut BTreeMap<u64, u64>, changes: &[Level]) -> Vec<Level> {
    changes
        .iter()
        .map(|&(p, q)| {
            let before = if q == 0 {
                levels.remove(&p)
            } else {
                levels.insert(p, q)
            };
            (p, before.unwrap_or(0))
        })
        .collect()
}

fn side_diff(cur: &BTreeMap<u64, u64>, target: &BTreeMap<u64, u64>, side: Side) -> Vec<Level> {
    let mut out: Vec<Level> = target
        .iter()
        .filter(|(p, q)| cur.get(p) != Some(q))
        .map(|(&p, &q)| (p, q))
        .chain(
            cur.keys()
                .filter(|p| !target.contains_key(p))
                .map(|&p| (p, 0)),
        )
        .collect();
    match side {
        Side::Bid => out.sort_unstable_by_key(|l| std::cmp::Reverse(l.0)),
        Side::Ask => out.sort_unstable_by_key(|l| l.0),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book(bids: &[Level], asks: &[Level], id: u64) -> Book {
        Book {
            bids: bids.iter().copied().collect(),
            asks: asks.iter().copied().collect(),
            update_id: id,
        }
    }

    #[test]
    fn diff_lists_changes_and_removals_best_first() {
        let cur = book(&[(10, 1), (9, 1), (8, 1)], &[(11, 1), (12, 1)], 5);
        let target = book(&[(10, 2), (8, 1), (7, 4)], &[(11, 1), (13, 3)], 0);
        let d = cur.diff_to(&target);
        assert_eq!(d.bids, vec![(10, 2), (9, 0), (7, 4)]);
        assert_eq!(d.asks, vec![(12, 0), (13, 3)]);
        assert_eq!(d.len(), 5);
    }

    #[test]
    fn apply_then_revert_restores_the_book() {
        let before = book(&[(10, 1), (9, 1)], &[(11, 1)], 5);
        let target = book(&[(10, 3), (8, 2)], &[(12, 1)], 0);
        let d = before.diff_to(&target);
        let mut b = before.clone();
        let undo = b.apply(&d, 5 + d.len() as u64);
        assert_eq!((&b.bids, &b.asks), (&target.bids, &target.asks));
        assert_eq!(b.update_id, 10);
        b.revert(&undo, 5);
        assert_eq!(b, before);
    }

    #[test]
    fn removing_an_absent_level_is_a_no_op() {
        let mut b = book(&[(10, 1)], &[], 1);
        let undo = b.apply(
            &Diff {
                bids: vec![(9, 0)],
                asks: vec![],
            },
            2,
        );
        assert_eq!(b.bids.len(), 1);
        b.revert(&undo, 1);
        assert_eq!(b, book(&[(10, 1)], &[], 1));
        // A price named twice in one diff is undone too.
        let mut b = book(&[(10, 1)], &[], 1);
        let undo = b.apply(
            &Diff {
                bids: vec![(10, 5), (10, 0)],
                asks: vec![],
            },
            3,
        );
        assert!(b.bids.is_empty());
        b.revert(&undo, 1);
        assert_eq!(b, book(&[(10, 1)], &[], 1));
    }

    #[test]
    fn checksum_tells_books_apart() {
        let a = book(&[(10, 1)], &[(11, 1)], 1);
        assert_eq!(a.checksum(), a.clone().checksum());
        assert_ne!(a.checksum(), book(&[(10, 2)], &[(11, 1)], 1).checksum());
        assert_ne!(a.checksum(), book(&[(10, 1)], &[(11, 1)], 2).checksum());
        assert_ne!(a.checksum(), book(&[], &[(10, 1), (11, 1)], 1).checksum());
    }

    #[test]
    fn crossed_and_touch() {
        assert!(!book(&[(10, 1)], &[(11, 1)], 1).is_crossed());
        assert!(book(&[(11, 1)], &[(11, 1)], 1).is_crossed());
        assert_eq!(book(&[(9, 1), (10, 1)], &[], 1).touch(), (Some(10), None));
    }
}
