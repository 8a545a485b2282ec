//! The `<symbol>@depth` (1000 ms) stream: the 100-ms updates of one second of event time merged into
//! one `depthUpdate`, as Binance's slower stream carries them. The merged event spans the ids of
//! the updates it merges (`U` of the first, `u` of the last) and gives each changed level its final
//! quantity, so Binance's sync procedure works on it exactly as on the 100-ms stream.

use std::collections::BTreeMap;

use crate::book::Diff;

/// Length of one batch, µs of event time.
pub const BATCH_US: i64 = 1_000_000;

/// One second's updates, merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    /// First update id.
    pub first: u64,
    /// Final update id.
    pub last: u64,
    /// Final quantity of every changed level.
    pub diff: Diff,
}

/// Collects updates until the second is over.
#[derive(Debug, Default)]
pub struct DepthBatch {
    ids: Option<(u64, u64)>,
    bids: BTreeMap<u64, u64>,
    asks: BTreeMap<u64, u64>,
}

impl DepthBatch {
    /// Adds an update with ids `[first, last]`.
    pub fn add(&mut self, first: u64, last: u64, diff: &Diff) {
        self.ids = Some(self.ids.map_or((first, last), |(f, _)| (f, last)));
        self.bids.extend(diff.bids.iter().copied());
        self.asks.extend(diff.asks.iter().copied());
    }

    /// The merged update, if any update was added; empties the batch.
    pub fn take(&mut self) -> Option<Merged> {
        let (first, last) = self.ids.take()?;
        let bids = std::mem::take(&mut self.bids).into_iter().rev().collect();
        let asks = std::mem::take(&mut self.asks).into_iter().collect();
        Some(Merged {
            first,
            last,
            diff: Diff { bids, asks },
        })
    }
}

/// The end of the batch holding event time `ts_us`: batches cover `(B − 1 s, B]`.
pub fn batch_end(ts_us: i64) -> i64 {
    (ts_us + BATCH_US - 1).div_euclid(BATCH_US) * BATCH_US
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::Book;

    #[test]
    fn merging_then_applying_equals_applying_each() {
        let updates = [
            (
                11,
                12,
                Diff {
                    bids: vec![(10, 1), (9, 2)],
                    asks: vec![],
                },
            ),
            (
                13,
                14,
                Diff {
                    bids: vec![(10, 0)],
                    asks: vec![(12, 5)],
                },
            ),
            (
                15,
                15,
                Diff {
                    bids: vec![],
                    asks: vec![(12, 7)],
                },
            ),
        ];
        let mut one_by_one = Book::empty(10);
        let mut batch = DepthBatch::default();
        for (f, l, d) in &updates {
            one_by_one.apply(d, *l);
            batch.add(*f, *l, d);
        }
        let m = batch.take().unwrap();
        assert_eq!((m.first, m.last), (11, 15));
        assert_eq!(m.diff.bids, vec![(10, 0), (9, 2)]);
        assert_eq!(m.diff.asks, vec![(12, 7)]);
        let mut merged = Book::empty(10);
        merged.apply(&m.diff, m.last);
        assert_eq!(merged, one_by_one);
        assert_eq!(batch.take(), None);
    }

    #[test]
    fn batch_ends() {
        assert_eq!(batch_end(1_000_000), 1_000_000);
        assert_eq!(batch_end(1_000_001), 2_000_000);
        assert_eq!(batch_end(1_999_999), 2_000_000);
        assert_eq!(batch_end(0), 0);
    }
}
