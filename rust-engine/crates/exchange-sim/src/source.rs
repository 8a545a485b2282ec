//! Where replayed events come from. A source yields trades and book changes in event-time order;
//! the replay puts them on the clock, keeps the authoritative book and fans them out.
//!
//! Today's source is [`crate::synthetic::SyntheticSource`] (recorded trades plus the synthetic book
//! model). A source of recorded raw Binance WebSocket captures (real L2, see
//! `/work/shared/data/SOURCES.md`) fits the same trait: its book changes carry their recorded ids
//! ([`UpdateIds::Recorded`]) and its initial book is the recorded REST snapshot.

use crate::book::{Book, Diff};
use crate::trades_csv::TradeRow;

/// How a book change is numbered on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateIds {
    /// The venue numbers it: `U` = previous `u` + 1 and `u` = `U` + (changed levels) − 1, one id per
    /// level change as Binance's ids advance.
    Assign,
    /// Ids as recorded (`U`, `u`); `U` must be the previous `u` + 1.
    Recorded {
        /// First update id.
        first: u64,
        /// Final update id.
        last: u64,
    },
}

/// A change of the book at one event time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepthChange {
    /// Event time, µs since the epoch.
    pub ts_us: i64,
    /// Changed levels, absolute quantities (0 removes).
    pub diff: Diff,
    /// How the change is numbered.
    pub ids: UpdateIds,
}

/// One event, in event-time order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceEvent {
    /// A trade: emitted as `aggTrade` and `trade`.
    Trade(TradeRow),
    /// A book change: applied to the authoritative book and emitted as `depthUpdate`.
    Depth(DepthChange),
}

impl SourceEvent {
    /// Event time, µs since the epoch.
    pub fn ts_us(&self) -> i64 {
        match self {
            SourceEvent::Trade(t) => t.ts_us,
            SourceEvent::Depth(d) => d.ts_us,
        }
    }
}

/// A replayable stream of market events.
pub trait EventSource: Send {
    /// The book before the first event, with the update id the stream continues from.
    fn initial_book(&self) -> Book;
    /// Event time of the first event, µs (`None` when there is nothing to replay).
    fn first_time_us(&self) -> Option<i64>;
    /// The next event, `None` once the source is exhausted. Event times never decrease.
    fn next_event(&mut self) -> Option<SourceEvent>;
    /// What is replayed, for the logs.
    fn describe(&self) -> String;
}
