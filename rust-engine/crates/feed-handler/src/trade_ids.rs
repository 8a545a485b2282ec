//! The aggregate trade ids of one symbol's stream. Binance numbers a symbol's aggregate trades one
//! after another, so an id repeated is a duplicate, a lower one is stale, and a jump of more than
//! one is trades not published: missed while disconnected, lost on the way, or refused as
//! malformed or invalid.
//!
//! A corrupt id must not block the stream: taken as the last id, a huge one would make every later
//! genuine trade stale until the next connection. So a jump of more than [`MAX_TRADE_ID_JUMP`] is
//! suspect: dropped, not taken (unless [`SUSPECT_RUN`] suspect ids in a row follow on from each
//! other: the stream did move there); and after [`STALE_RUN`] stale ids in a row the last id taken
//! is held to be wrong and the stream is followed again from the latest one, as after a
//! reconnection. A jump that large is never counted as trades missed.

/// Largest jump of the trade id taken as the stream's next trade (the ids between counted as
/// missed): one million. Binance's busiest symbols make some thousands of aggregate trades a second;
/// a million in one step, on one connection, is a corrupt id.
pub const MAX_TRADE_ID_JUMP: u64 = 1_000_000;

/// Suspect ids in a row, each following on from the one before (within [`MAX_TRADE_ID_JUMP`]
/// above it), after which the stream is taken to have moved there: 3.
pub const SUSPECT_RUN: u32 = 3;

/// Stale ids in a row after which the last id taken is held to be wrong and the latest one is
/// taken instead: 10. Reordered frames make one or two in a row, not this many.
pub const STALE_RUN: u32 = 10;

/// Most trades of a new connection taken as the overlap with the one it replaced
/// ([`TradeIds::handed_over`]): past them, ids at or under the old connection's last are judged as
/// any (a venue whose ids went back is followed, not silenced).
pub const MAX_OVERLAP_TRADES: u32 = 10_000;

/// What an arriving trade id is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradeId {
    /// Newer than every id so far; `missed` ids lie between it and the previous one.
    New {
        /// Trades skipped over.
        missed: u64,
    },
    /// The previous id again.
    Duplicate,
    /// Older than the previous id.
    Stale,
    /// More than [`MAX_TRADE_ID_JUMP`] past the previous id: not taken (drop the trade).
    Suspect,
    /// Taken in place of the previous id, which is held to be wrong ([`STALE_RUN`] stale ids in a
    /// row) or left behind ([`SUSPECT_RUN`] suspect ids following on): publish it; nothing is
    /// counted as missed.
    Rebased {
        /// The id it replaces.
        previous: u64,
    },
    /// After a hand-over to a new connection, at or under the old connection's last id: delivered
    /// already, dropped and not counted.
    Overlap,
}

/// The last trade id seen, kept across a reconnection so the trades missed while away are counted.
#[derive(Debug, Default, Clone)]
pub struct TradeIds {
    last: Option<u64>,
    /// The last id of the previous connection, until the new one's first trade.
    before_reconnect: Option<u64>,
    /// Stale ids in a row.
    stale_run: u32,
    /// The last suspect id and how many in a row followed on to it.
    suspect: Option<(u64, u32)>,
    /// After a hand-over: the old connection's last id and how many more trades may still be taken
    /// as the overlap, until the first newer id.
    overlap: Option<(u64, u32)>,
}

/// Ids missed between `previous` and `id`: none for a jump beyond [`MAX_TRADE_ID_JUMP`] (a count
/// that large would be a corrupt id's, not trades').
fn missed(previous: u64, id: u64) -> u64 {
    match id.saturating_sub(previous) {
        jump if jump > MAX_TRADE_ID_JUMP => 0,
        jump => jump.saturating_sub(1),
    }
}

impl TradeIds {
    /// The last id taken, if any.
    pub fn last(&self) -> Option<u64> {
        self.last
    }

    /// The stream moves to a new connection opened before the old one closed (a rotation): its
    /// trades up to `delivered` (the old connection's last id) are [`TradeId::Overlap`] (at most
    /// [`MAX_OVERLAP_TRADES`]), until its first newer one.
    pub fn handed_over(&mut self, delivered: u64) {
        self.overlap = Some((delivered, MAX_OVERLAP_TRADES));
    }

    /// A new connection starts: its first trade is taken whatever its id (a venue restarted with
    /// lower ids is followed, not refused for ever); it counts as a jump only past the old last id
    /// (and by at most [`MAX_TRADE_ID_JUMP`]).
    pub fn reconnected(&mut self) {
        if let Some(last) = self.last.take() {
            self.before_reconnect = Some(last);
        }
        self.stale_run = 0;
        self.suspect = None;
        self.overlap = None;
    }

    /// Classifies `id` and, when it is taken, remembers it.
    pub fn accept(&mut self, id: u64) -> TradeId {
        if let Some((seen, left)) = self.overlap.take() {
            if id <= seen {
                if left > 1 {
                    self.overlap = Some((seen, left - 1));
                }
                return TradeId::Overlap;
            }
        }
        let Some(last) = self.last else {
            // The very first trade has nothing before it to miss.
            let previous = self.before_reconnect.take().unwrap_or(id);
            self.last = Some(id);
            return TradeId::New {
                missed: missed(previous, id),
            };
        };
        if id == last {
            // The stream repeats the last id: it is where the stream is.
            self.stale_run = 0;
            return TradeId::Duplicate;
        }
        if id < last {
            self.suspect = None;
            self.stale_run += 1;
            if self.stale_run >= STALE_RUN {
                return self.rebase(last, id);
            }
            return TradeId::Stale;
        }
        self.stale_run = 0;
        if id - last > MAX_TRADE_ID_JUMP {
            let run = match self.suspect {
                Some((s, n)) if id > s && id - s <= MAX_TRADE_ID_JUMP => n + 1,
                _ => 1,
            };
            if run >= SUSPECT_RUN {
                return self.rebase(last, id);
            }
            self.suspect = Some((id, run));
            return TradeId::Suspect;
        }
        self.suspect = None;
        self.last = Some(id);
        TradeId::New {
            missed: missed(last, id),
        }
    }

    fn rebase(&mut self, previous: u64, id: u64) -> TradeId {
        self.last = Some(id);
        self.stale_run = 0;
        self.suspect = None;
        TradeId::Rebased { previous }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_ids_miss_nothing_a_jump_counts_the_ids_between() {
        let mut ids = TradeIds::default();
        assert_eq!(ids.accept(10), TradeId::New { missed: 0 });
        assert_eq!(ids.accept(11), TradeId::New { missed: 0 });
        assert_eq!(ids.accept(15), TradeId::New { missed: 3 });
        assert_eq!(ids.accept(15), TradeId::Duplicate);
        assert_eq!(ids.accept(12), TradeId::Stale);
        assert_eq!(ids.accept(16), TradeId::New { missed: 0 });
    }

    #[test]
    fn a_reconnection_counts_the_trades_missed_while_away_and_follows_a_restarted_venue() {
        let mut ids = TradeIds::default();
        ids.accept(100);
        ids.reconnected();
        assert_eq!(ids.accept(120), TradeId::New { missed: 19 });
        assert_eq!(ids.accept(121), TradeId::New { missed: 0 });
        // A venue whose ids started again lower (a replay restarted): taken, nothing counted.
        ids.reconnected();
        assert_eq!(ids.accept(5), TradeId::New { missed: 0 });
        assert_eq!(ids.accept(6), TradeId::New { missed: 0 });
        // Two reconnections before any trade: the last id seen still counts.
        ids.reconnected();
        ids.reconnected();
        assert_eq!(ids.accept(9), TradeId::New { missed: 2 });
    }

    /// One corrupt huge id between genuine ones (10, then 2^64 - 2, then 11..19) is dropped as
    /// suspect: the genuine ids after it are taken, and nothing is counted missed for the jump.
    #[test]
    fn a_huge_jump_is_suspect_and_not_taken() {
        let mut ids = TradeIds::default();
        assert_eq!(ids.accept(10), TradeId::New { missed: 0 });
        assert_eq!(ids.accept(u64::MAX - 1), TradeId::Suspect);
        for id in 11..20 {
            assert_eq!(ids.accept(id), TradeId::New { missed: 0 }, "{id}");
        }
        // Up to the bound a jump is taken and counted.
        assert_eq!(
            ids.accept(19 + MAX_TRADE_ID_JUMP),
            TradeId::New {
                missed: MAX_TRADE_ID_JUMP - 1
            }
        );
    }

    /// A stream that really moved far on (ids following on from each other past the bound) is
    /// followed after `SUSPECT_RUN` of them; a reconnection's first trade is taken whatever its id,
    /// but a jump past the bound is not counted as missed.
    #[test]
    fn a_run_of_suspect_ids_following_on_is_followed() {
        let mut ids = TradeIds::default();
        ids.accept(10);
        let far = 10 + 5 * MAX_TRADE_ID_JUMP;
        assert_eq!(ids.accept(far), TradeId::Suspect);
        assert_eq!(ids.accept(far + 1), TradeId::Suspect);
        assert_eq!(ids.accept(far + 2), TradeId::Rebased { previous: 10 });
        assert_eq!(ids.accept(far + 3), TradeId::New { missed: 0 });
        ids.reconnected();
        assert_eq!(
            ids.accept(far + 3 + 2 * MAX_TRADE_ID_JUMP),
            TradeId::New { missed: 0 }
        );
    }

    /// A corrupt id within the bound that was taken (every later genuine id stale) is left behind
    /// after `STALE_RUN` stale ids in a row: the latest is taken and the stream followed again.
    #[test]
    fn a_run_of_stale_ids_rebases_on_the_latest() {
        let mut ids = TradeIds::default();
        ids.accept(10);
        assert_eq!(ids.accept(500_000), TradeId::New { missed: 499_989 });
        for id in 11..(11 + u64::from(STALE_RUN) - 1) {
            assert_eq!(ids.accept(id), TradeId::Stale, "{id}");
        }
        let id = 11 + u64::from(STALE_RUN) - 1;
        assert_eq!(ids.accept(id), TradeId::Rebased { previous: 500_000 });
        assert_eq!(ids.accept(id + 1), TradeId::New { missed: 0 });
        // Interrupted runs of stale ids (reordering) do not rebase.
        for _ in 0..(2 * STALE_RUN) {
            let next = ids.accept(id + 3);
            assert!(matches!(next, TradeId::New { .. } | TradeId::Duplicate));
            assert_eq!(ids.accept(id + 2), TradeId::Stale);
        }
    }

    /// After a hand-over the new connection's ids up to the old one's last are overlap (no stale
    /// run builds up), until its first newer one; a plain reconnection ends the overlap.
    #[test]
    fn a_hand_over_drops_the_overlap_until_the_first_newer_id() {
        let mut ids = TradeIds::default();
        ids.accept(100);
        ids.handed_over(100);
        for id in 90..=100 {
            assert_eq!(ids.accept(id), TradeId::Overlap, "{id}");
        }
        assert_eq!(ids.accept(101), TradeId::New { missed: 0 });
        assert_eq!(ids.accept(100), TradeId::Stale);
        ids.handed_over(101);
        ids.reconnected();
        assert_eq!(ids.accept(50), TradeId::New { missed: 0 });
    }
}
