//! The aggregate trade ids of one symbol's stream. Binance numbers a symbol's aggregate trades one
//! after another, so an id repeated is a duplicate, a lower one is stale, and a jump of more than
//! one is trades not published: missed while disconnected, lost on the way, or refused as
//! malformed or invalid.

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
}

/// The last trade id seen, kept across a reconnection so the trades missed while away are counted.
#[derive(Debug, Default, Clone)]
pub struct TradeIds {
    last: Option<u64>,
    /// The last id of the previous connection, until the new one's first trade.
    before_reconnect: Option<u64>,
}

impl TradeIds {
    /// A new connection starts: its first trade is taken whatever its id (a venue restarted with
    /// lower ids is followed, not refused for ever); it counts as a jump only past the old last id.
    pub fn reconnected(&mut self) {
        if let Some(last) = self.last.take() {
            self.before_reconnect = Some(last);
        }
    }

    /// Classifies `id` and, when it is new, remembers it.
    pub fn accept(&mut self, id: u64) -> TradeId {
        let previous = match self.last {
            Some(last) if id == last => return TradeId::Duplicate,
            Some(last) if id < last => return TradeId::Stale,
            Some(last) => last,
            // The very first trade has nothing before it to miss.
            None => self.before_reconnect.take().unwrap_or(id),
        };
        self.last = Some(id);
        TradeId::New {
            missed: id.saturating_sub(previous).saturating_sub(1),
        }
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
}
