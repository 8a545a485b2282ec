//! The L2 order book: each side a sorted `Vec<Level>` on integer prices, binary-search upsert, a
//! quantity of zero removes the level.
//!
//! Each side is stored worst first, its best level last: nearly every change of a real diff is near
//! the touch, so an insert or a removal there shifts the few levels behind it, not the whole side.
//! Readers see both sides best first ([`OrderBook::bids`], [`OrderBook::asks`]).

use std::iter::Rev;
use std::slice::Iter;

use crate::fixed;

/// One price level, in 10⁻⁸ units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level {
    /// Price units.
    pub price: u64,
    /// Quantity units.
    pub qty: u64,
}

/// Book side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookSide {
    /// Bids, best (highest) first.
    Bid,
    /// Asks, best (lowest) first.
    Ask,
}

/// One side's levels, best first.
pub type Levels<'a> = Rev<Iter<'a, Level>>;

/// An L2 book with its update id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderBook {
    /// Ascending prices: the best bid last.
    bids: Vec<Level>,
    /// Descending prices: the best ask last.
    asks: Vec<Level>,
    update_id: u64,
}

impl OrderBook {
    /// An empty book with capacity for `levels` per side.
    pub fn with_capacity(levels: usize) -> Self {
        OrderBook {
            bids: Vec::with_capacity(levels),
            asks: Vec::with_capacity(levels),
            update_id: 0,
        }
    }

    /// Replaces the whole book (a REST snapshot). Levels need not be sorted; zero quantities are
    /// skipped; of two levels at one price, the first given is kept.
    pub fn reset(&mut self, update_id: u64, bids: &[Level], asks: &[Level]) {
        self.bids.clear();
        self.asks.clear();
        self.bids.extend(bids.iter().filter(|l| l.qty > 0));
        self.asks.extend(asks.iter().filter(|l| l.qty > 0));
        // Stable sorts, so that `dedup` keeps the first given of a price.
        self.bids.sort_by_key(|l| l.price);
        self.asks.sort_by_key(|l| std::cmp::Reverse(l.price));
        self.bids.dedup_by_key(|l| l.price);
        self.asks.dedup_by_key(|l| l.price);
        self.update_id = update_id;
    }

    /// Sets the absolute quantity of one level; zero removes it (removing a missing level is normal).
    pub fn set(&mut self, side: BookSide, price: u64, qty: u64) {
        let (levels, found) = match side {
            BookSide::Bid => {
                let found = self.bids.binary_search_by(|l| l.price.cmp(&price));
                (&mut self.bids, found)
            }
            BookSide::Ask => {
                let found = self.asks.binary_search_by(|l| price.cmp(&l.price));
                (&mut self.asks, found)
            }
        };
        match (found, qty) {
            (Ok(i), 0) => {
                levels.remove(i);
            }
            (Ok(i), q) => levels[i].qty = q,
            (Err(_), 0) => {}
            (Err(i), q) => levels.insert(i, Level { price, qty: q }),
        }
    }

    /// Sets the update id after an event is applied.
    pub fn set_update_id(&mut self, id: u64) {
        self.update_id = id;
    }

    /// Update id of the last applied event or snapshot.
    pub fn update_id(&self) -> u64 {
        self.update_id
    }

    /// Bid levels, best first.
    pub fn bids(&self) -> Levels<'_> {
        self.bids.iter().rev()
    }

    /// Ask levels, best first.
    pub fn asks(&self) -> Levels<'_> {
        self.asks.iter().rev()
    }

    /// Levels on each side: (bids, asks).
    pub fn depth(&self) -> (usize, usize) {
        (self.bids.len(), self.asks.len())
    }

    /// Best bid.
    pub fn best_bid(&self) -> Option<Level> {
        self.bids.last().copied()
    }

    /// Best ask.
    pub fn best_ask(&self) -> Option<Level> {
        self.asks.last().copied()
    }

    /// True when best bid ≥ best ask: the book is corrupt.
    pub fn is_crossed(&self) -> bool {
        matches!((self.best_bid(), self.best_ask()), (Some(b), Some(a)) if b.price >= a.price)
    }

    /// True when a side is empty.
    pub fn is_one_sided(&self) -> bool {
        self.bids.is_empty() || self.asks.is_empty()
    }

    /// Writes the top `n` levels of each side as float pairs into reused vectors.
    pub fn top_into(&self, n: usize, bids: &mut Vec<[f64; 2]>, asks: &mut Vec<[f64; 2]>) {
        let conv = |l: &Level| [fixed::to_f64(l.price), fixed::to_f64(l.qty)];
        bids.clear();
        asks.clear();
        bids.extend(self.bids().take(n).map(conv));
        asks.extend(self.asks().take(n).map(conv));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lv(price: u64, qty: u64) -> Level {
        Level { price, qty }
    }

    #[test]
    fn set_inserts_updates_removes_in_order() {
        struct Case {
            ops: Vec<(BookSide, u64, u64)>,
            bids: Vec<Level>,
            asks: Vec<Level>,
        }
        let cases = [
            Case {
                ops: vec![
                    (BookSide::Bid, 10, 1),
                    (BookSide::Bid, 12, 2),
                    (BookSide::Bid, 11, 3),
                ],
                bids: vec![lv(12, 2), lv(11, 3), lv(10, 1)],
                asks: vec![],
            },
            Case {
                ops: vec![
                    (BookSide::Ask, 20, 1),
                    (BookSide::Ask, 15, 2),
                    (BookSide::Ask, 20, 5),
                ],
                bids: vec![],
                asks: vec![lv(15, 2), lv(20, 5)],
            },
            Case {
                ops: vec![
                    (BookSide::Ask, 20, 1),
                    (BookSide::Ask, 20, 0),
                    (BookSide::Ask, 21, 0),
                ],
                bids: vec![],
                asks: vec![],
            },
        ];
        for c in cases {
            let mut b = OrderBook::default();
            for (side, p, q) in c.ops {
                b.set(side, p, q);
            }
            assert_eq!(b.bids().copied().collect::<Vec<_>>(), c.bids);
            assert_eq!(b.asks().copied().collect::<Vec<_>>(), c.asks);
        }
    }

    #[test]
    fn reset_sorts_and_skips_zero() {
        let mut b = OrderBook::default();
        b.reset(7, &[lv(1, 1), lv(3, 0), lv(2, 2)], &[lv(9, 1), lv(5, 2)]);
        assert_eq!(b.bids().copied().collect::<Vec<_>>(), [lv(2, 2), lv(1, 1)]);
        assert_eq!(b.asks().copied().collect::<Vec<_>>(), [lv(5, 2), lv(9, 1)]);
        assert_eq!(b.update_id(), 7);
        assert!(!b.is_crossed());
        b.set(BookSide::Bid, 5, 1);
        assert!(b.is_crossed());
    }
}
