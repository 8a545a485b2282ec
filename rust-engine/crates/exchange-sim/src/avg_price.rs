//! The symbol's average price, at which the `NOTIONAL` filter values a MARKET order (notes §5,
//! binance-spot-api-docs `filters.md`: "MARKET orders use the reference price / volume weighted
//! average price over `avgPriceMins`"): the volume-weighted average price of the replayed trades
//! of the last [`AVG_PRICE_MINS`] minutes up to the last replayed event (in a recording gap, the
//! minutes before it: the trades the venue knew). `exchangeInfo` lists the same `avgPriceMins`.

use std::collections::VecDeque;

/// `avgPriceMins` of the `NOTIONAL` filter: the minutes the average price covers.
pub const AVG_PRICE_MINS: u32 = 5;
/// [`AVG_PRICE_MINS`] in ms.
const WINDOW_MS: i64 = AVG_PRICE_MINS as i64 * 60_000;

/// The replayed trades of the last [`AVG_PRICE_MINS`] minutes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AvgPrice {
    /// Time (ms, the emitted time base), price and quantity (units) of each trade, oldest first.
    trades: VecDeque<(i64, u64, u64)>,
}

impl AvgPrice {
    /// A replayed trade at `ms`; the trades no later window holds are forgotten.
    pub fn record(&mut self, ms: i64, price: u64, qty: u64) {
        self.trades.push_back((ms, price, qty));
        while self.trades.front().is_some_and(|t| t.0 <= ms - WINDOW_MS) {
            self.trades.pop_front();
        }
    }

    /// The volume-weighted average price (units, rounded down) of the trades of the
    /// [`AVG_PRICE_MINS`] minutes up to `now_ms` on the replay clock (after `now_ms` − 5 min);
    /// `None` when no trade was replayed in them.
    pub fn at(&self, now_ms: i64) -> Option<u64> {
        let (pq, q) = self
            .trades
            .iter()
            .filter(|t| t.0 > now_ms - WINDOW_MS)
            .fold((0u128, 0u128), |(pq, q), &(_, p, qty)| {
                (pq + u128::from(p) * u128::from(qty), q + u128::from(qty))
            });
        (q > 0).then(|| u64::try_from(pq / q).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::SCALE;

    #[test]
    fn volume_weighted_over_the_last_five_minutes() {
        let mut a = AvgPrice::default();
        assert_eq!(a.at(0), None, "no trade yet");
        a.record(0, 30_000_000, 100 * SCALE);
        a.record(60_000, 20_000_000, SCALE);
        a.record(120_000, 10_000_000, 3 * SCALE);
        // (0.3 × 100 + 0.2 × 1 + 0.1 × 3) / 104, rounded down.
        assert_eq!(a.at(120_000), Some(29_326_923));
        // Five minutes after the first trade it is out of the window; the others are in.
        assert_eq!(a.at(299_999), Some(29_326_923));
        assert_eq!(a.at(300_000), Some(12_500_000));
        assert_eq!(a.at(420_000), None, "no trade in the last five minutes");
    }

    #[test]
    fn trades_out_of_every_later_window_are_forgotten() {
        let mut a = AvgPrice::default();
        for k in 0..1000 {
            a.record(k * 1000, 20_000_000 + k as u64, SCALE);
        }
        assert_eq!(a.trades.len(), 300);
        assert_eq!(a.at(999_000), Some(20_000_849));
    }
}
