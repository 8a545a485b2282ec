//! Binance's procedure for a local order book, as a type with no I/O.
//!
//! Spot (binance-spot-api-docs `web-socket-streams.md`, "How to manage a local order book correctly",
//! text corrected on 2025-11-12):
//! 1. Buffer the diff events; note `U` of the first.
//! 2. Fetch a snapshot. If its `lastUpdateId` < that first `U`, fetch again.
//! 3. Discard buffered events with `u <= lastUpdateId`; the first remaining one has
//!    `U <= lastUpdateId + 1 <= u`.
//! 4. Apply: ignore an event with `u` < the book's id; if `U` > the book's id + 1 events were missed:
//!    restart from the beginning; otherwise set each level (0 removes) and set the book's id to `u`.
//!
//! USD-M futures (events carry `pu`): drop `u < lastUpdateId`; the first applied event has
//! `U <= lastUpdateId <= u`; afterwards each event's `pu` must equal the previous event's `u`.
//!
//! Beyond the venue's rules, a book that is crossed after an update is treated as corrupt and
//! resynced (a book with an empty side is not: the venue allows it, and a crash can empty a side for
//! real). Update ids that no venue produces are treated as corruption too: an event spanning more
//! than [`MAX_UPDATE_SPAN`] ids (`u - U`), or more than that away from the book's id (or from the
//! event buffered before it, or from the snapshot), is dropped and the book resynced; so is a live
//! book after [`MAX_STALE_RUN`] stale events in a row (the book is ahead of the stream: an id it
//! took was wrong), where it would otherwise drop every later event and stay frozen.
//!
//! A live book also survives a change of connection ([`BookSync::hand_over`], the feed's rotation
//! before the venue's 24-hour limit): the new connection's events the book already holds are
//! dropped, and its first new one must continue the book as a first event continues a snapshot
//! (or, on futures, carry `pu` equal to the book's id); otherwise events were missed and the book
//! is resynced.

use std::collections::VecDeque;

use crate::binance::{DepthUpdate, Snapshot};
use crate::book::{BookSide, OrderBook};

/// Most events buffered while waiting for a snapshot; more means the snapshot is hopelessly late.
pub const MAX_BUFFERED: usize = 50_000;

/// Most update ids one event may span (`u - U`), and farthest an event's `u` may be from the book's
/// id (or from the `u` of the event buffered before it, or a snapshot's `lastUpdateId` from the
/// buffered events): one million. Binance's busiest symbols make some tens of thousands of book
/// changes in their busiest seconds, so a million in one `@depth@100ms` (or 1-s) event, or between
/// two consecutive events, is a corrupt id; taken, a huge `u` would move the book's id past every
/// later event and freeze it.
pub const MAX_UPDATE_SPAN: u64 = 1_000_000;

/// Stale events in a row (each older than a live book) after which the book is taken to be ahead of
/// the stream (an id it took was wrong) and resynced: 20, two seconds of the `@depth@100ms` stream.
/// Reordered frames make a few in a row, not this many.
pub const MAX_STALE_RUN: u32 = 20;

/// What happened to one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Buffered until the snapshot arrives.
    Buffered,
    /// Applied to the book.
    Applied,
    /// Older than the book: ignored (out of order).
    Stale,
    /// Older than the snapshot the book was just built from, before the event that bridges it:
    /// dropped, as the sync procedure says (in order, not stale).
    BeforeSnapshot,
    /// Same ids as the last applied event: ignored.
    Duplicate,
    /// After a hand-over to a new connection, an event the book already holds (the old connection
    /// delivered it): dropped, expected, not counted.
    Overlap,
}

/// The book can no longer be trusted: discard it and start again from a fresh snapshot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Resync {
    /// Events were missed.
    #[error("gap: expected update {expected}, got U={first} u={last}")]
    Gap {
        /// First id that would continue the book.
        expected: u64,
        /// `U` of the event.
        first: u64,
        /// `u` of the event.
        last: u64,
    },
    /// Futures: `pu` does not continue the previous `u`.
    #[error("gap: pu {pu} != previous u {previous}")]
    PrevMismatch {
        /// `pu` of the event.
        pu: u64,
        /// `u` of the previous event.
        previous: u64,
    },
    /// The book crossed after an update.
    #[error("corrupt book after update {0}: crossed")]
    Corrupt(u64),
    /// An event's ids are implausible ([`MAX_UPDATE_SPAN`]): it spans too many, or lies too far from
    /// the book's id (or the event buffered before it, or the snapshot). The event is dropped.
    #[error("implausible update ids: U={first} u={last} against {reference}")]
    Implausible {
        /// `U` of the event.
        first: u64,
        /// `u` of the event.
        last: u64,
        /// The id it was compared with: the book's, the previous buffered event's `u`, or the
        /// snapshot's `lastUpdateId`.
        reference: u64,
    },
    /// [`MAX_STALE_RUN`] stale events in a row: the book is ahead of the stream.
    #[error("{0} stale events in a row: the book is ahead of the stream")]
    StaleRun(u32),
    /// The buffer overflowed before a snapshot arrived.
    #[error("buffer overflow: {0} events without a snapshot")]
    Overflow(usize),
}

/// Outcome of offering a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotOutcome {
    /// The book is live; `replayed` buffered events were applied.
    Synced {
        /// Buffered events applied on top of the snapshot.
        replayed: usize,
        /// Exchange time (`E`, ms) of the last of them: the book's time.
        event_ms: u64,
    },
    /// The snapshot is older than the first buffered event: fetch another.
    TooOld {
        /// The snapshot's `lastUpdateId`.
        last_update_id: u64,
        /// `U` of the first buffered event.
        first_buffered: u64,
    },
    /// No event buffered yet: keep the snapshot and wait for the stream.
    Waiting,
}

#[derive(Debug)]
enum State {
    Buffering(VecDeque<DepthUpdate>),
    /// Snapshot loaded, waiting for the first event that bridges it.
    Bridging,
    /// A live book handed over to a new connection, waiting for its first event past the book.
    HandedOver,
    Live,
}

/// The sequencing state of one book.
#[derive(Debug)]
pub struct BookSync {
    state: State,
    last_first_id: u64,
    /// Stale events in a row while live.
    stale_run: u32,
}

impl Default for BookSync {
    fn default() -> Self {
        Self::new()
    }
}

impl BookSync {
    /// Starts buffering.
    pub fn new() -> Self {
        BookSync {
            state: State::Buffering(VecDeque::new()),
            last_first_id: 0,
            stale_run: 0,
        }
    }

    /// Back to buffering, dropping everything.
    pub fn restart(&mut self) {
        self.state = State::Buffering(VecDeque::new());
        self.last_first_id = 0;
        self.stale_run = 0;
    }

    /// True once events are being applied to the book.
    pub fn is_live(&self) -> bool {
        matches!(self.state, State::Live)
    }

    /// The stream moves to a new connection: a live book is kept, and the new stream's first event
    /// past it must continue it ([`Applied::Overlap`] for the events it already holds). True when the
    /// book was live; otherwise nothing changes (a book still syncing restarts with the
    /// connection).
    pub fn hand_over(&mut self) -> bool {
        if !self.is_live() {
            return false;
        }
        self.state = State::HandedOver;
        self.stale_run = 0;
        true
    }

    /// True while waiting for a snapshot.
    pub fn is_buffering(&self) -> bool {
        matches!(self.state, State::Buffering(_))
    }

    /// `U` of the first buffered event.
    pub fn first_buffered(&self) -> Option<u64> {
        match &self.state {
            State::Buffering(b) => b.front().map(|e| e.first_id),
            _ => None,
        }
    }

    /// Offers a diff event.
    ///
    /// # Errors
    /// [`Resync`] when the book must be rebuilt from a fresh snapshot (the caller calls [`restart`](Self::restart));
    /// after [`Resync::Implausible`] the event must not be buffered again.
    pub fn on_event(&mut self, ev: &DepthUpdate, book: &mut OrderBook) -> Result<Applied, Resync> {
        match &mut self.state {
            State::Buffering(buf) => {
                if buf.len() >= MAX_BUFFERED {
                    return Err(Resync::Overflow(buf.len()));
                }
                check_plausible(ev, buf.back().map(|b| b.final_id))?;
                buf.push_back(ev.clone());
                Ok(Applied::Buffered)
            }
            State::Bridging => {
                let id = book.update_id();
                // Only events received after the snapshot come here (the buffered ones before it
                // are dropped by `on_snapshot`): one far from it means a corrupt snapshot or event.
                check_plausible(ev, Some(id))?;
                if drop_before_snapshot(ev, id) {
                    return Ok(Applied::BeforeSnapshot);
                }
                check_bridges(ev, id)?;
                self.state = State::Live;
                self.apply(ev, book)?;
                Ok(Applied::Applied)
            }
            State::HandedOver => {
                let id = book.update_id();
                check_plausible(ev, Some(id))?;
                // Held already, the book's own last event included (spot and futures alike). A new
                // stream that never gets past the book is one behind it: resynced, as a live book
                // meeting a stale run (the old connection's last events are a few, not this many).
                if ev.final_id <= id {
                    self.stale_run += 1;
                    if self.stale_run >= MAX_STALE_RUN {
                        return Err(Resync::StaleRun(self.stale_run));
                    }
                    return Ok(Applied::Overlap);
                }
                // Futures: the next event of the stream names the book's id as its `pu`.
                if ev.prev_final_id != Some(id) {
                    check_bridges(ev, id)?;
                }
                self.state = State::Live;
                self.apply(ev, book)?;
                Ok(Applied::Applied)
            }
            State::Live => {
                let id = book.update_id();
                check_plausible(ev, Some(id))?;
                if ev.final_id == id && ev.first_id == self.last_first_id {
                    return Ok(Applied::Duplicate);
                }
                if ev.final_id <= id {
                    self.stale_run += 1;
                    if self.stale_run >= MAX_STALE_RUN {
                        return Err(Resync::StaleRun(self.stale_run));
                    }
                    return Ok(Applied::Stale);
                }
                match ev.prev_final_id {
                    Some(pu) if pu != id => {
                        return Err(Resync::PrevMismatch { pu, previous: id });
                    }
                    Some(_) => {}
                    None if ev.first_id > id.saturating_add(1) => {
                        return Err(Resync::Gap {
                            expected: id.saturating_add(1),
                            first: ev.first_id,
                            last: ev.final_id,
                        });
                    }
                    None => {}
                }
                self.apply(ev, book)?;
                Ok(Applied::Applied)
            }
        }
    }

    /// Offers a REST snapshot; replays the buffered events on top of it.
    ///
    /// # Errors
    /// [`Resync`] when the buffered events do not continue the snapshot.
    pub fn on_snapshot(
        &mut self,
        snap: &Snapshot,
        book: &mut OrderBook,
    ) -> Result<SnapshotOutcome, Resync> {
        let State::Buffering(buf) = &mut self.state else {
            return Ok(SnapshotOutcome::Waiting);
        };
        if let (Some(first), Some(last)) = (buf.front(), buf.back()) {
            // A snapshot implausibly far behind the stream's first buffered event or ahead of its
            // last one: the snapshot, or the buffered event, is corrupt (fetching again would
            // never bridge a corrupt first event).
            if first.first_id.saturating_sub(snap.last_update_id) > MAX_UPDATE_SPAN {
                return Err(Resync::Implausible {
                    first: first.first_id,
                    last: first.final_id,
                    reference: snap.last_update_id,
                });
            }
            if snap.last_update_id.saturating_sub(last.final_id) > MAX_UPDATE_SPAN {
                return Err(Resync::Implausible {
                    first: last.first_id,
                    last: last.final_id,
                    reference: snap.last_update_id,
                });
            }
            if snap.last_update_id < first.first_id {
                return Ok(SnapshotOutcome::TooOld {
                    last_update_id: snap.last_update_id,
                    first_buffered: first.first_id,
                });
            }
        }
        let buffered = std::mem::take(buf);
        book.reset(snap.last_update_id, &snap.bids, &snap.asks);
        self.state = State::Bridging;
        let (mut replayed, mut event_ms) = (0, 0);
        // Events before the snapshot are dropped here, however far before it (a snapshot delayed by
        // a rate-limit pause comes long after the first buffered event).
        for ev in buffered
            .iter()
            .filter(|ev| !drop_before_snapshot(ev, snap.last_update_id))
        {
            if self.on_event(ev, book)? == Applied::Applied {
                replayed += 1;
                event_ms = ev.event_ms;
            }
        }
        if replayed == 0 {
            return Ok(SnapshotOutcome::Waiting);
        }
        Ok(SnapshotOutcome::Synced { replayed, event_ms })
    }

    fn apply(&mut self, ev: &DepthUpdate, book: &mut OrderBook) -> Result<(), Resync> {
        set_levels(ev, book);
        self.last_first_id = ev.first_id;
        self.stale_run = 0;
        check_sound(book)
    }
}

/// Sets the levels `ev` gives (a quantity of zero removes its level) and moves `book` to `ev`'s
/// final update id.
pub(crate) fn set_levels(ev: &DepthUpdate, book: &mut OrderBook) {
    for l in &ev.bids {
        book.set(BookSide::Bid, l.price, l.qty);
    }
    for l in &ev.asks {
        book.set(BookSide::Ask, l.price, l.qty);
    }
    book.set_update_id(ev.final_id);
}

/// Beyond the venue's rules, after every change of the book (an update, a snapshot check's
/// repair): a crossed book is corrupt. A book with an empty side is not: Binance allows it, and in
/// a crash a side can empty for real (refusing it would resync for as long as it lasts).
///
/// # Errors
/// [`Resync::Corrupt`] at the book's update id.
pub fn check_sound(book: &OrderBook) -> Result<(), Resync> {
    if book.is_crossed() {
        return Err(Resync::Corrupt(book.update_id()));
    }
    Ok(())
}

/// An event spanning more than [`MAX_UPDATE_SPAN`] ids, or whose `u` is more than that away from
/// `reference` (the book's id, or the `u` of the event buffered before it), is implausible.
///
/// # Errors
/// [`Resync::Implausible`].
fn check_plausible(ev: &DepthUpdate, reference: Option<u64>) -> Result<(), Resync> {
    let span = ev.final_id.saturating_sub(ev.first_id);
    let away = reference.map_or(0, |r| ev.final_id.abs_diff(r));
    if span > MAX_UPDATE_SPAN || away > MAX_UPDATE_SPAN {
        return Err(Resync::Implausible {
            first: ev.first_id,
            last: ev.final_id,
            reference: reference.unwrap_or(ev.first_id),
        });
    }
    Ok(())
}

/// Events entirely before the snapshot are dropped (spot: `u <= id`; futures: `u < id`).
fn drop_before_snapshot(ev: &DepthUpdate, id: u64) -> bool {
    match ev.prev_final_id {
        Some(_) => ev.final_id < id,
        None => ev.final_id <= id,
    }
}

/// The first applied event must bridge the snapshot (spot: `U <= id+1 <= u`; futures: `U <= id <= u`).
fn check_bridges(ev: &DepthUpdate, id: u64) -> Result<(), Resync> {
    let target = if ev.prev_final_id.is_some() {
        id
    } else {
        id.saturating_add(1)
    };
    if ev.first_id <= target && target <= ev.final_id {
        Ok(())
    } else {
        Err(Resync::Gap {
            expected: target,
            first: ev.first_id,
            last: ev.final_id,
        })
    }
}

#[cfg(test)]
#[path = "sync_tests.rs"]
mod tests;
